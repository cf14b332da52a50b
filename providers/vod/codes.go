package vod

import "github.com/reaper-media/reaper/providers"

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
