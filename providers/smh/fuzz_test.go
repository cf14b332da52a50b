package smh_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/providertest"
	"github.com/reaper-media/reaper/providers/smh"
)

// fuzzAccessToken is the fuzzed client's token: it travels in the query string, so servers and
// gateways can echo it anywhere.
const fuzzAccessToken = "fuzzACCESStokenSECRET0123456789"

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
			HTTPClient: &http.Client{Transport: providertest.CannedTransport{Status: 300 + status%300, Header: h, Body: body}}})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, LibraryID: "smhlib", SpaceID: "-", Path: "a.mp4"})
		providertest.CheckProviderError(t, err, fuzzAccessToken)
	})
}

// TestBatchItemErrorIsBounded: a batch item's message (up to the 1 MiB body) leaves DeleteBatch cut
// to MaxMessageBytes, like every other provider error.
func TestBatchItemErrorIsBounded(t *testing.T) {
	body := `{"result":[{"status":403,"code":"NoPermission","message":"` + strings.Repeat("長", 100_000) + `","path":["a.mp4"]}]}`
	c, err := smh.New(smh.Config{Endpoint: "http://127.0.0.1:1", LibraryID: "smhlib", AccessToken: fuzzAccessToken,
		HTTPClient: &http.Client{Transport: providertest.CannedTransport{Status: http.StatusMultiStatus, Header: http.Header{}, Body: []byte(body)}}})
	require.NoError(t, err)
	items, err := c.DeleteBatch(context.Background(), []providers.Target{{Provider: providers.SMH, LibraryID: "smhlib", SpaceID: "-", Path: "a.mp4"}})
	require.NoError(t, err)
	require.Len(t, items, 1)
	pe, ok := providers.AsError(items[0].Err)
	require.True(t, ok, "%v", items[0].Err)
	require.Equal(t, "NoPermission", pe.Code)
	providertest.CheckProviderError(t, pe, fuzzAccessToken)
	require.True(t, strings.HasSuffix(pe.Message, providers.CutMark))
}
