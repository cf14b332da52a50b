package msstest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/mss/msstest"
	"github.com/reaper-media/reaper/providers/providertest"
)

// sdkVector is one request recorded from an official SDK (providertest.SDKVectors).
type sdkVector = providertest.SDKVector

func mssVectors(t *testing.T) []sdkVector {
	t.Helper()
	return providertest.SDKVectors(t, "mss ", 2)
}

// replay sends v exactly as recorded (method, path, Host, headers, body) to srv.
func replay(t *testing.T, srv *httptest.Server, v sdkVector, body string) answer {
	t.Helper()
	req, err := http.NewRequest(v.Method, srv.URL+v.RequestURI, strings.NewReader(body))
	require.NoError(t, err)
	req.Host = v.Host
	req.Header = v.Headers.Clone()
	return env{srv: srv}.do(t, req)
}

// TestOfficialSDKRequests: what huaweicloud-sdk-go-v3 sends for DeleteFile (user-agent, x-project-id,
// x-sdk-date and x-app-userid signed, host not) is accepted with the key that signed it, at the time
// it was signed, and refused with another key or with one byte changed.
func TestOfficialSDKRequests(t *testing.T) {
	for _, v := range mssVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			signedAt, err := time.Parse(msstest.DateFormat, v.Headers.Get(msstest.DateHeader))
			require.NoError(t, err)
			segs := strings.Split(v.RequestURI, "/") // /v1/{project_id}/files/{file_id}
			require.Len(t, segs, 5)
			target := providers.Target{Provider: providers.MSS, ProjectID: segs[2], FileID: segs[4]}
			require.Equal(t, v.Keys["project_id"], target.ProjectID)

			for _, c := range []struct {
				name   string
				sk     string
				body   string
				header func(http.Header)
				ok     bool
			}{
				{name: "as recorded", sk: v.Keys["sk"], body: v.Body, ok: true},
				{name: "wrong key", sk: v.Keys["sk"][:len(v.Keys["sk"])-1] + "X", body: v.Body},
				{name: "one byte of body", sk: v.Keys["sk"], body: v.Body + "x"}, // the recorded body is empty
				{name: "one byte of a signed header", sk: v.Keys["sk"], body: v.Body, header: func(h http.Header) {
					h.Set("User-Agent", strings.Replace(h.Get("User-Agent"), "go/", "go-", 1))
				}},
				{name: "unsigned headers changed", sk: v.Keys["sk"], body: v.Body, ok: true, header: func(h http.Header) {
					h.Set("Content-Type", "text/plain")
					h.Set("X-Trace", "1")
				}},
			} {
				t.Run(c.name, func(t *testing.T) {
					fake := msstest.New(msstest.Options{
						Keys:     map[string]string{v.Keys["ak"]: c.sk},
						Projects: []string{target.ProjectID},
						Now:      func() time.Time { return signedAt },
					})
					srv := httptest.NewServer(fake)
					t.Cleanup(srv.Close)
					fake.Add(target)
					rv := v
					rv.Headers = v.Headers.Clone()
					if c.header != nil {
						c.header(rv.Headers)
					}
					a := replay(t, srv, rv, c.body)
					if c.ok {
						assert.Equal(t, http.StatusOK, a.status, a.body)
						assert.False(t, fake.Exists(target))
						return
					}
					assert.Equal(t, http.StatusUnauthorized, a.status, a.body)
					assert.Equal(t, "APIG.0301", a.code())
					assert.True(t, fake.Exists(target))
				})
			}
		})
	}
}
