// Package vodtest is a fake Tencent Cloud VOD API 3.0 endpoint for tests, benchmarks and the demo. It
// speaks the documented wire format: POST / with a JSON body (or GET / with the parameters in the
// query), common parameters in X-TC-* headers, TC3-HMAC-SHA256 signatures verified the way the real
// service verifies them, and answers of the form {"Response":{...,"RequestId":"..."}}, errors included,
// with HTTP 200.
//
// It implements DeleteMedia and SearchMedia (search.go) over an inventory of media per sub-application,
// each with its parts (original file, transcodes by template, ...) and the metadata SearchMedia filters
// on. It counts calls (per target for DeleteMedia) and injects faults through a faults.Injector.
package vodtest

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// The API the fake serves.
const (
	// Service is the product name in the credential scope.
	Service = "vod"
	// Version is the only X-TC-Version the fake accepts.
	Version = "2018-07-17"
	// ActionDeleteMedia deletes a media or some of its parts.
	ActionDeleteMedia = "DeleteMedia"
	// ActionSearchMedia lists media by filters, creation time and page.
	ActionSearchMedia = "SearchMedia"
	// MaxSkew is how far X-TC-Timestamp may be from the fake's clock, either way, before the request
	// is refused with AuthFailure.SignatureExpire.
	MaxSkew = 5 * time.Minute
	// MaxRequestBytes is the documented size limit of a signature-v3 POST (10 MB).
	MaxRequestBytes = 10 << 20
)

// The credential a fake accepts when Options.Credentials is empty, for the demo and quick tests.
const (
	DefaultSecretID  = "AKIDreaperFakeVodSecretId000000000000"
	DefaultSecretKey = "reaperFakeVodSecretKey0000000000"
)

// Credential is one API key pair the fake accepts. A non-empty Token makes it a temporary
// credential: requests must then carry the same X-TC-Token.
type Credential struct {
	SecretID  string
	SecretKey string
	Token     string
}

// Options configures a Fake. The zero value is usable.
type Options struct {
	// Credentials are the keys the fake accepts (default: DefaultSecretID/DefaultSecretKey).
	Credentials []Credential
	// SubAppIDs are the sub-applications that exist besides those Add creates. A request naming any
	// other non-zero SubAppId is refused with InvalidParameterValue.SubAppId.
	SubAppIDs []uint64
	// Now is the fake's clock, used for signature expiry, Add's creation time and the injector's
	// outage windows and throttle (default time.Now).
	Now func() time.Time
	// Seed makes the injector's random choices repeatable.
	Seed uint64
}

// Fake is a VOD endpoint. Serve it with httptest.NewServer (or any http.Server); it is safe for
// concurrent use and holds its locks only to touch the inventory and the call counts.
type Fake struct {
	now    func() time.Time
	creds  map[string]Credential
	faults *faults.Injector
	calls  faults.CallCounter // Target.Key() -> DeleteMedia requests

	mu      sync.Mutex
	media   map[mediaKey]*Media
	subApps map[uint64]bool

	deleted atomic.Int64
	search  searchState
}

// New returns an empty fake.
func New(opts Options) *Fake {
	f := &Fake{
		now:     opts.Now,
		creds:   map[string]Credential{},
		faults:  faults.New(opts.Seed),
		media:   map[mediaKey]*Media{},
		subApps: map[uint64]bool{},
	}
	if f.now == nil {
		f.now = time.Now
	} else {
		f.faults.SetClock(f.now)
	}
	creds := opts.Credentials
	if len(creds) == 0 {
		creds = []Credential{{SecretID: DefaultSecretID, SecretKey: DefaultSecretKey}}
	}
	for _, c := range creds {
		f.creds[c.SecretID] = c
	}
	for _, id := range opts.SubAppIDs {
		f.subApps[id] = true
	}
	return f
}

// Faults is the fake's fault injector.
func (f *Fake) Faults() *faults.Injector { return f.faults }

// Add puts the media the target names into the inventory with DefaultParts, created now. It replaces
// a media with the same FileId and creates the target's sub-application if needed.
func (f *Fake) Add(t providers.Target) { f.AddAt(t, f.now()) }

// AddAt is Add with a chosen creation time, for retention tests.
func (f *Fake) AddAt(t providers.Target, created time.Time) {
	f.AddMedia(Media{FileID: t.FileID, SubAppID: t.SubAppID, CreateTime: created, Parts: DefaultParts()})
}

// AddMedia puts m into the inventory as given (nil Parts means no parts), replacing a media with the
// same FileId and creating its sub-application if needed.
func (f *Fake) AddMedia(m Media) {
	m = m.clone()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.media[mediaKey{subApp: m.SubAppID, fileID: m.FileID}] = &m
	if m.SubAppID != 0 {
		f.subApps[m.SubAppID] = true
	}
}

// Exists reports whether the target's media is in the inventory. For a target with DeleteParts it
// reports whether any of the named parts is still present.
func (f *Fake) Exists(t providers.Target) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.media[keyOf(t)]
	if !ok {
		return false
	}
	return len(t.DeleteParts) == 0 || m.hasAny(t.DeleteParts)
}

// Media returns a copy of the target's media, and whether it exists.
func (f *Fake) Media(t providers.Target) (Media, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.media[keyOf(t)]
	if !ok {
		return Media{}, false
	}
	return m.clone(), true
}

// List returns copies of every media of a sub-application, oldest first (FileId breaks ties).
func (f *Fake) List(subAppID uint64) []Media {
	f.mu.Lock()
	out := make([]Media, 0, len(f.media))
	for k, m := range f.media {
		if k.subApp == subAppID {
			out = append(out, m.clone())
		}
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreateTime.Equal(out[j].CreateTime) {
			return out[i].CreateTime.Before(out[j].CreateTime)
		}
		return out[i].FileID < out[j].FileID
	})
	return out
}

// Len is the number of media in the inventory, all sub-applications together.
func (f *Fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.media)
}

// Deleted counts DeleteMedia calls answered with success (whole media or parts).
func (f *Fake) Deleted() int { return int(f.deleted.Load()) }

// Calls counts DeleteMedia requests that named the target (its Key, parts included), whatever their
// answer, counted on arrival.
func (f *Fake) Calls(t providers.Target) int { return f.calls.Of(t.Key()) }

// apiError is one API 3.0 error answer.
type apiError struct{ code, message string }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, message: fmt.Sprintf(format, args...)}
}

// Messages the real service gives for the codes the fake produces on its own.
const (
	msgSignatureFailure = "The provided credentials could not be validated. Please check your signature is correct."
	msgInvalidAuth      = "The Authorization header is invalid, please check that it is well formed."
	msgThrottled        = "The number of requests exceeds the frequency limit."
	msgNotFound         = "The resource does not exist."
)

// ServeHTTP answers one API 3.0 request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r) // API 3.0 lives at the root only
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, http.StatusOK, errorf("UnsupportedProtocol",
			"HTTP(S) request protocol error; only GET and POST requests are supported."))
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusOK, errorf("RequestSizeLimitExceeded", "The request size exceeds the upper limit."))
		}
		return // otherwise the client went away mid-body
	}

	action := r.Header.Get("X-TC-Action")
	var req deleteRequest
	var query searchRequest
	var paramErr *apiError
	switch action {
	case ActionDeleteMedia:
		req, paramErr = parseDeleteMedia(r, body)
		if paramErr == nil {
			f.calls.Add(req.target().Key())
		}
	case ActionSearchMedia:
		f.search.calls.Add(1)
		query, paramErr = parseSearchMedia(r, body)
	}

	d := f.faults.Decide()
	if !d.Wait(r.Context()) {
		return
	}
	switch d.Kind {
	case faults.Outage:
		writeOutage(w)
		return
	case faults.Throttled:
		writeError(w, http.StatusOK, errorf("RequestLimitExceeded", msgThrottled))
		return
	case faults.Injected:
		writeFault(w, d.Fault)
		return
	}

	if e := checkCommon(r, action); e != nil {
		writeError(w, http.StatusOK, e)
		return
	}
	if e := f.authenticate(r, body); e != nil {
		writeError(w, http.StatusOK, e)
		return
	}
	if paramErr != nil {
		writeError(w, http.StatusOK, paramErr)
		return
	}
	if action == ActionSearchMedia {
		f.serveSearch(w, query)
		return
	}
	if e := f.deleteMedia(req); e != nil {
		writeError(w, http.StatusOK, e)
		return
	}
	f.deleted.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{"Response": map[string]string{"RequestId": requestID()}})
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= MaxRequestBytes {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	return buf.Bytes(), err
}

// checkCommon checks the common parameters that select the API: X-TC-Action and X-TC-Version.
func checkCommon(r *http.Request, action string) *apiError {
	switch {
	case action == "":
		return errorf("MissingParameter", "The request is missing a required parameter `Action`.")
	case action != ActionDeleteMedia && action != ActionSearchMedia:
		return errorf("InvalidAction", "The requested action `%s` does not exist.", action)
	}
	switch v := r.Header.Get("X-TC-Version"); {
	case v == "":
		return errorf("MissingParameter", "The request is missing a required parameter `Version`.")
	case v != Version:
		return errorf("NoSuchVersion", "The requested version `%s` of service `%s` does not exist.", v, Service)
	}
	return nil
}

// authenticate verifies the TC3-HMAC-SHA256 signature: algorithm and header shape, timestamp within
// MaxSkew, a known SecretId (and its token), the credential scope (UTC date of the timestamp, service
// vod, tc3_request), content-type and host among the signed headers, and finally the signature over
// method, canonical URI "/", query, signed headers (Host with its port) and the body hash.
func (f *Fake) authenticate(r *http.Request, body []byte) *apiError {
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return errorf("AuthFailure.InvalidAuthorization", msgInvalidAuth)
	}
	tsHeader := r.Header.Get("X-TC-Timestamp")
	if tsHeader == "" {
		return errorf("MissingParameter", "The request is missing a required parameter `Timestamp`.")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errorf("InvalidParameter", "The parameter `Timestamp` must be an integer number of seconds.")
	}
	if skew := f.now().Sub(time.Unix(ts, 0)); skew > MaxSkew || skew < -MaxSkew {
		return errorf("AuthFailure.SignatureExpire",
			"Signature expired. Timestamp and server time cannot differ by more than five minutes.")
	}
	cred, ok := f.creds[auth.secretID]
	if !ok {
		return errorf("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.")
	}
	if token := r.Header.Get("X-TC-Token"); token != cred.Token {
		return errorf("AuthFailure.TokenFailure", "The token is invalid or does not match the SecretId.")
	}
	if auth.date != Date(ts) || auth.service != Service || auth.terminator != scopeTerminator {
		return errorf("AuthFailure.SignatureFailure", "%s The credential scope must be %s.",
			msgSignatureFailure, CredentialScope(ts, Service))
	}
	headers := make(map[string]string, len(auth.signedHeaders))
	for _, h := range auth.signedHeaders {
		if h == "host" {
			headers[h] = r.Host
		} else {
			headers[h] = r.Header.Get(h)
		}
	}
	if _, ok := headers["content-type"]; !ok {
		return errorf("AuthFailure.InvalidAuthorization", "%s SignedHeaders must include content-type.", msgInvalidAuth)
	}
	if _, ok := headers["host"]; !ok {
		return errorf("AuthFailure.InvalidAuthorization", "%s SignedHeaders must include host.", msgInvalidAuth)
	}
	payloadHash := HashPayload(body)
	if r.Header.Get("X-TC-Content-SHA256") == UnsignedPayload {
		payloadHash = HashPayload([]byte(UnsignedPayload))
	}
	canonical, signed := CanonicalRequest(r.Method, r.URL.RawQuery, headers, payloadHash)
	if signed != strings.Join(auth.signedHeaders, ";") {
		return errorf("AuthFailure.SignatureFailure", "%s SignedHeaders must be lowercase and sorted.", msgSignatureFailure)
	}
	want := Signature(cred.SecretKey, ts, Service, canonical)
	if !hmac.Equal([]byte(want), []byte(auth.signature)) {
		return errorf("AuthFailure.SignatureFailure", msgSignatureFailure)
	}
	return nil
}

// deleteRequest is a parsed DeleteMedia call.
type deleteRequest struct {
	fileID   string
	subAppID uint64
	parts    []providers.DeletePart
}

func (d deleteRequest) target() providers.Target {
	return providers.Target{Provider: providers.VOD, FileID: d.fileID, SubAppID: d.subAppID, DeleteParts: d.parts}
}

// readParams reads an action's parameters from where API 3.0 carries them: the query of a GET, or the
// JSON body of a POST, which must say application/json.
func readParams[T any](r *http.Request, body []byte,
	fromQuery func(map[string][]string) (T, *apiError), fromJSON func([]byte) (T, *apiError)) (T, *apiError) {
	if r.Method == http.MethodGet {
		return fromQuery(r.URL.Query())
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		var zero T
		return zero, errorf("InvalidParameter", "Content-Type `%s` is not supported; a POST must be application/json.", ct)
	}
	return fromJSON(body)
}

// parseDeleteMedia reads DeleteMedia's parameters: FileId (required), SubAppId, DeleteParts. A POST
// carries them as a JSON object, a GET in the query as FileId=..&DeleteParts.0.Type=...
func parseDeleteMedia(r *http.Request, body []byte) (deleteRequest, *apiError) {
	d, e := readParams(r, body, parseQuery, parseJSON)
	if e != nil {
		return d, e
	}
	if d.fileID == "" {
		return d, errorf("MissingParameter", "The request is missing a required parameter `FileId`.")
	}
	for i, p := range d.parts {
		if p.Type == "" {
			return d, errorf("MissingParameter", "The request is missing a required parameter `DeleteParts.%d.Type`.", i)
		}
		if !slices.Contains(providers.VODPartTypes, p.Type) {
			return d, errorf("InvalidParameterValue", "The value `%s` of parameter `DeleteParts.%d.Type` is invalid.", p.Type, i)
		}
		if p.Definition < 0 {
			return d, errorf("InvalidParameterValue", "The value `%d` of parameter `DeleteParts.%d.Definition` is invalid.", p.Definition, i)
		}
	}
	return d, nil
}

func parseJSON(body []byte) (deleteRequest, *apiError) {
	var d deleteRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return d, errorf("InvalidParameter", "The request body is not a valid JSON object.")
	}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		switch k {
		case "FileId":
			if json.Unmarshal(v, &d.fileID) != nil {
				return d, errorf("InvalidParameter", "The parameter `FileId` must be a string.")
			}
		case "SubAppId":
			if json.Unmarshal(v, &d.subAppID) != nil {
				return d, errorf("InvalidParameter", "The parameter `SubAppId` must be a non-negative integer.")
			}
		case "DeleteParts":
			var items []map[string]json.RawMessage
			if json.Unmarshal(v, &items) != nil {
				return d, errorf("InvalidParameter", "The parameter `DeleteParts` must be an array of MediaDeleteItem.")
			}
			for i, item := range items {
				var p providers.DeletePart
				for _, ik := range sortedKeys(item) {
					switch ik {
					case "Type":
						if json.Unmarshal(item[ik], &p.Type) != nil {
							return d, errorf("InvalidParameter", "The parameter `DeleteParts.%d.Type` must be a string.", i)
						}
					case "Definition":
						if json.Unmarshal(item[ik], &p.Definition) != nil {
							return d, errorf("InvalidParameter", "The parameter `DeleteParts.%d.Definition` must be an integer.", i)
						}
					default:
						return d, errorf("UnknownParameter", "The parameter `DeleteParts.%d.%s` is not recognized.", i, ik)
					}
				}
				d.parts = append(d.parts, p)
			}
		default:
			return d, errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
		}
	}
	return d, nil
}

func parseQuery(q map[string][]string) (deleteRequest, *apiError) {
	var d deleteRequest
	parts := map[int]*providers.DeletePart{}
	for _, k := range sortedKeys(q) {
		v := q[k][0]
		switch {
		case k == "FileId":
			d.fileID = v
		case k == "SubAppId":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return d, errorf("InvalidParameter", "The parameter `SubAppId` must be a non-negative integer.")
			}
			d.subAppID = n
		case strings.HasPrefix(k, "DeleteParts."):
			idx, field, _ := strings.Cut(strings.TrimPrefix(k, "DeleteParts."), ".")
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 || i >= 100 {
				return d, errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
			}
			p := parts[i]
			if p == nil {
				p = &providers.DeletePart{}
				parts[i] = p
			}
			switch field {
			case "Type":
				p.Type = v
			case "Definition":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return d, errorf("InvalidParameter", "The parameter `%s` must be an integer.", k)
				}
				p.Definition = n
			default:
				return d, errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
			}
		default:
			return d, errorf("UnknownParameter", "The parameter `%s` is not recognized.", k)
		}
	}
	for i := range len(parts) {
		p, ok := parts[i]
		if !ok {
			return d, errorf("MissingParameter", "The request is missing a required parameter `DeleteParts.%d.Type`.", i)
		}
		d.parts = append(d.parts, *p)
	}
	return d, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// deleteMedia applies a DeleteMedia call to the inventory. Without parts it removes the media; with
// parts it removes those and keeps the media. A FileId that is not there is ResourceNotFound, the one
// not-found code DeleteMedia's documentation lists.
func (f *Fake) deleteMedia(d deleteRequest) *apiError {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.subAppID != 0 && !f.subApps[d.subAppID] {
		return errorf("InvalidParameterValue.SubAppId", "The value of parameter `SubAppId` is invalid: no such sub-application.")
	}
	key := mediaKey{subApp: d.subAppID, fileID: d.fileID}
	m, ok := f.media[key]
	if !ok {
		return errorf("ResourceNotFound", msgNotFound)
	}
	if len(d.parts) == 0 {
		delete(f.media, key)
	} else {
		m.removeParts(d.parts)
	}
	return nil
}

// writeError writes the documented error shape.
func writeError(w http.ResponseWriter, status int, e *apiError) {
	writeJSON(w, status, map[string]any{"Response": map[string]any{
		"Error":     map[string]string{"Code": e.code, "Message": e.message},
		"RequestId": requestID(),
	}})
}

// writeFault renders an injected fault: Body verbatim when set; otherwise the JSON error shape with
// Code and Message (a default message when empty) and Status (default 200). A fault with neither
// Body nor Code is a bare gateway answer: Status (default 502) with its status text as plain text.
func writeFault(w http.ResponseWriter, fault faults.Fault) {
	status := fault.Status
	switch {
	case fault.Body != "":
		if status == 0 {
			status = http.StatusOK
		}
		ct := fault.ContentType
		if ct == "" {
			ct = http.DetectContentType([]byte(fault.Body))
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(fault.Body))
	case fault.Code != "":
		if status == 0 {
			status = http.StatusOK
		}
		msg := fault.Message
		if msg == "" {
			msg = defaultMessage(fault.Code)
		}
		writeError(w, status, &apiError{code: fault.Code, message: msg})
	default:
		if status == 0 {
			status = http.StatusBadGateway
		}
		http.Error(w, fmt.Sprintf("%d %s", status, http.StatusText(status)), status)
	}
}

// defaultMessage is the documented message of a code, for faults injected without one.
func defaultMessage(code string) string {
	switch {
	case code == "ResourceNotFound" || strings.HasPrefix(code, "ResourceNotFound."):
		return msgNotFound
	case strings.HasPrefix(code, "RequestLimitExceeded"):
		return msgThrottled
	case strings.HasPrefix(code, "InternalError"):
		return "Internal error."
	case code == "ServiceUnavailable":
		return "Service is unavailable now."
	case code == "FailedOperation":
		return "Operation failed."
	case code == "FailedOperation.InvalidVodUser":
		return "The VOD service is not activated."
	case code == "UnauthorizedOperation":
		return "Unauthorized operation."
	case code == "AuthFailure.SignatureFailure":
		return msgSignatureFailure
	}
	return "An error occurred: " + code + "."
}

// outagePage is what a gateway in front of a service that is down answers.
const outagePage = `<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>gateway</center>
</body>
</html>
`

// writeOutage answers as the gateway in front of a failed service does: HTTP 502 with an HTML page,
// not the API's JSON.
func writeOutage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write([]byte(outagePage))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// requestID returns a fresh UUID-shaped request id, like the real service's.
func requestID() string {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0x3<<62) | 0x2<<62
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
