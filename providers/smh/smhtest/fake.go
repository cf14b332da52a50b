// Package smhtest is a fake Tencent Smart Media Hosting (SMH) business API for tests, benchmarks and
// demos. It is a real net/http handler that speaks SMH's documented wire format:
//
//	GET|POST /api/v1/token?library_id=&library_secret=&space_id=&grant=&user_id=&period=
//	DELETE   /api/v1/file/{LibraryId}/{SpaceId}/{FilePath}?permanent=0|1&access_token=&user_id=
//	GET      /api/v1/directory/{LibraryId}/{SpaceId}/{DirPath}?marker=&limit=&order_by=&filter=&access_token=
//
// It checks library secrets, issues access tokens that carry their library, spaces, grants and expiry
// (extended on each use, as SMH's "period" is), enforces them on every delete, and keeps an inventory of
// files per (library, space) with modification times plus each library's recycle bin. The delete's
// user_id is accepted and ignored: SMH only uses it to name the operator of admin tokens.
//
// Three fault injectors (package faults) sit in front of it: Faults for the file API, TokenFaults for the
// token API, ListFaults for directory listings, so a test can throttle deletes without also throttling
// token creation or listing. The listing is described in list.go; batch delete, the task API and
// recycle-bin restores (with ItemFaults for single items of a batch) in batch.go.
//
// Outage decisions answer 503 {"code":"ServerOverloaded"} (the JS SDK lists ServerOverloaded under
// 500/503); HTML gateway pages are available as injected faults. Throttle decisions answer 429
// {"code":"RateLimitExceeded"} with Retry-After: 1.
package smhtest

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// Defaults used when Options leave a field empty.
const (
	// DefaultLibraryID and DefaultLibrarySecret name the single library a fake with no configured
	// libraries serves (single-tenant, recycle bin enabled).
	DefaultLibraryID     = "smhfakelib"
	DefaultLibrarySecret = "smhfake-library-secret"
	// DefaultTokenTTL is SMH's default token period (24 h), used when a token request names none.
	DefaultTokenTTL = 24 * time.Hour
	// MinTokenPeriod and MaxTokenPeriod bound a requested period, as the token API documents
	// (www.tencentcloud.com/document/product/1283/75415: below 300 s is raised to 300 s, above 10
	// years lowered to 10 years).
	MinTokenPeriod = 300 * time.Second
	MaxTokenPeriod = 315360000 * time.Second
)

// TokenPrefix starts every access token the fake issues. Tests list it among the secrets that must not
// appear in errors: any leaked token contains it.
const TokenPrefix = "smhtok-"

// SingleTenantSpace is the space id of a single-tenant library.
const SingleTenantSpace = "-"

// Library is one media library the fake serves.
type Library struct {
	// Secret is the LibrarySecret the token API checks.
	Secret string
	// RecycleBin makes deletes with permanent=0 move files to the recycle bin (200 recycledItemId).
	RecycleBin bool
	// Spaces are the tenant spaces of a multi-tenant library. Empty (or just "-"): single-tenant.
	Spaces []string
}

// Options configure a Fake. Zero values are the documented defaults.
type Options struct {
	// Libraries maps library id to library. Default: DefaultLibraryID with DefaultLibrarySecret,
	// single-tenant, recycle bin on.
	Libraries map[string]Library
	// TokenTTL is the token lifetime when a token request names no period (SMH's default period).
	// Default DefaultTokenTTL. Tests set short ones; requested periods are clamped as SMH does.
	TokenTTL time.Duration
	// Now is the clock for token expiry, modification times and the injectors. Default time.Now.
	Now func() time.Time
	// Seed makes the injectors' random choices repeatable.
	Seed uint64
}

// File is one inventory entry.
type File struct {
	Path    string
	ModTime time.Time
}

// RecycledItem is a file moved to a library's recycle bin by a delete.
type RecycledItem struct {
	ID         int64
	SpaceID    string
	Path       string
	ModTime    time.Time
	RecycledAt time.Time
}

// Fake is the fake SMH service. It implements faults.Fake. Use New.
type Fake struct {
	libs        map[string]*library // fixed after New
	defaultLib  string              // the only library, when there is one
	ttl         time.Duration
	now         func() time.Time
	faults      *faults.Injector
	tokenFaults *faults.Injector
	reqPrefix   uint64
	reqSeq      atomic.Uint64
	tokenCalls  atomic.Int64
	listFaults  *faults.Injector
	listCalls   atomic.Int64

	mu       sync.Mutex
	spaces   map[spaceKey]map[string]time.Time // path -> modification time
	dirs     map[spaceKey]map[string]*dirNode  // directory path ("" is the root) -> directory, for listings
	recycled map[string]map[int64]RecycledItem // library -> recycled item id -> item
	nextItem int64
	deleted  int

	calls faults.CallCounter // Target.Key() -> delete requests (single, or batch items)

	batch batchState // batch delete, tasks and restore: batch.go

	tokMu  sync.RWMutex
	tokens map[string]*token
}

type library struct {
	Library
	multi bool
}

func (l *library) hasSpace(s string) bool {
	if !l.multi {
		return s == SingleTenantSpace
	}
	return slices.Contains(l.Spaces, s)
}

type spaceKey struct{ library, space string }

// token is one issued access token: what it is for and until when.
type token struct {
	library   string
	allSpaces bool
	spaces    []string
	grants    []string
	period    time.Duration
	expires   atomic.Int64 // unix nanoseconds
}

func (t *token) can(grant string) bool {
	return slices.Contains(t.grants, "admin") || slices.Contains(t.grants, "space_admin") ||
		slices.Contains(t.grants, grant)
}

// extend makes the token live for its period from now: SMH extends a token on each use.
func (t *token) extend(now time.Time) { t.expires.Store(now.Add(t.period).UnixNano()) }

// New returns a fake serving opts.Libraries with an empty inventory.
func New(opts Options) *Fake {
	if len(opts.Libraries) == 0 {
		opts.Libraries = map[string]Library{DefaultLibraryID: {Secret: DefaultLibrarySecret, RecycleBin: true}}
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fake{
		libs:        make(map[string]*library, len(opts.Libraries)),
		ttl:         opts.TokenTTL,
		now:         opts.Now,
		faults:      faults.New(opts.Seed),
		tokenFaults: faults.New(opts.Seed + 1),
		listFaults:  faults.New(opts.Seed + 2),
		reqPrefix:   mrand.Uint64(),
		spaces:      map[spaceKey]map[string]time.Time{},
		dirs:        map[spaceKey]map[string]*dirNode{},
		recycled:    map[string]map[int64]RecycledItem{},
		tokens:      map[string]*token{},
	}
	f.faults.SetClock(opts.Now)
	f.tokenFaults.SetClock(opts.Now)
	f.listFaults.SetClock(opts.Now)
	f.batch.init(opts)
	for id, l := range opts.Libraries {
		l.Spaces = slices.DeleteFunc(slices.Clone(l.Spaces), func(s string) bool { return s == SingleTenantSpace })
		f.libs[id] = &library{Library: l, multi: len(l.Spaces) > 0}
		f.defaultLib = id
	}
	if len(f.libs) > 1 {
		f.defaultLib = ""
	}
	return f
}

// Faults is the injector in front of the file API (deletes).
func (f *Fake) Faults() *faults.Injector { return f.faults }

// TokenFaults is the injector in front of the token API.
func (f *Fake) TokenFaults() *faults.Injector { return f.tokenFaults }

// normalize fills what SMH itself implies: space "-" and, for a fake with one library, that library.
func (f *Fake) normalize(t providers.Target) providers.Target {
	t.Provider = providers.SMH
	if t.SpaceID == "" {
		t.SpaceID = SingleTenantSpace
	}
	if t.LibraryID == "" {
		if f.defaultLib == "" {
			panic("smhtest: a target without library_id is ambiguous when the fake has several libraries")
		}
		t.LibraryID = f.defaultLib
	}
	return t
}

// Add puts the file t names into the inventory, modified now.
func (f *Fake) Add(t providers.Target) { f.AddAt(t, f.now()) }

// AddAt puts the file t names into the inventory with the given modification time (kept for listing
// APIs and retention tests).
func (f *Fake) AddAt(t providers.Target, modified time.Time) {
	t = f.normalize(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addLocked(spaceKey{t.LibraryID, t.SpaceID}, t.Path, modified)
}

// addLocked puts a file into a space's inventory (AddAt, restores). f.mu must be held.
func (f *Fake) addLocked(sk spaceKey, path string, modified time.Time) {
	files := f.spaces[sk]
	if files == nil {
		files = map[string]time.Time{}
		f.spaces[sk] = files
	}
	files[path] = modified
	f.indexAdd(sk, path, modified)
}

// Exists reports whether the file t names is in the inventory (not deleted, not in the recycle bin).
func (f *Fake) Exists(t providers.Target) bool {
	t = f.normalize(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.spaces[spaceKey{t.LibraryID, t.SpaceID}][t.Path]
	return ok
}

// Calls counts the delete requests that named t, whatever their answer; a batch delete names each of
// its paths once. Requests counts HTTP requests instead.
func (f *Fake) Calls(t providers.Target) int { return f.calls.Of(f.normalize(t).Key()) }

// TotalCalls counts every delete request that named a target (a batch counts once per path).
func (f *Fake) TotalCalls() int { return f.calls.Total() }

// TokenCalls counts requests to the token API, whatever their answer.
func (f *Fake) TokenCalls() int { return int(f.tokenCalls.Load()) }

// Deleted counts successful deletes (permanent or to the recycle bin).
func (f *Fake) Deleted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleted
}

// Len counts the files in the inventory.
func (f *Fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, files := range f.spaces {
		n += len(files)
	}
	return n
}

// Files lists one space's inventory, sorted by path.
func (f *Fake) Files(libraryID, spaceID string) []File {
	f.mu.Lock()
	out := make([]File, 0, len(f.spaces[spaceKey{libraryID, spaceID}]))
	for p, m := range f.spaces[spaceKey{libraryID, spaceID}] {
		out = append(out, File{Path: p, ModTime: m})
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Recycled returns a library's recycle bin, oldest first.
func (f *Fake) Recycled(libraryID string) []RecycledItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Collect(maps.Values(f.recycled[libraryID]))
	slices.SortFunc(out, func(a, b RecycledItem) int { return cmp.Compare(a.ID, b.ID) }) // ids grow with time
	return out
}

// ExpireTokens makes every token issued so far invalid: the next use answers 403 InvalidAccessToken.
func (f *Fake) ExpireTokens() {
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	f.tokens = map[string]*token{}
}

// IssueToken creates a token directly, as if through the token API with the library's secret: for
// tests of clients configured with a fixed access token. spaces nil means every space of the library.
// It lives for Options.TokenTTL, extended on each use.
func (f *Fake) IssueToken(libraryID string, spaces []string, grants ...string) string {
	return f.issue(libraryID, spaces == nil, spaces, grants, f.ttl)
}

func (f *Fake) issue(libraryID string, allSpaces bool, spaces, grants []string, period time.Duration) string {
	value := TokenPrefix + rand.Text()
	t := &token{library: libraryID, allSpaces: allSpaces, spaces: spaces, grants: grants, period: period}
	t.expires.Store(f.now().Add(period).UnixNano())
	f.tokMu.Lock()
	f.tokens[value] = t
	f.tokMu.Unlock()
	return value
}

// ServeHTTP routes to the token API, the delete-file API and the directory listing; anything else is 404.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	f.batch.count(p)
	switch {
	case p == "/api/v1/token":
		f.serveToken(w, r)
	case strings.HasPrefix(p, "/api/v1/file/"):
		f.serveDelete(w, r, strings.TrimPrefix(p, "/api/v1/file/"))
	case strings.HasPrefix(p, "/api/v1/directory/"):
		f.serveList(w, r, strings.TrimPrefix(p, "/api/v1/directory/"))
	case strings.HasPrefix(p, "/api/v1/batch/"):
		f.serveBatchDelete(w, r, strings.TrimPrefix(p, "/api/v1/batch/"))
	case strings.HasPrefix(p, "/api/v1/task/"):
		f.serveTask(w, r, strings.TrimPrefix(p, "/api/v1/task/"))
	case strings.HasPrefix(p, "/api/v1/recycled/"):
		f.serveRestore(w, r, strings.TrimPrefix(p, "/api/v1/recycled/"))
	default:
		w.Header().Set("X-Request-Id", f.requestID())
		http.NotFound(w, r)
	}
}

// serveToken implements GET|POST /api/v1/token.
func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request) {
	f.tokenCalls.Add(1)
	if !f.injected(w, r, f.tokenFaults) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		f.writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
		return
	}
	q := r.URL.Query()
	libID, secret := q.Get("library_id"), q.Get("library_secret")
	switch {
	case libID == "" && secret == "":
		f.writeError(w, http.StatusBadRequest, "EmptyLibraryIdOrSecret", "")
		return
	case libID == "":
		f.writeError(w, http.StatusBadRequest, "EmptyLibraryId", "")
		return
	case secret == "":
		f.writeError(w, http.StatusBadRequest, "EmptyLibrarySecret", "")
		return
	}
	lib := f.libs[libID]
	if lib == nil {
		f.writeError(w, http.StatusNotFound, "LibraryNotFound", "")
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(lib.Secret)) != 1 {
		f.writeError(w, http.StatusNotFound, "WrongLibraryIdOrSecret", "")
		return
	}
	grants := splitList(q.Get("grant"))
	var spaces []string
	allSpaces := false
	switch ids := splitList(q.Get("space_id")); {
	case !lib.multi:
		// Single-tenant: space_id is not needed; "-" is the only space there is.
		if len(ids) > 0 && (len(ids) > 1 || ids[0] != SingleTenantSpace) {
			f.writeError(w, http.StatusBadRequest, "NotMultiSpaceLibrary", "")
			return
		}
		spaces = []string{SingleTenantSpace}
	case len(ids) == 0:
		// Multi-tenant without space_id: only admin tokens reach every space; others reach none.
		allSpaces = slices.Contains(grants, "admin")
	default:
		for _, id := range ids {
			if !lib.hasSpace(id) {
				f.writeError(w, http.StatusNotFound, "SpaceNotFound", "")
				return
			}
		}
		spaces = ids
	}
	period := f.ttl
	if v := q.Get("period"); v != "" {
		// "Valid values: positive integer. Input other value will use default value 86400."
		period = DefaultTokenTTL
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			n = min(max(n, int64(MinTokenPeriod/time.Second)), int64(MaxTokenPeriod/time.Second))
			period = time.Duration(n) * time.Second
		}
	}
	value := f.issue(libID, allSpaces, spaces, grants, period)
	f.writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"accessToken"`
		ExpiresIn   int64  `json:"expiresIn"`
	}{value, int64(period / time.Second)})
}

// serveDelete implements DELETE /api/v1/file/{LibraryId}/{SpaceId}/{FilePath}.
func (f *Fake) serveDelete(w http.ResponseWriter, r *http.Request, rest string) {
	libID, spaceID, filePath, code, problem := splitFilePath(rest)
	if code != "" {
		f.writeError(w, http.StatusBadRequest, code, problem)
		return
	}
	f.calls.Add(providers.Target{Provider: providers.SMH, LibraryID: libID, SpaceID: spaceID, Path: filePath}.Key())
	if !f.injected(w, r, f.faults) {
		return
	}
	if r.Method != http.MethodDelete {
		f.writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
		return
	}
	q := r.URL.Query()
	lib, tok, now, ok := f.authorize(w, q, libID, spaceID)
	if !ok {
		return
	}
	var permanent bool
	switch q.Get("permanent") {
	case "", "0":
	case "1":
		permanent = true
	default:
		f.writeError(w, http.StatusBadRequest, "InvalidParameter", "permanent must be 0 or 1.")
		return
	}
	need := "delete_file"
	if lib.RecycleBin && permanent {
		need = "delete_file_permanent"
	}
	if !tok.can(need) {
		f.writeError(w, http.StatusForbidden, "NoPermission", "")
		return
	}
	tok.extend(now)

	f.mu.Lock()
	item, ok := f.removeLocked(lib, libID, spaceID, filePath, permanent, now)
	f.mu.Unlock()
	if !ok {
		f.writeError(w, http.StatusNotFound, "FileNotFound", "")
		return
	}

	if item == 0 {
		w.Header().Set("X-Request-Id", f.requestID())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f.writeJSON(w, http.StatusOK, struct {
		RecycledItemID int64 `json:"recycledItemId"`
	}{item})
}

// removeLocked deletes one file (single or batch delete): gone for good, or into the recycle bin when
// the library has one and the delete is not permanent, in which case item is its recycle-bin id. ok is
// false when there is no such file. f.mu must be held.
func (f *Fake) removeLocked(lib *library, libID, spaceID, path string, permanent bool, now time.Time) (item int64, ok bool) {
	sk := spaceKey{libID, spaceID}
	modified, ok := f.spaces[sk][path]
	if !ok {
		return 0, false
	}
	delete(f.spaces[sk], path)
	f.indexRemove(sk, path)
	f.deleted++
	if lib.RecycleBin && !permanent {
		f.nextItem++
		item = f.nextItem
		if f.recycled[libID] == nil {
			f.recycled[libID] = map[int64]RecycledItem{}
		}
		f.recycled[libID][item] = RecycledItem{ID: item, SpaceID: spaceID, Path: path, ModTime: modified, RecycledAt: now}
	}
	return item, true
}

// authorize applies the access-token checks deletes and listings share, in this order: a token is
// given, the library exists, the token is live and was issued for that library, the space exists and
// the token reaches it. It answers the first failure itself (ok false). Otherwise it returns the
// library, the token and the instant of the check; grants and extending the token are the caller's.
func (f *Fake) authorize(w http.ResponseWriter, q url.Values, libID, spaceID string) (lib *library, tok *token, now time.Time, ok bool) {
	value := q.Get("access_token")
	if value == "" {
		f.writeError(w, http.StatusBadRequest, "EmptyAccessToken", "")
		return nil, nil, time.Time{}, false
	}
	lib = f.libs[libID]
	if lib == nil {
		f.writeError(w, http.StatusNotFound, "LibraryNotFound", "")
		return nil, nil, time.Time{}, false
	}
	now = f.now()
	f.tokMu.RLock()
	tok = f.tokens[value]
	f.tokMu.RUnlock()
	if tok == nil || tok.library != libID || now.UnixNano() >= tok.expires.Load() {
		f.writeError(w, http.StatusForbidden, "InvalidAccessToken", "")
		return nil, nil, time.Time{}, false
	}
	if !lib.hasSpace(spaceID) {
		f.writeError(w, http.StatusNotFound, "SpaceNotFound", "")
		return nil, nil, time.Time{}, false
	}
	if !tok.allSpaces && !slices.Contains(tok.spaces, spaceID) {
		f.writeError(w, http.StatusForbidden, "AccessTokenNotMatchSpace", "")
		return nil, nil, time.Time{}, false
	}
	return lib, tok, now, true
}

// splitFilePath decodes {LibraryId}/{SpaceId}/{FilePath} segment by segment (see decodeSegments). A
// malformed path gives an error code (EmptyPath as documented; InvalidPath is the fake's own) and a
// message.
func splitFilePath(rest string) (lib, space, path, code, problem string) {
	segs := strings.Split(rest, "/")
	if len(segs) < 3 || len(segs) == 3 && segs[2] == "" {
		return "", "", "", "EmptyPath", ""
	}
	if code, problem := decodeSegments(segs); code != "" {
		return "", "", "", code, problem
	}
	return segs[0], segs[1], strings.Join(segs[2:], "/"), "", ""
}

// decodeSegments decodes each path segment in place on its own, as the server does: a "%2F" inside a
// segment is not a separator, and "%3F", "%23", "%25" are part of the name. A bad escape, an empty,
// "." or ".." segment, or one holding an escaped '/' gives InvalidPath and a message naming it.
func decodeSegments(segs []string) (code, problem string) {
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		switch {
		case err != nil:
			return "InvalidPath", fmt.Sprintf("Bad escape in path segment %d.", i+1)
		case d == "":
			return "InvalidPath", fmt.Sprintf("Path segment %d is empty.", i+1)
		case d == "." || d == "..":
			return "InvalidPath", fmt.Sprintf("Path segment %d is %q.", i+1, d)
		case strings.Contains(d, "/"):
			return "InvalidPath", fmt.Sprintf("Path segment %d contains an escaped '/'.", i+1)
		}
		segs[i] = d
	}
	return "", ""
}

func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// injected applies the injector's decision: it waits out the delay and answers outages, throttles and
// injected faults. It returns true when the request should be served normally.
func (f *Fake) injected(w http.ResponseWriter, r *http.Request, in *faults.Injector) bool {
	d := in.Decide()
	if !d.Wait(r.Context()) {
		return false
	}
	switch d.Kind {
	case faults.Outage:
		f.writeError(w, http.StatusServiceUnavailable, "ServerOverloaded", "")
		return false
	case faults.Throttled:
		w.Header().Set("Retry-After", "1")
		f.writeError(w, http.StatusTooManyRequests, "RateLimitExceeded", "")
		return false
	case faults.Injected:
		fl := d.Fault
		status := fl.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		if fl.Body != "" {
			ct := fl.ContentType
			if ct == "" {
				ct = "text/html; charset=utf-8"
			}
			w.Header().Set("Content-Type", ct)
			w.Header().Set("X-Request-Id", f.requestID())
			w.WriteHeader(status)
			_, _ = w.Write([]byte(fl.Body))
			return false
		}
		f.writeError(w, status, fl.Code, fl.Message)
		return false
	}
	return true
}

// messages are the texts of the errors the fake gives on its own.
var messages = map[string]string{
	"FileNotFound":                  "File not found.",
	"LibraryNotFound":               "Library not found.",
	"SpaceNotFound":                 "Space not found.",
	"WrongLibraryIdOrSecret":        "Wrong library id or secret.",
	"InvalidAccessToken":            "Invalid access token.",
	"AccessTokenNotMatchSpace":      "Access token does not match the space.",
	"NoPermission":                  "No permission.",
	"EmptyAccessToken":              "Empty access token.",
	"EmptyLibraryIdOrSecret":        "Empty library id or secret.",
	"EmptyLibraryId":                "Empty library id.",
	"EmptyLibrarySecret":            "Empty library secret.",
	"NotMultiSpaceLibrary":          "Not a multi-space library.",
	"EmptyPath":                     "Empty path.",
	"DirectoryNotFound":             "Directory not found.",
	"RateLimitExceeded":             "Rate limit exceeded.",
	"ServerOverloaded":              "Server overloaded.",
	"MethodNotAllowed":              "Method not allowed.",
	"TooManyItems":                  "Too many items in one batch (at most 1000).",
	"NoItemsProvided":               "No items provided.",
	"InvalidParameter":              "Invalid parameter.",
	"TaskNotFound":                  "Task not found.",
	"RecycledItemNotFound":          "Recycled item not found.",
	"SameNameDirectoryOrFileExists": "A directory or file with the same name exists.",
}

// errorBody is SMH's error document, field for field as in the delete-file doc's example.
type errorBody struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	Qualifier string `json:"qualifier"`
	Revision  string `json:"revision"`
}

func (f *Fake) writeError(w http.ResponseWriter, status int, code, message string) {
	if message == "" {
		message = messages[code]
	}
	if message == "" {
		message = http.StatusText(status)
	}
	id := f.requestID()
	w.Header().Set("X-Request-Id", id)
	writeJSONBody(w, status, errorBody{Status: status, Code: code, Message: message, RequestID: id})
}

func (f *Fake) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("X-Request-Id", f.requestID())
	writeJSONBody(w, status, v)
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// requestID returns a fresh 32-hex-digit id, the shape of SMH's X-Request-Id.
func (f *Fake) requestID() string {
	return fmt.Sprintf("%016x%016x", f.reqPrefix, f.reqSeq.Add(1))
}
