package providers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

func TestPooledTransport(t *testing.T) {
	a, b := providers.PooledTransport(), providers.PooledTransport()
	assert.NotSame(t, a, b, "each client gets its own pool")
	assert.Equal(t, 256, a.MaxIdleConns)
	assert.Equal(t, 128, a.MaxIdleConnsPerHost)
	assert.Equal(t, 90*time.Second, a.IdleConnTimeout)
	assert.NotNil(t, a.Proxy, "HTTPS_PROXY and friends are honoured")
	assert.True(t, a.ForceAttemptHTTP2)
}

func TestHTTPClientNeverFollowsRedirects(t *testing.T) {
	var followed int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed++
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()

	own := &http.Client{Timeout: 7 * time.Second} // follows redirects by default
	cases := []struct {
		name string
		in   *http.Client
	}{{"nil: our own client", nil}, {"the caller's client", own}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hc := providers.HTTPClient(c.in)
			require.NotSame(t, c.in, hc, "a copy: the caller's client keeps its own policy")
			if c.in == nil {
				assert.IsType(t, &http.Transport{}, hc.Transport)
			} else {
				assert.Equal(t, 7*time.Second, hc.Timeout, "the rest of the caller's client is kept")
			}
			req, err := http.NewRequest(http.MethodDelete, srv.URL+"/file", nil)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusFound, resp.StatusCode)
		})
	}
	assert.Nil(t, own.CheckRedirect, "the caller's client is not changed")
	assert.Zero(t, followed, "a DELETE must never be followed to another URL")
}

func TestRedirectError(t *testing.T) {
	const tok = "tok/en+1"
	cases := []struct {
		name, location, want string
	}{
		{"no location", "", "endpoint redirects; set Endpoint to the final URL"},
		{"plain", "https://other.example/v1", "endpoint redirects to https://other.example/v1; set Endpoint to the final URL"},
		{"credential parameter", "https://other.example/x?access_token=abc&a=1",
			"endpoint redirects to https://other.example/x?a=1&access_token=%2A%2A%2A; set Endpoint to the final URL"},
		{"secret in the path", "https://other.example/" + tok, "endpoint redirects to https://other.example/***; set Endpoint to the final URL"},
		{"escaped secret", "https://other.example/?q=tok%2Fen%2B1", "endpoint redirects to https://other.example/?q=***; set Endpoint to the final URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := providers.RedirectError(providers.SMH, http.StatusFound, c.location, tok)
			assert.Equal(t, providers.Fatal, e.Class)
			assert.Equal(t, "UnexpectedRedirect", e.Code)
			assert.Equal(t, http.StatusFound, e.HTTPStatus)
			assert.Equal(t, providers.SMH, e.Provider)
			assert.Equal(t, c.want, e.Message)
			assert.NotContains(t, e.Error(), "abc")
		})
	}
}
