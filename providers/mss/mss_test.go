package mss_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/mss"
	"github.com/reaper-media/reaper/providers/mss/msstest"
	"github.com/reaper-media/reaper/providers/providertest"
)

const (
	testAK      = "QTWAOYTTINDUT2QVKYUC"
	testSK      = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
	wrongSK     = "WrongSecretKeyWrongSecretKeyWrongSecret0"
	testToken   = "MIIT-token-value-0123456789abcdef0123456789abcdef"
	wrongToken  = "MIIT-token-value-ffffffffffffffffffffffffffffffff"
	testProject = "6a6a1f8354f64dd9b9a614def7b59d83"
)

// target returns the i-th test file; every third id needs escaping, so the suite also covers paths.
func target(i int) providers.Target {
	id := fmt.Sprintf("24bad716-87b1-45e5-8912-%012d", max(i, 0))
	if i < 0 {
		id = "never-added"
	}
	if i%3 == 1 {
		id = fmt.Sprintf("clip %d+é:@&=%%;", i)
	}
	return providers.Target{Provider: providers.MSS, ProjectID: testProject, FileID: id}
}

// documentedErrors are MetaStudio's and APIG's documented answers with the class reaper gives them.
var documentedErrors = []providertest.CodeCase{
	doc(faults.Fault{Status: 401, Code: "MSS.00000001", Message: "Unauthorized"}, providers.Fatal),
	doc(faults.Fault{Status: 403, Code: "MSS.000000004", Message: "非法访问,未鉴权或者鉴权失败"}, providers.Fatal),
	doc(faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"}, providers.Retry),
	doc(faults.Fault{Status: 400, Code: "MSS.10001004", Message: "The file not found"}, providers.Gone),
	doc(faults.Fault{Status: 400, Code: "MSS.10001001", Message: "Asset not found"}, providers.Gone),
	doc(faults.Fault{Status: 400, Code: "MSS.00010008", Message: "Invalid token in the header."}, providers.Auth),
	doc(faults.Fault{Status: 400, Code: "MSS.00010009", Message: "urlTenantId is not equal tokenTenantId"}, providers.Fatal),
	doc(faults.Fault{Status: 400, Code: "MSS.00000003", Message: "Invalid parameter"}, providers.Fatal),
	doc(faults.Fault{Status: 400, Code: "MSS.10001002", Message: "Illegal URL parameter, please check"}, providers.Fatal),
	doc(faults.Fault{Status: 400, Code: "MSS.99999999", Message: "a code nobody documented"}, providers.Fatal),
	doc(faults.Fault{Status: 500, Code: "MSS.00021006", Message: "cbc删除失败"}, providers.Retry),
	doc(faults.Fault{Status: 500, Code: "MSS.42000007", Message: "Infer Error"}, providers.Retry),
	doc(faults.Fault{Status: 429, Code: "APIG.0308", Message: "The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second"}, providers.Throttled),
	doc(faults.Fault{Status: 429, Code: "APIGW.0308", Message: "The throttling threshold has been reached: policy ip over ratelimit,limit:5,time:1 minute"}, providers.Throttled),
	doc(faults.Fault{Status: 401, Code: "APIG.0301", Message: "Incorrect IAM authentication information: verify aksk signature fail"}, providers.Fatal),
	doc(faults.Fault{Status: 401, Code: "APIGW.0301", Message: "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden"}, providers.Fatal),
	doc(faults.Fault{Status: 401, Code: "APIG.0307", Message: "The token must be updated"}, providers.Auth),
	doc(faults.Fault{Status: 401, Code: "APIGW.0307", Message: "The token must be updated"}, providers.Auth),
	doc(faults.Fault{Status: 401, Code: "APIG.0303", Message: "Incorrect app authentication information: signature expired, signature time:20230527T000431Z,server time:20230527T020608Z"}, providers.Retry),
	doc(faults.Fault{Status: 401, Code: "APIGW.0303", Message: "Incorrect app authentication information: signature expired"}, providers.Retry),
	doc(faults.Fault{Status: 504, Code: "APIG.0203", Message: "Backend timeout"}, providers.Retry),
	doc(faults.Fault{Status: 504, Code: "APIGW.0203", Message: "Backend timeout"}, providers.Retry),
	doc(faults.Fault{Status: 404, Code: "APIGW.0101", Message: "The API does not exist or has not been published in the environment"}, providers.Fatal),
	// The {"code","message"} variant the SDK also accepts.
	doc(faults.Fault{Status: 400, Body: `{"code":"MSS.10001004","message":"The file not found"}`, ContentType: "application/json"}, providers.Gone),
	// Non-JSON gateway pages and broken bodies: by status.
	doc(faults.Fault{Status: 503, Body: "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"}, providers.Retry),
	doc(faults.Fault{Status: 502, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}, providers.Retry),
	doc(faults.Fault{Status: 500, Body: `{"error_code":"MSS.000`, ContentType: "application/json"}, providers.Retry),
	doc(faults.Fault{Status: 429, Body: "Too Many Requests", ContentType: "text/plain"}, providers.Throttled),
	doc(faults.Fault{Status: 400, Body: "Bad Request", ContentType: "text/plain"}, providers.Fatal),
}

// doc pairs a documented fault with its class.
func doc(f faults.Fault, c providers.Class) providertest.CodeCase {
	return providertest.CodeCase{Fault: f, Class: c}
}

func newFake(testing.TB) faults.Fake {
	return msstest.New(msstest.Options{
		Keys:     map[string]string{testAK: testSK},
		Tokens:   map[string]time.Time{testToken: time.Now().Add(24 * time.Hour)},
		Projects: []string{testProject},
	})
}

func TestConformance(t *testing.T) {
	secrets := []string{testSK, wrongSK, testToken, wrongToken}
	t.Run("AKSK", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{
			NewFake: newFake,
			NewClient: func(t testing.TB, endpoint string, creds providertest.Credentials, timeout time.Duration) providers.Deleter {
				sk := testSK
				if creds == providertest.Invalid {
					sk = wrongSK
				}
				return newClient(t, mss.Config{Endpoint: endpoint, ProjectID: testProject, AK: testAK, SK: sk, Timeout: timeout})
			},
			Target:           target,
			DocumentedErrors: documentedErrors,
			Secrets:          secrets,
		})
	})
	t.Run("Token", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{
			NewFake: newFake,
			NewClient: func(t testing.TB, endpoint string, creds providertest.Credentials, timeout time.Duration) providers.Deleter {
				tok := testToken
				if creds == providertest.Invalid {
					tok = wrongToken
				}
				return newClient(t, mss.Config{Endpoint: endpoint, ProjectID: testProject, Token: tok, Timeout: timeout})
			},
			Target:           target,
			DocumentedErrors: documentedErrors,
			Secrets:          secrets,
		})
	})
}

func newClient(t testing.TB, cfg mss.Config) *mss.Client {
	t.Helper()
	c, err := mss.New(cfg)
	require.NoError(t, err)
	return c
}

// serve starts a fake behind a loopback server and a client for it.
func serve(t *testing.T, opts msstest.Options, cfg mss.Config) (*msstest.Fake, *mss.Client) {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string]string{testAK: testSK}
	}
	if opts.Projects == nil {
		opts.Projects = []string{testProject}
	}
	f := msstest.New(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.Endpoint = srv.URL
	if cfg.ProjectID == "" {
		cfg.ProjectID = testProject
	}
	if cfg.Token == "" && cfg.AK == "" {
		cfg.AK, cfg.SK = testAK, testSK
	}
	return f, newClient(t, cfg)
}

func TestNewValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  mss.Config
		want string
	}{
		{"no credentials", mss.Config{}, "credentials required"},
		{"both", mss.Config{AK: testAK, SK: testSK, Token: testToken}, "not both"},
		{"AK only", mss.Config{AK: testAK}, "SK is required"},
		{"SK only", mss.Config{SK: testSK}, "AK is required"},
		{"SK with blank", mss.Config{AK: testAK, SK: testSK + " "}, "SK contains blanks"},
		{"bad scheme", mss.Config{AK: testAK, SK: testSK, Endpoint: "ftp://host"}, "Endpoint"},
		{"no host", mss.Config{AK: testAK, SK: testSK, Endpoint: "https://"}, "Endpoint"},
		{"query", mss.Config{AK: testAK, SK: testSK, Endpoint: "https://h/?x=1"}, "Endpoint"},
		{"bad region", mss.Config{AK: testAK, SK: testSK, Region: "cn north"}, "Region"},
		{"bad project", mss.Config{AK: testAK, SK: testSK, ProjectID: "a/b"}, "ProjectID"},
		{"negative timeout", mss.Config{AK: testAK, SK: testSK, Timeout: -time.Second}, "Timeout"},
		{"bad class", mss.Config{AK: testAK, SK: testSK, Codes: map[string]providers.Class{"X": "later"}}, "Codes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := mss.New(c.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), testSK)
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestDefaultEndpoint(t *testing.T) {
	c := newClient(t, mss.Config{AK: testAK, SK: testSK})
	assert.Equal(t, "https://metastudio.cn-north-4.myhuaweicloud.com", c.Endpoint())
	c = newClient(t, mss.Config{AK: testAK, SK: testSK, Region: "cn-east-3"})
	assert.Equal(t, "https://metastudio.cn-east-3.myhuaweicloud.com", c.Endpoint())
	c = newClient(t, mss.Config{Token: testToken, Region: "cn-east-3", Endpoint: "https://proxy.example/mss/"})
	assert.Equal(t, "https://proxy.example/mss", c.Endpoint(), "Endpoint wins over Region; the trailing slash goes")
	assert.Equal(t, providers.MSS, c.Provider())
}

// TestInvalidTargetNoRequest checks that a bad target fails Fatal/InvalidTarget before any request.
func TestInvalidTargetNoRequest(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	noDefault := newClient(t, mss.Config{Endpoint: srv.URL, AK: testAK, SK: testSK})
	withDefault := newClient(t, mss.Config{Endpoint: srv.URL, AK: testAK, SK: testSK, ProjectID: testProject})
	cases := []struct {
		name   string
		client *mss.Client
		tg     providers.Target
		field  string
	}{
		{"no project", noDefault, providers.Target{Provider: providers.MSS, FileID: "f"}, "project_id"},
		{"no file", withDefault, providers.Target{Provider: providers.MSS}, "file_id"},
		{"slash in file", withDefault, providers.Target{Provider: providers.MSS, FileID: "a/b"}, "file_id"},
		{"dot-dot file", withDefault, providers.Target{Provider: providers.MSS, FileID: ".."}, "file_id"},
		{"other provider", withDefault, providers.Target{Provider: providers.VOD, FileID: "f"}, "provider"},
		{"no provider", withDefault, providers.Target{FileID: "f"}, "provider"},
		{"foreign field", withDefault, providers.Target{Provider: providers.MSS, FileID: "f", Path: "x"}, "path"},
		{"chinese app user", withDefault, providers.Target{Provider: providers.MSS, FileID: "f", AppUserID: "用户"}, "app_user_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.client.Delete(context.Background(), c.tg)
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "InvalidTarget", pe.Code)
			assert.Zero(t, pe.HTTPStatus)
			var fe *providers.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.field, fe.Field)
		})
	}
	assert.Zero(t, hits.Load(), "an invalid target must not reach the network")
}

// TestWireRequest checks what goes on the wire: escaped path, headers, a signature over them.
func TestWireRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Header().Set(mss.RequestIDHeader, "rid-1")
	}))
	defer srv.Close()
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	c := newClient(t, mss.Config{Endpoint: srv.URL + "/prefix", AK: testAK, SK: testSK, ProjectID: testProject,
		Now: func() time.Time { return now }})
	res, err := c.Delete(context.Background(), providers.Target{Provider: providers.MSS, FileID: "a b+c%d?é", AppUserID: "user-7"})
	require.NoError(t, err)
	assert.Equal(t, "rid-1", res.RequestID)

	require.NotNil(t, got)
	assert.Equal(t, http.MethodDelete, got.Method)
	assert.Equal(t, "/prefix/v1/"+testProject+"/files/a%20b%2Bc%25d%3F%C3%A9", got.RequestURI)
	assert.Equal(t, "user-7", got.Header.Get(mss.AppUserIDHeader))
	assert.Equal(t, testProject, got.Header.Get(mss.ProjectIDHeader))
	assert.Equal(t, "20240506T070809Z", got.Header.Get(mss.DateHeader))
	assert.Empty(t, got.Header.Get(mss.TokenHeader))
	assert.Empty(t, got.Header.Get("Content-Type"))

	a, err := mss.ParseAuthorization(got.Header.Get("Authorization"))
	require.NoError(t, err)
	assert.Equal(t, testAK, a.AK)
	assert.Equal(t, []string{"host", "user-agent", "x-app-userid", "x-project-id", "x-sdk-date"}, a.SignedHeaders)
	want := mss.Signature(testSK, mss.StringToSign(mss.CanonicalRequest(got, a.SignedHeaders, mss.EmptyPayloadHash), "20240506T070809Z"))
	assert.Equal(t, want, a.Signature, "the server-side recomputation matches")
}

func TestTokenMode(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	c := newClient(t, mss.Config{Endpoint: srv.URL, Token: testToken, ProjectID: testProject})
	_, err := c.Delete(context.Background(), providers.Target{Provider: providers.MSS, FileID: "f"})
	require.NoError(t, err)
	assert.Equal(t, testToken, got.Get(mss.TokenHeader))
	assert.Empty(t, got.Get("Authorization"))
	assert.Empty(t, got.Get(mss.DateHeader))
}

// TestExpiredTokenIsAuth: a static token cannot be renewed by the client, so expiry escapes as Auth.
func TestExpiredTokenIsAuth(t *testing.T) {
	f, c := serve(t, msstest.Options{Tokens: map[string]time.Time{testToken: time.Now().Add(time.Hour)}}, mss.Config{Token: testToken})
	tg := target(10)
	f.Add(tg)
	f.ExpireTokens()
	_, err := c.Delete(context.Background(), tg)
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Auth, pe.Class)
	assert.Equal(t, "APIG.0307", pe.Code)
	assert.Equal(t, 401, pe.HTTPStatus)
	assert.NotEmpty(t, pe.RequestID)
	assert.NotContains(t, err.Error(), testToken)
	assert.True(t, f.Exists(tg))
}

// TestClockSkew: a client clock 16 minutes off is refused with APIG.0303 (retry); 14 minutes passes.
func TestClockSkew(t *testing.T) {
	serverNow := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	f, c := serve(t, msstest.Options{Now: func() time.Time { return serverNow }},
		mss.Config{Now: func() time.Time { return serverNow.Add(time.Duration(offset.Load())) }})
	tg := target(11)
	f.Add(tg)
	for _, off := range []time.Duration{16 * time.Minute, -16 * time.Minute} {
		offset.Store(int64(off))
		_, err := c.Delete(context.Background(), tg)
		pe, ok := providers.AsError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "APIG.0303", pe.Code)
		assert.Equal(t, providers.Retry, pe.Class)
		assert.Contains(t, pe.Message, "signature expired")
	}
	offset.Store(int64(-14 * time.Minute))
	_, err := c.Delete(context.Background(), tg)
	require.NoError(t, err)
	assert.False(t, f.Exists(tg))
}

func TestUnknownProjectIsFatal(t *testing.T) {
	_, c := serve(t, msstest.Options{}, mss.Config{})
	_, err := c.Delete(context.Background(), providers.Target{Provider: providers.MSS, ProjectID: "someone-elses", FileID: "f"})
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "MSS.00010009", pe.Code)
	assert.Equal(t, providers.Fatal, pe.Class)
}

func TestRetryAfterOnThrottle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second","error_code":"APIG.0308","request_id":"r-429"}`))
	}))
	defer srv.Close()
	c := newClient(t, mss.Config{Endpoint: srv.URL, AK: testAK, SK: testSK, ProjectID: testProject})
	_, err := c.Delete(context.Background(), target(12))
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Throttled, pe.Class)
	assert.Equal(t, "APIG.0308", pe.Code)
	assert.Equal(t, 3*time.Second, pe.RetryAfter)
	assert.Equal(t, "r-429", pe.RequestID, "the body's request_id stands in when X-Request-Id is absent")
}

func TestErrorBodyShapes(t *testing.T) {
	cases := []struct {
		name, body, code, msg string
		class                 providers.Class
	}{
		{"mss", `{"error_code":"MSS.10001004","error_msg":"The file not found"}`, "MSS.10001004", "The file not found", providers.Gone},
		{"code/message", `{"code":"MSS.10001001","message":"Asset not found"}`, "MSS.10001001", "Asset not found", providers.Gone},
		{"nested", `{"error":{"code":"APIG.0307","message":"The token must be updated"}}`, "APIG.0307", "The token must be updated", providers.Auth},
		{"numeric code", `{"code":400,"message":"bad"}`, "400", "bad", providers.Fatal},
		{"html", `<html>oops</html>`, "", "unrecognised body (text/html", providers.Fatal},
		{"empty", ``, "", "empty body", providers.Fatal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(c.body, "<") {
					w.Header().Set("Content-Type", "text/html")
				}
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl := newClient(t, mss.Config{Endpoint: srv.URL, AK: testAK, SK: testSK, ProjectID: testProject})
			_, err := cl.Delete(context.Background(), target(13))
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, c.code, pe.Code)
			assert.Contains(t, pe.Message, c.msg)
			assert.Equal(t, c.class, pe.Class)
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var deletes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			deletes.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere?token=secret", http.StatusFound)
	}))
	defer srv.Close()
	c := newClient(t, mss.Config{Endpoint: srv.URL, AK: testAK, SK: testSK, ProjectID: testProject, HTTPClient: &http.Client{}})
	_, err := c.Delete(context.Background(), target(14))
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Fatal, pe.Class)
	assert.Equal(t, http.StatusFound, pe.HTTPStatus)
	assert.NotContains(t, err.Error(), "secret")
	assert.Zero(t, deletes.Load(), "a DELETE must never be followed as a GET to another URL")
}

func TestCodesOverride(t *testing.T) {
	f, c := serve(t, msstest.Options{}, mss.Config{Codes: map[string]providers.Class{
		"MSS.10001004": providers.Fatal,
		"MSS.4*":       providers.Retry,
	}})
	_, err := c.Delete(context.Background(), target(15))
	assert.Equal(t, providers.Fatal, providers.ClassOf(err), "%v", err)
	tg := target(16)
	f.Add(tg)
	f.Faults().FailNext(1, faults.Fault{Status: 400, Code: "MSS.45000001", Message: "The file is missing"})
	_, err = c.Delete(context.Background(), tg)
	assert.Equal(t, providers.Retry, providers.ClassOf(err), "%v", err)
}

func TestDefaultCodesTable(t *testing.T) {
	tab := providers.NewTable(mss.DefaultCodes())
	for code, want := range map[string]providers.Class{
		"MSS.00000004": providers.Retry, "MSS.00000001": providers.Fatal, "MSS.000000004": providers.Fatal,
		"MSS.10001004": providers.Gone, "MSS.10001001": providers.Gone, "APIG.0308": providers.Throttled,
		"APIGW.0308": providers.Throttled, "APIG.0301": providers.Fatal, "APIGW.0301": providers.Fatal,
		"APIG.0307": providers.Auth, "APIGW.0307": providers.Auth, "MSS.00010008": providers.Auth,
		"APIG.0303": providers.Retry, "APIGW.0303": providers.Retry, "APIG.0203": providers.Retry,
		"APIGW.0203": providers.Retry, "MSS.00010009": providers.Fatal, "MSS.00021008": providers.Retry,
	} {
		got, ok := tab.Lookup(code)
		assert.True(t, ok, code)
		assert.Equal(t, want, got, code)
	}
	assert.Equal(t, providers.Fatal, tab.Classify(400, "MSS.10000003"), "other MSS 4xx: fatal by status")
	assert.Equal(t, providers.Retry, tab.Classify(503, "MSS.00021999"), "5xx: retry")
}

func BenchmarkDelete(b *testing.B) {
	f := msstest.New(msstest.Options{Keys: map[string]string{testAK: testSK}, Projects: []string{testProject}})
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(b, mss.Config{Endpoint: srv.URL, AK: testAK, SK: testSK, ProjectID: testProject})
	for i := range b.N {
		f.Add(benchTarget(i))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Delete(context.Background(), benchTarget(int(next.Add(1)-1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
	require.Equal(b, b.N, f.Deleted())
}

func benchTarget(i int) providers.Target {
	return providers.Target{Provider: providers.MSS, ProjectID: testProject, FileID: fmt.Sprintf("bench-%d", i)}
}
