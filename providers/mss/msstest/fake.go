// Package msstest is a fake Huawei Cloud MetaStudio for tests, benchmarks and the demo. It serves
// DeleteFile (DELETE /v1/{project_id}/files/{file_id}) behind a model of the API gateway: it verifies
// SDK-HMAC-SHA256 signatures with a verifier of its own (apisign.go, written from Huawei's signing
// guide, not from the client) and the 15-minute X-Sdk-Date window, or IAM tokens with an expiry, keeps an inventory of files per project, counts calls per target and
// answers faults from a faults.Injector in MetaStudio's and APIG's wire formats.
//
// Answers, and why they were chosen where the documentation is silent:
//
//   - deleted: 200, empty body, X-Request-Id.
//   - file not in the project: 400 {"error_code":"MSS.10001004","error_msg":"The file not found"} (the
//     error-code page; DeleteFile's own page lists only 200/401/500).
//   - project not in Options.Projects (nor added with a file): 400 MSS.00010009 "urlTenantId is not
//     equal tokenTenantId", the documented answer to a project the credentials do not belong to.
//   - unknown AK, malformed Authorization, unsigned X-Sdk-Date, a signed header the request lacks, bad
//     signature, unknown token, no credentials: 401 APIG.0301 with request_id, as the gateway words
//     it. Any SignedHeaders list that includes x-sdk-date is accepted, host signed or not: the guide's
//     examples sign host, the official SDK signs user-agent;x-project-id;x-sdk-date, and the gateway
//     takes both.
//   - X-Sdk-Date more than MaxSkew from the clock: 401 APIG.0303 "signature expired, signature
//     time:...,server time:...".
//   - expired token: 401 APIG.0307 "The token must be updated".
//   - throttled: 429 APIG.0308 "policy user over ratelimit,limit:N,time:1 second", no Retry-After (none
//     is documented).
//   - outage: 500 {"error_code":"MSS.00000004","error_msg":"Internal Error"}, DeleteFile's documented
//     server fault. Gateway HTML pages are available as injected faults with Fault.Body.
//   - any other method or path: 404 APIGW.0101 (the gateway routes by method and path).
//
// Authentication is checked before the injector is consulted, as the gateway authenticates before
// throttling per user or forwarding to MetaStudio.
package msstest

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/mss"
)

// maxBody caps the request body the fake hashes; APIG refuses AK/SK-signed bodies above 12 MB.
const maxBody = 12 << 20

// Options configures a Fake. Zero values are the documented defaults.
type Options struct {
	// Keys maps each accepted AK to its SK (copied by New; fixed for the fake's life).
	Keys map[string]string
	// Tokens maps each accepted IAM token to its expiry (copied by New; see AddToken, ExpireTokens).
	// Expired tokens get 401 APIG.0307.
	Tokens map[string]time.Time
	// Projects are the project ids the credentials may use. Adding a file also adds its project.
	Projects []string
	// Now is the gateway's clock, for the X-Sdk-Date window and token expiry. Nil: time.Now.
	Now func() time.Time
	// MaxSkew is how far X-Sdk-Date may be from Now. Zero: MaxSkew (15 minutes).
	MaxSkew time.Duration
	// ThrottleLimit is the "limit:N" the throttle message names. Zero: 10, DeleteFile's per-tenant
	// limit in cn-north-4. The rate itself is set on the injector (Faults().SetThrottle).
	ThrottleLimit int
	// Seed seeds the injector's random choices.
	Seed uint64
}

// File is one file of the inventory, with the creation time listing APIs will report.
type File struct {
	ID      string
	Created time.Time
}

// Fake is the fake MetaStudio. It implements faults.Fake and is safe for concurrent use.
type Fake struct {
	keys          map[string]string
	now           func() time.Time
	maxSkew       time.Duration
	throttleLimit int
	inj           *faults.Injector
	ridPrefix     uint64
	ridSeq        atomic.Uint64
	deleted       atomic.Int64

	tokMu  sync.RWMutex
	tokens map[string]time.Time

	invMu    sync.RWMutex
	projects map[string]map[string]time.Time // project -> file -> created

	calls faults.CallCounter // Target.Key() -> delete requests
}

// New returns a fake accepting the credentials in opts.
func New(opts Options) *Fake {
	f := &Fake{
		keys:          make(map[string]string, len(opts.Keys)),
		now:           opts.Now,
		maxSkew:       opts.MaxSkew,
		throttleLimit: opts.ThrottleLimit,
		inj:           faults.New(opts.Seed),
		ridPrefix:     opts.Seed*0x9e3779b97f4a7c15 ^ 0x6a6a1f8354f64dd9,
		tokens:        make(map[string]time.Time, len(opts.Tokens)),
		projects:      make(map[string]map[string]time.Time),
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.maxSkew <= 0 {
		f.maxSkew = MaxSkew
	}
	if f.throttleLimit <= 0 {
		f.throttleLimit = 10
	}
	for ak, sk := range opts.Keys {
		f.keys[ak] = sk
	}
	for tok, exp := range opts.Tokens {
		f.tokens[tok] = exp
	}
	for _, p := range opts.Projects {
		f.projects[p] = map[string]time.Time{}
	}
	f.inj.SetClock(f.now)
	return f
}

// Faults returns the fault injector.
func (f *Fake) Faults() *faults.Injector { return f.inj }

// AddToken accepts tok until expires.
func (f *Fake) AddToken(tok string, expires time.Time) {
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	f.tokens[tok] = expires
}

// ExpireTokens makes every accepted token expire now, as IAM does after 24 hours.
func (f *Fake) ExpireTokens() {
	now := f.now()
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	for tok := range f.tokens {
		f.tokens[tok] = now
	}
}

// AddProject makes a project known without adding a file to it.
func (f *Fake) AddProject(projectID string) {
	f.invMu.Lock()
	defer f.invMu.Unlock()
	if f.projects[projectID] == nil {
		f.projects[projectID] = map[string]time.Time{}
	}
}

// Add puts the file t names into the inventory, created now.
func (f *Fake) Add(t providers.Target) { f.AddAt(t, f.now()) }

// AddAt puts the file t names into the inventory with the given creation time (its project too).
func (f *Fake) AddAt(t providers.Target, created time.Time) {
	f.invMu.Lock()
	defer f.invMu.Unlock()
	files := f.projects[t.ProjectID]
	if files == nil {
		files = map[string]time.Time{}
		f.projects[t.ProjectID] = files
	}
	files[t.FileID] = created
}

// Exists reports whether the file t names is in the inventory.
func (f *Fake) Exists(t providers.Target) bool {
	f.invMu.RLock()
	defer f.invMu.RUnlock()
	_, ok := f.projects[t.ProjectID][t.FileID]
	return ok
}

// Files lists a project's files, oldest first (ties by id).
func (f *Fake) Files(projectID string) []File {
	f.invMu.RLock()
	out := make([]File, 0, len(f.projects[projectID]))
	for id, created := range f.projects[projectID] {
		out = append(out, File{ID: id, Created: created})
	}
	f.invMu.RUnlock()
	slices.SortFunc(out, func(a, b File) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Len counts the files in the inventory, over all projects.
func (f *Fake) Len() int {
	f.invMu.RLock()
	defer f.invMu.RUnlock()
	n := 0
	for _, files := range f.projects {
		n += len(files)
	}
	return n
}

// Deleted counts successful deletes.
func (f *Fake) Deleted() int { return int(f.deleted.Load()) }

// Calls counts DeleteFile requests that named t, whatever their answer.
func (f *Fake) Calls(t providers.Target) int { return f.calls.Of(t.Key()) }

// TotalCalls counts every DeleteFile request that reached the route.
func (f *Fake) TotalCalls() int { return f.calls.Total() }

// ServeHTTP serves DeleteFile; see the package comment for every answer.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := f.requestID()
	w.Header().Set(mss.RequestIDHeader, rid)

	project, file, ok := route(r)
	if !ok {
		writeAPIG(w, http.StatusNotFound, "APIGW.0101", "The API does not exist or has not been published in the environment", rid)
		return
	}
	f.calls.Add(providers.Target{Provider: providers.MSS, ProjectID: project, FileID: file}.Key())

	if status, code, msg := f.authenticate(r); code != "" {
		writeAPIG(w, status, code, msg, rid)
		return
	}

	d := f.inj.Decide()
	if !d.Wait(r.Context()) {
		return
	}
	switch d.Kind {
	case faults.Outage:
		writeMSS(w, http.StatusInternalServerError, "MSS.00000004", "Internal Error")
		return
	case faults.Throttled:
		writeAPIG(w, http.StatusTooManyRequests, "APIG.0308",
			fmt.Sprintf("The throttling threshold has been reached: policy user over ratelimit,limit:%d,time:1 second", f.throttleLimit), rid)
		return
	case faults.Injected:
		writeFault(w, d.Fault, rid)
		return
	}

	f.invMu.Lock()
	files, known := f.projects[project]
	_, present := files[file]
	if present {
		delete(files, file)
	}
	f.invMu.Unlock()
	switch {
	case !known:
		writeMSS(w, http.StatusBadRequest, "MSS.00010009", "urlTenantId is not equal tokenTenantId")
	case !present:
		writeMSS(w, http.StatusBadRequest, "MSS.10001004", "The file not found")
	default:
		f.deleted.Add(1)
		w.WriteHeader(http.StatusOK)
	}
}

// route matches DELETE /v1/{project_id}/files/{file_id}, decoding each segment on its own.
func route(r *http.Request) (project, file string, ok bool) {
	if r.Method != http.MethodDelete {
		return "", "", false
	}
	segs := strings.Split(r.URL.EscapedPath(), "/")
	if len(segs) != 5 || segs[0] != "" || segs[1] != "v1" || segs[3] != "files" {
		return "", "", false
	}
	project, err1 := url.PathUnescape(segs[2])
	file, err2 := url.PathUnescape(segs[4])
	if err1 != nil || err2 != nil || project == "" || file == "" {
		return "", "", false
	}
	return project, file, true
}

// The gateway's authentication failures.
const (
	msgBadSignature = "Incorrect IAM authentication information: verify aksk signature fail"
	msgBadToken     = "Incorrect IAM authentication information: decrypt token fail"
	msgNoAuth       = "Incorrect IAM authentication information: no token or AK/SK signature in the request"
	msgTokenExpired = "The token must be updated"
)

// authenticate checks the token or the AK/SK signature; code is "" when the request passes.
func (f *Fake) authenticate(r *http.Request) (status int, code, msg string) {
	if tok := r.Header.Get(mss.TokenHeader); tok != "" {
		f.tokMu.RLock()
		exp, ok := f.tokens[tok]
		f.tokMu.RUnlock()
		switch {
		case !ok:
			return http.StatusUnauthorized, "APIG.0301", msgBadToken
		case !f.now().Before(exp):
			return http.StatusUnauthorized, "APIG.0307", msgTokenExpired
		}
		return 0, "", ""
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return http.StatusUnauthorized, "APIG.0301", msgNoAuth
	}
	a, ok := parseAuthorization(authz)
	if !ok || !slices.Contains(a.signedHeaders, requiredSignedHeader) {
		return http.StatusUnauthorized, "APIG.0301", msgBadSignature
	}
	headers := make(map[string][]string, len(a.signedHeaders))
	for _, h := range a.signedHeaders {
		vs := r.Header.Values(h)
		if h == "host" {
			vs = []string{r.Host}
		}
		if len(vs) == 0 {
			return http.StatusUnauthorized, "APIG.0301", msgBadSignature
		}
		headers[h] = vs
	}
	date := r.Header.Get(DateHeader)
	signedAt, err := time.Parse(DateFormat, date)
	if err != nil {
		return http.StatusUnauthorized, "APIG.0301", msgBadSignature
	}
	now := f.now().UTC()
	if skew := now.Sub(signedAt); skew > f.maxSkew || skew < -f.maxSkew {
		return http.StatusUnauthorized, "APIG.0303", fmt.Sprintf(
			"Incorrect app authentication information: signature expired, signature time:%s,server time:%s",
			date, now.Format(DateFormat))
	}
	sk, ok := f.keys[a.ak]
	if !ok {
		return http.StatusUnauthorized, "APIG.0301", msgBadSignature
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return http.StatusUnauthorized, "APIG.0301", msgBadSignature
	}
	payloadHash := HashPayload(body)
	if r.Header.Get(ContentSHA256Header) == UnsignedPayload {
		payloadHash = UnsignedPayload
	}
	uri, okURI := CanonicalURI(r.URL.EscapedPath())
	query, okQuery := CanonicalQuery(r.URL.RawQuery)
	if !okURI || !okQuery {
		return http.StatusUnauthorized, "APIG.0301", msgBadSignature
	}
	canonical, _ := CanonicalRequest(r.Method, uri, query, headers, payloadHash)
	want := Signature(sk, StringToSign(date, canonical))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return http.StatusUnauthorized, "APIG.0301", msgBadSignature
	}
	return 0, "", ""
}

// requestID returns a 32-hex-digit id, unique per fake.
func (f *Fake) requestID() string {
	return fmt.Sprintf("%016x%016x", f.ridPrefix, f.ridSeq.Add(1))
}

// mssError is MetaStudio's error body.
type mssError struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// apigError is the API gateway's error body (its field order).
type apigError struct {
	ErrorMsg  string `json:"error_msg"`
	ErrorCode string `json:"error_code"`
	RequestID string `json:"request_id"`
}

func writeMSS(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, mssError{ErrorCode: code, ErrorMsg: msg})
}

func writeAPIG(w http.ResponseWriter, status int, code, msg, rid string) {
	writeJSON(w, status, apigError{ErrorMsg: msg, ErrorCode: code, RequestID: rid})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // plain string structs cannot fail
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeFault renders an injected fault: Body verbatim when set, else the APIG body for gateway codes and
// MetaStudio's for the rest. A zero Status means 500.
func writeFault(w http.ResponseWriter, ft faults.Fault, rid string) {
	status := ft.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if ft.Body != "" {
		ct := ft.ContentType
		if ct == "" {
			ct = "text/html"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, ft.Body)
		return
	}
	if strings.HasPrefix(ft.Code, "APIG") {
		writeAPIG(w, status, ft.Code, ft.Message, rid)
		return
	}
	writeMSS(w, status, ft.Code, ft.Message)
}
