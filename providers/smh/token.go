package smh

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// MaxRefreshMargin is how long before its expiry a cached token is replaced at the latest. Tokens
// shorter than ten minutes are replaced when a tenth of their life is left.
const MaxRefreshMargin = time.Minute

// minTokenTTL is assumed when SMH answers without a usable expiresIn: the token API's documented
// minimum period (5 minutes).
const minTokenTTL = 300 * time.Second

// maxTokenPeriod is the token API's documented maximum period in seconds (10 years); larger expiresIn
// values are clamped to it.
const maxTokenPeriod = 315360000

// tokenKey is what a token is valid for: SMH tokens name a library and the spaces they may touch, and
// carry grants (empty: Grants, the delete grants; restores ask for RestoreGrants with a token of their own).
type tokenKey struct {
	library, space string
	grants         string
}

// tokenEntry is the cache slot of one key: the current token, if any, and the fetch under way, if any.
type tokenEntry struct {
	token     string
	refreshAt time.Time // fetch a new one from here on
	expiresAt time.Time // SMH stops accepting it here (by our clock, measured from the request)
	flight    *tokenFlight
}

// tokenFlight is one token request shared by every caller that needs the key meanwhile.
type tokenFlight struct {
	done  chan struct{}
	token string
	err   *providers.Error
}

// tokenCache holds tokens per (library, space) and makes sure a key is fetched by one request at a
// time however many deletes need it.
type tokenCache struct {
	mu      sync.Mutex
	entries map[tokenKey]*tokenEntry
}

// token returns a usable token for key: the cached one while it is fresh, else the result of a fetch,
// started now or joined if one is under way. The fetch runs detached from ctx (bounded by the client
// timeout) so one caller giving up does not fail the others; each caller waits only as long as its
// own ctx allows.
func (c *Client) token(ctx context.Context, base string, key tokenKey) (string, *providers.Error) {
	if c.accessToken != "" {
		return c.accessToken, nil
	}
	if err := ctx.Err(); err != nil {
		return "", providers.TransportError(providers.SMH, err)
	}
	tc := &c.tokens
	tc.mu.Lock()
	e := tc.entries[key]
	if e == nil {
		e = &tokenEntry{}
		tc.entries[key] = e
	}
	if e.token != "" && c.now().Before(e.refreshAt) {
		tok := e.token
		tc.mu.Unlock()
		return tok, nil
	}
	f := e.flight
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		e.flight = f
		go c.fill(context.WithoutCancel(ctx), base, key, e, f)
	} else if c.onTokenWait != nil {
		c.onTokenWait()
	}
	tc.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return "", providers.TransportError(providers.SMH, ctx.Err())
	}
	if f.err == nil {
		return f.token, nil
	}
	// The token endpoint failed while refreshing early: the old token is still good until it expires.
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if e.token != "" && c.now().Before(e.expiresAt) {
		return e.token, nil
	}
	return "", f.err
}

// fill runs one token request and publishes its outcome to the entry and to everyone waiting on f.
func (c *Client) fill(ctx context.Context, base string, key tokenKey, e *tokenEntry, f *tokenFlight) {
	start := c.now()
	tok, ttl, err := c.fetchToken(ctx, base, key)
	c.tokens.mu.Lock()
	e.flight = nil
	if err == nil {
		margin := min(ttl/10, MaxRefreshMargin)
		e.token, e.expiresAt, e.refreshAt = tok, start.Add(ttl), start.Add(ttl-margin)
	}
	f.token, f.err = tok, err
	c.tokens.mu.Unlock()
	close(f.done)
}

// invalidate drops key's token if it is still tok, after SMH rejected it. Comparing with tok means a
// burst of rejections of the same old token costs one new token, not one each.
func (c *Client) invalidate(key tokenKey, tok string) {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	if e := c.tokens.entries[key]; e != nil && e.token == tok {
		e.token, e.refreshAt, e.expiresAt = "", time.Time{}, time.Time{}
	}
}

// tokenResponse is the token API's answer: {"accessToken":"...","expiresIn":86400}.
type tokenResponse struct {
	AccessToken string `json:"accessToken"`
	ExpiresIn   int64  `json:"expiresIn"`
}

// fetchToken creates a token: GET /api/v1/token?library_id=&library_secret=&space_id=&grant=... .
func (c *Client) fetchToken(ctx context.Context, base string, key tokenKey) (string, time.Duration, *providers.Error) {
	ctx, cancel := providers.WithTimeout(ctx, c.timeout)
	defer cancel()

	q := url.Values{}
	q.Set("library_id", key.library)
	q.Set("library_secret", c.librarySecret)
	if key.space != SingleTenantSpace {
		// Single-tenant libraries take no space_id ("no need to specify this parameter").
		q.Set("space_id", key.space)
	}
	grants := key.grants
	if grants == "" {
		grants = Grants
	}
	q.Set("grant", grants)
	if c.tokenUserID != "" {
		q.Set("user_id", c.tokenUserID)
	}
	if c.tokenPeriod > 0 {
		q.Set("period", strconv.FormatInt(int64(math.Ceil(c.tokenPeriod.Seconds())), 10))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/token?"+q.Encode(), nil)
	if err != nil {
		return "", 0, requestError(err, c.librarySecret)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", 0, providers.TransportError(providers.SMH, err, c.librarySecret)
	}
	defer providers.DrainAndClose(resp.Body)
	body, readErr := providers.ReadBody(resp.Body)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		pe := parseError(c.table, resp, body, readErr, c.now(), c.librarySecret)
		if pe.Class == providers.Gone {
			// A token request cannot show that a file is gone, whatever the code says.
			pe.Class = providers.Fatal
		}
		pe.Message = "access token request: " + pe.Message
		return "", 0, pe
	}
	var tr tokenResponse
	if readErr != nil || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		return "", 0, &providers.Error{Provider: providers.SMH, Class: providers.Retry, HTTPStatus: resp.StatusCode,
			Code: "InvalidResponse", Message: "access token request: no accessToken in the answer", RequestID: requestID(resp.Header)}
	}
	ttl := time.Duration(min(tr.ExpiresIn, maxTokenPeriod)) * time.Second
	if tr.ExpiresIn <= 0 {
		ttl = minTokenTTL
	}
	return tr.AccessToken, ttl, nil
}
