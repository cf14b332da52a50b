package mss

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/reaper-media/reaper/providers"
)

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
	if status >= 300 && status < 400 && pe.Code == "" {
		// A redirect means the endpoint is wrong (we never follow one with a DELETE): retrying cannot help.
		re := providers.RedirectError(providers.MSS, status, resp.Header.Get("Location"), c.sk, c.token)
		re.RequestID = providers.Redact(pe.RequestID, c.sk, c.token)
		return re.Bound()
	}
	pe.Class = c.table.Classify(status, pe.Code)
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
	if contentType == "" {
		contentType = "no content type"
	}
	snippet := providers.Snippet(string(body))
	if snippet == "" {
		return fmt.Sprintf("empty body (%s)", contentType)
	}
	return fmt.Sprintf("unrecognised body (%s, %d bytes): %s", contentType, len(body), snippet)
}
