package providers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Class is what a failed delete means for the pipeline. Each provider maps its error codes to a class
// in a Table; jobs decides on the class alone.
type Class string

// The classes. Their string values are what config overrides use (retry.codes: {"X": retry}).
const (
	// Retry is transient: 5xx, MSS.00000004, InternalError, ServiceUnavailable, network errors,
	// timeouts, non-JSON gateway bodies. Retried with backoff, within the retry budget.
	Retry Class = "retry"
	// Throttled is the provider asking us to slow down: HTTP 429, APIG(W).0308, RequestLimitExceeded*,
	// SMH RateLimitExceeded. Rescheduled after Error.RetryAfter, without using the retry budget.
	Throttled Class = "throttled"
	// Gone means the target is already absent: the goal of the delete holds. Never retried.
	Gone Class = "gone"
	// Auth means credentials expired and can be renewed (SMH InvalidAccessToken, an expired MSS token).
	// Clients renew and retry once themselves; an Auth error that still escapes is retried later.
	Auth Class = "auth"
	// Fatal is never retried: bad credentials, no permission, bad parameters, unknown library.
	Fatal Class = "fatal"
)

// Classes lists every class, in the order above.
var Classes = []Class{Retry, Throttled, Gone, Auth, Fatal}

// ParseClass accepts a class name as written in config.
func ParseClass(s string) (Class, error) {
	for _, c := range Classes {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown error class %q (want retry, throttled, gone, auth or fatal)", s)
}

// Error is the one error type every provider client returns. It never holds a credential: clients
// redact tokens and keys before building it.
type Error struct {
	Provider   Name
	Class      Class
	HTTPStatus int    // 0 when no response arrived
	Code       string // the provider's error code, e.g. "MSS.00000004", "ResourceNotFound", "FileNotFound"
	Message    string
	RequestID  string
	// RetryAfter is the provider's hint for Throttled errors (Retry-After), zero when it gave none.
	RetryAfter time.Duration
	// Err is the underlying transport or context error, if any, already redacted.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Provider))
	b.WriteString(": ")
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, "HTTP %d ", e.HTTPStatus)
	}
	if e.Code != "" {
		b.WriteString(Cut(e.Code, MaxCodeBytes))
	}
	if e.Message != "" {
		if e.Code != "" {
			b.WriteString(": ")
		}
		b.WriteString(Cut(e.Message, MaxMessageBytes))
	}
	if e.Err != nil {
		if e.Code != "" || e.Message != "" {
			b.WriteString(": ")
		}
		b.WriteString(Cut(e.Err.Error(), MaxMessageBytes))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", Cut(e.RequestID, MaxCodeBytes))
	}
	fmt.Fprintf(&b, " [%s]", e.Class)
	return b.String()
}

// Bounds on the provider-controlled text an Error carries into records, the outcome stream, asynq's
// error field and logs: an error body may be up to MaxBodyBytes (1 MiB), which must not be copied on.
const (
	// MaxMessageBytes caps Error.Message (and the cause's text), cut mark included.
	MaxMessageBytes = 1 << 10
	// MaxCodeBytes caps Error.Code and Error.RequestID: real ones are a few dozen bytes.
	MaxCodeBytes = 256
)

// CutMark ends text that Cut shortened.
const CutMark = "… [cut]"

// Cut returns s when it is at most max bytes long, and otherwise its longest prefix that ends on a
// UTF-8 boundary and fits in max bytes together with CutMark, followed by CutMark. The result is never
// longer than max (for max >= len(CutMark)).
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max - len(CutMark)
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + CutMark
}

// MaxSnippetBytes caps Snippet's result, cut mark included.
const MaxSnippetBytes = 256

// Snippet reduces text a provider sent that is not the error document it should have been (a gateway
// page, a truncated body, an SDK message quoting one) to one printable line for an error message: each
// run of blanks, control characters and invalid UTF-8 becomes one space, and the line is cut with Cut
// to at most MaxSnippetBytes, never inside a character. "" when nothing printable is left.
func Snippet(s string) string {
	var b strings.Builder
	gap := false
	for _, r := range s { // invalid UTF-8 comes out as utf8.RuneError
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteRune(r)
		if b.Len() > MaxSnippetBytes {
			break // enough to cut; the rest of a 1 MiB body is not scanned
		}
	}
	return Cut(b.String(), MaxSnippetBytes)
}

// InvalidTarget is the error of a target a client refuses before any request (a FieldError from
// Target.Validate, CheckProvider or the client's own checks after its defaults): fatal, code
// "InvalidTarget".
func InvalidTarget(provider Name, err error) *Error {
	return &Error{Provider: provider, Class: Fatal, Code: "InvalidTarget", Err: err}
}

// Bound cuts e's provider-controlled text to MaxMessageBytes (message) and MaxCodeBytes (code,
// request id), replacing invalid UTF-8 (headers may carry any byte) with U+FFFD, and returns e. Every
// provider's error parser calls it on what it returns, after classifying on the full code.
func (e *Error) Bound() *Error {
	e.Code = Cut(strings.ToValidUTF8(e.Code, "\uFFFD"), MaxCodeBytes)
	e.RequestID = Cut(strings.ToValidUTF8(e.RequestID, "\uFFFD"), MaxCodeBytes)
	e.Message = Cut(strings.ToValidUTF8(e.Message, "\uFFFD"), MaxMessageBytes)
	return e
}

// Unwrap exposes the transport or context error, so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.Err }

// AsError finds the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// ClassOf returns the class of err: "" for nil, the *Error's class when there is one, Retry otherwise
// (an unclassified failure is assumed transient so nothing is dropped by mistake).
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	if pe, ok := AsError(err); ok {
		return pe.Class
	}
	return Retry
}

// ClassForStatus is the fallback when a response carries no code the table knows: 429 throttled, 408
// and 5xx retry, any other 4xx fatal.
func ClassForStatus(status int) Class {
	switch {
	case status == 429:
		return Throttled
	case status == 408 || status >= 500:
		return Retry
	case status >= 400:
		return Fatal
	}
	return Retry
}

// TransportError classifies a failure to get a response at all (dial, reset, timeout, cancellation) as
// Retry, after removing secrets from its text. Go's *url.Error prints the whole URL, query string
// included, which for SMH holds the access token.
func TransportError(provider Name, err error, secrets ...string) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = &redactedError{msg: fmt.Sprintf("%s %s: %v", ue.Op, RedactURL(ue.URL), ue.Err), err: ue.Err}
	}
	if msg := Cut(Redact(err.Error(), secrets...), MaxMessageBytes); msg != err.Error() {
		err = &redactedError{msg: msg, err: errors.Unwrap(err)}
	}
	code := "NetworkError"
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		code = "Canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		code = "Timeout"
	}
	return &Error{Provider: provider, Class: Retry, Code: code, Err: err}
}

// redactedError keeps the wrapped cause (so errors.Is still finds context.Canceled) with a cleaned text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Redact replaces every occurrence of each non-empty secret in s with "***".
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// secretParams are query parameters whose values are credentials in some provider's API.
var secretParams = []string{"access_token", "library_secret", "token", "signature", "secret"}

// RedactURL returns raw with the values of credential-bearing query parameters replaced by "***".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	q := u.Query()
	changed := false
	for k := range q {
		for _, s := range secretParams {
			if strings.EqualFold(k, s) {
				q.Set(k, "***")
				changed = true
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	u.User = nil
	return u.String()
}

// Table maps provider error codes to classes. A key ending in "*" matches every code with that
// prefix ("ResourceNotFound*" covers ResourceNotFound and ResourceNotFound.FileNotExist); an exact key
// wins over a prefix, and a longer prefix over a shorter one.
type Table struct {
	exact    map[string]Class
	prefixes []string // sorted longest first
	byPrefix map[string]Class
}

// NewTable builds a table from code (or "Prefix*") -> class.
func NewTable(m map[string]Class) Table {
	t := Table{exact: map[string]Class{}, byPrefix: map[string]Class{}}
	for k, c := range m {
		t.set(k, c)
	}
	return t
}

func (t *Table) set(k string, c Class) {
	if p, ok := strings.CutSuffix(k, "*"); ok {
		if _, seen := t.byPrefix[p]; !seen {
			t.prefixes = append(t.prefixes, p)
			sort.Slice(t.prefixes, func(i, j int) bool { return len(t.prefixes[i]) > len(t.prefixes[j]) })
		}
		t.byPrefix[p] = c
		return
	}
	t.exact[k] = c
}

// Lookup returns the class for code, and whether the table knows it.
func (t Table) Lookup(code string) (Class, bool) {
	if c, ok := t.exact[code]; ok {
		return c, true
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(code, p) {
			return t.byPrefix[p], true
		}
	}
	return "", false
}

// Override returns a copy of t with the given entries replacing or adding to its own. Config uses it
// for per-code overrides.
func (t Table) Override(m map[string]Class) Table {
	out := NewTable(t.Entries())
	for k, c := range m {
		out.set(k, c)
	}
	return out
}

// Entries returns the table as code (or "Prefix*") -> class, for documentation and copying.
func (t Table) Entries() map[string]Class {
	m := make(map[string]Class, len(t.exact)+len(t.byPrefix))
	for k, c := range t.exact {
		m[k] = c
	}
	for p, c := range t.byPrefix {
		m[p+"*"] = c
	}
	return m
}

// Classify returns the class of a provider error response: the table's entry for code when it has
// one, the HTTP status fallback otherwise.
func (t Table) Classify(status int, code string) Class {
	if code != "" {
		if c, ok := t.Lookup(code); ok {
			return c
		}
	}
	return ClassForStatus(status)
}
