package vodtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TC3-HMAC-SHA256, Tencent Cloud API 3.0 signature v3, written by hand from the official document
// (cloud.tencent.com/document/api/213/30654) so the fake checks requests independently of the SDK that
// produces them. The functions are exported so tests can reproduce the published vectors step by step.

// Algorithm is the signature algorithm named in the Authorization header and the StringToSign.
const Algorithm = "TC3-HMAC-SHA256"

// UnsignedPayload is the X-TC-Content-SHA256 value with which a client declares it did not hash the
// body; the literal string is then hashed in its place.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// scopeTerminator ends every credential scope.
const scopeTerminator = "tc3_request"

// HashPayload is HashedRequestPayload: the lowercase hex SHA-256 of the request body ("" for GET).
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// CanonicalRequest builds the CanonicalRequest of one request and returns it with its SignedHeaders
// string. headers maps each signed header's name to its value as sent (for "host", the Host including
// any port); names and values are lowercased and trimmed, and headers are sorted by name, as the
// document prescribes. query is the canonical query string: the raw query for GET, "" for POST.
func CanonicalRequest(method, query string, headers map[string]string, payloadHash string) (canonical, signedHeaders string) {
	names := make([]string, 0, len(headers))
	values := make(map[string]string, len(headers))
	for k, v := range headers {
		k = strings.ToLower(strings.TrimSpace(k))
		names = append(names, k)
		values[k] = strings.ToLower(strings.TrimSpace(v))
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(method)
	b.WriteString("\n/\n") // CanonicalURI is always "/" in API 3.0
	b.WriteString(query)
	b.WriteByte('\n')
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(values[k])
		b.WriteByte('\n')
	}
	signedHeaders = strings.Join(names, ";")
	b.WriteByte('\n')
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), signedHeaders
}

// Date is the credential scope date of a timestamp: its UTC calendar day, YYYY-MM-DD.
func Date(timestamp int64) string { return time.Unix(timestamp, 0).UTC().Format(time.DateOnly) }

// CredentialScope is Date/service/tc3_request.
func CredentialScope(timestamp int64, service string) string {
	return Date(timestamp) + "/" + service + "/" + scopeTerminator
}

// StringToSign is Algorithm, the timestamp, the credential scope and the hashed canonical request,
// one per line.
func StringToSign(timestamp int64, service, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + strconv.FormatInt(timestamp, 10) + "\n" +
		CredentialScope(timestamp, service) + "\n" + hex.EncodeToString(sum[:])
}

// DerivedKeys returns the three keys derived from a secret key: SecretDate, SecretService and
// SecretSigning. The last one signs; the first two are returned so tests can compare them with the
// values the document publishes.
func DerivedKeys(secretKey, date, service string) (secretDate, secretService, secretSigning []byte) {
	secretDate = hmacSHA256([]byte("TC3"+secretKey), date)
	secretService = hmacSHA256(secretDate, service)
	secretSigning = hmacSHA256(secretService, scopeTerminator)
	return secretDate, secretService, secretSigning
}

// Signature is the lowercase hex HMAC-SHA256 of the StringToSign under the derived signing key.
func Signature(secretKey string, timestamp int64, service, canonicalRequest string) string {
	_, _, signing := DerivedKeys(secretKey, Date(timestamp), service)
	return hex.EncodeToString(hmacSHA256(signing, StringToSign(timestamp, service, canonicalRequest)))
}

// Authorization formats the Authorization header value.
func Authorization(secretID string, timestamp int64, service, signedHeaders, signature string) string {
	return Algorithm + " Credential=" + secretID + "/" + CredentialScope(timestamp, service) +
		", SignedHeaders=" + signedHeaders + ", Signature=" + signature
}

// SignRequest signs r the way the Go SDK does (signed headers content-type and host), setting
// X-TC-Timestamp and Authorization, plus X-TC-Token when the credential has one. body must be the
// exact bytes r sends. Tests use it to build requests the SDK cannot (GET, tampered bodies, skewed
// clocks); extra lists further headers to sign, such as "X-TC-Action" as in the document's example.
func SignRequest(r *http.Request, body []byte, cred Credential, service string, timestamp int64, extra ...string) {
	r.Header.Set("X-TC-Timestamp", strconv.FormatInt(timestamp, 10))
	if cred.Token != "" {
		r.Header.Set("X-TC-Token", cred.Token)
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	headers := map[string]string{"content-type": r.Header.Get("Content-Type"), "host": host}
	for _, h := range extra {
		headers[strings.ToLower(h)] = r.Header.Get(h)
	}
	canonical, signed := CanonicalRequest(r.Method, r.URL.RawQuery, headers, HashPayload(body))
	r.Header.Set("Authorization", Authorization(cred.SecretID, timestamp, service, signed,
		Signature(cred.SecretKey, timestamp, service, canonical)))
}

// authorization is a parsed Authorization header.
type authorization struct {
	secretID, date, service, terminator string
	signedHeaders                       []string
	signature                           string
}

// parseAuthorization splits "TC3-HMAC-SHA256 Credential=id/date/service/tc3_request,
// SignedHeaders=a;b, Signature=hex". It reports false for anything else.
func parseAuthorization(h string) (authorization, bool) {
	var a authorization
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		return a, false
	}
	var cred, signed string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, false
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.signature = v
		default:
			return a, false
		}
	}
	fields := strings.Split(cred, "/")
	if len(fields) != 4 || fields[0] == "" || signed == "" || a.signature == "" {
		return a, false
	}
	a.secretID, a.date, a.service, a.terminator = fields[0], fields[1], fields[2], fields[3]
	a.signedHeaders = strings.Split(signed, ";")
	return a, true
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
