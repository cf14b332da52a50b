// Package vod deletes media at Tencent Cloud VOD with the DeleteMedia API (version 2018-07-17), and
// finds the media a retention policy selects with SearchMedia (search.go). Requests are signed with
// TC3-HMAC-SHA256 by Tencent's official Go SDK (its common module: the generic client, since the SDK's
// vod module is not needed for two actions).
//
// The SDK's own retries and region breaker are turned off: reaper's pipeline decides on retries from
// the classified error. API 3.0 reports errors in the JSON body, usually with HTTP 200, so an error is
// classified by its Response.Error.Code through DefaultCodes, and by HTTP status when no code could be
// read (gateway pages, truncated bodies).
package vod

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/reaper-media/reaper/providers"
)

// Endpoints and API constants.
const (
	// DefaultEndpoint is the API 3.0 domain used when Config.Endpoint is empty (nearest region).
	DefaultEndpoint = "vod.tencentcloudapi.com"
	// IntlEndpoint is the domain of the international site.
	IntlEndpoint = "vod.intl.tencentcloudapi.com"
	// DefaultTimeout is the per-request timeout when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// APIVersion is the VOD API version of DeleteMedia and SearchMedia.
	APIVersion = "2018-07-17"

	service      = "vod"
	actionDelete = "DeleteMedia"
)

// Config configures a Client. Zero values are the documented defaults.
type Config struct {
	// Endpoint is the API host: "vod.tencentcloudapi.com" (default), "vod.intl.tencentcloudapi.com", a
	// regional domain, or a URL "https://host" / "http://127.0.0.1:8080" (http only for fakes). A bare
	// host means HTTPS.
	Endpoint string
	// Region is sent as X-TC-Region; DeleteMedia does not require it, and "" (default) omits the header.
	Region string
	// SecretID and SecretKey are the API key pair (required). The key never appears in errors.
	SecretID  string
	SecretKey string
	// SubAppID is the sub-application used for targets that name none (0: the primary application).
	// Accounts that activated VOD from 2023-12-25 must always send one.
	SubAppID uint64
	// Timeout bounds each request, connection included (default 30s).
	Timeout time.Duration
	// HTTPClient supplies the transport (nil: providers.PooledTransport). Only its Transport is used,
	// wrapped with the 1 MiB body cap; the SDK owns the http.Client itself, and Timeout above applies.
	HTTPClient *http.Client
	// Codes overrides DefaultCodes per code (or "Prefix*").
	Codes map[string]providers.Class
}

// Client deletes media at VOD. It is safe for concurrent use.
type Client struct {
	sdk      *common.Client
	subAppID uint64
	timeout  time.Duration
	table    providers.Table
	secrets  []string
}

var _ providers.Deleter = (*Client)(nil)

var regionPattern = regexp.MustCompile(`^[a-z0-9-]+$`)

// New validates cfg and returns a client. Errors name the faulty field and never echo a secret.
func New(cfg Config) (*Client, error) {
	host, scheme, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.SecretID == "":
		return nil, errors.New("vod: Config.SecretID is required")
	case cfg.SecretKey == "":
		return nil, errors.New("vod: Config.SecretKey is required")
	case cfg.Region != "" && !regionPattern.MatchString(cfg.Region):
		return nil, fmt.Errorf("vod: Config.Region %q is not a region such as ap-guangzhou", cfg.Region)
	case cfg.Timeout < 0:
		return nil, errors.New("vod: Config.Timeout must not be negative")
	}
	for _, f := range []struct{ name, v string }{{"SecretID", cfg.SecretID}, {"SecretKey", cfg.SecretKey}} {
		if err := providers.CheckSecret(f.name, f.v); err != nil {
			return nil, fmt.Errorf("vod: %w", err)
		}
	}
	if err := providers.CheckCodes(cfg.Codes); err != nil {
		return nil, fmt.Errorf("vod: %w", err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	var base http.RoundTripper = providers.PooledTransport()
	if cfg.HTTPClient != nil {
		base = cfg.HTTPClient.Transport
		if base == nil {
			base = http.DefaultTransport
		}
	}

	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = host
	cpf.HttpProfile.Scheme = scheme
	cpf.HttpProfile.ReqMethod = http.MethodPost
	cpf.HttpProfile.ReqTimeout = 0 // no http.Client timeout: Delete's context deadline is the one timeout
	cpf.Language = "en-US"
	cpf.DisableRegionBreaker = true // never reroute to a backup domain behind the operator's back
	cpf.RateLimitExceededMaxRetries = 0
	cpf.NetworkFailureMaxRetries = 0
	cpf.UnsafeRetryOnConnectionFailure = false
	// NewCommonClient builds its own http.Client (unless something set the SDK's package-level
	// DefaultHttpClient, which reaper never does); we only swap its transport.
	sdk := common.NewCommonClient(common.NewCredential(cfg.SecretID, cfg.SecretKey), cfg.Region, cpf)
	sdk.WithHttpTransport(newTransport(base))
	sdk.WithRequestClient("reaper")

	return &Client{
		sdk:      sdk,
		subAppID: cfg.SubAppID,
		timeout:  timeout,
		table:    providers.NewTable(DefaultCodes()).Override(cfg.Codes),
		secrets:  []string{cfg.SecretKey, cfg.SecretID},
	}, nil
}

// parseEndpoint turns Config.Endpoint into the SDK's host and scheme ("HTTPS" or "HTTP").
func parseEndpoint(ep string) (host, scheme string, err error) {
	if ep == "" {
		return DefaultEndpoint, "HTTPS", nil
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := providers.CheckEndpoint(ep)
	if err != nil {
		return "", "", fmt.Errorf("vod: %w", err)
	}
	if u.Path != "" && u.Path != "/" {
		// API 3.0 lives at "/" and the signature covers "/" only.
		return "", "", errors.New("vod: Config.Endpoint must be a bare host, without a path")
	}
	return u.Host, strings.ToUpper(u.Scheme), nil
}

// Provider returns providers.VOD.
func (c *Client) Provider() providers.Name { return providers.VOD }

// Delete calls DeleteMedia for the target: the whole media, or only t.DeleteParts. A target without
// a SubAppID gets Config.SubAppID. An invalid target fails with Class Fatal and Code "InvalidTarget"
// before any request.
func (c *Client) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	if t.SubAppID == 0 {
		t.SubAppID = c.subAppID
	}
	if err := validate(t); err != nil {
		return providers.Result{}, providers.InvalidTarget(providers.VOD, err)
	}

	body, err := c.send(ctx, actionDelete, actionParameters(t))
	if err != nil {
		return providers.Result{}, err
	}
	var out struct {
		Response struct {
			RequestID string `json:"RequestId"`
		}
	}
	_ = json.Unmarshal(body, &out) // the SDK already parsed it; an absent id stays empty
	return providers.Result{RequestID: out.Response.RequestID}, nil
}

// send calls one API 3.0 action of VOD with params as its JSON body, under the per-request timeout,
// and returns the response body of a success or the classified *providers.Error. Delete and Search
// share it, so both sign, cap, record and classify their exchanges the same way.
func (c *Client) send(ctx context.Context, action string, params map[string]any) ([]byte, error) {
	req := tchttp.NewCommonRequest(service, APIVersion, action)
	if err := req.SetActionParameters(params); err != nil {
		return nil, &providers.Error{Provider: providers.VOD, Class: providers.Fatal,
			Code: "InvalidParameters", Message: err.Error()}
	}
	ctx, cancel := providers.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{}
	req.SetContext(withExchange(ctx, ex))
	resp := &rawResponse{BaseResponse: &tchttp.BaseResponse{}}
	err := c.sdk.Send(req, resp)
	ex.close()
	if err != nil {
		return nil, c.classify(ctx, ex, err)
	}
	return resp.body, nil
}

// rawResponse keeps a success body as it arrived; the caller decodes it into its own types. (The
// SDK's CommonResponse decodes into a map and encodes it again on GetBody, which costs more than the
// rest of a SearchMedia page.) The SDK has already checked the body for an error by then.
type rawResponse struct {
	*tchttp.BaseResponse
	body []byte
}

// UnmarshalJSON is how the SDK hands over the body.
func (r *rawResponse) UnmarshalJSON(b []byte) error {
	r.body = append(r.body[:0], b...)
	return nil
}

func validate(t providers.Target) error {
	if err := providers.CheckProvider(t, providers.VOD); err != nil {
		return err
	}
	return t.Validate()
}

// actionParameters is the DeleteMedia body: FileId, SubAppId when set, DeleteParts when any. Values
// keep their Go types (SubAppId a uint64), so the SDK marshals them without a float round trip.
func actionParameters(t providers.Target) map[string]any {
	p := map[string]any{"FileId": t.FileID}
	if t.SubAppID != 0 {
		p["SubAppId"] = t.SubAppID
	}
	if len(t.DeleteParts) > 0 {
		parts := make([]map[string]any, len(t.DeleteParts))
		for i, dp := range t.DeleteParts {
			parts[i] = map[string]any{"Type": dp.Type, "Definition": dp.Definition}
		}
		p["DeleteParts"] = parts
	}
	return p
}
