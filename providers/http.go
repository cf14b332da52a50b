package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxBodyBytes caps how much of a provider response body a client reads. Delete responses are tiny; a
// gateway that streams an endless page must not exhaust memory.
const MaxBodyBytes = 1 << 20

// ErrBodyTooLarge is returned when a response body exceeds MaxBodyBytes.
var ErrBodyTooLarge = fmt.Errorf("response body exceeds %d bytes", MaxBodyBytes)

// ReadBody reads at most MaxBodyBytes of r, failing with ErrBodyTooLarge beyond that.
func ReadBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return b, err
	}
	if len(b) > MaxBodyBytes {
		return b[:MaxBodyBytes], ErrBodyTooLarge
	}
	return b, nil
}

// CappedTransport wraps rt so every response body fails with ErrBodyTooLarge after MaxBodyBytes. It is
// for clients whose HTTP reading we do not control (Tencent's SDK reads with io.ReadAll).
func CappedTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return cappedTransport{rt}
}

type cappedTransport struct{ rt http.RoundTripper }

func (c cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: MaxBodyBytes}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells an exactly-full body from an oversized one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// MaxRetryAfter caps a Retry-After hint: a throttled task is rescheduled at most this far ahead,
// whatever the server (or a broken proxy) asked for.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header (delay-seconds or an HTTP date, RFC 9110 10.2.3): zero
// when absent, invalid, negative or in the past, at most MaxRetryAfter. Huge values ("9300000000",
// a date in the year 9999) are capped, never overflowed into a negative or centuries-long delay.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	return RetryAfter(h.Get("Retry-After"), now)
}

// RetryAfter parses one Retry-After value as ParseRetryAfter does.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil || s > uint64(MaxRetryAfter/time.Second) { // too large for uint64 is too large too
			return MaxRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return min(t.Sub(now), MaxRetryAfter) // Sub saturates instead of overflowing
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// WithTimeout applies a per-request timeout on top of ctx when d > 0.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// DrainAndClose discards what is left of a body (up to the cap) so the connection can be reused.
func DrainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, MaxBodyBytes))
	_ = body.Close()
}

// IsBodyTooLarge reports whether err is (or wraps) ErrBodyTooLarge.
func IsBodyTooLarge(err error) bool { return errors.Is(err, ErrBodyTooLarge) }
