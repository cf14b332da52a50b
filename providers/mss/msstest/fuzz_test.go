package msstest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/mss"
	"github.com/reaper-media/reaper/providers/mss/msstest"
)

// FuzzAuthorization: the fake's Authorization parser never panics; a header it accepts is exactly the
// header AuthorizationValue formats from what it parsed (one spelling per signature); and no forged
// header gets a DELETE past the fake's gateway: it answers 401 and the file stays.
func FuzzAuthorization(f *testing.F) {
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodDelete, "http://mss.test/v1/"+project+"/files/f1", nil)
		r.Header.Set(mss.DateHeader, clock.Format(mss.DateFormat))
		return r
	}
	signed := req()
	mss.Sign(signed, ak, sk, nil, clock)
	for _, s := range []string{
		signed.Header.Get("Authorization"),
		strings.Replace(signed.Header.Get("Authorization"), ", ", ",", 1),
		mss.AuthorizationValue(ak, []string{"host", "x-sdk-date"}, strings.Repeat("0", 64)),
		mss.AuthorizationValue(ak, []string{"x-sdk-date", "host"}, strings.Repeat("a", 64)),
		mss.AuthorizationValue(ak, []string{"Host", "x-sdk-date"}, strings.Repeat("A", 64)),
		mss.AuthorizationValue(ak, []string{"host", "host"}, strings.Repeat("f", 64)),
		mss.AuthorizationValue("", []string{"host"}, strings.Repeat("f", 64)),
		mss.AuthorizationValue(ak, []string{"host", "x-sdk-date"}, strings.Repeat("g", 64)),
		"SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date, Signature=" + strings.Repeat("0", 63),
		"SDK-HMAC-SHA256  Access=a, SignedHeaders=host, Signature=",
		"Bearer x",
		"",
	} {
		f.Add(s)
	}
	fake := msstest.New(msstest.Options{Keys: map[string]string{ak: sk}, Projects: []string{project}, Now: func() time.Time { return clock }})
	target := providers.Target{Provider: providers.MSS, ProjectID: project, FileID: "f1"}
	f.Fuzz(func(t *testing.T, v string) {
		if a, err := mss.ParseAuthorization(v); err == nil {
			require.Equal(t, v, mss.AuthorizationValue(a.AK, a.SignedHeaders, a.Signature))
			for i, h := range a.SignedHeaders {
				require.Equal(t, strings.ToLower(h), h)
				if i > 0 {
					require.Less(t, a.SignedHeaders[i-1], h)
				}
			}
		} else {
			require.ErrorIs(t, err, mss.ErrMalformedAuthorization)
		}
		fake.Add(target)
		r := req()
		r.Header.Set("Authorization", v)
		w := httptest.NewRecorder()
		fake.ServeHTTP(w, r)
		if v == signed.Header.Get("Authorization") {
			require.Equal(t, http.StatusOK, w.Code, "the genuine signature passes: %s", w.Body)
			return
		}
		require.Equal(t, http.StatusUnauthorized, w.Code, "%s", w.Body)
		require.True(t, fake.Exists(target))
	})
}
