package smh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/providertest"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

const (
	libRecycle = "smhrecycle" // single-tenant, recycle bin on
	libPlain   = "smhplain"   // single-tenant, no recycle bin
	libMulti   = "smhmulti"   // multi-tenant, recycle bin on
	secret     = "lib-secret-7b1f0c9e2d"
	badSecret  = "not-the-library-secret-41aa"
)

func libraries() map[string]smhtest.Library {
	return map[string]smhtest.Library{
		libRecycle: {Secret: secret, RecycleBin: true},
		libPlain:   {Secret: secret},
		libMulti:   {Secret: secret, RecycleBin: true, Spaces: []string{"space-a", "space-b"}},
	}
}

func documentedErrors() []providertest.CodeCase {
	c := func(status int, code string, class providers.Class) providertest.CodeCase {
		return providertest.CodeCase{Fault: faults.Fault{Status: status, Code: code, Message: "injected " + code}, Class: class}
	}
	body := func(status int, contentType, body string, class providers.Class) providertest.CodeCase {
		return providertest.CodeCase{Fault: faults.Fault{Status: status, ContentType: contentType, Body: body}, Class: class}
	}
	return []providertest.CodeCase{
		c(404, "FileNotFound", providers.Gone),
		c(404, "PathNotFound", providers.Gone),
		c(404, "DirectoryNotFound", providers.Gone),
		c(404, "LibraryNotFound", providers.Fatal),
		c(404, "SpaceNotFound", providers.Fatal),
		c(404, "WrongLibraryIdOrSecret", providers.Fatal),
		c(403, "NoPermission", providers.Fatal),
		c(403, "AccessTokenNotMatchSpace", providers.Fatal),
		c(403, "LibraryServiceExpired", providers.Fatal),
		c(403, "SpaceBanned", providers.Fatal),
		c(403, "WriteForbidden", providers.Fatal),
		c(403, "ReadForbidden", providers.Fatal),
		c(403, "InvalidAccessToken", providers.Auth),
		c(400, "EmptyAccessToken", providers.Fatal),
		c(400, "EmptyPath", providers.Fatal),
		c(400, "RecycleBinNotEnabled", providers.Fatal),
		c(409, "SameNameDirectoryOrFileExists", providers.Fatal),
		c(451, "SensitiveContentRecognized", providers.Fatal),
		c(400, "SomeCodeFromTheFuture", providers.Fatal),
		c(429, "RateLimitExceeded", providers.Throttled),
		c(500, "InternalServerError", providers.Retry),
		c(503, "ServerOverloaded", providers.Retry),
		c(500, "RequestTimeout", providers.Retry),
		c(408, "ReadRequestTimeout", providers.Retry),
		c(499, "ClientDisconnected", providers.Retry),
		c(502, "SomeServerCodeFromTheFuture", providers.Retry),
		body(502, "text/html", "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>", providers.Retry),
		body(503, "text/html", "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", providers.Retry),
		body(500, "application/xml", `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message><RequestId>NjQ3</RequestId></Error>`, providers.Retry),
		body(500, "application/json", `{"status":500,"code":"InternalServerEr`, providers.Retry),
		// A 404 without an SMH code is a wrong endpoint or a gateway, never proof that the file is gone.
		body(404, "text/html", "<html><body><h1>404 Not Found</h1></body></html>", providers.Fatal),
		// A success status whose body is not SMH's: retried (a repeat answers FileNotFound if it worked).
		body(200, "text/html", "<html><body>portal</body></html>", providers.Retry),
	}
}

// secretHarness is the conformance harness for a client that creates its own tokens.
func secretHarness(lib, space string, permanent, recycles bool) providertest.Harness {
	return providertest.Harness{
		NewFake: func(testing.TB) faults.Fake { return smhtest.New(smhtest.Options{Libraries: libraries()}) },
		NewClient: func(t testing.TB, endpoint string, creds providertest.Credentials, timeout time.Duration) providers.Deleter {
			s := secret
			if creds == providertest.Invalid {
				s = badSecret
			}
			c, err := smh.New(smh.Config{Endpoint: endpoint, LibraryID: lib, SpaceID: space, LibrarySecret: s, Timeout: timeout})
			require.NoError(t, err)
			return c
		},
		Target: func(i int) providers.Target {
			return providers.Target{Provider: providers.SMH, LibraryID: lib, SpaceID: space,
				Path: fmt.Sprintf("reaper/conformance/%d/clip %d?#%%.mp4", i/100, i), Permanent: permanent}
		},
		Recycles:         recycles,
		DocumentedErrors: documentedErrors(),
		ExpireTokens:     func(f faults.Fake) { f.(*smhtest.Fake).ExpireTokens() },
		Secrets:          []string{secret, badSecret, smhtest.TokenPrefix},
	}
}

func TestConformanceRecycleBin(t *testing.T) {
	providertest.Run(t, secretHarness(libRecycle, "-", false, true))
}

func TestConformanceNoRecycleBin(t *testing.T) {
	providertest.Run(t, secretHarness(libPlain, "", false, false))
}

func TestConformancePermanent(t *testing.T) {
	providertest.Run(t, secretHarness(libRecycle, "-", true, false))
}

func TestConformanceMultiTenant(t *testing.T) {
	providertest.Run(t, secretHarness(libMulti, "space-b", false, true))
}

// TestConformanceFixedToken runs the suite with a fixed access token issued by the fake. Invalid
// credentials are a read-only token (no delete grant), which SMH rejects with NoPermission.
func TestConformanceFixedToken(t *testing.T) {
	var last *smhtest.Fake
	providertest.Run(t, providertest.Harness{
		NewFake: func(testing.TB) faults.Fake {
			last = smhtest.New(smhtest.Options{Libraries: libraries()})
			return last
		},
		NewClient: func(t testing.TB, endpoint string, creds providertest.Credentials, timeout time.Duration) providers.Deleter {
			grants := []string{"delete_file", "restore_recycled"} // restore_recycled for the suite's Restore check
			if creds == providertest.Invalid {
				grants = nil
			}
			c, err := smh.New(smh.Config{Endpoint: endpoint, LibraryID: libRecycle,
				AccessToken: last.IssueToken(libRecycle, nil, grants...), Timeout: timeout})
			require.NoError(t, err)
			return c
		},
		Target: func(i int) providers.Target {
			return providers.Target{Provider: providers.SMH, LibraryID: libRecycle, Path: fmt.Sprintf("fixed/%d.mp4", i)}
		},
		Recycles:         true,
		DocumentedErrors: documentedErrors(),
		Secrets:          []string{secret, smhtest.TokenPrefix},
	})
}

// env is a fake behind a loopback server, with every request counted and an optional hook in front.
type env struct {
	fake     *smhtest.Fake
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	front    func(w http.ResponseWriter, r *http.Request) bool // true: handled
	seen     []*url.URL
}

func newEnv(t testing.TB, opts smhtest.Options) *env {
	t.Helper()
	if opts.Libraries == nil {
		opts.Libraries = libraries()
	}
	e := &env{fake: smhtest.New(opts)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		e.mu.Lock()
		front := e.front
		e.seen = append(e.seen, r.URL)
		e.mu.Unlock()
		if front != nil && front(w, r) {
			return
		}
		e.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) setFront(f func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.front = f
}

func (e *env) urls() []*url.URL {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*url.URL(nil), e.seen...)
}

func (e *env) client(t testing.TB, cfg smh.Config) *smh.Client {
	t.Helper()
	cfg.Endpoint = e.srv.URL
	if cfg.AccessToken == "" && cfg.LibrarySecret == "" {
		cfg.LibrarySecret = secret
	}
	if cfg.LibraryID == "" {
		cfg.LibraryID = libRecycle
	}
	c, err := smh.New(cfg)
	require.NoError(t, err)
	return c
}

func target(path string) providers.Target {
	return providers.Target{Provider: providers.SMH, LibraryID: libRecycle, SpaceID: "-", Path: path}
}

func TestPathEscapingRoundTrips(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{})
	paths := []string{
		"a?b#c%d.txt",
		"dir/a?b#c%d.txt",
		"中文目录/视频 1.mp4",
		"sp ace/+plus&x=y;z,@:$.mp4",
		"100%/%41%2F.txt",
		"emoji 🎬/'quoted\".mov",
	}
	for _, p := range paths {
		tg := target(p)
		e.fake.Add(tg)
		res, err := c.Delete(context.Background(), tg)
		require.NoError(t, err, p)
		assert.True(t, res.Recycled, p)
		assert.False(t, e.fake.Exists(tg), "%q still in the fake", p)
		assert.Equal(t, 1, e.fake.Calls(tg), p)
	}
	var deletes []string
	for _, u := range e.urls() {
		if strings.HasPrefix(u.EscapedPath(), "/api/v1/file/") {
			deletes = append(deletes, u.EscapedPath())
		}
	}
	require.Len(t, deletes, len(paths))
	assert.Equal(t, "/api/v1/file/smhrecycle/-/a%3Fb%23c%25d.txt", deletes[0])
	assert.Equal(t, "/api/v1/file/smhrecycle/-/dir/a%3Fb%23c%25d.txt", deletes[1])
	assert.Equal(t, "/api/v1/file/smhrecycle/-/100%25/%2541%252F.txt", deletes[4])
}

func TestInvalidTargetsSendNothing(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{})
	noDefault, err := smh.New(smh.Config{Endpoint: e.srv.URL, LibrarySecret: secret})
	require.NoError(t, err)
	cases := map[string]struct {
		c  *smh.Client
		tg providers.Target
	}{
		"empty path":          {c, target("")},
		"leading slash":       {c, target("/a.mp4")},
		"trailing slash":      {c, target("a/")},
		"doubled slash":       {c, target("a//b.mp4")},
		"dot segment":         {c, target("./a.mp4")},
		"dot-dot segment":     {c, target("a/../b.mp4")},
		"only dot-dot":        {c, target("..")},
		"NUL":                 {c, target("a\x00b.mp4")},
		"newline":             {c, target("a\nb.mp4")},
		"DEL":                 {c, target("a\x7fb.mp4")},
		"C1 control":          {c, target("a\u0085b.mp4")},
		"library with slash":  {c, providers.Target{Provider: providers.SMH, LibraryID: "a/b", Path: "x.mp4"}},
		"space dot-dot":       {c, providers.Target{Provider: providers.SMH, SpaceID: "..", Path: "x.mp4"}},
		"user id control":     {c, providers.Target{Provider: providers.SMH, Path: "x.mp4", UserID: "u\r\nX-Evil: 1"}},
		"foreign field":       {c, providers.Target{Provider: providers.SMH, Path: "x.mp4", FileID: "123"}},
		"other provider":      {c, providers.Target{Provider: providers.VOD, FileID: "123"}},
		"no provider":         {c, providers.Target{Path: "x.mp4"}},
		"no library, default": {noDefault, providers.Target{Provider: providers.SMH, Path: "x.mp4"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := tc.c.Delete(context.Background(), tc.tg)
			require.Error(t, err)
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "InvalidTarget", pe.Code)
			assert.Zero(t, pe.HTTPStatus)
			var fe *providers.FieldError
			assert.True(t, errors.As(err, &fe), "the field error is reachable: %v", err)
		})
	}
	assert.Zero(t, e.requests.Load(), "invalid targets must not reach the service")
	assert.Zero(t, e.fake.TokenCalls())
}

// holdTokenRequests makes e's token API wait until release is called (at the latest when the test
// ends); arrived receives a value when the first token request comes in.
func holdTokenRequests(t *testing.T, e *env) (arrived <-chan struct{}, release func()) {
	in, gate := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	e.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/api/v1/token" {
			select {
			case in <- struct{}{}:
			default:
			}
			<-gate
		}
		return false
	})
	return in, release
}

// recv waits for one value from ch, failing the test if it does not come: a broken client must fail,
// not hang.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// roundTripFunc lets a test answer requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func response(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"X-Request-Id": {"req-1"}},
		Body: io.NopCloser(strings.NewReader(body))}
}

func TestDefaultEndpointIsPerLibrary(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		hosts = append(hosts, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/api/v1/token" {
			return response(200, `{"accessToken":"t0k","expiresIn":86400}`), nil
		}
		return response(204, ""), nil
	})
	c, err := smh.New(smh.Config{LibrarySecret: secret, HTTPClient: &http.Client{Transport: rt}})
	require.NoError(t, err)
	_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, LibraryID: "smh2fwx4ly0lpg7y", Path: "a/b.mp4"})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"https://smh2fwx4ly0lpg7y.api.tencentsmh.cn/api/v1/token",
		"https://smh2fwx4ly0lpg7y.api.tencentsmh.cn/api/v1/file/smh2fwx4ly0lpg7y/-/a/b.mp4",
	}, hosts)

	// A library id that is not a host name label must not choose the host.
	for _, lib := range []string{"evil.example#", "evil.example:443", "a@evil", "x.y", "-lead"} {
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, LibraryID: lib, Path: "a.mp4"})
		pe, ok := providers.AsError(err)
		require.True(t, ok, lib)
		assert.Equal(t, "InvalidTarget", pe.Code, lib)
	}
	assert.Len(t, hosts, 2, "no request for the bad library ids")
}

func TestTokenFetchedOnceForConcurrentCallers(t *testing.T) {
	const callers = 64
	e := newEnv(t, smhtest.Options{})
	arrived, release := holdTokenRequests(t, e)
	c := e.client(t, smh.Config{})
	waiting := make(chan struct{}, callers)
	smh.SetTokenWaitHook(c, func() { waiting <- struct{}{} })

	targets := make([]providers.Target, callers)
	for i := range targets {
		targets[i] = target(fmt.Sprintf("once/%d.mp4", i))
		e.fake.Add(targets[i])
	}
	errs := make(chan error, callers)
	for _, tg := range targets {
		go func() { _, err := c.Delete(context.Background(), tg); errs <- err }()
	}
	recv(t, arrived, "the token request")
	for range callers - 1 {
		recv(t, waiting, "callers joining the token request")
	}
	release() // every caller is now waiting on the one request
	for range callers {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, 1, e.fake.TokenCalls())
	for _, tg := range targets {
		assert.False(t, e.fake.Exists(tg))
	}
}

func TestTokenWaiterHonoursItsContext(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	arrived, release := holdTokenRequests(t, e)
	c := e.client(t, smh.Config{})
	waiting := make(chan struct{}, 2)
	smh.SetTokenWaitHook(c, func() { waiting <- struct{}{} })
	first, second := target("ctx/1.mp4"), target("ctx/2.mp4")
	e.fake.Add(first)
	e.fake.Add(second)

	firstDone := make(chan error, 1)
	ctx1, cancel1 := context.WithCancel(context.Background())
	go func() { _, err := c.Delete(ctx1, first); firstDone <- err }()
	recv(t, arrived, "the token request")

	ctx2, cancel2 := context.WithCancel(context.Background())
	secondDone := make(chan error, 1)
	go func() { _, err := c.Delete(ctx2, second); secondDone <- err }()
	recv(t, waiting, "the second caller joining")
	cancel2()
	err := <-secondDone
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, providers.Retry, providers.ClassOf(err))

	// The caller that started the fetch giving up does not fail it either.
	cancel1()
	assert.ErrorIs(t, <-firstDone, context.Canceled)
	release()
	_, err = c.Delete(context.Background(), second)
	require.NoError(t, err)
	assert.Equal(t, 1, e.fake.TokenCalls(), "the detached fetch filled the cache")
}

func TestRenewalOnInvalidAccessToken(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{})
	ctx := context.Background()
	warm := target("renew/warm.mp4")
	e.fake.Add(warm)
	_, err := c.Delete(ctx, warm)
	require.NoError(t, err)
	require.Equal(t, 1, e.fake.TokenCalls())

	t.Run("expired token is renewed, one retry", func(t *testing.T) {
		e.fake.ExpireTokens()
		tg := target("renew/a.mp4")
		e.fake.Add(tg)
		_, err := c.Delete(ctx, tg)
		require.NoError(t, err)
		assert.Equal(t, 2, e.fake.Calls(tg))
		assert.Equal(t, 2, e.fake.TokenCalls())
	})

	t.Run("a second rejection is not retried again", func(t *testing.T) {
		before := e.fake.TokenCalls()
		tg := target("renew/b.mp4")
		e.fake.Add(tg)
		e.fake.Faults().FailNext(5, faults.Fault{Status: 403, Code: "InvalidAccessToken"})
		defer e.fake.Faults().Reset()
		_, err := c.Delete(ctx, tg)
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, providers.Auth, pe.Class)
		assert.Equal(t, 2, e.fake.Calls(tg), "exactly one retry")
		assert.Equal(t, before+1, e.fake.TokenCalls(), "exactly one renewal")
		assert.True(t, e.fake.Exists(tg))
	})

	t.Run("a burst of rejections costs one new token", func(t *testing.T) {
		_, err := c.Delete(ctx, warm) // make sure a valid token is cached (gone is fine)
		require.Equal(t, providers.Gone, providers.ClassOf(err))
		before := e.fake.TokenCalls()
		e.fake.ExpireTokens()
		const n = 64
		errs := make(chan error, n)
		for i := range n {
			tg := target(fmt.Sprintf("renew/burst/%d.mp4", i))
			e.fake.Add(tg)
			go func() { _, err := c.Delete(ctx, tg); errs <- err }()
		}
		for range n {
			require.NoError(t, <-errs)
		}
		assert.Equal(t, before+1, e.fake.TokenCalls())
	})
}

func TestFixedTokenIsNotRenewed(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{AccessToken: e.fake.IssueToken(libRecycle, nil, "delete_file")})
	tg := target("fixed/a.mp4")
	e.fake.Add(tg)
	e.fake.ExpireTokens()
	_, err := c.Delete(context.Background(), tg)
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Auth, pe.Class)
	assert.Equal(t, "InvalidAccessToken", pe.Code)
	assert.Equal(t, 403, pe.HTTPStatus)
	assert.Equal(t, 1, e.fake.Calls(tg))
	assert.Zero(t, e.fake.TokenCalls())
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	clk := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) // shared by the client and the fake
	e := newEnv(t, smhtest.Options{TokenTTL: time.Hour, Now: clk.Now})
	c := e.client(t, smh.Config{Now: clk.Now})
	ctx := context.Background()
	del := func(name string) error {
		tg := target(name)
		e.fake.Add(tg)
		_, err := c.Delete(ctx, tg)
		if err == nil {
			assert.Equal(t, 1, e.fake.Calls(tg), "%s: no 403 round trip", name)
		}
		return err
	}

	require.NoError(t, del("refresh/1.mp4"))
	assert.Equal(t, 1, e.fake.TokenCalls())

	clk.Advance(50 * time.Minute)
	require.NoError(t, del("refresh/2.mp4"))
	assert.Equal(t, 1, e.fake.TokenCalls(), "fresh token reused")

	clk.Advance(9*time.Minute + 30*time.Second) // 30 s before expiry: inside the 60 s margin
	require.NoError(t, del("refresh/3.mp4"))
	assert.Equal(t, 2, e.fake.TokenCalls(), "renewed ahead of expiry")

	// Inside the margin of the new token, with the token API down: the old token still serves.
	clk.Advance(59*time.Minute + 30*time.Second)
	e.fake.TokenFaults().SetDown(true)
	require.NoError(t, del("refresh/4.mp4"))
	assert.Equal(t, 3, e.fake.TokenCalls(), "one failed refresh attempt")

	// Past expiry the token API's failure is the delete's failure.
	clk.Advance(2 * time.Hour)
	err := del("refresh/5.mp4")
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Retry, pe.Class)
	assert.Equal(t, "ServerOverloaded", pe.Code)
	assert.Contains(t, pe.Message, "access token request")
}

func TestTokenRequest(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{TokenUserID: "reaper-bot", TokenPeriod: 30*time.Minute + time.Millisecond})
	for _, tg := range []providers.Target{
		target("a.mp4"),
		{Provider: providers.SMH, LibraryID: libMulti, SpaceID: "space-a", Path: "a.mp4"},
		{Provider: providers.SMH, LibraryID: libMulti, SpaceID: "space-b", Path: "a.mp4"},
		{Provider: providers.SMH, LibraryID: libMulti, SpaceID: "space-b", Path: "b.mp4"},
	} {
		e.fake.Add(tg)
		_, err := c.Delete(context.Background(), tg)
		require.NoError(t, err)
	}
	var queries []url.Values
	for _, u := range e.urls() {
		if u.Path == "/api/v1/token" {
			queries = append(queries, u.Query())
		}
	}
	require.Len(t, queries, 3, "one token per (library, space)")
	assert.Equal(t, url.Values{
		"library_id": {libRecycle}, "library_secret": {secret}, "grant": {"delete_file,delete_file_permanent"},
		"user_id": {"reaper-bot"}, "period": {"1801"},
	}, queries[0], "single-tenant: no space_id")
	assert.Equal(t, "space-a", queries[1].Get("space_id"))
	assert.Equal(t, "space-b", queries[2].Get("space_id"))
}

func TestDeleteRequest(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{})
	tg := target("q/a.mp4")
	tg.UserID = "operator 7"
	tg.Permanent = true
	e.fake.Add(tg)
	res, err := c.Delete(context.Background(), tg)
	require.NoError(t, err)
	assert.False(t, res.Recycled, "permanent deletes skip the recycle bin")
	assert.NotEmpty(t, res.RequestID)
	u := e.urls()[1]
	assert.Equal(t, "1", u.Query().Get("permanent"))
	assert.Equal(t, "operator 7", u.Query().Get("user_id"))
	assert.True(t, strings.HasPrefix(u.Query().Get("access_token"), smhtest.TokenPrefix))
	assert.Empty(t, e.fake.Recycled(libRecycle))

	tg2 := target("q/b.mp4")
	e.fake.Add(tg2)
	res, err = c.Delete(context.Background(), tg2)
	require.NoError(t, err)
	items := e.fake.Recycled(libRecycle)
	require.Len(t, items, 1)
	assert.Equal(t, providers.Result{Recycled: true, RecycledItemID: items[0].ID, RequestID: res.RequestID}, res)
	assert.Equal(t, "q/b.mp4", items[0].Path)
}

func TestResponses(t *testing.T) {
	type answer struct {
		status int
		header http.Header
		body   string
	}
	cases := []struct {
		name  string
		ans   answer
		check func(t *testing.T, res providers.Result, err error)
	}{
		{"204", answer{204, http.Header{"X-Request-Id": {"r204"}}, ""}, func(t *testing.T, res providers.Result, err error) {
			require.NoError(t, err)
			assert.Equal(t, providers.Result{RequestID: "r204"}, res)
		}},
		{"200 recycled", answer{200, http.Header{"X-Request-Id": {"r200"}}, `{"recycledItemId":1221}`}, func(t *testing.T, res providers.Result, err error) {
			require.NoError(t, err)
			assert.Equal(t, providers.Result{Recycled: true, RecycledItemID: 1221, RequestID: "r200"}, res)
		}},
		{"200 empty", answer{200, nil, ""}, func(t *testing.T, res providers.Result, err error) {
			require.NoError(t, err)
			assert.False(t, res.Recycled)
		}},
		{"200 garbage", answer{200, nil, "<html>"}, func(t *testing.T, res providers.Result, err error) {
			pe, ok := providers.AsError(err)
			require.True(t, ok)
			assert.Equal(t, providers.Retry, pe.Class)
			assert.Equal(t, "InvalidResponse", pe.Code)
		}},
		{"XML error", answer{500, http.Header{"Content-Type": {"application/xml"}},
			`<Error><Code>InternalError</Code><Message>boom</Message><RequestId>xml-1</RequestId></Error>`},
			func(t *testing.T, res providers.Result, err error) {
				pe, ok := providers.AsError(err)
				require.True(t, ok)
				assert.Equal(t, providers.Error{Provider: providers.SMH, Class: providers.Retry, HTTPStatus: 500,
					Code: "InternalError", Message: "boom", RequestID: "xml-1"}, *pe)
			}},
		{"reqId fallback", answer{404, nil, `{"code":"FileNotFound","message":"File not found.","reqId":"alt-1"}`},
			func(t *testing.T, res providers.Result, err error) {
				pe, ok := providers.AsError(err)
				require.True(t, ok)
				assert.Equal(t, providers.Gone, pe.Class)
				assert.Equal(t, "alt-1", pe.RequestID)
			}},
		{"header request id", answer{404, http.Header{"X-Request-Id": {"hdr-1"}}, `{"code":"PathNotFound"}`},
			func(t *testing.T, res providers.Result, err error) {
				pe, ok := providers.AsError(err)
				require.True(t, ok)
				assert.Equal(t, providers.Gone, pe.Class)
				assert.Equal(t, "hdr-1", pe.RequestID)
			}},
		{"429 with Retry-After", answer{429, http.Header{"Retry-After": {"7"}}, `{"code":"RateLimitExceeded"}`},
			func(t *testing.T, res providers.Result, err error) {
				pe, ok := providers.AsError(err)
				require.True(t, ok)
				assert.Equal(t, providers.Throttled, pe.Class)
				assert.Equal(t, 7*time.Second, pe.RetryAfter)
			}},
		{"429 without code", answer{429, nil, "slow down"}, func(t *testing.T, res providers.Result, err error) {
			assert.Equal(t, providers.Throttled, providers.ClassOf(err))
		}},
		{"redirect not followed", answer{302, http.Header{"Location": {"/elsewhere"}}, ""},
			func(t *testing.T, res providers.Result, err error) {
				pe, ok := providers.AsError(err)
				require.True(t, ok)
				assert.Equal(t, providers.Fatal, pe.Class)
				assert.Equal(t, "UnexpectedRedirect", pe.Code)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var elsewhere atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					elsewhere.Add(1)
					return
				}
				for k, v := range tc.ans.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.ans.status)
				_, _ = io.WriteString(w, tc.ans.body)
			}))
			defer srv.Close()
			c, err := smh.New(smh.Config{Endpoint: srv.URL, AccessToken: "fixed-token", LibraryID: "lib"})
			require.NoError(t, err)
			res, err := c.Delete(context.Background(), providers.Target{Provider: providers.SMH, Path: "a.mp4"})
			tc.check(t, res, err)
			assert.Zero(t, elsewhere.Load())
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		class  providers.Class
		code   string
	}{
		{"wrong secret", 404, `{"code":"WrongLibraryIdOrSecret","message":"x"}`, providers.Fatal, "WrongLibraryIdOrSecret"},
		{"unknown library", 404, `{"code":"LibraryNotFound"}`, providers.Fatal, "LibraryNotFound"},
		{"gone code is not gone here", 404, `{"code":"FileNotFound"}`, providers.Fatal, "FileNotFound"},
		{"5xx", 502, `<html>bad gateway</html>`, providers.Retry, ""},
		{"no token in answer", 200, `{"expiresIn":86400}`, providers.Retry, "InvalidResponse"},
		{"not JSON", 200, `<html>`, providers.Retry, "InvalidResponse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var deletes atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v1/token" {
					deletes.Add(1)
					w.WriteHeader(204)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := smh.New(smh.Config{Endpoint: srv.URL, LibrarySecret: secret, LibraryID: "lib"})
			require.NoError(t, err)
			_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, Path: "a.mp4"})
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.class, pe.Class)
			assert.Equal(t, tc.code, pe.Code)
			assert.Contains(t, pe.Message, "access token request")
			assert.Zero(t, deletes.Load(), "no delete without a token")
		})
	}
}

// echoToken is an access token with characters that change under query escaping, for the tests
// that a token never shows in an error, raw or escaped.
const echoToken = "fixed+token/with=chars"

// requireNoSecret requires err and that it shows neither echoToken nor the library secret, raw or
// query-escaped.
func requireNoSecret(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, s := range []string{echoToken, url.QueryEscape(echoToken), secret, url.QueryEscape(secret)} {
		assert.NotContains(t, err.Error(), s)
	}
}

// closedEndpoint is the URL of a loopback server that is no longer listening.
func closedEndpoint() string {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	return closed.URL
}

// answering is the URL of a loopback server that answers every request with status and body.
func answering(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestNoSecretInErrors(t *testing.T) {
	closedURL := closedEndpoint()
	t.Run("token request to a closed port", func(t *testing.T) {
		c, err := smh.New(smh.Config{Endpoint: closedURL, LibrarySecret: secret, LibraryID: "lib"})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, Path: "a.mp4"})
		requireNoSecret(t, err)
		pe, ok := providers.AsError(err)
		require.True(t, ok)
		assert.Equal(t, providers.Retry, pe.Class)
		assert.Equal(t, "NetworkError", pe.Code)
	})
	t.Run("delete to a closed port", func(t *testing.T) {
		c, err := smh.New(smh.Config{Endpoint: closedURL, AccessToken: echoToken, LibraryID: "lib"})
		require.NoError(t, err)
		_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, Path: "a.mp4"})
		requireNoSecret(t, err)
		assert.Equal(t, providers.Retry, providers.ClassOf(err))
	})
	t.Run("server echoing credentials", func(t *testing.T) {
		for _, body := range []string{
			fmt.Sprintf(`{"code":"BadThing","message":"token %s","requestId":"%s"}`, echoToken, echoToken),
			fmt.Sprintf(`<html>GET /api/v1/file/lib/-/a.mp4?access_token=%s</html>`, url.QueryEscape(echoToken)),
			fmt.Sprintf(`<Error><Code>X</Code><Message>%s</Message></Error>`, echoToken),
		} {
			c, err := smh.New(smh.Config{Endpoint: answering(t, 400, body), AccessToken: echoToken, LibraryID: "lib"})
			require.NoError(t, err)
			_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, Path: "a.mp4"})
			requireNoSecret(t, err)
		}
	})
	t.Run("token API echoing the secret", func(t *testing.T) {
		for _, body := range []string{
			fmt.Sprintf(`{"code":"WrongLibraryIdOrSecret","message":"secret %s is wrong","requestId":"%s"}`, secret, secret),
			fmt.Sprintf(`<html>GET /api/v1/token?library_secret=%s</html>`, url.QueryEscape(secret)),
		} {
			c, err := smh.New(smh.Config{Endpoint: answering(t, 404, body), LibrarySecret: secret, LibraryID: "lib"})
			require.NoError(t, err)
			_, err = c.Delete(context.Background(), providers.Target{Provider: providers.SMH, Path: "a.mp4"})
			requireNoSecret(t, err)
			assert.Equal(t, providers.Fatal, providers.ClassOf(err))
		}
	})
	t.Run("config errors", func(t *testing.T) {
		_, err := smh.New(smh.Config{LibrarySecret: "has blank " + secret})
		requireNoSecret(t, err)
		_, err = smh.New(smh.Config{LibrarySecret: secret, AccessToken: echoToken})
		requireNoSecret(t, err)
	})
}

func TestConfigValidation(t *testing.T) {
	cases := map[string]struct {
		cfg   smh.Config
		field string
	}{
		"no credentials":   {smh.Config{}, "AccessToken"},
		"both credentials": {smh.Config{AccessToken: "a", LibrarySecret: "b"}, "only one"},
		"ftp endpoint":     {smh.Config{LibrarySecret: "s", Endpoint: "ftp://h"}, "Endpoint"},
		"no host":          {smh.Config{LibrarySecret: "s", Endpoint: "http://"}, "Endpoint"},
		"user info":        {smh.Config{LibrarySecret: "s", Endpoint: "https://u:p@h"}, "Endpoint"},
		"query":            {smh.Config{LibrarySecret: "s", Endpoint: "https://h/?x=1"}, "Endpoint"},
		"relative":         {smh.Config{LibrarySecret: "s", Endpoint: "api.tencentsmh.cn"}, "Endpoint"},
		"bad library":      {smh.Config{LibrarySecret: "s", LibraryID: "a/b"}, "LibraryID"},
		"bad space":        {smh.Config{LibrarySecret: "s", SpaceID: ".."}, "SpaceID"},
		"negative period":  {smh.Config{LibrarySecret: "s", TokenPeriod: -1}, "TokenPeriod"},
		"negative timeout": {smh.Config{LibrarySecret: "s", Timeout: -1}, "Timeout"},
		"bad class":        {smh.Config{LibrarySecret: "s", Codes: map[string]providers.Class{"X": "sometimes"}}, `Codes["X"]`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := smh.New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	for _, ok := range []smh.Config{
		{LibrarySecret: "s"},
		{AccessToken: "t", Endpoint: "https://api.tencentsmh.cn/"},
		{LibrarySecret: "s", Endpoint: "http://127.0.0.1:8080/prefix", LibraryID: "lib", SpaceID: "space-1"},
	} {
		_, err := smh.New(ok)
		assert.NoError(t, err)
	}
}

func TestCodesOverride(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := e.client(t, smh.Config{Codes: map[string]providers.Class{"FileNotFound": providers.Fatal}})
	_, err := c.Delete(context.Background(), target("never-added.mp4"))
	assert.Equal(t, providers.Fatal, providers.ClassOf(err))
}

func TestDefaultCodesAreValidClasses(t *testing.T) {
	for code, class := range smh.DefaultCodes() {
		_, err := providers.ParseClass(string(class))
		assert.NoError(t, err, code)
	}
}

func BenchmarkDelete(b *testing.B) {
	fake := smhtest.New(smhtest.Options{Libraries: libraries()})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := smh.New(smh.Config{Endpoint: srv.URL, LibraryID: libRecycle, LibrarySecret: secret})
	require.NoError(b, err)
	targets := make([]providers.Target, b.N)
	for i := range targets {
		targets[i] = target(fmt.Sprintf("bench/%d/%d.mp4", i/1000, i))
		fake.Add(targets[i])
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Delete(context.Background(), targets[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
}
