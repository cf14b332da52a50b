package smh

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// DefaultCodes is the classification table for SMH error codes (the business API's "code" field).
// Codes not listed fall back to the HTTP status: 429 throttled, 408 and 5xx retry, any other 4xx fatal.
// Config.Codes overrides single entries.
func DefaultCodes() map[string]providers.Class {
	return map[string]providers.Class{
		// The file is absent: the goal of the delete holds.
		"FileNotFound": providers.Gone,
		// A directory on the file's path is absent, so the file under it is too.
		"PathNotFound":      providers.Gone,
		"DirectoryNotFound": providers.Gone,

		// The library or space itself is unknown or the secret is wrong: a config error, never a deleted
		// file, and retrying cannot fix it.
		"LibraryNotFound":        providers.Fatal,
		"SpaceNotFound":          providers.Fatal,
		"WrongLibraryIdOrSecret": providers.Fatal,
		// The token cannot delete here: missing grant, wrong space, or the library/space is blocked.
		"NoPermission":             providers.Fatal,
		"AccessTokenNotMatchSpace": providers.Fatal,
		"LibraryServiceExpired":    providers.Fatal,
		"SpaceBanned":              providers.Fatal,
		"WriteForbidden":           providers.Fatal,
		// Malformed requests: a bug or a bad target, the same request fails again.
		"EmptyAccessToken":       providers.Fatal,
		"EmptyPath":              providers.Fatal,
		"EmptyLibraryIdOrSecret": providers.Fatal,
		"EmptyLibraryId":         providers.Fatal,
		"EmptyLibrarySecret":     providers.Fatal,
		"NotMultiSpaceLibrary":   providers.Fatal,

		// Invalid, expired or foreign token (the only expiry signal SMH gives): renewable.
		"InvalidAccessToken": providers.Auth,

		// SMH asking us to slow down.
		"RateLimitExceeded": providers.Throttled,

		// Server-side trouble; the same request can succeed later.
		"ServerOverloaded":    providers.Retry,
		"InternalServerError": providers.Retry,
		"RequestTimeout":      providers.Retry,
		"ReadRequestTimeout":  providers.Retry,
		// 499: the server saw our connection drop mid-request; nothing was decided.
		"ClientDisconnected": providers.Retry,
	}
}

// errorBody is the JSON error document of the business API: {"status":404,"code":"FileNotFound",
// "message":"File not found.","requestId":"..."}. The JS SDK also accepts reqId and requestID.
type errorBody struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RequestID  string `json:"requestId"`
	ReqID      string `json:"reqId"`
	RequestID2 string `json:"requestID"`
}

// xmlErrorBody is the COS-style error some SMH paths answer with (the Java SDK's "maybe xml" fallback).
type xmlErrorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
}

// requestID returns the request id headers SMH (or a gateway in front of it) set.
func requestID(h http.Header) string {
	for _, k := range []string{"X-Request-Id", "X-Smh-Request-Id", "X-Cos-Request-Id"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// parseError turns a non-2xx response into a classified *providers.Error. body may be partial when
// readErr is set (too large, connection cut). secrets are removed from anything the server echoed.
func parseError(table providers.Table, resp *http.Response, body []byte, readErr error, now time.Time,
	secrets ...string) *providers.Error {
	e := &providers.Error{
		Provider:   providers.SMH,
		HTTPStatus: resp.StatusCode,
		RequestID:  requestID(resp.Header),
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// We never follow redirects: the access token is in the query string. An endpoint that
		// redirects is misconfigured, so retrying cannot help.
		re := providers.RedirectError(providers.SMH, resp.StatusCode, resp.Header.Get("Location"), secrets...)
		re.RequestID = providers.Redact(e.RequestID, secrets...)
		return re.Bound()
	case readErr != nil:
		e.Message = "unreadable error body: " + providers.Redact(readErr.Error(), secrets...)
	default:
		decodeErrorBody(e, resp.Header.Get("Content-Type"), body)
	}
	e.Code = providers.Redact(e.Code, secrets...)
	e.Message = providers.Redact(e.Message, secrets...)
	e.RequestID = providers.Redact(e.RequestID, secrets...)
	e.Class = table.Classify(resp.StatusCode, e.Code)
	if e.Class == providers.Throttled {
		e.RetryAfter = providers.ParseRetryAfter(resp.Header, now)
	}
	return e.Bound()
}

// decodeErrorBody fills code, message and request id from a JSON or XML error body. Anything else (an
// HTML gateway page, a truncated document) leaves the code empty so the status decides; the page's
// text is not copied, since gateways may echo the request URL with its token.
func decodeErrorBody(e *providers.Error, contentType string, body []byte) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var b errorBody
		if json.Unmarshal(trimmed, &b) == nil {
			e.Code, e.Message = b.Code, b.Message
			if id := firstNonEmpty(b.RequestID, b.ReqID, b.RequestID2); id != "" {
				e.RequestID = id
			}
			return
		}
	}
	if len(trimmed) > 0 && trimmed[0] == '<' {
		var b xmlErrorBody
		if xml.Unmarshal(trimmed, &b) == nil {
			e.Code, e.Message = strings.TrimSpace(b.Code), strings.TrimSpace(b.Message)
			if b.RequestID != "" {
				e.RequestID = strings.TrimSpace(b.RequestID)
			}
			return
		}
	}
	kind := "an empty body"
	if len(trimmed) > 0 {
		mt, _, _ := mime.ParseMediaType(contentType)
		if mt == "" {
			mt = "unknown type"
		}
		kind = fmt.Sprintf("a non-JSON body (%s, %d bytes)", mt, len(body))
	}
	e.Message = fmt.Sprintf("%s with %s", http.StatusText(e.HTTPStatus), kind)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
