package mss

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The constants of Huawei Cloud's APIG "SDK-HMAC-SHA256" AK/SK signature (API Signing Guide,
// devg-apisign api-sign-algorithm-002..005, and huaweicloud-sdk-go-v3 core/auth/signer).
const (
	// Algorithm opens both the string to sign and the Authorization header.
	Algorithm = "SDK-HMAC-SHA256"
	// DateHeader carries the signing time; it must be signed and within MaxSkew of the gateway's clock.
	DateHeader = "X-Sdk-Date"
	// DateFormat is the X-Sdk-Date layout (YYYYMMDD'T'HHMMSS'Z', UTC).
	DateFormat = "20060102T150405Z"
	// ContentSHA256Header lets a client sign UnsignedPayload instead of hashing the body (the SDK does it
	// for bodies that are neither JSON nor BSON).
	ContentSHA256Header = "X-Sdk-Content-Sha256"
	// UnsignedPayload is the literal payload hash used when ContentSHA256Header says so.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptyPayloadHash is the hex SHA-256 of an empty body, the payload hash of every DeleteFile call.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// MaxSkew is how far X-Sdk-Date may be from the gateway's clock before APIG answers APIG.0303
	// "signature expired".
	MaxSkew = 15 * time.Minute
)

// Escape URI-encodes s the way the signer does: RFC 3986 unreserved characters (A-Z a-z 0-9 - _ . ~)
// stay, every other byte becomes %XY with upper-case hex (a space is %20, never '+'). The client also
// uses it to build request paths, so what it sends is exactly what it signed.
func Escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// CanonicalURI turns an escaped request path (url.URL.EscapedPath) into the signed form: each segment
// decoded and re-encoded with Escape, and a trailing "/" added for signing only. Working from the
// escaped path keeps an encoded "%2F" inside its segment.
func CanonicalURI(escapedPath string) string {
	segs := strings.Split(escapedPath, "/")
	for i, s := range segs {
		if dec, err := url.PathUnescape(s); err == nil {
			s = dec
		}
		segs[i] = Escape(s)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// CanonicalQueryString is the signed form of a query: names sorted byte-wise, the values of a repeated
// name sorted too, names and values encoded with Escape, "name=" kept for an empty value, pairs joined
// with "&". An empty query gives "".
func CanonicalQueryString(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(Escape(k))
			b.WriteByte('=')
			b.WriteString(Escape(v))
		}
	}
	return b.String()
}

// CanonicalHeaders is the signed-headers block: one "name:value" line per signed header (names lower
// case, in the order given, values trimmed and, when a header repeats, sorted), each ending in "\n".
// The "host" value is r.Host (falling back to r.URL.Host), which is what goes on the wire and what a
// server sees.
func CanonicalHeaders(r *http.Request, signedHeaders []string) string {
	var b strings.Builder
	for _, name := range signedHeaders {
		var vals []string
		if name == "host" {
			vals = []string{requestHost(r)}
		} else {
			vals = slices.Clone(r.Header.Values(name))
			slices.Sort(vals)
		}
		for _, v := range vals {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	if r.URL != nil {
		return r.URL.Host
	}
	return ""
}

// CanonicalRequest is the first step of signing r: method, canonical URI, canonical query, canonical
// headers, signed header list and payload hash, one per line. signedHeaders must be lower case and
// sorted (ParseAuthorization and SignedHeaders give them that way). The client and the fake both call
// it, so they cannot disagree on canonicalisation.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	return r.Method + "\n" +
		CanonicalURI(r.URL.EscapedPath()) + "\n" +
		CanonicalQueryString(r.URL.Query()) + "\n" +
		CanonicalHeaders(r, signedHeaders) + "\n" +
		strings.Join(signedHeaders, ";") + "\n" +
		payloadHash
}

// StringToSign is the second step: the algorithm, the X-Sdk-Date value and the hex SHA-256 of the
// canonical request.
func StringToSign(canonicalRequest, sdkDate string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + sdkDate + "\n" + hex.EncodeToString(sum[:])
}

// Signature is the third step: hex HMAC-SHA256 of the string to sign, keyed with the SK itself (APIG
// derives no key).
func Signature(sk, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// PayloadHash is the hex SHA-256 of body, or UnsignedPayload when h says the payload is unsigned.
func PayloadHash(h http.Header, body []byte) string {
	if h.Get(ContentSHA256Header) == UnsignedPayload {
		return UnsignedPayload
	}
	if len(body) == 0 {
		return EmptyPayloadHash
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// SignedHeaders chooses what Sign signs: "host" plus every header present in h, lower case and sorted,
// except Content-Type (the SDK never signs it), Authorization, and names containing "_" (proxies may
// drop those, so the SDK skips them too).
func SignedHeaders(h http.Header) []string {
	names := make([]string, 0, len(h)+1)
	names = append(names, "host")
	for k := range h {
		lk := strings.ToLower(k)
		if lk == "host" || lk == "authorization" || strings.HasPrefix(lk, "content-type") || strings.Contains(lk, "_") {
			continue
		}
		names = append(names, lk)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// AuthorizationValue formats the Authorization header: a space after the algorithm, ", " between the
// three parts.
func AuthorizationValue(ak string, signedHeaders []string, signature string) string {
	return Algorithm + " Access=" + ak + ", SignedHeaders=" + strings.Join(signedHeaders, ";") + ", Signature=" + signature
}

// SignRequest signs r as it stands: X-Sdk-Date must already be set, signedHeaders are lower case and
// sorted, payloadHash covers the body. It sets Authorization. Sign is the everyday entry point; this
// one exists so published test vectors (which sign Content-Type, or leave Host out) can be reproduced
// exactly.
func SignRequest(r *http.Request, ak, sk string, signedHeaders []string, payloadHash string) {
	sts := StringToSign(CanonicalRequest(r, signedHeaders, payloadHash), r.Header.Get(DateHeader))
	r.Header.Set("Authorization", AuthorizationValue(ak, signedHeaders, Signature(sk, sts)))
}

// Sign stamps r with X-Sdk-Date (now, in UTC) and an Authorization header signing the host, the date
// and every other header already set (see SignedHeaders), over body. Set every header before calling
// it; headers added afterwards (Go's transport adds Accept-Encoding and, when unset, User-Agent) are
// simply not signed.
func Sign(r *http.Request, ak, sk string, body []byte, now time.Time) {
	r.Header.Set(DateHeader, now.UTC().Format(DateFormat))
	SignRequest(r, ak, sk, SignedHeaders(r.Header), PayloadHash(r.Header, body))
}

// Authorization is a parsed "SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=..." header.
type Authorization struct {
	AK            string   // the access key, which selects the SK to verify with
	SignedHeaders []string // lower case, sorted
	Signature     string   // 64 hex digits
}

// ErrMalformedAuthorization is returned by ParseAuthorization for a header that is not a well-formed
// SDK-HMAC-SHA256 authorization.
var ErrMalformedAuthorization = errors.New("malformed SDK-HMAC-SHA256 authorization")

// ParseAuthorization parses an Authorization header value as APIG does: the algorithm, one space, then
// Access, SignedHeaders and Signature separated by ", ". SignedHeaders must be lower case, sorted and
// free of duplicates, since that is the only order the canonical request can have been built in.
func ParseAuthorization(v string) (Authorization, error) {
	rest, ok := strings.CutPrefix(v, Algorithm+" ")
	if !ok {
		return Authorization{}, fmt.Errorf("%w: want algorithm %s", ErrMalformedAuthorization, Algorithm)
	}
	parts := strings.Split(rest, ", ")
	if len(parts) != 3 {
		return Authorization{}, fmt.Errorf("%w: want Access, SignedHeaders and Signature", ErrMalformedAuthorization)
	}
	var a Authorization
	var signed string
	for i, want := range []string{"Access=", "SignedHeaders=", "Signature="} {
		val, ok := strings.CutPrefix(parts[i], want)
		if !ok || val == "" {
			return Authorization{}, fmt.Errorf("%w: part %d is not %s<value>", ErrMalformedAuthorization, i+1, want)
		}
		switch i {
		case 0:
			a.AK = val
		case 1:
			signed = val
		case 2:
			a.Signature = val
		}
	}
	a.SignedHeaders = strings.Split(signed, ";")
	for i, h := range a.SignedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && a.SignedHeaders[i-1] >= h) {
			return Authorization{}, fmt.Errorf("%w: SignedHeaders must be lower case, sorted and unique", ErrMalformedAuthorization)
		}
	}
	if len(a.Signature) != sha256.Size*2 {
		return Authorization{}, fmt.Errorf("%w: signature is not 64 hex digits", ErrMalformedAuthorization)
	}
	if _, err := hex.DecodeString(a.Signature); err != nil {
		return Authorization{}, fmt.Errorf("%w: signature is not 64 hex digits", ErrMalformedAuthorization)
	}
	return a, nil
}
