package smh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// cutoff is the ModifiedBefore of the listing tests; old files are a day older, new ones a second newer.
var cutoff = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

// tree is a library space with old and new files at several depths, some names needing escapes.
type tree struct {
	old, fresh []string // paths
}

func plantTree(e *env, lib, space string) tree {
	var tr tree
	add := func(p string, old bool) {
		modified := cutoff.Add(time.Second)
		if old {
			modified = cutoff.Add(-24 * time.Hour)
			tr.old = append(tr.old, p)
		} else {
			tr.fresh = append(tr.fresh, p)
		}
		e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: lib, SpaceID: space, Path: p}, modified)
	}
	for i := range 7 {
		add(fmt.Sprintf("v/top-%d.mp4", i), i%3 != 0)
		add(fmt.Sprintf("v/2024/clip %d?#%%.mp4", i), i%2 == 0)
		add(fmt.Sprintf("v/2024/06/deep-%d.mp4", i), true)
		add(fmt.Sprintf("v/中文/视频 %d.mp4", i), i != 3)
		add(fmt.Sprintf("other/o-%d.mp4", i), true)
		add(fmt.Sprintf("root-%d.mp4", i), i%2 == 1)
	}
	add("v/empty-later/only.mp4", false)
	// Exactly at the cutoff is not before it.
	e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: lib, SpaceID: space, Path: "v/at-cutoff.mp4"}, cutoff)
	tr.fresh = append(tr.fresh, "v/at-cutoff.mp4")
	return tr
}

// under filters paths to those below dir ("" = all), directly in it unless recursive.
func under(paths []string, dir string, recursive bool) []string {
	var out []string
	for _, p := range paths {
		rest, ok := p, true
		if dir != "" {
			rest, ok = strings.CutPrefix(p, dir+"/")
		}
		if ok && (recursive || !strings.Contains(rest, "/")) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// collect runs a List and returns the paths fn saw, in order, failing on a repeat.
func collect(t *testing.T, c *smh.Client, q smh.ListQuery) []string {
	t.Helper()
	var got []string
	seen := map[string]bool{}
	err := c.List(context.Background(), q, func(tg providers.Target, modified time.Time) error {
		require.Equal(t, providers.SMH, tg.Provider)
		require.NoError(t, tg.Validate())
		require.True(t, modified.Before(q.ModifiedBefore), "%s modified %v", tg.Path, modified)
		require.False(t, seen[tg.Path], "%s handed to fn twice", tg.Path)
		seen[tg.Path] = true
		got = append(got, tg.Path)
		return nil
	})
	require.NoError(t, err)
	return got
}

func TestListFindsEveryOldFileOnce(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	tr := plantTree(e, libPlain, "-")
	c := e.client(t, smh.Config{LibraryID: libPlain})

	cases := []struct {
		prefix    string
		recursive bool
	}{
		{"v", true}, {"v", false}, {"", true}, {"", false}, {"v/2024", true}, {"v/中文", false}, {"v/empty-later", true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q recursive=%v", tc.prefix, tc.recursive), func(t *testing.T) {
			before := e.fake.ListCalls()
			got := collect(t, c, smh.ListQuery{Prefix: tc.prefix, Recursive: tc.recursive, ModifiedBefore: cutoff, PageSize: 2})
			want := under(tr.old, tc.prefix, tc.recursive)
			assert.ElementsMatch(t, want, got)
			if len(want) > 2 {
				assert.Greater(t, e.fake.ListCalls()-before, len(want)/2-1, "pages of two entries")
			}
		})
	}
	assert.Equal(t, 1, e.fake.TokenCalls(), "one token serves every listing")
	assert.Zero(t, e.fake.Deleted())
}

func TestListVisitsInOrderAndStreams(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	for _, p := range []string{"d/b.mp4", "d/a.mp4", "d/z/1.mp4", "d/c/2.mp4", "d/c/x/3.mp4"} {
		e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: libPlain, Path: p}, cutoff.Add(-time.Hour))
	}
	c := e.client(t, smh.Config{LibraryID: libPlain})
	var calls []int // listing requests made when fn saw each file
	var got []string
	err := c.List(context.Background(), smh.ListQuery{Prefix: "d", Recursive: true, ModifiedBefore: cutoff, PageSize: 1},
		func(tg providers.Target, _ time.Time) error {
			got = append(got, tg.Path)
			calls = append(calls, e.fake.ListCalls())
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, []string{"d/a.mp4", "d/b.mp4", "d/c/2.mp4", "d/c/x/3.mp4", "d/z/1.mp4"}, got,
		"a directory's files by name, then its subdirectories depth first")
	assert.True(t, slices.IsSorted(calls))
	assert.Less(t, calls[0], calls[len(calls)-1], "fn sees the first file before the last page is fetched")
}

// TestListWhileDeleting hands every file fn receives to deleters, synchronously (each page emptied
// before the next is asked for) and through concurrent workers, as the scheduler's queue does.
func TestListWhileDeleting(t *testing.T) {
	for _, mode := range []string{"synchronous", "concurrent"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, smhtest.Options{})
			var old, fresh []string
			for i := range 600 {
				p := fmt.Sprintf("mass/%d/%03d.mp4", i%4, i)
				modified := cutoff.Add(-time.Minute)
				if i%5 == 0 {
					modified = cutoff.Add(time.Minute)
					fresh = append(fresh, p)
				} else {
					old = append(old, p)
				}
				e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: libPlain, Path: p}, modified)
			}
			c := e.client(t, smh.Config{LibraryID: libPlain})
			ctx := context.Background()

			var mu sync.Mutex
			seen := map[string]int{}
			queue := make(chan providers.Target, 8)
			var wg sync.WaitGroup
			var deleteErrs atomic.Int64
			if mode == "concurrent" {
				for range 4 {
					wg.Go(func() {
						for tg := range queue {
							if _, err := c.Delete(ctx, tg); err != nil {
								deleteErrs.Add(1)
							}
						}
					})
				}
			}
			err := c.List(ctx, smh.ListQuery{Prefix: "mass", Recursive: true, ModifiedBefore: cutoff, PageSize: 7},
				func(tg providers.Target, _ time.Time) error {
					mu.Lock()
					seen[tg.Path]++
					mu.Unlock()
					if mode == "synchronous" {
						_, err := c.Delete(ctx, tg)
						return err
					}
					queue <- tg
					return nil
				})
			close(queue)
			wg.Wait()
			require.NoError(t, err)
			assert.Zero(t, deleteErrs.Load())
			assert.Len(t, seen, len(old))
			for _, p := range old {
				assert.Equal(t, 1, seen[p], p)
			}
			assert.Equal(t, len(old), e.fake.Deleted())
			var left []string
			for _, f := range e.fake.Files(libPlain, "-") {
				left = append(left, f.Path)
			}
			assert.ElementsMatch(t, fresh, left)
		})
	}
}

func TestListMultiTenantSpace(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	for _, sp := range []string{"space-a", "space-b"} {
		e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: libMulti, SpaceID: sp, Path: "x/" + sp + ".mp4"}, cutoff.Add(-time.Hour))
	}
	c := e.client(t, smh.Config{LibraryID: libMulti, SpaceID: "space-a"})
	var got []providers.Target
	err := c.List(context.Background(), smh.ListQuery{SpaceID: "space-b", Recursive: true, ModifiedBefore: cutoff},
		func(tg providers.Target, _ time.Time) error { got = append(got, tg); return nil })
	require.NoError(t, err)
	assert.Equal(t, []providers.Target{{Provider: providers.SMH, LibraryID: libMulti, SpaceID: "space-b", Path: "x/space-b.mp4"}}, got)
	res, err := c.Delete(context.Background(), got[0])
	require.NoError(t, err, "the target is ready for Delete")
	assert.True(t, res.Recycled)
}

func TestListMissingPrefixIsFatal(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	plantTree(e, libPlain, "-")
	c := e.client(t, smh.Config{LibraryID: libPlain})
	for _, prefix := range []string{"nope", "v/nope/deeper", "v/top-0.mp4"} {
		called := false
		err := c.List(context.Background(), smh.ListQuery{Prefix: prefix, Recursive: true, ModifiedBefore: cutoff},
			func(providers.Target, time.Time) error { called = true; return nil })
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, providers.Fatal, pe.Class, prefix)
		assert.Equal(t, "DirectoryNotFound", pe.Code)
		assert.Equal(t, http.StatusNotFound, pe.HTTPStatus)
		assert.Contains(t, pe.Message, fmt.Sprintf("%q", prefix))
		assert.Contains(t, pe.Message, "path prefix")
		assert.False(t, called)
	}
}

func TestListSkipsSubdirectoryDeletedMeanwhile(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	tr := plantTree(e, libPlain, "-")
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.EscapedPath(), "/api/v1/directory/smhplain/-/v/2024") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":"DirectoryNotFound","message":"Directory not found."}`)
			return true
		}
		return false
	})
	c := e.client(t, smh.Config{LibraryID: libPlain})
	got := collect(t, c, smh.ListQuery{Prefix: "v", Recursive: true, ModifiedBefore: cutoff})
	var want []string
	for _, p := range under(tr.old, "v", true) {
		if !strings.HasPrefix(p, "v/2024/") {
			want = append(want, p)
		}
	}
	assert.ElementsMatch(t, want, got)

	// A gateway's 404 without SMH's code is not "deleted meanwhile".
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.EscapedPath(), "/api/v1/directory/smhplain/-/v/2024") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "<html>404</html>")
			return true
		}
		return false
	})
	err := c.List(context.Background(), smh.ListQuery{Prefix: "v", Recursive: true, ModifiedBefore: cutoff},
		func(providers.Target, time.Time) error { return nil })
	assert.Equal(t, providers.Fatal, providers.ClassOf(err))
}

func TestListRenewsTokenMidListing(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	tr := plantTree(e, libPlain, "-")
	c := e.client(t, smh.Config{LibraryID: libPlain})
	n := 0
	var got []string
	err := c.List(context.Background(), smh.ListQuery{Prefix: "v", Recursive: true, ModifiedBefore: cutoff, PageSize: 3},
		func(tg providers.Target, _ time.Time) error {
			if n++; n == 2 {
				e.fake.ExpireTokens() // the next page meets 403 InvalidAccessToken
			}
			got = append(got, tg.Path)
			return nil
		})
	require.NoError(t, err)
	assert.ElementsMatch(t, under(tr.old, "v", true), got)
	assert.Equal(t, 2, e.fake.TokenCalls(), "renewed once")

	// A fixed token cannot be renewed: the listing stops with class auth.
	fixed := e.client(t, smh.Config{LibraryID: libPlain, AccessToken: e.fake.IssueToken(libPlain, nil)})
	n = 0
	err = fixed.List(context.Background(), smh.ListQuery{Prefix: "v", Recursive: true, ModifiedBefore: cutoff, PageSize: 3},
		func(providers.Target, time.Time) error {
			if n++; n == 2 {
				e.fake.ExpireTokens()
			}
			return nil
		})
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Auth, pe.Class)
	assert.Equal(t, "InvalidAccessToken", pe.Code)
}

func TestListThrottledAndFailing(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	plantTree(e, libPlain, "-")
	c := e.client(t, smh.Config{LibraryID: libPlain})
	list := func(fn func(providers.Target, time.Time) error) error {
		return c.List(context.Background(), smh.ListQuery{Prefix: "v", Recursive: true, ModifiedBefore: cutoff, PageSize: 4}, fn)
	}

	n := 0
	err := list(func(providers.Target, time.Time) error {
		if n++; n == 1 {
			e.fake.ListFaults().FailNext(1, faults.Fault{Status: http.StatusTooManyRequests, Code: "RateLimitExceeded"})
		}
		return nil
	})
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Throttled, pe.Class)
	assert.Equal(t, "RateLimitExceeded", pe.Code)
	assert.Equal(t, time.Second, pe.RetryAfter)
	assert.Less(t, n, 4, "stopped at the throttled page")

	e.fake.ListFaults().SetDown(true)
	err = list(func(providers.Target, time.Time) error { return nil })
	pe, ok = providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Retry, pe.Class)
	assert.Equal(t, "ServerOverloaded", pe.Code)
	e.fake.ListFaults().SetDown(false)

	for _, f := range []faults.Fault{
		{Status: 403, Code: "NoPermission"},
		{Status: 404, Code: "SpaceNotFound"},
		{Status: 502, ContentType: "text/html", Body: "<html>502 Bad Gateway</html>"},
		{Status: 200, ContentType: "text/html", Body: "<html>portal</html>"},
	} {
		e.fake.ListFaults().FailNext(1, f)
		err = list(func(providers.Target, time.Time) error { return nil })
		want := providers.Fatal
		if f.Status >= 500 || f.Status == 200 {
			want = providers.Retry
		}
		assert.Equal(t, want, providers.ClassOf(err), "%+v: %v", f, err)
	}

	stop := errors.New("enough")
	err = list(func(providers.Target, time.Time) error { return stop })
	assert.Same(t, stop, err, "fn's error comes back unchanged")
}

func TestListHonoursContext(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	plantTree(e, libPlain, "-")
	c := e.client(t, smh.Config{LibraryID: libPlain})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := c.List(ctx, smh.ListQuery{Recursive: true, ModifiedBefore: cutoff, PageSize: 5}, func(providers.Target, time.Time) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 3, n)
	assert.Equal(t, providers.Retry, providers.ClassOf(err))

	requests := e.requests.Load()
	err = c.List(ctx, smh.ListQuery{ModifiedBefore: cutoff}, func(providers.Target, time.Time) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, requests, e.requests.Load(), "nothing sent with an ended context")

	// A listing stuck in a slow answer returns when its context ends.
	e.fake.ListFaults().SetLatency(time.Hour, 0)
	arrived := make(chan struct{}, 1)
	e.setFront(func(http.ResponseWriter, *http.Request) bool {
		arrived <- struct{}{}
		return false // on to the fake, which holds the answer for an hour
	})
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.List(ctx, smh.ListQuery{ModifiedBefore: cutoff}, func(providers.Target, time.Time) error { return nil })
	}()
	recv(t, arrived, "the listing request")
	cancel()
	require.ErrorIs(t, recv(t, done, "List after cancel"), context.Canceled)
}

func TestListValidatesBeforeAnyRequest(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{LibraryID: libPlain})
	noDefault, err := smh.New(smh.Config{Endpoint: e.srv.URL, LibrarySecret: secret})
	require.NoError(t, err)
	perLibrary, err := smh.New(smh.Config{Endpoint: "http://127.0.0.1:1/" + smh.LibraryPlaceholder, LibrarySecret: secret})
	require.NoError(t, err)
	fn := func(providers.Target, time.Time) error { return nil }
	q := func(mod func(*smh.ListQuery)) smh.ListQuery {
		lq := smh.ListQuery{Prefix: "v", ModifiedBefore: cutoff}
		mod(&lq)
		return lq
	}
	cases := map[string]struct {
		c     *smh.Client
		q     smh.ListQuery
		fn    func(providers.Target, time.Time) error
		field string
	}{
		"leading slash":     {c, q(func(l *smh.ListQuery) { l.Prefix = "/v" }), fn, "prefix"},
		"trailing slash":    {c, q(func(l *smh.ListQuery) { l.Prefix = "v/" }), fn, "prefix"},
		"doubled slash":     {c, q(func(l *smh.ListQuery) { l.Prefix = "v//w" }), fn, "prefix"},
		"dot-dot":           {c, q(func(l *smh.ListQuery) { l.Prefix = "v/.." }), fn, "prefix"},
		"control":           {c, q(func(l *smh.ListQuery) { l.Prefix = "v\x00" }), fn, "prefix"},
		"no cutoff":         {c, q(func(l *smh.ListQuery) { l.ModifiedBefore = time.Time{} }), fn, "modified_before"},
		"page size":         {c, q(func(l *smh.ListQuery) { l.PageSize = smh.MaxListPageSize + 1 }), fn, "page_size"},
		"negative page":     {c, q(func(l *smh.ListQuery) { l.PageSize = -1 }), fn, "page_size"},
		"no fn":             {c, q(func(*smh.ListQuery) {}), nil, "fn"},
		"library slash":     {c, q(func(l *smh.ListQuery) { l.LibraryID = "a/b" }), fn, "library_id"},
		"space dot-dot":     {c, q(func(l *smh.ListQuery) { l.SpaceID = ".." }), fn, "space_id"},
		"no library":        {noDefault, q(func(*smh.ListQuery) {}), fn, "library_id"},
		"library not a DNS": {perLibrary, q(func(l *smh.ListQuery) { l.LibraryID = "a.b" }), fn, "library_id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.c.List(context.Background(), tc.q, tc.fn)
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "InvalidQuery", pe.Code)
			assert.Zero(t, pe.HTTPStatus)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	assert.Zero(t, e.requests.Load())
}

func TestListWireFormat(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	for _, p := range []string{"a?b/1.mp4", "a?b/2.mp4", "a?b/3.mp4", "a?b/sub/4.mp4"} {
		e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: libPlain, Path: p}, cutoff.Add(-time.Hour))
	}
	c := e.client(t, smh.Config{LibraryID: libPlain})
	got := collect(t, c, smh.ListQuery{Prefix: "a?b", ModifiedBefore: cutoff, PageSize: 2})
	assert.Equal(t, []string{"a?b/1.mp4", "a?b/2.mp4", "a?b/3.mp4"}, got)
	collect(t, c, smh.ListQuery{Recursive: true, ModifiedBefore: cutoff})

	var lists []*url.URL
	for _, u := range e.urls() {
		if strings.HasPrefix(u.Path, "/api/v1/directory/") {
			lists = append(lists, u)
		}
	}
	require.Len(t, lists, 2+3)
	first, second := lists[0].Query(), lists[1].Query()
	assert.Equal(t, "/api/v1/directory/smhplain/-/a%3Fb", lists[0].EscapedPath())
	assert.Equal(t, "2", first.Get("limit"))
	assert.Equal(t, "name", first.Get("order_by"))
	assert.Equal(t, "asc", first.Get("order_by_type"))
	assert.Equal(t, "onlyFile", first.Get("filter"), "a flat listing needs no directories")
	assert.False(t, first.Has("marker"))
	assert.True(t, strings.HasPrefix(first.Get("access_token"), smhtest.TokenPrefix))
	assert.NotEmpty(t, second.Get("marker"))
	assert.False(t, first.Has("user_id"))

	root := lists[2]
	assert.Equal(t, "/api/v1/directory/smhplain/-/", root.EscapedPath(), "the root is the empty DirPath")
	assert.Equal(t, fmt.Sprint(smh.DefaultListPageSize), root.Query().Get("limit"))
	assert.False(t, root.Query().Has("filter"), "a recursive listing needs the directories")
	assert.Equal(t, "/api/v1/directory/smhplain/-/a%3Fb/sub", lists[4].EscapedPath())
}

// listAnswers serves listing pages from a script: each request gets the next answer.
func listAnswers(t *testing.T, answers ...func(w http.ResponseWriter, r *http.Request)) (*smh.Client, *[]url.Values) {
	t.Helper()
	var mu sync.Mutex
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := len(queries)
		queries = append(queries, r.URL.Query())
		mu.Unlock()
		if i >= len(answers) {
			t.Errorf("unexpected request %d: %s", i, r.URL)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		answers[i](w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := smh.New(smh.Config{Endpoint: srv.URL, AccessToken: "fixed-token", LibraryID: "lib"})
	require.NoError(t, err)
	return c, &queries
}

func page(body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "list-req")
		_, _ = io.WriteString(w, body)
	}
}

func TestListAnswers(t *testing.T) {
	const old, fresh = "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00Z"
	entry := func(name, typ, modified string) string {
		return fmt.Sprintf(`{"name":%q,"type":%q,"creationTime":%q,"modificationTime":%q,"size":"10","eTag":"e"}`, name, typ, modified, modified)
	}
	t.Run("entry types", func(t *testing.T) {
		c, _ := listAnswers(t, page(`{"path":["m"],"fileCount":5,"subDirCount":1,"totalNum":6,"eTag":"x","contents":[`+
			strings.Join([]string{
				entry("album", "dir", old), entry("a.jpg", "image", old), entry("b.mp4", "video", old),
				entry("c.doc", "file", "2026-01-01T00:00:00Z"), entry("d.lnk", "symlink", old), entry("e.x", "hologram", old),
				entry("f.mp4", "video", fresh),
			}, ",")+`]}`))
		var got []string
		var times []time.Time
		err := c.List(context.Background(), smh.ListQuery{Prefix: "m", ModifiedBefore: cutoff},
			func(tg providers.Target, modified time.Time) error {
				got = append(got, tg.Path)
				times = append(times, modified)
				return nil
			})
		require.NoError(t, err)
		assert.Equal(t, []string{"m/a.jpg", "m/b.mp4", "m/c.doc"}, got, "files only; links, unknown types and new files skipped")
		assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), times[0])
	})
	t.Run("markers", func(t *testing.T) {
		c, queries := listAnswers(t,
			page(`{"nextMarker":42,"contents":[`+entry("1.mp4", "file", old)+`]}`),
			page(`{"nextMarker":"eyJ0eXBlIjoiZmlsZSJ9+/=","contents":[`+entry("2.mp4", "file", old)+`]}`),
			page(`{"nextMarker":-1,"contents":[`+entry("3.mp4", "file", old)+`]}`),
		)
		got := collect(t, c, smh.ListQuery{ModifiedBefore: cutoff})
		assert.Equal(t, []string{"1.mp4", "2.mp4", "3.mp4"}, got)
		assert.Equal(t, "42", (*queries)[1].Get("marker"), "integer markers are sent back as they came")
		assert.Equal(t, "eyJ0eXBlIjoiZmlsZSJ9+/=", (*queries)[2].Get("marker"), "escaped in the query")
	})
	t.Run("null marker and empty contents end it", func(t *testing.T) {
		c, _ := listAnswers(t, page(`{"nextMarker":null,"contents":null}`))
		assert.Empty(t, collect(t, c, smh.ListQuery{ModifiedBefore: cutoff}))
	})
	for name, body := range map[string]string{
		"not a listing":     `{"recycledItemId":3}`,
		"not JSON":          `<html>portal</html>`,
		"marker not moving": `{"nextMarker":"","contents":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			answers := []func(http.ResponseWriter, *http.Request){page(body)}
			if name == "marker not moving" {
				answers = []func(http.ResponseWriter, *http.Request){
					page(`{"nextMarker":"m1","contents":[]}`), page(`{"nextMarker":"m1","contents":[]}`)}
			}
			c, _ := listAnswers(t, answers...)
			called := false
			err := c.List(context.Background(), smh.ListQuery{ModifiedBefore: cutoff},
				func(providers.Target, time.Time) error { called = true; return nil })
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, providers.Retry, pe.Class)
			assert.Equal(t, "InvalidResponse", pe.Code)
			assert.False(t, called, "nothing unreadable reaches fn")
		})
	}
	// An entry List cannot use is skipped and reported; the rest of the listing goes on, so one odd
	// entry cannot stop a retention policy for good.
	t.Run("unusable entries are skipped and reported", func(t *testing.T) {
		rawEntry := func(nameJSON, typ, modified string) string {
			return fmt.Sprintf(`{"name":%s,"type":%q,"modificationTime":%q}`, nameJSON, typ, modified)
		}
		c, _ := listAnswers(t,
			page(`{"nextMarker":"n","contents":[`+strings.Join([]string{
				entry("a.mp4", "file", "yesterday"),
				`{"name":"b.mp4","type":"file"}`,
				entry("../../etc", "file", old),
				entry("", "dir", old),
				rawEntry(`"bell\u0007.mp4"`, "video", old),
				rawEntry(`"tab\tdir"`, "dir", old),
				entry("ok-1.mp4", "file", old),
				entry("..", "dir", old),
				rawEntry(`"`+strings.Repeat("长", 400)+`\u0000"`, "file", old),
			}, ",")+`]}`),
			page(`{"contents":[`+entry("ok-2.mp4", "file", old)+`]}`))
		var got []string
		type skip struct{ name, reason string }
		var skipped []skip
		err := c.List(context.Background(), smh.ListQuery{Prefix: "m", Recursive: true, ModifiedBefore: cutoff,
			Skipped: func(name string, reason error) { skipped = append(skipped, skip{name, reason.Error()}) }},
			func(tg providers.Target, _ time.Time) error { got = append(got, tg.Path); return nil })
		require.NoError(t, err)
		assert.Equal(t, []string{"m/ok-1.mp4", "m/ok-2.mp4"}, got, "the good entries, the next page too; no bad directory descended into")
		require.Len(t, skipped, 8)
		assert.Equal(t, skip{"m/a.mp4", `modificationTime "yesterday" is not ISO 8601`}, skipped[0])
		assert.Equal(t, skip{"m/b.mp4", `modificationTime "" is not ISO 8601`}, skipped[1])
		assert.Contains(t, skipped[2].reason, "containing '/'")
		assert.Contains(t, skipped[3].reason, "is required")
		assert.Contains(t, skipped[4].reason, "control characters")
		assert.Equal(t, "m/bell\a.mp4", skipped[4].name)
		assert.Contains(t, skipped[5].reason, "control characters")
		assert.Contains(t, skipped[6].reason, `".."`)
		last := skipped[7]
		assert.True(t, utf8.ValidString(last.name) && len(last.name) <= 96, "a server-sent name is cut: %d bytes", len(last.name))
		assert.Less(t, len(last.reason), 300)

		// Without a Skipped callback the same listing still goes on.
		c, _ = listAnswers(t, page(`{"contents":[`+entry("a.mp4", "file", "yesterday")+","+entry("ok.mp4", "file", old)+`]}`))
		assert.Equal(t, []string{"ok.mp4"}, collect(t, c, smh.ListQuery{ModifiedBefore: cutoff}))
	})
	t.Run("pages over the body cap are asked for again at half the size", func(t *testing.T) {
		huge := func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"contents":[`)
			pad := entry(strings.Repeat("x", 200), "file", old)
			for i := 0; i <= providers.MaxBodyBytes/len(pad); i++ {
				_, _ = io.WriteString(w, pad+",")
			}
			_, _ = io.WriteString(w, pad+`]}`)
		}
		c, queries := listAnswers(t, huge, huge,
			page(`{"nextMarker":"n","contents":[`+entry("1.mp4", "file", old)+`]}`),
			page(`{"contents":[`+entry("2.mp4", "file", old)+`]}`))
		got := collect(t, c, smh.ListQuery{ModifiedBefore: cutoff, PageSize: 400})
		assert.Equal(t, []string{"1.mp4", "2.mp4"}, got)
		var limits []string
		for _, q := range *queries {
			limits = append(limits, q.Get("limit"))
		}
		assert.Equal(t, []string{"400", "200", "100", "100"}, limits)
	})
}

func TestListNoSecretInErrors(t *testing.T) {
	fn := func(providers.Target, time.Time) error { return nil }
	q := smh.ListQuery{Prefix: "v", ModifiedBefore: cutoff}

	closedURL := closedEndpoint()
	for _, cfg := range []smh.Config{
		{Endpoint: closedURL, AccessToken: echoToken, LibraryID: "lib"},
		{Endpoint: closedURL, LibrarySecret: secret, LibraryID: "lib"},
	} {
		c, err := smh.New(cfg)
		require.NoError(t, err)
		err = c.List(context.Background(), q, fn)
		requireNoSecret(t, err)
		assert.Equal(t, providers.Retry, providers.ClassOf(err))
	}
	for _, body := range []string{
		fmt.Sprintf(`{"code":"DirectoryNotFound","message":"no dir for token %s","requestId":"%s"}`, echoToken, echoToken),
		fmt.Sprintf(`<html>GET /api/v1/directory/lib/-/v?access_token=%s</html>`, url.QueryEscape(echoToken)),
		fmt.Sprintf(`<Error><Code>X</Code><Message>%s</Message></Error>`, echoToken),
	} {
		c, err := smh.New(smh.Config{Endpoint: answering(t, http.StatusNotFound, body), AccessToken: echoToken, LibraryID: "lib"})
		require.NoError(t, err)
		requireNoSecret(t, c.List(context.Background(), q, fn))
	}
	// The real fake, with its tokens counted as secrets too.
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{LibraryID: libPlain})
	err := c.List(context.Background(), smh.ListQuery{Prefix: "nope", ModifiedBefore: cutoff}, fn)
	requireNoSecret(t, err)
	assert.NotContains(t, err.Error(), smhtest.TokenPrefix)
}

func TestListLargeTree(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	const n = 12000
	for i := range n {
		e.fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: libPlain, Path: fmt.Sprintf("big/%d/%05d.mp4", i%6, i)},
			cutoff.Add(time.Duration(i%2*2-1)*time.Hour))
	}
	c := e.client(t, smh.Config{LibraryID: libPlain})
	count := 0
	err := c.List(context.Background(), smh.ListQuery{Prefix: "big", Recursive: true, ModifiedBefore: cutoff, PageSize: 500},
		func(providers.Target, time.Time) error { count++; return nil })
	require.NoError(t, err)
	assert.Equal(t, n/2, count)
	assert.Equal(t, 1+6*(n/6/500), e.fake.ListCalls(), "one request for big, then four 500-entry pages per subdirectory")
}

func BenchmarkList(b *testing.B) {
	fake := smhtest.New(smhtest.Options{Libraries: libraries()})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const n = 10000
	for i := range n {
		fake.AddAt(providers.Target{Provider: providers.SMH, LibraryID: libPlain, Path: fmt.Sprintf("bench/%d/%05d.mp4", i%10, i)}, cutoff.Add(-time.Hour))
	}
	c, err := smh.New(smh.Config{Endpoint: srv.URL, LibraryID: libPlain, LibrarySecret: secret})
	require.NoError(b, err)
	b.ResetTimer()
	for b.Loop() {
		count := 0
		err := c.List(context.Background(), smh.ListQuery{Prefix: "bench", Recursive: true, ModifiedBefore: cutoff, PageSize: smh.MaxListPageSize},
			func(providers.Target, time.Time) error { count++; return nil })
		if err != nil || count != n {
			b.Fatalf("listed %d: %v", count, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "files/s")
}

// A retention policy's selection: every file under "videos" last modified before the cutoff, in
// subdirectories too. Each target List hands over is ready for Delete.
func ExampleClient_List() {
	fake := smhtest.New(smhtest.Options{}) // one single-tenant library
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cutoff := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for path, modified := range map[string]time.Time{
		"videos/2023/a.mp4": cutoff.AddDate(-1, 0, 0),
		"videos/2024/b.mp4": cutoff.AddDate(0, -1, 0),
		"videos/2025/c.mp4": cutoff.AddDate(0, 1, 0),
		"videos/d.mp4":      cutoff.AddDate(0, 0, -1),
		"photos/e.jpg":      cutoff.AddDate(-2, 0, 0),
	} {
		fake.AddAt(providers.Target{Provider: providers.SMH, Path: path}, modified)
	}

	c, err := smh.New(smh.Config{Endpoint: srv.URL, LibraryID: smhtest.DefaultLibraryID, LibrarySecret: smhtest.DefaultLibrarySecret})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.List(context.Background(), smh.ListQuery{Prefix: "videos", Recursive: true, ModifiedBefore: cutoff},
		func(t providers.Target, modified time.Time) error {
			fmt.Println(t.Path, modified.Format(time.DateOnly))
			return nil
		})
	fmt.Println(err)
	// Output:
	// videos/d.mp4 2024-12-31
	// videos/2023/a.mp4 2024-01-01
	// videos/2024/b.mp4 2024-12-01
	// <nil>
}
