// Package smh deletes files from Tencent Smart Media Hosting (SMH) through its business API:
//
//	DELETE {endpoint}/api/v1/file/{LibraryId}/{SpaceId}/{FilePath}?permanent=0|1&access_token=...&user_id=...
//
// 204 means deleted, 200 {"recycledItemId":N} means moved to the library's recycle bin. Access tokens
// are either fixed (Config.AccessToken) or created by the client from the library secret
// (Config.LibrarySecret), one per (library, space), cached until shortly before they expire, fetched
// by a single request however many deletes wait for them, and renewed once when SMH answers 403
// InvalidAccessToken. Errors are classified by DefaultCodes; neither the token nor the secret ever
// appears in one.
//
// For retention policies, List walks a directory (GET /api/v1/directory/...) page by page and hands over
// the files modified before a cutoff, as targets ready for Delete.
//
// DeleteBatch (batch.go) deletes up to Config.BatchSize paths of one library and space per request
// (providers.BatchDeleter), and Restore (restore.go) puts recycled items back.
//
// The fake in smhtest speaks the same wire format for tests, benchmarks and demos.
package smh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

const userAgent = "reaper-smh/1"

// Client deletes SMH files. It is safe for concurrent use; build it with New.
type Client struct {
	endpoint      string // no trailing slash; may hold LibraryPlaceholder
	perLibrary    bool   // endpoint holds LibraryPlaceholder
	libraryID     string
	spaceID       string
	accessToken   string
	librarySecret string
	tokenUserID   string
	tokenPeriod   time.Duration
	timeout       time.Duration
	http          *http.Client
	table         providers.Table
	now           func() time.Time
	tokens        tokenCache
	batch         batchSettings

	// onTokenWait, when set by tests, runs each time a caller joins a token request under way.
	onTokenWait func()
}

// New validates cfg and returns a client. Errors name the offending field and never echo a credential.
func New(cfg Config) (*Client, error) {
	endpoint, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	c := &Client{
		endpoint:      endpoint,
		perLibrary:    strings.Contains(endpoint, LibraryPlaceholder),
		libraryID:     cfg.LibraryID,
		spaceID:       cfg.SpaceID,
		accessToken:   cfg.AccessToken,
		librarySecret: cfg.LibrarySecret,
		tokenUserID:   cfg.TokenUserID,
		tokenPeriod:   cfg.TokenPeriod,
		timeout:       cfg.Timeout,
		table:         providers.NewTable(DefaultCodes()).Override(cfg.Codes),
		now:           cfg.Now,
		tokens:        tokenCache{entries: map[tokenKey]*tokenEntry{}},
		batch:         cfg.batchSettings(),
	}
	if c.spaceID == "" {
		c.spaceID = SingleTenantSpace
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.http = &hc
	} else {
		c.http = newHTTPClient()
	}
	c.http.CheckRedirect = noRedirects
	return c, nil
}

// Provider returns providers.SMH.
func (c *Client) Provider() providers.Name { return providers.SMH }

// Delete deletes the file t names, or moves it to the recycle bin when the library has one and
// t.Permanent is false. Targets without a library or space get Config.LibraryID and Config.SpaceID.
// An invalid target fails with class fatal and code "InvalidTarget" before any request.
func (c *Client) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	if t.LibraryID == "" {
		t.LibraryID = c.libraryID
	}
	if t.SpaceID == "" {
		t.SpaceID = c.spaceID
	}
	base, err := c.check(t)
	if err != nil {
		return providers.Result{}, &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidTarget", Err: err}
	}
	var res providers.Result
	perr := c.withToken(ctx, base, tokenKey{library: t.LibraryID, space: t.SpaceID}, func(tok string) *providers.Error {
		var err *providers.Error
		res, err = c.deleteOnce(ctx, base, t, tok)
		return err
	})
	if perr != nil {
		return providers.Result{}, perr
	}
	return res, nil
}

// withToken runs op with key's access token. When SMH rejects the token (class auth: 403
// InvalidAccessToken, its only expiry signal) and the client can create tokens, the token is renewed
// and op runs exactly once more. Every business call (Delete, List) goes through here.
func (c *Client) withToken(ctx context.Context, base string, key tokenKey, op func(tok string) *providers.Error) *providers.Error {
	tok, perr := c.token(ctx, base, key)
	if perr != nil {
		return perr
	}
	perr = op(tok)
	if perr != nil && perr.Class == providers.Auth && c.librarySecret != "" {
		c.invalidate(key, tok)
		if tok, perr = c.token(ctx, base, key); perr != nil {
			return perr
		}
		perr = op(tok)
	}
	return perr
}

// response is one successful (2xx) answer of the business API. body may be partial when readErr is set
// (over the body cap, connection cut).
type response struct {
	status    int
	header    http.Header
	body      []byte
	readErr   error
	requestID string
}

// send makes one request with tok in rawURL's query string, bounded by the client timeout, and reads
// the answer's body up to the cap. Transport failures and non-2xx answers come back classified, with
// tok and the library secret removed from their text.
func (c *Client) send(ctx context.Context, method, rawURL, tok string) (response, *providers.Error) {
	return c.sendJSON(ctx, method, rawURL, tok, nil)
}

// sendJSON is send with a JSON request body (none when body is nil): the batch calls' item lists.
func (c *Client) sendJSON(ctx context.Context, method, rawURL, tok string, body []byte) (response, *providers.Error) {
	ctx, cancel := providers.WithTimeout(ctx, c.timeout)
	defer cancel()

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return response{}, requestError(err, tok, c.librarySecret)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, providers.TransportError(providers.SMH, err, tok, c.librarySecret)
	}
	defer providers.DrainAndClose(resp.Body)
	body, readErr := providers.ReadBody(resp.Body)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return response{}, parseError(c.table, resp, body, readErr, c.now(), tok, c.librarySecret)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body, readErr: readErr,
		requestID: requestID(resp.Header)}, nil
}

// check validates a target with defaults applied and returns the endpoint to use for it.
func (c *Client) check(t providers.Target) (string, error) {
	if t.Provider != providers.SMH {
		return "", &providers.FieldError{Field: "provider", Problem: "is " + quoteOrEmpty(string(t.Provider)) + ", want smh"}
	}
	if err := t.Validate(); err != nil {
		return "", err
	}
	if t.LibraryID == "" {
		return "", &providers.FieldError{Field: "library_id", Problem: "is required (no default library configured)"}
	}
	if !c.perLibrary {
		return c.endpoint, nil
	}
	if !isDNSLabel(t.LibraryID) {
		return "", &providers.FieldError{Field: "library_id",
			Problem: "must be letters, digits and '-' to address the per-library domain"}
	}
	return strings.ReplaceAll(c.endpoint, LibraryPlaceholder, strings.ToLower(t.LibraryID)), nil
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "empty"
	}
	return `"` + s + `"`
}

// recycledResponse is the 200 answer when the file went to the recycle bin: {"recycledItemId":1221}.
type recycledResponse struct {
	RecycledItemID int64 `json:"recycledItemId"`
}

// deleteOnce sends one DELETE with tok and interprets the answer.
func (c *Client) deleteOnce(ctx context.Context, base string, t providers.Target, tok string) (providers.Result, *providers.Error) {
	var b strings.Builder
	b.Grow(len(base) + len(t.LibraryID) + len(t.Path) + len(tok) + 64)
	b.WriteString(base)
	b.WriteString("/api/v1/file/")
	b.WriteString(url.PathEscape(t.LibraryID))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(t.SpaceID))
	b.WriteByte('/')
	b.WriteString(providers.EscapePath(t.Path))
	if t.Permanent {
		b.WriteString("?permanent=1")
	} else {
		b.WriteString("?permanent=0")
	}
	b.WriteString("&access_token=")
	b.WriteString(url.QueryEscape(tok))
	if t.UserID != "" {
		b.WriteString("&user_id=")
		b.WriteString(url.QueryEscape(t.UserID))
	}
	resp, perr := c.send(ctx, http.MethodDelete, b.String(), tok)
	if perr != nil {
		return providers.Result{}, perr
	}
	res := providers.Result{RequestID: resp.requestID}
	if resp.status == http.StatusNoContent {
		return res, nil
	}
	// 200 (recycle bin). An empty or itemless body still means success; a body we cannot read or
	// parse might not be SMH's at all, so the delete is retried: a repeat answers FileNotFound (gone)
	// if this one did work.
	var rr recycledResponse
	if trimmed := strings.TrimSpace(string(resp.body)); resp.readErr != nil || trimmed != "" && json.Unmarshal(resp.body, &rr) != nil {
		return providers.Result{}, &providers.Error{Provider: providers.SMH, Class: providers.Retry,
			HTTPStatus: resp.status, Code: "InvalidResponse", Message: "success status with an unreadable body",
			RequestID: res.RequestID}
	}
	if rr.RecycledItemID > 0 {
		res.Recycled, res.RecycledItemID = true, rr.RecycledItemID
	}
	return res, nil
}

// requestError reports a request that could not be built. url.Parse errors quote the URL, so the
// credentials are removed from the text.
func requestError(err error, secrets ...string) *providers.Error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = providers.Redact(msg, s, url.QueryEscape(s))
		}
	}
	return &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: "InvalidRequest", Err: errors.New(msg)}
}
