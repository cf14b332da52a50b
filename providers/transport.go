package providers

import (
	"net"
	"net/http"
	"net/url"
	"time"
)

// PooledTransport returns a new transport for a provider client that sends many concurrent deletes to
// few hosts: net/http's defaults (proxy from the environment, HTTP/2, 10 s TLS handshake) with 256
// idle connections, 128 of them per host, kept 90 s, and a 10 s dial timeout.
func PooledTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// NoRedirects is the CheckRedirect policy of every provider client: the redirect response is returned
// instead of followed. A signed DELETE must never be replayed to another URL, and SMH's access token
// rides in the query string.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// HTTPClient returns the client a provider sends with: a copy of hc (nil: a new client on
// PooledTransport) whose redirect policy is NoRedirects, whatever hc's was. hc itself is not changed.
func HTTPClient(hc *http.Client) *http.Client {
	var out http.Client
	if hc != nil {
		out = *hc
	} else {
		out.Transport = PooledTransport()
	}
	out.CheckRedirect = NoRedirects
	return &out
}

// RedirectError is the error for a redirect a client did not follow (see NoRedirects): the endpoint is
// misconfigured, so it is fatal, code "UnexpectedRedirect". location is shown without credentials:
// query parameters that carry one (RedactURL) and every given secret, as is or URL-escaped, are
// replaced by "***".
func RedirectError(provider Name, status int, location string, secrets ...string) *Error {
	msg := "endpoint redirects; set Endpoint to the final URL"
	if location != "" {
		all := make([]string, 0, 3*len(secrets))
		for _, s := range secrets {
			all = append(all, s, url.QueryEscape(s), url.PathEscape(s))
		}
		msg = "endpoint redirects to " + Redact(RedactURL(location), all...) + "; set Endpoint to the final URL"
	}
	return (&Error{Provider: provider, HTTPStatus: status, Class: Fatal, Code: "UnexpectedRedirect", Message: msg}).Bound()
}
