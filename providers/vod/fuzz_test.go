package vod_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/providertest"
	"github.com/reaper-media/reaper/providers/vod"
)

const (
	fuzzSecretID  = "AKIDfuzzSECRETid0123456789"
	fuzzSecretKey = "fuzzSECRETkey0123456789abcdef"
)

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
			HTTPClient: &http.Client{Transport: providertest.CannedTransport{Status: status, Header: h, Body: body}}})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.VOD, FileID: "1"})
		if err == nil {
			return // a success answer
		}
		providertest.CheckProviderError(t, err, fuzzSecretID, fuzzSecretKey)
	})
}
