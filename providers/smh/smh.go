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
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

const userAgent = "reaper-smh/1"

// LibraryPlaceholder in Config.Endpoint is replaced by each target's library id, which is how SMH's
// per-library domains (https://smhxxx.api.tencentsmh.cn) are addressed.
const LibraryPlaceholder = "{library_id}"

// DefaultEndpoint is the per-library domain the SMH docs and SDKs recommend.
const DefaultEndpoint = "https://" + LibraryPlaceholder + ".api.tencentsmh.cn"

// DefaultTimeout bounds each HTTP request (the delete, and the token request) when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// SingleTenantSpace is the space id of a single-tenant library, and the default Config.SpaceID. It is
// providers.SingleTenantSpace, the space the producers' keys assume for a target that names none.
const SingleTenantSpace = providers.SingleTenantSpace

// Grants are the permissions the client asks for when it creates access tokens: enough to delete
// (or move to the recycle bin) and to delete permanently, nothing more.
const Grants = "delete_file,delete_file_permanent"

// Config configures a Client. The zero value of every field is its documented default; exactly one of
// AccessToken and LibrarySecret must be set.
type Config struct {
	// Endpoint is the API base URL. Default DefaultEndpoint ("https://{library_id}.api.tencentsmh.cn").
	// LibraryPlaceholder in it is replaced by the target's library id; without the placeholder the URL
	// is used as-is for every library (e.g. "https://api.tencentsmh.cn", or a fake on
	// "http://127.0.0.1:8080"). A path prefix is kept.
	Endpoint string

	// LibraryID is the library of targets that name none. Default: none (such targets are invalid).
	LibraryID string
	// SpaceID is the space of targets that name none. Default "-" (single-tenant library).
	SpaceID string

	// AccessToken is a fixed access token. It cannot be renewed: when SMH rejects it (403
	// InvalidAccessToken) deletes fail with class auth until the config changes.
	AccessToken string
	// LibrarySecret lets the client create its own access tokens (GET /api/v1/token), one per
	// (library, space), cached until shortly before they expire and renewed on 403 InvalidAccessToken.
	LibrarySecret string
	// TokenUserID is the user_id the client's tokens are created for (optional; SMH records it as the
	// operator of the deletes).
	TokenUserID string
	// TokenPeriod is the requested token lifetime (the token API's period, whole seconds). Default:
	// SMH's default, 24 h; SMH raises short periods to its minimum.
	TokenPeriod time.Duration

	// Timeout bounds each HTTP request. Default DefaultTimeout (30 s).
	Timeout time.Duration

	// BatchSize is the most targets one DeleteBatch call sends (providers.BatchDeleter.MaxBatch). Default
	// DefaultBatchSize (100); at most MaxBatchSize (1,000, SMH's limit); 1 turns batch delete off.
	BatchSize int
	// TaskPollInterval is the longest pause between polls of an asynchronous batch (202 {"taskId":N});
	// the first poll comes after a sixteenth of it and the pause doubles up to it. Default
	// DefaultTaskPollInterval (1 s).
	TaskPollInterval time.Duration
	// TaskTimeout bounds the wait for an asynchronous batch to finish; its items then end Retry-class
	// with code "TaskTimeout" (running them again is safe: a deleted file is found gone). Default
	// DefaultTaskTimeout (2 min).
	TaskTimeout time.Duration

	// HTTPClient sends the requests. Default: a client on providers.PooledTransport. Redirects are never
	// followed (providers.NoRedirects: the access token rides in the query string), whichever client.
	HTTPClient *http.Client
	// Codes overrides single entries of DefaultCodes (code or "Prefix*" -> class).
	Codes map[string]providers.Class
	// Now is the clock for token expiry. Default time.Now.
	Now func() time.Time
}

// validate checks the config and returns the normalised endpoint (no trailing slash).
func (cfg Config) validate() (string, error) {
	var errs []error
	endpoint := strings.TrimRight(cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	// The placeholder is not a host name; a library id that is one stands in for it.
	if _, err := providers.CheckEndpoint(strings.ReplaceAll(endpoint, LibraryPlaceholder, "smhexample")); err != nil {
		errs = append(errs, fmt.Errorf("smh: %w", err))
	}
	switch {
	case cfg.AccessToken == "" && cfg.LibrarySecret == "":
		errs = append(errs, errors.New("smh: set Config.AccessToken or Config.LibrarySecret"))
	case cfg.AccessToken != "" && cfg.LibrarySecret != "":
		errs = append(errs, errors.New("smh: set only one of Config.AccessToken and Config.LibrarySecret"))
	}
	for _, f := range []struct{ name, v string }{{"AccessToken", cfg.AccessToken}, {"LibrarySecret", cfg.LibrarySecret}} {
		if err := providers.CheckSecret(f.name, f.v); err != nil {
			errs = append(errs, fmt.Errorf("smh: %w", err))
		}
	}
	if cfg.LibraryID != "" || cfg.SpaceID != "" {
		probe := providers.Target{Provider: providers.SMH, LibraryID: cfg.LibraryID, SpaceID: cfg.SpaceID, Path: "x"}
		if err := probe.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("smh: Config.LibraryID/Config.SpaceID: %w", err))
		}
	}
	if cfg.TokenPeriod < 0 {
		errs = append(errs, errors.New("smh: Config.TokenPeriod must not be negative"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, errors.New("smh: Config.Timeout must not be negative"))
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("smh: Config.BatchSize must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatchSize))
	}
	if cfg.TaskPollInterval < 0 || cfg.TaskTimeout < 0 {
		errs = append(errs, errors.New("smh: Config.TaskPollInterval and Config.TaskTimeout must not be negative"))
	}
	if err := providers.CheckCodes(cfg.Codes); err != nil {
		errs = append(errs, fmt.Errorf("smh: %w", err))
	}
	return endpoint, errors.Join(errs...)
}

// isDNSLabel reports whether id can stand in a host name: what a library id must be to use a
// per-library domain. Anything else ("evil.com#") could move the request, token and all, to another host.
func isDNSLabel(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

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
	c.http = providers.HTTPClient(cfg.HTTPClient)
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
		return providers.Result{}, providers.InvalidTarget(providers.SMH, err)
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
	if err := providers.CheckProvider(t, providers.SMH); err != nil {
		return "", err
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
