package smhtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

const secret = "s3cret-library-key"

type fixture struct {
	fake *smhtest.Fake
	srv  *httptest.Server
	clk  *testclock.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := smhtest.New(smhtest.Options{
		Libraries: map[string]smhtest.Library{
			"recycle": {Secret: secret, RecycleBin: true},
			"plain":   {Secret: secret},
			"multi":   {Secret: secret, RecycleBin: true, Spaces: []string{"sa", "sb"}},
		},
		TokenTTL: 10 * time.Minute,
		Now:      clk.Now,
	})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &fixture{fake: f, srv: srv, clk: clk}
}

// answer is a decoded response.
type answer struct {
	Status    int
	Header    http.Header
	Raw       string
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	Token     string `json:"accessToken"`
	ExpiresIn int64  `json:"expiresIn"`
	Recycled  int64  `json:"recycledItemId"`
}

func (fx *fixture) do(t *testing.T, method, pathAndQuery string) answer {
	t.Helper()
	req, err := http.NewRequest(method, fx.srv.URL+pathAndQuery, nil)
	require.NoError(t, err)
	resp, err := fx.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	if len(b) > 0 && b[0] == '{' {
		require.NoError(t, json.Unmarshal(b, &a))
	}
	assert.NotEmpty(t, resp.Header.Get("X-Request-Id"), "every SMH answer carries X-Request-Id")
	return a
}

func (fx *fixture) token(t *testing.T, query string) string {
	t.Helper()
	a := fx.do(t, http.MethodGet, "/api/v1/token?"+query)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	return a.Token
}

func tokenQuery(lib, space, grant string) string {
	q := url.Values{"library_id": {lib}, "library_secret": {secret}}
	if space != "" {
		q.Set("space_id", space)
	}
	if grant != "" {
		q.Set("grant", grant)
	}
	return q.Encode()
}

func del(lib, space, escapedPath, token, permanent string) string {
	q := url.Values{"access_token": {token}}
	if permanent != "" {
		q.Set("permanent", permanent)
	}
	return "/api/v1/file/" + lib + "/" + space + "/" + escapedPath + "?" + q.Encode()
}

func TestTokenAPI(t *testing.T) {
	fx := newFixture(t)
	cases := []struct {
		name   string
		query  string
		status int
		code   string
	}{
		{"nothing", "", 400, "EmptyLibraryIdOrSecret"},
		{"no library", "library_secret=x", 400, "EmptyLibraryId"},
		{"no secret", "library_id=recycle", 400, "EmptyLibrarySecret"},
		{"unknown library", "library_id=nope&library_secret=" + secret, 404, "LibraryNotFound"},
		{"wrong secret", "library_id=recycle&library_secret=wrong", 404, "WrongLibraryIdOrSecret"},
		{"space on single-tenant", tokenQuery("recycle", "sa", ""), 400, "NotMultiSpaceLibrary"},
		{"unknown space", tokenQuery("multi", "sa,zz", ""), 404, "SpaceNotFound"},
		{"dash on single-tenant", tokenQuery("recycle", "-", "delete_file"), 200, ""},
		{"several spaces", tokenQuery("multi", "sa,sb", "delete_file"), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := fx.do(t, http.MethodGet, "/api/v1/token?"+tc.query)
			assert.Equal(t, tc.status, a.Status, a.Raw)
			assert.Equal(t, tc.code, a.Code)
			if tc.status == 200 {
				assert.Contains(t, a.Token, smhtest.TokenPrefix)
				assert.Equal(t, int64(600), a.ExpiresIn, "Options.TokenTTL without a period")
			} else {
				assert.NotEmpty(t, a.RequestID)
				assert.NotContains(t, a.Raw, secret)
			}
		})
	}
	assert.Equal(t, len(cases), fx.fake.TokenCalls())

	for period, want := range map[string]int64{"10": 300, "1800": 1800, "abc": 86400, "-5": 86400, "999999999999": 315360000} {
		a := fx.do(t, http.MethodPost, "/api/v1/token?"+tokenQuery("recycle", "", "")+"&period="+period)
		require.Equal(t, 200, a.Status)
		assert.Equal(t, want, a.ExpiresIn, "period=%s", period)
	}
}

func TestDeleteAuthorisation(t *testing.T) {
	fx := newFixture(t)
	add := func(lib, space, path string) providers.Target {
		tg := providers.Target{Provider: providers.SMH, LibraryID: lib, SpaceID: space, Path: path}
		fx.fake.Add(tg)
		return tg
	}
	recycleDel := fx.token(t, tokenQuery("recycle", "", "delete_file"))
	recycleBoth := fx.token(t, tokenQuery("recycle", "", "delete_file,delete_file_permanent"))
	readOnly := fx.token(t, tokenQuery("recycle", "", ""))
	plainDel := fx.token(t, tokenQuery("plain", "", "delete_file"))
	spaceA := fx.token(t, tokenQuery("multi", "sa", "delete_file"))
	multiNoSpace := fx.token(t, tokenQuery("multi", "", "delete_file"))
	multiAdmin := fx.token(t, tokenQuery("multi", "", "admin"))

	cases := []struct {
		name           string
		tg             providers.Target
		token, perm    string
		status         int
		code           string
		absent, recycl bool // absent: not in the inventory afterwards
	}{
		{"no token", add("recycle", "-", "a"), "", "", 400, "EmptyAccessToken", false, false},
		{"unknown token", add("recycle", "-", "b"), "smhtok-forged", "", 403, "InvalidAccessToken", false, false},
		{"other library's token", add("recycle", "-", "c"), plainDel, "", 403, "InvalidAccessToken", false, false},
		{"unknown library", add("nolib", "-", "d"), recycleDel, "", 404, "LibraryNotFound", false, false},
		{"unknown space", add("multi", "zz", "e"), spaceA, "", 404, "SpaceNotFound", false, false},
		{"other space's token", add("multi", "sb", "f"), spaceA, "", 403, "AccessTokenNotMatchSpace", false, false},
		{"multi token without space", add("multi", "sa", "g"), multiNoSpace, "", 403, "AccessTokenNotMatchSpace", false, false},
		{"read-only token", add("recycle", "-", "h"), readOnly, "", 403, "NoPermission", false, false},
		{"permanent needs its grant", add("recycle", "-", "i"), recycleDel, "1", 403, "NoPermission", false, false},
		{"bad permanent", add("recycle", "-", "j"), recycleDel, "yes", 400, "InvalidParameter", false, false},
		{"recycle", add("recycle", "-", "k"), recycleDel, "0", 200, "", true, true},
		{"recycle by default", add("recycle", "-", "l"), recycleDel, "", 200, "", true, true},
		{"permanent", add("recycle", "-", "m"), recycleBoth, "1", 204, "", true, false},
		{"no recycle bin, permanent=1 needs only delete_file", add("plain", "-", "n"), plainDel, "1", 204, "", true, false},
		{"no recycle bin", add("plain", "-", "o"), plainDel, "0", 204, "", true, false},
		{"space token", add("multi", "sa", "p"), spaceA, "", 200, "", true, true},
		{"admin reaches every space", add("multi", "sb", "q"), multiAdmin, "1", 204, "", true, false},
		{"missing file", providers.Target{Provider: providers.SMH, LibraryID: "recycle", Path: "never"}, recycleDel, "", 404, "FileNotFound", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			space := tc.tg.SpaceID
			if space == "" {
				space = "-"
			}
			a := fx.do(t, http.MethodDelete, del(tc.tg.LibraryID, space, providers.EscapePath(tc.tg.Path), tc.token, tc.perm))
			assert.Equal(t, tc.status, a.Status, a.Raw)
			assert.Equal(t, tc.code, a.Code)
			assert.Equal(t, tc.absent, !fx.fake.Exists(tc.tg))
			assert.Equal(t, tc.recycl, a.Recycled > 0)
			assert.Equal(t, 1, fx.fake.Calls(tc.tg))
		})
	}
	items := fx.fake.Recycled("recycle")
	require.Len(t, items, 2)
	assert.Less(t, items[0].ID, items[1].ID, "recycle ids increase")
	assert.Equal(t, "k", items[0].Path)
}

func TestFileNotFoundBodyMatchesTheDocs(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("recycle", "", "delete_file"))
	a := fx.do(t, http.MethodDelete, del("recycle", "-", "path/to/non_existent_file.txt", tok, ""))
	require.Equal(t, 404, a.Status)
	assert.Equal(t, "application/json; charset=utf-8", a.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.Raw), &body))
	assert.Equal(t, map[string]any{"status": 404.0, "code": "FileNotFound", "message": "File not found.",
		"requestId": a.Header.Get("X-Request-Id"), "qualifier": "", "revision": ""}, body)
}

func TestTokenExpiry(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("recycle", "", "delete_file")) // 10 min, extended on each use
	use := func(path string) answer {
		fx.fake.Add(providers.Target{Provider: providers.SMH, LibraryID: "recycle", Path: path})
		return fx.do(t, http.MethodDelete, del("recycle", "-", path, tok, ""))
	}
	fx.clk.Advance(9 * time.Minute)
	assert.Equal(t, 200, use("a").Status)
	fx.clk.Advance(9 * time.Minute) // 18 min after issue, 9 after last use
	assert.Equal(t, 200, use("b").Status, "each use extends the token by its period")
	fx.clk.Advance(10 * time.Minute)
	assert.Equal(t, "InvalidAccessToken", use("c").Code, "unused for a whole period")

	tok = fx.token(t, tokenQuery("recycle", "", "delete_file"))
	fx.fake.ExpireTokens()
	assert.Equal(t, "InvalidAccessToken", use("d").Code)
}

func TestPathDecoding(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("recycle", "", "delete_file"))
	tg := providers.Target{Provider: providers.SMH, LibraryID: "recycle", Path: "dir/a?b#c%d.txt"}
	fx.fake.Add(tg)
	a := fx.do(t, http.MethodDelete, del("recycle", "-", "dir/a%3Fb%23c%25d.txt", tok, ""))
	assert.Equal(t, 200, a.Status, a.Raw)
	assert.False(t, fx.fake.Exists(tg))
	assert.Equal(t, 1, fx.fake.Calls(tg))

	for raw, code := range map[string]string{
		"/api/v1/file/recycle/-/":       "EmptyPath",
		"/api/v1/file/recycle/-":        "EmptyPath",
		"/api/v1/file/recycle/-/a%2Fb":  "InvalidPath",
		"/api/v1/file/recycle/-/a//b":   "InvalidPath",
		"/api/v1/file/recycle/-/a/../b": "InvalidPath",
	} {
		a := fx.do(t, http.MethodDelete, raw+"?access_token="+tok)
		assert.Equal(t, 400, a.Status, raw)
		assert.Equal(t, code, a.Code, raw)
	}
	assert.Equal(t, 404, fx.do(t, http.MethodGet, "/api/v2/other").Status)
}

func TestFaultAnswers(t *testing.T) {
	fx := newFixture(t)
	tok := fx.token(t, tokenQuery("recycle", "", "delete_file"))
	tg := providers.Target{Provider: providers.SMH, LibraryID: "recycle", Path: "f"}
	fx.fake.Add(tg)

	fx.fake.Faults().SetThrottle(1)
	fx.fake.Faults().FailNext(1, faults.Fault{}) // queued faults come after the throttle
	first := fx.do(t, http.MethodDelete, del("recycle", "-", "f", tok, ""))
	assert.Equal(t, 500, first.Status, "the first call passes the throttle and meets the queued fault")
	a := fx.do(t, http.MethodDelete, del("recycle", "-", "f", tok, ""))
	assert.Equal(t, 429, a.Status)
	assert.Equal(t, "RateLimitExceeded", a.Code)
	assert.Equal(t, "1", a.Header.Get("Retry-After"))
	fx.fake.Faults().Reset()

	fx.fake.Faults().SetDown(true)
	a = fx.do(t, http.MethodDelete, del("recycle", "-", "f", tok, ""))
	assert.Equal(t, 503, a.Status)
	assert.Equal(t, "ServerOverloaded", a.Code)
	assert.Equal(t, 200, fx.do(t, http.MethodGet, "/api/v1/token?"+tokenQuery("recycle", "", "")).Status,
		"the token API has its own injector")
	fx.fake.Faults().Reset()

	fx.fake.Faults().FailNext(1, faults.Fault{Status: 502, Body: "<html>bad gateway</html>"})
	a = fx.do(t, http.MethodDelete, del("recycle", "-", "f", tok, ""))
	assert.Equal(t, 502, a.Status)
	assert.Equal(t, "<html>bad gateway</html>", a.Raw)
	assert.Contains(t, a.Header.Get("Content-Type"), "text/html")

	assert.True(t, fx.fake.Exists(tg), "faults leave the inventory alone")
	assert.Equal(t, 4, fx.fake.Calls(tg))
	assert.Equal(t, 4, fx.fake.TotalCalls())
}

func TestInventory(t *testing.T) {
	f := smhtest.New(smhtest.Options{})
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	f.AddAt(providers.Target{Provider: providers.SMH, Path: "b/old.mp4"}, old)
	f.Add(providers.Target{Provider: providers.SMH, LibraryID: smhtest.DefaultLibraryID, SpaceID: "-", Path: "a/new.mp4"})
	files := f.Files(smhtest.DefaultLibraryID, "-")
	require.Len(t, files, 2)
	assert.Equal(t, "a/new.mp4", files[0].Path)
	assert.Equal(t, smhtest.File{Path: "b/old.mp4", ModTime: old}, files[1])
	assert.Equal(t, 2, f.Len())
	assert.Zero(t, f.Deleted())
}
