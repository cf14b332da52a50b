// Package webhook delivers reaper's batch events (a batch done, a batch suspended by its failure
// threshold) to an HTTP endpoint, signed the way Stripe signs its webhooks: the receiver recomputes
// an HMAC-SHA256 of the timestamp and the body under the shared secret (REAPER_WEBHOOK_SECRET) and
// compares. jobs decides when an event is due and retries a failed delivery; this package only
// speaks HTTP.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
	SignatureHeader = "Reaper-Signature"
	// EventHeader names the event: batch_done or batch_suspended.
	EventHeader = "Reaper-Event"
)

// CheckURL reports what is wrong with a webhook URL: it must be an absolute http or https URL with a
// host. The error never quotes the URL (it may carry a token in its query).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("has no host")
	}
	return nil
}

// Sign returns the SignatureHeader value for body sent at t under secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is Verify's answer to a signature that does not match, or is too old.
var ErrBadSignature = errors.New("webhook signature does not verify")

// Verify checks a SignatureHeader value for body under secret, as a receiver should: the HMAC must
// match (compared in constant time) and the timestamp be within tolerance of now, so a recorded
// delivery cannot be replayed later.
func Verify(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrBadSignature)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// Sender POSTs events, signed with Secret. It implements jobs.Notifier.
type Sender struct {
	// Secret signs every delivery (REAPER_WEBHOOK_SECRET). Required.
	Secret []byte
	// Client sends them (default: a 10 s timeout, no redirects followed).
	Client *http.Client
	// Now is the signing clock (default time.Now).
	Now func() time.Time
}

// NewSender returns a Sender with the defaults; secret must not be empty.
func NewSender(secret string) (*Sender, error) {
	if secret == "" {
		return nil, errors.New("webhook: a secret is required (REAPER_WEBHOOK_SECRET)")
	}
	return &Sender{Secret: []byte(secret)}, nil
}

// Deliver POSTs body (JSON) to rawURL with the event and signature headers. Any answer but 2xx is an
// error, so the caller delivers again later. Errors name the URL's host only.
func (s *Sender) Deliver(ctx context.Context, rawURL, event string, body []byte) error {
	if len(s.Secret) == 0 {
		return errors.New("webhook: no secret to sign with")
	}
	if err := CheckURL(rawURL); err != nil {
		return fmt.Errorf("webhook URL %w", err)
	}
	u, _ := url.Parse(rawURL)
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook to %s: cannot build the request", u.Host)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "reaper-webhook/1")
	req.Header.Set(EventHeader, event)
	req.Header.Set(SignatureHeader, Sign(s.Secret, now(), body))
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error prints the whole URL, query string included
		}
		return fmt.Errorf("webhook to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook to %s: answered %s", u.Host, resp.Status)
	}
	return nil
}

var defaultClient = &http.Client{
	Timeout: 10 * time.Second,
	// A webhook that redirects is a misconfiguration to fix, not a hop to follow with the body.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
