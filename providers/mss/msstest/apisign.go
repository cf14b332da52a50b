package msstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"time"
)

// SDK-HMAC-SHA256, the API gateway's AK/SK signature, written by hand from Huawei Cloud's API Signing
// Guide (support.huaweicloud.com/devg-apisign, api-sign-algorithm-002 to -005) so the fake checks
// requests independently of reaper's client (providers/mss), whose signer it would otherwise agree
// with bug for bug. The functions are exported so tests can reproduce the published vectors step by
// step.

// The signature's wire constants.
const (
	// Algorithm opens the Authorization header and the StringToSign.
	Algorithm = "SDK-HMAC-SHA256"
	// DateHeader carries the signing time. The gateway requires it to be signed.
	DateHeader = "X-Sdk-Date"
	// DateFormat is DateHeader's layout: YYYYMMDD'T'HHMMSS'Z', in UTC.
	DateFormat = "20060102T150405Z"
	// ContentSHA256Header set to UnsignedPayload declares an unhashed body: the literal string then
	// stands in for the payload hash (the SDK does it for bodies that are neither JSON nor BSON).
	ContentSHA256Header = "X-Sdk-Content-Sha256"
	// UnsignedPayload is ContentSHA256Header's value for an unhashed body.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxSkew is how far DateHeader may be from the gateway's clock, either way, before APIG answers
	// APIG.0303 "signature expired".
	MaxSkew = 15 * time.Minute
)

// requiredSignedHeader is the one header the gateway insists is signed. Host is not: the official SDK
// leaves it out (it signs user-agent;x-project-id;x-sdk-date) and the gateway accepts that, while the
// guide's examples sign it; both verify, since each names what it signed.
const requiredSignedHeader = "x-sdk-date"

// HashPayload is HexEncode(SHA256(body)), lower case; an empty body hashes to e3b0c442...b855.
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// uriEscape percent-encodes every byte but the RFC 3986 unreserved ones (A-Z a-z 0-9 - _ . ~), with
// upper-case hex digits, a space as %20.
func uriEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	return b.String()
}

// CanonicalURI is the signed form of a path as it arrived (still escaped): each "/"-separated segment
// decoded and URI-encoded again, and a "/" appended when the path does not end in one ("the URI must
// end with / when the signature is computed; the request may omit it"). It reports false for a segment
// that is not valid percent-encoding.
func CanonicalURI(escapedPath string) (string, bool) {
	segs := strings.Split(escapedPath, "/")
	for i, s := range segs {
		dec, err := url.PathUnescape(s)
		if err != nil {
			return "", false
		}
		segs[i] = uriEscape(dec)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, true
}

// CanonicalQuery is the signed form of a raw query string: parameters sorted by name (and a repeated
// name's values sorted too), names and values URI-encoded, "name=" kept for an empty value, joined
// with "&"; "" for no query. It reports false for a query that does not parse.
func CanonicalQuery(rawQuery string) (string, bool) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var pairs []string
	for _, k := range names {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, uriEscape(k)+"="+uriEscape(v))
		}
	}
	return strings.Join(pairs, "&"), true
}

// CanonicalRequest builds the CanonicalRequest and returns it with its SignedHeaders string. headers
// maps each signed header to its values as received (for "host", the Host line); names are lowercased
// and sorted, each value trimmed and, for a repeated header, sorted, one "name:value" line per value.
// canonicalURI and canonicalQuery come from CanonicalURI and CanonicalQuery.
func CanonicalRequest(method, canonicalURI, canonicalQuery string, headers map[string][]string, payloadHash string) (canonical, signedHeaders string) {
	lower := make(map[string][]string, len(headers))
	names := make([]string, 0, len(headers))
	for k, vs := range headers {
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := lower[k]; !dup {
			names = append(names, k)
		}
		lower[k] = append(lower[k], vs...)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(method + "\n" + canonicalURI + "\n" + canonicalQuery + "\n")
	for _, k := range names {
		vs := make([]string, len(lower[k]))
		for i, v := range lower[k] {
			vs[i] = strings.TrimSpace(v)
		}
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k + ":" + v + "\n")
		}
	}
	signedHeaders = strings.Join(names, ";")
	b.WriteString("\n" + signedHeaders + "\n" + payloadHash)
	return b.String(), signedHeaders
}

// StringToSign is the algorithm, the X-Sdk-Date value and the hashed canonical request, one per line.
func StringToSign(sdkDate, canonicalRequest string) string {
	return Algorithm + "\n" + sdkDate + "\n" + HashPayload([]byte(canonicalRequest))
}

// Signature is HexEncode(HMAC-SHA256(SK, StringToSign)), lower case: APIG derives no key from the SK.
func Signature(sk, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// Authorization formats the header: the algorithm, a space, then Access, SignedHeaders and Signature
// separated by ", ".
func Authorization(ak, signedHeaders, signature string) string {
	return Algorithm + " Access=" + ak + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature
}

// authorization is a parsed Authorization header.
type authorization struct {
	ak            string
	signedHeaders []string // lower case, sorted, unique
	signature     string   // 64 lower-case hex digits
}

// parseAuthorization reads exactly the form Authorization writes: the signed headers lower case,
// sorted and unique (the only order a canonical request can have), the signature 64 lower-case hex
// digits. It reports false for anything else, so each signature has one spelling.
func parseAuthorization(h string) (authorization, bool) {
	var a authorization
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		return a, false
	}
	parts := strings.Split(rest, ", ")
	if len(parts) != 3 {
		return a, false
	}
	var signed string
	for i, field := range []*string{&a.ak, &signed, &a.signature} {
		name := [...]string{"Access=", "SignedHeaders=", "Signature="}[i]
		v, ok := strings.CutPrefix(parts[i], name)
		if !ok || v == "" {
			return a, false
		}
		*field = v
	}
	a.signedHeaders = strings.Split(signed, ";")
	for i, n := range a.signedHeaders {
		if n == "" || n != strings.ToLower(n) || (i > 0 && a.signedHeaders[i-1] >= n) {
			return a, false
		}
	}
	if len(a.signature) != 2*sha256.Size || strings.Trim(a.signature, "0123456789abcdef") != "" {
		return a, false
	}
	return a, true
}
