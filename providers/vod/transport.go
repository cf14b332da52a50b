package vod

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/reaper-media/reaper/providers"
)

// The SDK hides the HTTP exchange: it returns only its own error, and reads and sometimes leaves open
// the response body. The transport below sits under it and, per request, records what arrived (status,
// headers, whether the body hit the cap) in an exchange carried by the request's context, and keeps
// the body so Delete can close it whatever the SDK did.

// exchange is what one Delete saw of its HTTP response.
type exchange struct {
	mu       sync.Mutex
	status   int
	header   http.Header
	body     *trackedBody
	tooLarge bool
	location string // the Location of a redirect that was not followed
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func (ex *exchange) record(resp *http.Response, location string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.status, ex.header, ex.location = resp.StatusCode, resp.Header, location
	ex.body = &trackedBody{rc: resp.Body, ex: ex}
	resp.Body = ex.body
}

// result returns the status (0 when no response arrived), headers and whether the body was cut at
// providers.MaxBodyBytes.
func (ex *exchange) result() (int, http.Header, bool) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.status, ex.header, ex.tooLarge
}

// close releases the response body; the SDK leaves it open when reading fails.
func (ex *exchange) close() {
	ex.mu.Lock()
	b := ex.body
	ex.mu.Unlock()
	if b != nil {
		_ = b.Close()
	}
}

// trackedBody notes a body-cap failure and makes Close idempotent.
type trackedBody struct {
	rc     io.ReadCloser
	ex     *exchange
	once   sync.Once
	closeE error
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if providers.IsBodyTooLarge(err) {
		b.ex.mu.Lock()
		b.ex.tooLarge = true
		b.ex.mu.Unlock()
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.once.Do(func() { b.closeE = b.rc.Close() })
	return b.closeE
}

// redirectLocation returns the exchange's unfollowed redirect target ("" when there was none).
func (ex *exchange) redirectLocation() string {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.location
}

// recordingTransport records each response into the exchange of its request's context, and keeps the
// SDK's http.Client from following redirects: the SDK owns that client (we can only set its
// transport), and net/http follows a 3xx only when it has a Location, so the Location is taken off
// and kept in the exchange. A signed request must never be replayed to another URL (MSS and SMH
// refuse redirects the same way, through providers.NoRedirects; all three report one with
// providers.RedirectError).
type recordingTransport struct{ next http.RoundTripper }

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		location := ""
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			location = resp.Header.Get("Location")
			resp.Header.Del("Location")
		}
		if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
			ex.record(resp, location)
		}
	}
	return resp, err
}

// decodingTransport decompresses gzip and deflate bodies that net/http left encoded (a transport
// with compression disabled, or a server that compresses unasked), so the body cap, which sits above
// it, counts decoded bytes. Left to the SDK, decompression would happen above the cap and a small
// compressed body could expand without limit.
type decodingTransport struct{ next http.RoundTripper }

func (t decodingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if enc != "gzip" && enc != "deflate" {
		return resp, nil
	}
	resp.Body = &decodedBody{raw: resp.Body, enc: enc}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return resp, nil
}

// decodedBody opens its decompressor on first read, so a slow body never blocks RoundTrip.
type decodedBody struct {
	raw io.ReadCloser
	enc string
	r   io.Reader
}

func (b *decodedBody) Read(p []byte) (int, error) {
	if b.r == nil {
		if b.enc == "gzip" {
			zr, err := gzip.NewReader(b.raw)
			if err != nil {
				return 0, err
			}
			b.r = zr
		} else {
			b.r = flate.NewReader(b.raw)
		}
	}
	return b.r.Read(p)
}

func (b *decodedBody) Close() error { return b.raw.Close() }

// newTransport stacks, from the SDK down: recording (and refusing redirects), the 1 MiB body cap,
// decompression, base.
func newTransport(base http.RoundTripper) http.RoundTripper {
	return recordingTransport{next: providers.CappedTransport(decodingTransport{next: base})}
}
