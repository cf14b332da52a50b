// Package mss deletes files from Huawei Cloud MetaStudio (MSS) with the DeleteFile API,
// DELETE /v1/{project_id}/files/{file_id}, authenticating with an AK/SK signature (SDK-HMAC-SHA256,
// see sign.go) or an IAM token (X-Auth-Token). It is a few hundred lines instead of the 45 MiB
// huaweicloud-sdk-go-v3 module.
//
// Every failure is a *providers.Error classified with DefaultCodes (plus Config.Codes overrides), falling
// back to the HTTP status. msstest holds a fake MetaStudio that verifies the same signatures.
package mss

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/reaper-media/reaper/providers"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultRegion is MetaStudio's commercial region (CN North-Beijing4).
	DefaultRegion = "cn-north-4"
	// DefaultTimeout bounds one DeleteFile request.
	DefaultTimeout = 30 * time.Second
)

// Headers the client sends besides the signature headers.
const (
	// TokenHeader carries an IAM token (the X-Subject-Token IAM returned) in token mode.
	TokenHeader = "X-Auth-Token"
	// AppUserIDHeader is DeleteFile's optional third-party user id, from Target.AppUserID.
	AppUserIDHeader = "X-App-UserId"
	// ProjectIDHeader names the project, as the official SDK sends it with every request.
	ProjectIDHeader = "X-Project-Id"
	// RequestIDHeader is the response header holding MetaStudio's request id.
	RequestIDHeader = "X-Request-Id"
)

// userAgent identifies reaper in MetaStudio's logs; it is signed like every other header we send.
const userAgent = "reaper-mss/1"

// Config configures a Client. Zero values are the documented defaults. Give exactly one of AK+SK or
// Token.
type Config struct {
	// Endpoint is the base URL, e.g. "https://metastudio.cn-north-4.myhuaweicloud.com" (a path prefix
	// is kept). Empty: "https://metastudio.{Region}.myhuaweicloud.com".
	Endpoint string
	// Region builds the default Endpoint. Empty: "cn-north-4". Ignored when Endpoint is set.
	Region string
	// ProjectID is the project_id for targets that name none.
	ProjectID string
	// AK and SK are the access key pair for AK/SK signing (recommended by Huawei).
	AK, SK string
	// Token is an IAM user token (X-Subject-Token of POST /v3/auth/tokens), valid 24 hours and scoped to
	// the endpoint's region/project. The client cannot renew it: an expired token fails with class Auth.
	Token string
	// Timeout bounds each request. Zero: 30s.
	Timeout time.Duration
	// HTTPClient sends the requests. Nil: a client of our own with 128 idle connections per host. Its
	// redirect policy is replaced: a DELETE must never be followed to another URL.
	HTTPClient *http.Client
	// Codes overrides or extends DefaultCodes, code (or "Prefix*") -> class.
	Codes map[string]providers.Class
	// Now is the clock stamped into X-Sdk-Date. Nil: time.Now. Tests use it to simulate clock skew.
	Now func() time.Time
}

// Client deletes MetaStudio files. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/escaped prefix], no trailing slash
	endpoint  string
	ak, sk    string
	token     string
	projectID string
	timeout   time.Duration
	hc        *http.Client
	table     providers.Table
	now       func() time.Time
}

var regionRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// New validates cfg and returns a client. Its errors name the offending field and never echo a
// credential.
func New(cfg Config) (*Client, error) {
	c := &Client{
		ak: cfg.AK, sk: cfg.SK, token: cfg.Token, projectID: cfg.ProjectID,
		timeout: cfg.Timeout, now: cfg.Now,
	}
	switch {
	case cfg.Token != "" && (cfg.AK != "" || cfg.SK != ""):
		return nil, errors.New("mss: set either AK and SK or Token, not both")
	case cfg.Token == "" && cfg.AK == "" && cfg.SK == "":
		return nil, errors.New("mss: credentials required: set AK and SK, or Token")
	case cfg.Token == "" && cfg.AK == "":
		return nil, errors.New("mss: AK is required when SK is set")
	case cfg.Token == "" && cfg.SK == "":
		return nil, errors.New("mss: SK is required when AK is set")
	}
	for _, f := range []struct{ name, v string }{{"AK", cfg.AK}, {"SK", cfg.SK}, {"Token", cfg.Token}} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return nil, fmt.Errorf("mss: %s contains blanks or control characters", f.name)
		}
	}
	if cfg.ProjectID != "" {
		probe := providers.Target{Provider: providers.MSS, FileID: "probe", ProjectID: cfg.ProjectID}
		if err := probe.Validate(); err != nil {
			return nil, fmt.Errorf("mss: ProjectID: %w", err)
		}
	}
	if c.timeout < 0 {
		return nil, errors.New("mss: Timeout must not be negative")
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}

	endpoint := cfg.Endpoint
	if endpoint == "" {
		region := cfg.Region
		if region == "" {
			region = DefaultRegion
		}
		if !regionRE.MatchString(region) {
			return nil, fmt.Errorf("mss: Region %q is not a region name like cn-north-4", region)
		}
		endpoint = "https://metastudio." + region + ".myhuaweicloud.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("mss: Endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("mss: Endpoint %q must be an http(s) URL with a host and no user, query or fragment", providers.RedactURL(endpoint))
	}
	c.base = u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/")
	c.endpoint = c.base

	for code, class := range cfg.Codes {
		if _, err := providers.ParseClass(string(class)); err != nil {
			return nil, fmt.Errorf("mss: Codes[%q]: %w", code, err)
		}
	}
	c.table = providers.NewTable(DefaultCodes()).Override(cfg.Codes)

	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: newTransport()}
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// newTransport is a pooled transport sized for many concurrent deletes against one host.
func newTransport() *http.Transport {
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

// Provider returns providers.MSS.
func (c *Client) Provider() providers.Name { return providers.MSS }

// Endpoint returns the base URL requests go to, after defaults (for logs and startup checks).
func (c *Client) Endpoint() string { return c.endpoint }

// Delete deletes the file t names. A file MetaStudio does not know fails with class Gone
// (MSS.10001004), which the pipeline counts as done.
func (c *Client) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	if t.ProjectID == "" {
		t.ProjectID = c.projectID
	}
	if err := c.check(t); err != nil {
		return providers.Result{}, &providers.Error{Provider: providers.MSS, Class: providers.Fatal, Code: "InvalidTarget", Err: err}
	}

	ctx, cancel := providers.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + "/v1/" + Escape(t.ProjectID) + "/files/" + Escape(t.FileID)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return providers.Result{}, &providers.Error{Provider: providers.MSS, Class: providers.Fatal, Code: "InvalidTarget", Err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(ProjectIDHeader, t.ProjectID)
	if t.AppUserID != "" {
		req.Header.Set(AppUserIDHeader, t.AppUserID)
	}
	if c.token != "" {
		req.Header.Set(TokenHeader, c.token)
	} else {
		Sign(req, c.ak, c.sk, nil, c.now())
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return providers.Result{}, providers.TransportError(providers.MSS, err, c.sk, c.token)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		providers.DrainAndClose(resp.Body)
		return providers.Result{RequestID: resp.Header.Get(RequestIDHeader)}, nil
	}
	body, err := providers.ReadBody(resp.Body)
	providers.DrainAndClose(resp.Body)
	return providers.Result{}, c.responseError(resp, body, err)
}

// check validates t after defaults, before any request.
func (c *Client) check(t providers.Target) error {
	if t.Provider != providers.MSS {
		return &providers.FieldError{Field: "provider", Problem: fmt.Sprintf("%q is not %q", t.Provider, providers.MSS)}
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if t.ProjectID == "" {
		return &providers.FieldError{Field: "project_id", Problem: "is required (no default ProjectID configured)"}
	}
	return nil
}

// responseError turns a non-2xx response into a classified *providers.Error.
func (c *Client) responseError(resp *http.Response, body []byte, readErr error) error {
	status := resp.StatusCode
	pe := &providers.Error{Provider: providers.MSS, HTTPStatus: status, RequestID: resp.Header.Get(RequestIDHeader)}
	switch {
	case readErr != nil && !providers.IsBodyTooLarge(readErr):
		te := providers.TransportError(providers.MSS, readErr, c.sk, c.token)
		te.HTTPStatus, te.RequestID = status, pe.RequestID
		return te
	case readErr != nil:
		pe.Message, pe.Err = "unreadable error body", readErr
	default:
		eb, ok := parseErrorBody(body)
		if ok {
			pe.Code, pe.Message = eb.code, providers.Redact(eb.message, c.sk, c.token)
			if pe.RequestID == "" {
				pe.RequestID = eb.requestID
			}
		} else {
			pe.Message = providers.Redact(describeBody(resp.Header.Get("Content-Type"), body), c.sk, c.token)
		}
	}
	switch {
	case status >= 300 && status < 400 && pe.Code == "":
		// A redirect means the endpoint is wrong (we never follow one with a DELETE): retrying cannot help.
		pe.Class = providers.Fatal
		pe.Message = "endpoint redirects to " + providers.RedactURL(resp.Header.Get("Location")) + "; configure the final URL"
	default:
		pe.Class = c.table.Classify(status, pe.Code)
	}
	if pe.Class == providers.Throttled {
		pe.RetryAfter = providers.ParseRetryAfter(resp.Header, c.now())
	}
	// A gateway may echo the token (it is sent with every request) in any field, not only the message.
	pe.Code, pe.RequestID = providers.Redact(pe.Code, c.sk, c.token), providers.Redact(pe.RequestID, c.sk, c.token)
	return pe.Bound()
}

// errorFields is an error body reduced to what we use.
type errorFields struct {
	code, message, requestID string
}

// parseErrorBody reads MetaStudio's {"error_code","error_msg"}, APIG's {"error_msg","error_code",
// "request_id"}, the {"code","message"} variant and a nested {"error":{"code","message"}} (the shapes
// the official SDK falls back through). ok is false for anything that is not a JSON object with a code
// or a message.
func parseErrorBody(body []byte) (errorFields, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errorFields{}, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return errorFields{}, false
	}
	f := errorFields{
		code:      firstString(m, "error_code", "code"),
		message:   firstString(m, "error_msg", "message", "error_message"),
		requestID: firstString(m, "request_id"),
	}
	if f.code == "" && f.message == "" {
		var nested map[string]json.RawMessage
		if raw, ok := m["error"]; ok && json.Unmarshal(raw, &nested) == nil {
			f.code = firstString(nested, "error_code", "code")
			f.message = firstString(nested, "error_msg", "message")
		}
	}
	return f, f.code != "" || f.message != ""
}

// firstString returns the first of keys holding a JSON string (or number, kept as written).
func firstString(m map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// describeBody summarises a body that is not a MetaStudio error (a gateway page, truncated JSON) in one
// short printable line.
func describeBody(contentType string, body []byte) string {
	const max = 120
	snippet := strings.Join(strings.FieldsFunc(string(body), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}), " ")
	if len(snippet) > max {
		snippet = strings.ToValidUTF8(snippet[:max], "") + "..."
	}
	if contentType == "" {
		contentType = "no content type"
	}
	if snippet == "" {
		return fmt.Sprintf("empty body (%s)", contentType)
	}
	return fmt.Sprintf("unrecognised body (%s, %d bytes): %s", contentType, len(body), snippet)
}
