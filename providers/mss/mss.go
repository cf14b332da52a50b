// Package mss deletes files from Huawei Cloud MetaStudio (MSS) with the DeleteFile API,
// DELETE /v1/{project_id}/files/{file_id}, authenticating with an AK/SK signature (SDK-HMAC-SHA256,
// see sign.go) or an IAM token (X-Auth-Token). It is a few hundred lines instead of the 45 MiB
// huaweicloud-sdk-go-v3 module.
//
// Every failure is a *providers.Error classified with DefaultCodes (plus Config.Codes overrides), falling
// back to the HTTP status. msstest holds a fake MetaStudio that verifies the same signatures.
package mss

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

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
	// HTTPClient sends the requests. Nil: a client on providers.PooledTransport. Its redirect policy is
	// replaced (providers.NoRedirects): a DELETE must never be followed to another URL.
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
		return nil, errors.New("mss: set either Config.AK and Config.SK or Config.Token, not both")
	case cfg.Token == "" && cfg.AK == "" && cfg.SK == "":
		return nil, errors.New("mss: credentials required: set Config.AK and Config.SK, or Config.Token")
	case cfg.Token == "" && cfg.AK == "":
		return nil, errors.New("mss: Config.AK is required when Config.SK is set")
	case cfg.Token == "" && cfg.SK == "":
		return nil, errors.New("mss: Config.SK is required when Config.AK is set")
	}
	for _, f := range []struct{ name, v string }{{"AK", cfg.AK}, {"SK", cfg.SK}, {"Token", cfg.Token}} {
		if err := providers.CheckSecret(f.name, f.v); err != nil {
			return nil, fmt.Errorf("mss: %w", err)
		}
	}
	if cfg.ProjectID != "" {
		probe := providers.Target{Provider: providers.MSS, FileID: "probe", ProjectID: cfg.ProjectID}
		if err := probe.Validate(); err != nil {
			return nil, fmt.Errorf("mss: Config.ProjectID: %w", err)
		}
	}
	if c.timeout < 0 {
		return nil, errors.New("mss: Config.Timeout must not be negative")
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
			return nil, fmt.Errorf("mss: Config.Region %q is not a region name like cn-north-4", region)
		}
		endpoint = "https://metastudio." + region + ".myhuaweicloud.com"
	}
	u, err := providers.CheckEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("mss: %w", err)
	}
	c.base = u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/")
	c.endpoint = c.base

	if err := providers.CheckCodes(cfg.Codes); err != nil {
		return nil, fmt.Errorf("mss: %w", err)
	}
	c.table = providers.NewTable(DefaultCodes()).Override(cfg.Codes)
	c.hc = providers.HTTPClient(cfg.HTTPClient)
	return c, nil
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
		return providers.Result{}, providers.InvalidTarget(providers.MSS, err)
	}

	ctx, cancel := providers.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + "/v1/" + Escape(t.ProjectID) + "/files/" + Escape(t.FileID)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return providers.Result{}, providers.InvalidTarget(providers.MSS, err)
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
	if err := providers.CheckProvider(t, providers.MSS); err != nil {
		return err
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if t.ProjectID == "" {
		return &providers.FieldError{Field: "project_id", Problem: "is required (no default ProjectID configured)"}
	}
	return nil
}
