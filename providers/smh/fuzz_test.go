package smh_test

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
	"github.com/reaper-media/reaper/providers/smh"
)

// fuzzAccessToken is the fuzzed client's token: it travels in the query string, so servers and
// gateways can echo it anywhere.
const fuzzAccessToken = "fuzzACCESStokenSECRET0123456789"

// smhCanned answers every request with one response, in memory.
type smhCanned struct {
	status int
	header http.Header
	body   []byte
}

func (c smhCanned) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: c.header.Clone(), Body: io.NopCloser(strings.NewReader(string(c.body))),
		Request: r, ContentLength: int64(len(c.body))}, nil
}

// FuzzErrorBody: whatever error answer SMH or a gateway sends (status, headers, JSON, XML or any
// body), Delete returns a classified *providers.Error with bounded text, a bounded Retry-After, and
// never the access token.
func FuzzErrorBody(f *testing.F) {
	for _, s := range []struct {
		status      int
		ct, rid, ra string
		body        string
	}{
		{404, "application/json", "", "", `{"status":404,"code":"FileNotFound","message":"File not found.","requestId":"r1"}`},
		{429, "application/json", "r2", "2", `{"code":"RateLimitExceeded","message":"slow down","reqId":"r3"}`},
		{403, "application/json", "", "", `{"code":"InvalidAccessToken","message":"token ` + fuzzAccessToken + ` expired","requestID":"` + fuzzAccessToken + `"}`},
		{500, "application/xml", "", "", `<Error><Code>InternalError</Code><Message>` + fuzzAccessToken + `</Message><RequestId>` + fuzzAccessToken + `</RequestId></Error>`},
		{502, "text/html", "", "", `<html>GET /api/v1/file/l/-/a.mp4?access_token=` + fuzzAccessToken + `</html>`},
		{429, "", "", "99999999999", ``},
		{301, "", "", "", ``},
		{400, "application/json", "", "", `{"code":"` + strings.Repeat("C", 600) + `","message":"` + strings.Repeat("長", 1000) + `"}`},
	} {
		f.Add(s.status, s.ct, s.rid, s.ra, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, contentType, requestID, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("X-Request-Id", requestID)
		h.Set("Retry-After", retryAfter)
		h.Set("Location", "https://elsewhere.example/?access_token="+fuzzAccessToken)
		if status < 0 {
			status = -(status + 1)
		}
		c, err := smh.New(smh.Config{Endpoint: "http://127.0.0.1:1", LibraryID: "smhlib", AccessToken: fuzzAccessToken,
			HTTPClient: &http.Client{Transport: smhCanned{status: 300 + status%300, header: h, body: body}}})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, LibraryID: "smhlib", SpaceID: "-", Path: "a.mp4"})
		checkSMHError(t, err, fuzzAccessToken)
	})
}

// checkSMHError holds an error answer to the contract every provider's parser keeps.
func checkSMHError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%T %v", err, err)
	require.True(t, slices.Contains(providers.Classes, pe.Class), "class %q", pe.Class)
	require.LessOrEqual(t, len(pe.Message), providers.MaxMessageBytes)
	require.LessOrEqual(t, len(pe.Code), providers.MaxCodeBytes)
	require.LessOrEqual(t, len(pe.RequestID), providers.MaxCodeBytes)
	require.True(t, utf8.ValidString(pe.Message), "%q", pe.Message)
	require.GreaterOrEqual(t, int64(pe.RetryAfter), int64(0))
	require.LessOrEqual(t, pe.RetryAfter, providers.MaxRetryAfter)
	for _, s := range secrets {
		require.NotContains(t, err.Error(), s)
		require.NotContains(t, pe.Code+pe.Message+pe.RequestID, s)
	}
}

// TestBatchItemErrorIsBounded: a batch item's message (up to the 1 MiB body) leaves DeleteBatch cut
// to MaxMessageBytes, like every other provider error.
func TestBatchItemErrorIsBounded(t *testing.T) {
	body := `{"result":[{"status":403,"code":"NoPermission","message":"` + strings.Repeat("長", 100_000) + `","path":["a.mp4"]}]}`
	c, err := smh.New(smh.Config{Endpoint: "http://127.0.0.1:1", LibraryID: "smhlib", AccessToken: fuzzAccessToken,
		HTTPClient: &http.Client{Transport: smhCanned{status: http.StatusMultiStatus, header: http.Header{}, body: []byte(body)}}})
	require.NoError(t, err)
	items, err := c.DeleteBatch(context.Background(), []providers.Target{{Provider: providers.SMH, LibraryID: "smhlib", SpaceID: "-", Path: "a.mp4"}})
	require.NoError(t, err)
	require.Len(t, items, 1)
	pe, ok := providers.AsError(items[0].Err)
	require.True(t, ok, "%v", items[0].Err)
	require.Equal(t, "NoPermission", pe.Code)
	checkSMHError(t, pe, fuzzAccessToken)
	require.True(t, strings.HasSuffix(pe.Message, providers.CutMark))
}
