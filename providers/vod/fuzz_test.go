package vod_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/vod"
)

const (
	fuzzSecretID  = "AKIDfuzzSECRETid0123456789"
	fuzzSecretKey = "fuzzSECRETkey0123456789abcdef"
)

// vodCanned answers every request with one response, in memory.
type vodCanned struct {
	status int
	header http.Header
	body   []byte
}

func (c vodCanned) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: c.header.Clone(), Body: io.NopCloser(strings.NewReader(string(c.body))),
		Request: r, ContentLength: int64(len(c.body))}, nil
}

// FuzzErrorBody: whatever VOD (or a gateway) answers a DeleteMedia with, through Tencent's SDK and
// our classification: success, or a classified *providers.Error with bounded text, a bounded
// Retry-After, and neither half of the key pair.
func FuzzErrorBody(f *testing.F) {
	for _, s := range []struct {
		status int
		ra     string
		body   string
	}{
		{200, "", `{"Response":{"RequestId":"r0"}}`},
		{200, "", `{"Response":{"Error":{"Code":"ResourceNotFound","Message":"file not exist"},"RequestId":"r1"}}`},
		{200, "1", `{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"slow"},"RequestId":"r2"}}`},
		{200, "", `{"Response":{"Error":{"Code":"AuthFailure.SecretIdNotFound","Message":"` + fuzzSecretID + `"},"RequestId":"` + fuzzSecretKey + `"}}`},
		{200, "", `{"Response":{"Error":{"Code":"InternalError","Message":"` + strings.Repeat("错", 3000) + `"},"RequestId":"r3"}}`},
		{502, "", `<html>bad gateway</html>`},
		{429, "Fri, 01 Jan 9999 00:00:00 GMT", ``},
		{200, "", `{"Response":`},
		{200, "", `not json at all ` + fuzzSecretKey},
	} {
		f.Add(s.status, s.ra, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Retry-After", retryAfter)
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		c, err := vod.New(vod.Config{Endpoint: "http://127.0.0.1:1", SecretID: fuzzSecretID, SecretKey: fuzzSecretKey,
			HTTPClient: &http.Client{Transport: vodCanned{status: status, header: h, body: body}}})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.VOD, FileID: "1"})
		if err == nil {
			return // a success answer
		}
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%T %v", err, err)
		require.True(t, slices.Contains(providers.Classes, pe.Class), "class %q", pe.Class)
		require.LessOrEqual(t, len(pe.Message), providers.MaxMessageBytes)
		require.LessOrEqual(t, len(pe.Code), providers.MaxCodeBytes)
		require.LessOrEqual(t, len(pe.RequestID), providers.MaxCodeBytes)
		require.True(t, utf8.ValidString(pe.Message), "%q", pe.Message)
		require.GreaterOrEqual(t, int64(pe.RetryAfter), int64(0))
		require.LessOrEqual(t, pe.RetryAfter, providers.MaxRetryAfter)
		for _, s := range []string{fuzzSecretID, fuzzSecretKey} {
			require.NotContains(t, err.Error(), s)
			require.NotContains(t, pe.Code+pe.Message+pe.RequestID, s)
		}
	})
}
