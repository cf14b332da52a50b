package mss_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/mss"
	"github.com/reaper-media/reaper/providers/providertest"
)

// fuzzToken is the IAM token of the fuzzed client: sent with every request, so a gateway may echo it.
const fuzzToken = "MIIfuzzTOKENsecret0123456789"

// FuzzErrorBody: whatever error answer MetaStudio or its gateway sends (status, headers, body), Delete
// returns a classified *providers.Error with bounded text, a bounded Retry-After, and no token.
func FuzzErrorBody(f *testing.F) {
	for _, s := range []struct {
		status      int
		ct, rid, ra string
		body        string
	}{
		{400, "application/json", "r1", "", `{"error_code":"MSS.10001004","error_msg":"The file not found"}`},
		{429, "application/json", "", "3", `{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached","request_id":"r2"}`},
		{401, "application/json", "", "", `{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: token ` + fuzzToken + `","request_id":"` + fuzzToken + `"}`},
		{500, "application/json", "", "", `{"error":{"code":"MSS.00000004","message":"Internal Error"}}`},
		{400, "application/json", "", "", `{"code":12345,"message":"numeric code"}`},
		{502, "text/html", "", "", `<html><body>Bad Gateway ` + fuzzToken + `</body></html>`},
		{429, "", "", "Fri, 01 Jan 9999 00:00:00 GMT", ``},
		{302, "", "", "", ``},
		{400, "application/json", "", "", `{"error_code":"MSS.1","error_msg":"` + strings.Repeat("é", 2000) + `"}`},
	} {
		f.Add(s.status, s.ct, s.rid, s.ra, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, contentType, requestID, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set(mss.RequestIDHeader, requestID)
		h.Set("Retry-After", retryAfter)
		h.Set("Location", "https://elsewhere.example/?token="+fuzzToken)
		c, err := mss.New(mss.Config{Endpoint: "http://127.0.0.1:1", Token: fuzzToken, ProjectID: "p",
			HTTPClient: &http.Client{Transport: providertest.CannedTransport{Status: 300 + abs(status)%300, Header: h, Body: body}}})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.MSS, FileID: "f", ProjectID: "p"})
		providertest.CheckProviderError(t, err, fuzzToken)
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}
