package mss

import "github.com/reaper-media/reaper/providers"

// DefaultCodes is how MetaStudio and its API gateway (APIG) error codes are classified. Codes not listed
// fall back to the HTTP status (providers.ClassForStatus): MetaStudio answers parameter errors with 400
// (fatal) and server faults with 5xx (retry). The gateway spells its codes both "APIG.xxxx" and
// "APIGW.xxxx", so both are listed. Config.Codes overrides entries.
func DefaultCodes() map[string]providers.Class {
	return map[string]providers.Class{
		// 500 "Internal Error", DeleteFile's documented server fault: transient.
		"MSS.00000004": providers.Retry,
		// 401 "Unauthorized": the credentials were checked and refused; renewing cannot fix them.
		"MSS.00000001": providers.Fatal,
		// 403, the 9-digit spelling some MetaStudio pages use for "illegal access, not authenticated".
		"MSS.000000004": providers.Fatal,
		// 400 "The file not found": the goal of the delete already holds.
		"MSS.10001004": providers.Gone,
		// 400 "Asset not found": the asset holding the file is gone, so is the file.
		"MSS.10001001": providers.Gone,
		// 400 "Invalid token in the header": the token is stale, a new one fixes it.
		"MSS.00010008": providers.Auth,
		// 400 "urlTenantId is not equal tokenTenantId": the project is not the credentials' project.
		"MSS.00010009": providers.Fatal,
		// 500 CBC (billing) resource failures, documented as "contact support": transient from our side,
		// the retry budget bounds them.
		"MSS.000210*": providers.Retry,

		// 429 "The throttling threshold has been reached": slow down (DeleteFile allows 10/s per tenant
		// in cn-north-4, 5/s elsewhere).
		"APIG.0308":  providers.Throttled,
		"APIGW.0308": providers.Throttled,
		// 401 "Incorrect IAM authentication information" (unknown AK, bad signature, undecryptable
		// token, AK locked after repeated failures): wrong credentials.
		"APIG.0301":  providers.Fatal,
		"APIGW.0301": providers.Fatal,
		// 401 "The token must be updated": the IAM token expired.
		"APIG.0307":  providers.Auth,
		"APIGW.0307": providers.Auth,
		// 401 "signature expired": X-Sdk-Date more than 15 minutes from the gateway's clock. Every attempt
		// re-signs with a fresh date, so a passing skew heals; a persistent one exhausts the budget.
		"APIG.0303":  providers.Retry,
		"APIGW.0303": providers.Retry,
		// 504 "Backend timeout": MetaStudio did not answer the gateway in time.
		"APIG.0203":  providers.Retry,
		"APIGW.0203": providers.Retry,
		// 404 "The API does not exist": wrong endpoint or path prefix; retrying cannot help.
		"APIG.0101":  providers.Fatal,
		"APIGW.0101": providers.Fatal,
	}
}
