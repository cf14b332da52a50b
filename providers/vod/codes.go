package vod

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/reaper-media/reaper/providers"
)

// DefaultCodes is how VOD's error codes are classified: the DeleteMedia codes, the VOD product codes
// that can plausibly answer a delete, and every API 3.0 common error code. API 3.0 sends errors in the
// body, usually with HTTP 200, so a code missing from this table falls back to the HTTP status, which
// for 200 means Retry: an unknown answer is retried within the budget rather than dropped. Client-side
// failures of the SDK (ClientError.*) are not codes of the service and are classified by status or as
// transport errors, never through this table. Config.Codes overrides entries.
func DefaultCodes() map[string]providers.Class {
	return map[string]providers.Class{
		// Already gone: the goal of the delete holds.
		"ResourceNotFound*":             providers.Gone,  // ResourceNotFound (DeleteMedia's own) and .FileNotExist
		"InvalidParameterValue.FileId":  providers.Gone,  // VOD documents it as "FileId does not exist" (FileId 不存在)
		"ResourceNotFound.UserNotExist": providers.Fatal, // the account, not the file, is missing: never report it deleted
		// "没有开通服务": VOD is not activated on the account, a configuration problem, not a deleted file.
		"ResourceNotFound.ServiceNotExist": providers.Fatal,

		// Transient on Tencent's side.
		"InternalError*":               providers.Retry, // InternalError and its .DBError, .GetFileInfoError, ...
		"ServiceUnavailable":           providers.Retry, // "Service is unavailable now"
		"ResourceUnavailable*":         providers.Retry, // resource temporarily unavailable
		"ResourceInsufficient":         providers.Retry, // capacity, not our request
		"ResourceInUse":                providers.Retry, // e.g. a processing task holds the media; it finishes
		"FailedOperation.NetWorkError": providers.Retry, // VOD's "network error" between its own services
		// DeleteMedia documents bare FailedOperation as just "Operation failed", with nothing that makes it
		// permanent; Tencent uses it for backend failures. Retrying within the budget finishes deletes
		// that would otherwise be dropped; a persistent one still ends as a failure once the budget is spent.
		"FailedOperation": providers.Retry,

		// Slow down: the per-action (100/s for DeleteMedia), per-account and per-IP frequency limits.
		"RequestLimitExceeded*": providers.Throttled,

		// Credentials and permissions: retrying cannot fix them. SignatureExpire is included because every
		// request is signed afresh; it means the host clock is over five minutes off, which needs an operator.
		"AuthFailure*":                          providers.Fatal,
		"UnauthorizedOperation*":                providers.Fatal, // CAM policy does not allow vod:DeleteMedia
		"FailedOperation.InvalidVodUser":        providers.Fatal, // VOD service not activated
		"FailedOperation.InvalidAccount":        providers.Fatal, // account in an abnormal state (arrears, banned)
		"FailedOperation.NoPrivileges":          providers.Fatal, // the API is not enabled for this account
		"FailedOperation.MediaForbidedBySystem": providers.Fatal, // media blocked by the platform: needs a ticket
		"IpInBlacklist":                         providers.Fatal,
		"IpNotInWhitelist":                      providers.Fatal,

		// The request itself is wrong: the same request always fails the same way.
		"InvalidParameter*":         providers.Fatal, // includes InvalidParameterValue* (a longer prefix of the same root)
		"InvalidParameterValue*":    providers.Fatal, // e.g. .SubAppId: no such sub-application
		"MissingParameter":          providers.Fatal,
		"UnknownParameter":          providers.Fatal,
		"InvalidAction":             providers.Fatal,
		"InvalidRequest":            providers.Fatal,
		"NoSuchVersion":             providers.Fatal,
		"NoSuchProduct":             providers.Fatal,
		"UnsupportedRegion":         providers.Fatal,
		"UnsupportedProtocol":       providers.Fatal,
		"UnsupportedOperation*":     providers.Fatal,
		"ActionOffline":             providers.Fatal,
		"DryRunOperation":           providers.Fatal, // we never ask for a dry run; succeeding would be wrong
		"RequestSizeLimitExceeded":  providers.Fatal,
		"ResponseSizeLimitExceeded": providers.Fatal,
		"LimitExceeded*":            providers.Fatal, // quotas, not rates: they do not lift by waiting
	}
}

// classify turns the SDK's error into a *providers.Error. A code from the service is looked up in
// the table. The SDK's own ClientError.* codes mean either no response (transport error: retry, or
// the context's cancellation or deadline) or a response it could not read or parse, which is
// classified by HTTP status.
func (c *Client) classify(ctx context.Context, ex *exchange, err error) error {
	status, header, tooLarge := ex.result()
	var sdkErr *tcerr.TencentCloudSDKError
	isSDK := errors.As(err, &sdkErr)
	if isSDK && !strings.HasPrefix(sdkErr.Code, "ClientError") {
		pe := &providers.Error{
			Provider:   providers.VOD,
			HTTPStatus: status,
			Code:       providers.Redact(sdkErr.Code, c.secrets...),
			Message:    providers.Redact(sdkErr.Message, c.secrets...),
			RequestID:  providers.Redact(sdkErr.RequestId, c.secrets...),
			Class:      c.table.Classify(status, sdkErr.Code),
		}
		if pe.Class == providers.Throttled {
			pe.RetryAfter = providers.ParseRetryAfter(header, time.Now())
		}
		return pe.Bound()
	}
	if loc := ex.redirectLocation(); loc != "" {
		// A redirect means the endpoint is wrong (we never follow one): retrying cannot help.
		return providers.RedirectError(providers.VOD, status, loc, c.secrets...)
	}
	if status == 0 || ctx.Err() != nil {
		cause := err
		if isSDK && sdkErr.Unwrap() != nil {
			cause = sdkErr.Unwrap() // the net/http error, which wraps context.Canceled or DeadlineExceeded
		} else if ctx.Err() != nil {
			cause = fmt.Errorf("reading the response: %w", ctx.Err())
		}
		return providers.TransportError(providers.VOD, cause, c.secrets...)
	}
	pe := &providers.Error{Provider: providers.VOD, HTTPStatus: status, Class: c.table.Classify(status, "")}
	if isSDK {
		pe.Code, pe.Message = providers.Redact(sdkErr.Code, c.secrets...), providers.Snippet(providers.Redact(sdkErr.Message, c.secrets...))
	} else {
		pe.Message = providers.Snippet(providers.Redact(err.Error(), c.secrets...))
	}
	if tooLarge {
		pe.Err = providers.ErrBodyTooLarge
	}
	if pe.Class == providers.Throttled {
		pe.RetryAfter = providers.ParseRetryAfter(header, time.Now())
	}
	return pe.Bound()
}
