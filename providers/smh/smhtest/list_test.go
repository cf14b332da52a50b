package smhtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// listing is a decoded listing answer.
type listing struct {
	Path        []string `json:"path"`
	FileCount   int      `json:"fileCount"`
	SubDirCount int      `json:"subDirCount"`
	TotalNum    int      `json:"totalNum"`
	NextMarker  string   `json:"nextMarker"`
	Contents    []struct {
		Name             string `json:"name"`
		Type             string `json:"type"`
		CreationTime     string `json:"creationTime"`
		ModificationTime string `json:"modificationTime"`
	} `json:"contents"`
}

func (l listing) names() []string {
	out := make([]string, len(l.Contents))
	for i, c := range l.Contents {
		out[i] = c.Type + ":" + c.Name
	}
	return out
}

func (fx *fixture) list(t *testing.T, lib, space, escapedDir string, q url.Values) (answer, listing) {
	t.Helper()
	a := fx.do(t, http.MethodGet, "/api/v1/directory/"+lib+"/"+space+"/"+escapedDir+"?"+q.Encode())
	var l listing
	if a.Status == http.StatusOK {
		require.NoError(t, json.Unmarshal([]byte(a.Raw), &l), a.Raw)
	}
	return a, l
}

func (fx *fixture) addFiles(lib, space string, modified time.Time, paths ...string) {
	for _, p := range paths {
		fx.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: lib, SpaceID: space, Path: p}, modified)
	}
}

func TestListAnswer(t *testing.T) {
	fx := newFixture(t)
	old := time.Date(2024, 5, 6, 7, 8, 9, 120e6, time.UTC)
	fx.addFiles("plain", "-", old, "v/b.mp4", "v/a.mp4", "v/sub2/x.mp4", "v/sub1/y/z.mp4", "top.mp4")
	tok := fx.token(t, tokenQuery("plain", "", "")) // no grant: read-only

	a, l := fx.list(t, "plain", "-", "v", url.Values{"access_token": {tok}})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{"v"}, l.Path)
	assert.Equal(t, []string{"dir:sub1", "dir:sub2", "file:a.mp4", "file:b.mp4"}, l.names(), "directories first, then files, by name")
	assert.Equal(t, 2, l.FileCount)
	assert.Equal(t, 2, l.SubDirCount)
	assert.Equal(t, 4, l.TotalNum)
	assert.Empty(t, l.NextMarker, "one page holds it all")
	assert.Equal(t, "2024-05-06T07:08:09.120Z", l.Contents[2].ModificationTime)
	assert.Equal(t, "2024-05-06T07:08:09.120Z", l.Contents[2].CreationTime)

	for _, root := range []string{"/api/v1/directory/plain/-/", "/api/v1/directory/plain/-"} {
		a = fx.do(t, http.MethodGet, root+"?access_token="+url.QueryEscape(tok))
		require.Equal(t, http.StatusOK, a.Status, a.Raw)
		require.NoError(t, json.Unmarshal([]byte(a.Raw), &l))
		assert.Equal(t, []string{}, l.Path, root)
		assert.Equal(t, []string{"dir:v", "file:top.mp4"}, l.names(), root)
	}

	_, l = fx.list(t, "plain", "-", "v", url.Values{"access_token": {tok}, "filter": {"onlyFile"}, "order_by_type": {"desc"}})
	assert.Equal(t, []string{"file:b.mp4", "file:a.mp4"}, l.names())
	_, l = fx.list(t, "plain", "-", "v", url.Values{"access_token": {tok}, "filter": {"onlyDir"}, "order_by": {"name"}})
	assert.Equal(t, []string{"dir:sub1", "dir:sub2"}, l.names())

	// An empty space's root exists; directories outlive their last file.
	_, l = fx.list(t, "recycle", "-", "", url.Values{"access_token": {fx.token(t, tokenQuery("recycle", "", ""))}})
	assert.Empty(t, l.Contents)
	del := fx.token(t, tokenQuery("plain", "", "delete_file"))
	require.Equal(t, http.StatusNoContent, fx.do(t, http.MethodDelete, "/api/v1/file/plain/-/v/sub2/x.mp4?access_token="+url.QueryEscape(del)).Status)
	a, l = fx.list(t, "plain", "-", "v/sub2", url.Values{"access_token": {tok}})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Empty(t, l.Contents)
	assert.Zero(t, l.TotalNum)
}

func TestListMarkerPaging(t *testing.T) {
	fx := newFixture(t)
	var want []string
	for i := range 5 {
		fx.addFiles("plain", "-", fx.clk.Now(), fmt.Sprintf("d/dir%d/f.mp4", i))
		want = append(want, fmt.Sprintf("dir:dir%d", i))
	}
	for i := range 17 {
		fx.addFiles("plain", "-", fx.clk.Now(), fmt.Sprintf("d/f%02d.mp4", i))
		want = append(want, fmt.Sprintf("file:f%02d.mp4", i))
	}
	tok := fx.token(t, tokenQuery("plain", "", "delete_file"))

	walk := func(t *testing.T, extra url.Values, between func(page listing)) []string {
		var got []string
		marker := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 50, "paging does not end")
			q := url.Values{"access_token": {tok}, "limit": {"3"}}
			for k, v := range extra {
				q[k] = v
			}
			if marker != "" {
				q.Set("marker", marker)
			}
			a, l := fx.list(t, "plain", "-", "d", q)
			require.Equal(t, http.StatusOK, a.Status, a.Raw)
			require.LessOrEqual(t, len(l.Contents), 3)
			got = append(got, l.names()...)
			if between != nil {
				between(l)
			}
			if l.NextMarker == "" {
				return got
			}
			raw, err := base64.StdEncoding.DecodeString(l.NextMarker)
			require.NoError(t, err)
			last := l.Contents[len(l.Contents)-1]
			assert.JSONEq(t, fmt.Sprintf(`{"type":%q,"name":%q}`, last.Type, last.Name), string(raw))
			marker = l.NextMarker
		}
	}
	assert.Equal(t, want, walk(t, nil, nil))

	reversed := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[len(s)-1-i] = v
		}
		return out
	}
	assert.Equal(t, append(reversed(want[:5]), reversed(want[5:])...), walk(t, url.Values{"order_by_type": {"desc"}}, nil))

	// Deleting every file of a page before asking for the next skips nothing and repeats nothing.
	deleted := 0
	got := walk(t, url.Values{"filter": {"onlyFile"}}, func(page listing) {
		for _, c := range page.Contents {
			a := fx.do(t, http.MethodDelete, "/api/v1/file/plain/-/d/"+c.Name+"?access_token="+url.QueryEscape(tok))
			require.Equal(t, http.StatusNoContent, a.Status, a.Raw)
			deleted++
		}
	})
	assert.Equal(t, want[5:], got)
	assert.Equal(t, 17, deleted)
	_, l := fx.list(t, "plain", "-", "d", url.Values{"access_token": {tok}})
	assert.Equal(t, want[:5], l.names(), "only the directories are left")
}

func TestListPagePaging(t *testing.T) {
	fx := newFixture(t)
	for i := range 45 {
		fx.addFiles("plain", "-", fx.clk.Now(), fmt.Sprintf("p/%02d.mp4", i))
	}
	tok := fx.token(t, tokenQuery("plain", "", ""))
	_, l := fx.list(t, "plain", "-", "p", url.Values{"access_token": {tok}, "page": {"1"}})
	assert.Len(t, l.Contents, 20, "page_size defaults to 20")
	assert.Empty(t, l.NextMarker, "page paging has no marker")
	assert.Equal(t, 45, l.TotalNum)
	_, l = fx.list(t, "plain", "-", "p", url.Values{"access_token": {tok}, "page": {"3"}, "page_size": {"20"}})
	assert.Equal(t, []string{"file:40.mp4", "file:41.mp4", "file:42.mp4", "file:43.mp4", "file:44.mp4"}, l.names())
	_, l = fx.list(t, "plain", "-", "p", url.Values{"access_token": {tok}, "page": {"9"}})
	assert.Empty(t, l.Contents)
}

func TestListErrors(t *testing.T) {
	fx := newFixture(t)
	fx.addFiles("multi", "sa", fx.clk.Now(), "dir/a.mp4")
	fx.addFiles("plain", "-", fx.clk.Now(), "dir/a.mp4")
	sa := fx.token(t, tokenQuery("multi", "sa", ""))
	plain := fx.token(t, tokenQuery("plain", "", ""))
	cases := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{"no token", "plain/-/dir?limit=5", 400, "EmptyAccessToken"},
		{"unknown library", "nope/-/dir?access_token=" + url.QueryEscape(plain), 404, "LibraryNotFound"},
		{"unknown token", "plain/-/dir?access_token=smhtok-nope", 403, "InvalidAccessToken"},
		{"token of another library", "plain/-/dir?access_token=" + url.QueryEscape(sa), 403, "InvalidAccessToken"},
		{"unknown space", "multi/zz/dir?access_token=" + url.QueryEscape(sa), 404, "SpaceNotFound"},
		{"other space", "multi/sb/dir?access_token=" + url.QueryEscape(sa), 403, "AccessTokenNotMatchSpace"},
		{"no such directory", "plain/-/nope?access_token=" + url.QueryEscape(plain), 404, "DirectoryNotFound"},
		{"a file is no directory", "plain/-/dir/a.mp4?access_token=" + url.QueryEscape(plain), 404, "DirectoryNotFound"},
		{"both pagings", "plain/-/dir?limit=2&page=1&access_token=" + url.QueryEscape(plain), 400, "InvalidParameter"},
		{"bad marker", "plain/-/dir?marker=zzz&access_token=" + url.QueryEscape(plain), 400, "InvalidParameter"},
		{"bad limit", "plain/-/dir?limit=0&access_token=" + url.QueryEscape(plain), 400, "InvalidParameter"},
		{"unimplemented order", "plain/-/dir?order_by=size&access_token=" + url.QueryEscape(plain), 400, "InvalidParameter"},
		{"bad filter", "plain/-/dir?filter=all&access_token=" + url.QueryEscape(plain), 400, "InvalidParameter"},
		{"empty segment", "plain/-/dir//x?access_token=" + url.QueryEscape(plain), 400, "InvalidPath"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := fx.do(t, http.MethodGet, "/api/v1/directory/"+tc.path)
			assert.Equal(t, tc.status, a.Status, a.Raw)
			assert.Equal(t, tc.code, a.Code, a.Raw)
		})
	}
	a := fx.do(t, http.MethodPut, "/api/v1/directory/plain/-/dir?access_token="+url.QueryEscape(plain))
	assert.Equal(t, http.StatusMethodNotAllowed, a.Status)

	a, l := fx.list(t, "multi", "sa", "dir", url.Values{"access_token": {sa}})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{"file:a.mp4"}, l.names())
	assert.Equal(t, len(cases)+2, fx.fake.ListCalls(), "every listing request is counted")
}

func TestListTokenExpiryAndFaults(t *testing.T) {
	fx := newFixture(t)
	fx.addFiles("plain", "-", fx.clk.Now(), "a.mp4")
	tok := fx.token(t, tokenQuery("plain", "", ""))
	fx.clk.Advance(9 * time.Minute)
	a, _ := fx.list(t, "plain", "-", "", url.Values{"access_token": {tok}})
	require.Equal(t, http.StatusOK, a.Status, "a use extends the token")
	fx.clk.Advance(9 * time.Minute)
	a, _ = fx.list(t, "plain", "-", "", url.Values{"access_token": {tok}})
	require.Equal(t, http.StatusOK, a.Status)
	fx.clk.Advance(11 * time.Minute)
	a, _ = fx.list(t, "plain", "-", "", url.Values{"access_token": {tok}})
	assert.Equal(t, http.StatusForbidden, a.Status)
	assert.Equal(t, "InvalidAccessToken", a.Code)

	tok = fx.token(t, tokenQuery("plain", "", ""))
	fx.fake.ListFaults().SetThrottle(1e-9) // the fixture's clock stands still: no token ever refills
	for range 3 {
		a, _ = fx.list(t, "plain", "-", "", url.Values{"access_token": {tok}})
		assert.Equal(t, http.StatusTooManyRequests, a.Status)
		assert.Equal(t, "RateLimitExceeded", a.Code)
		assert.Equal(t, "1", a.Header.Get("Retry-After"))
	}
	// Deletes have their own injector.
	del := fx.token(t, tokenQuery("plain", "", "delete_file"))
	assert.Equal(t, http.StatusNoContent, fx.do(t, http.MethodDelete, "/api/v1/file/plain/-/a.mp4?access_token="+url.QueryEscape(del)).Status)
}

func TestListLargeDirectory(t *testing.T) {
	fake := smhtest.New(smhtest.Options{})
	const n = 20000
	now := time.Now()
	for i := range n {
		fake.AddAt(providers.Target{Provider: providers.SMH, Path: fmt.Sprintf("big/%05d.mp4", i)}, now)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fx := &fixture{fake: fake, srv: srv}
	tok := fake.IssueToken(smhtest.DefaultLibraryID, nil)

	seen := map[string]bool{}
	marker := ""
	for {
		q := url.Values{"access_token": {tok}, "limit": {"1000"}}
		if marker != "" {
			q.Set("marker", marker)
		}
		a, l := fx.list(t, smhtest.DefaultLibraryID, "-", "big", q)
		require.Equal(t, http.StatusOK, a.Status, a.Raw)
		for _, c := range l.Contents {
			require.False(t, seen[c.Name], "repeated %s", c.Name)
			seen[c.Name] = true
		}
		if l.NextMarker == "" {
			break
		}
		marker = l.NextMarker
	}
	assert.Len(t, seen, n)
	assert.Equal(t, n/1000, fake.ListCalls())
}
