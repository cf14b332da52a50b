package msstest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/mss"
	"github.com/reaper-media/reaper/providers/mss/msstest"
)

const (
	ak      = "AccessKey"
	sk      = "SecretKey"
	project = "0123456789abcdef0123456789abcdef"
	token   = "iam-token-1"
)

var clock = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

type env struct {
	fake *msstest.Fake
	srv  *httptest.Server
}

func newEnv(t *testing.T, mod func(*msstest.Options)) env {
	t.Helper()
	opts := msstest.Options{
		Keys:     map[string]string{ak: sk},
		Tokens:   map[string]time.Time{token: clock.Add(time.Hour)},
		Projects: []string{project},
		Now:      func() time.Time { return clock },
	}
	if mod != nil {
		mod(&opts)
	}
	f := msstest.New(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return env{fake: f, srv: srv}
}

func file(id string) providers.Target {
	return providers.Target{Provider: providers.MSS, ProjectID: project, FileID: id}
}

// request builds an unsigned DELETE for path (relative to the server).
func (e env) request(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	return req
}

// answer is a decoded response.
type answer struct {
	status int
	header http.Header
	body   string
	fields map[string]string
}

func (e env) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if len(b) > 0 && b[0] == '{' {
		require.NoError(t, json.Unmarshal(b, &a.fields), "%s", b)
	}
	return a
}

func (a answer) code() string { return a.fields["error_code"] }

func TestSignedDelete(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.Add(file("f1"))
	req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
	mss.Sign(req, ak, sk, nil, clock)
	a := e.do(t, req)
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.Len(t, a.header.Get(mss.RequestIDHeader), 32)
	assert.Empty(t, a.body)
	assert.False(t, e.fake.Exists(file("f1")))
	assert.Equal(t, 1, e.fake.Deleted())
	assert.Equal(t, 1, e.fake.Calls(file("f1")))

	req = e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
	mss.Sign(req, ak, sk, nil, clock)
	a = e.do(t, req)
	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.JSONEq(t, `{"error_code":"MSS.10001004","error_msg":"The file not found"}`, a.body)
	assert.Equal(t, 2, e.fake.Calls(file("f1")))
	assert.Equal(t, 1, e.fake.Deleted())
}

// TestRejectsTampering signs a request, changes one thing, and expects the gateway's 401 APIG.0301 with
// the file left in place.
func TestRejectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		before func(*http.Request) // before signing
		after  func(*http.Request) // after signing
		sk     string
	}{
		{name: "wrong SK", sk: "OtherSecret"},
		{name: "unknown AK", after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Access="+ak, "Access=Unknown", 1))
		}},
		{name: "path", after: func(r *http.Request) { r.URL.Path = "/v1/" + project + "/files/other" }},
		{name: "query", after: func(r *http.Request) { r.URL.RawQuery = "mode=force" }},
		{name: "signed header", before: func(r *http.Request) { r.Header.Set(mss.AppUserIDHeader, "alice") },
			after: func(r *http.Request) { r.Header.Set(mss.AppUserIDHeader, "mallory") }},
		{name: "date within window", after: func(r *http.Request) {
			r.Header.Set(mss.DateHeader, clock.Add(time.Second).Format(mss.DateFormat))
		}},
		{name: "host", after: func(r *http.Request) { r.Host = "metastudio.cn-north-4.myhuaweicloud.com" }},
		{name: "body", body: "payload-a", after: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("payload-b"))
		}},
		{name: "method in signature", after: func(r *http.Request) {
			// Re-sign as a GET, send as a DELETE.
			g := r.Clone(r.Context())
			g.Method = http.MethodGet
			mss.Sign(g, ak, sk, nil, clock)
			r.Header.Set("Authorization", g.Header.Get("Authorization"))
		}},
		{name: "signed header missing", after: func(r *http.Request) {
			r.Header.Set("Authorization", resign(r, []string{"host", "x-missing", "x-sdk-date"}))
		}},
		{name: "date not signed", after: func(r *http.Request) {
			r.Header.Set("Authorization", resign(r, []string{"host"}))
		}},
		{name: "malformed authorization", after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ", ", ",", 1))
		}},
		{name: "bad date", after: func(r *http.Request) { r.Header.Set(mss.DateHeader, "2025-06-01T10:00:00Z") }},
		{name: "no credentials", after: func(r *http.Request) {
			r.Header.Del("Authorization")
			r.Header.Del(mss.DateHeader)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.fake.Add(file("f1"))
			e.fake.Add(file("other"))
			req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", c.body)
			if c.before != nil {
				c.before(req)
			}
			key := sk
			if c.sk != "" {
				key = c.sk
			}
			mss.Sign(req, ak, key, []byte(c.body), clock)
			if c.after != nil {
				c.after(req)
			}
			a := e.do(t, req)
			assert.Equal(t, http.StatusUnauthorized, a.status, a.body)
			assert.Equal(t, "APIG.0301", a.code())
			assert.Equal(t, a.header.Get(mss.RequestIDHeader), a.fields["request_id"])
			assert.True(t, e.fake.Exists(file("f1")))
			assert.True(t, e.fake.Exists(file("other")))
			assert.Zero(t, e.fake.Deleted())
		})
	}
}

// resign signs r again with an explicit header list (the date header already set).
func resign(r *http.Request, signed []string) string {
	c := r.Clone(r.Context())
	mss.SignRequest(c, ak, sk, signed, mss.EmptyPayloadHash)
	return c.Header.Get("Authorization")
}

func TestBadSignatureBody(t *testing.T) {
	e := newEnv(t, nil)
	req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
	mss.Sign(req, ak, "wrong", nil, clock)
	a := e.do(t, req)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.JSONEq(t, `{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: verify aksk signature fail","request_id":"`+
		a.header.Get(mss.RequestIDHeader)+`"}`, a.body)
}

func TestAcceptsWhatTheSignatureDoesNotCover(t *testing.T) {
	t.Run("unsigned header added later", func(t *testing.T) {
		e := newEnv(t, nil)
		e.fake.Add(file("f1"))
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
		mss.Sign(req, ak, sk, nil, clock)
		req.Header.Set("X-Trace", "abc")
		req.Header.Set("Content-Type", "application/json")
		assert.Equal(t, http.StatusOK, e.do(t, req).status)
	})
	t.Run("signed body", func(t *testing.T) {
		e := newEnv(t, nil)
		e.fake.Add(file("f1"))
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", `{"x":1}`)
		mss.Sign(req, ak, sk, []byte(`{"x":1}`), clock)
		assert.Equal(t, http.StatusOK, e.do(t, req).status)
	})
	t.Run("unsigned payload", func(t *testing.T) {
		e := newEnv(t, nil)
		e.fake.Add(file("f1"))
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "anything")
		req.Header.Set(mss.ContentSHA256Header, mss.UnsignedPayload)
		mss.Sign(req, ak, sk, nil, clock)
		assert.Equal(t, http.StatusOK, e.do(t, req).status)
	})
	t.Run("host not signed", func(t *testing.T) {
		e := newEnv(t, nil)
		e.fake.Add(file("f1"))
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
		mss.Sign(req, ak, sk, nil, clock)
		req.Header.Set("Authorization", resign(req, []string{"x-sdk-date"}))
		assert.Equal(t, http.StatusOK, e.do(t, req).status, "the gateway requires only x-sdk-date signed")
	})
	t.Run("SDK style without host", func(t *testing.T) {
		e := newEnv(t, nil)
		e.fake.Add(file("f1"))
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "huaweicloud-usdk-go/3.0")
		req.Header.Set(mss.ProjectIDHeader, project)
		req.Header.Set(mss.DateHeader, clock.Format(mss.DateFormat))
		mss.SignRequest(req, ak, sk, []string{"user-agent", "x-project-id", "x-sdk-date"}, mss.EmptyPayloadHash)
		assert.Equal(t, http.StatusOK, e.do(t, req).status)
	})
	t.Run("escaped file id", func(t *testing.T) {
		e := newEnv(t, nil)
		e.fake.Add(file("a b+c%d?é"))
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/"+mss.Escape("a b+c%d?é"), "")
		mss.Sign(req, ak, sk, nil, clock)
		assert.Equal(t, http.StatusOK, e.do(t, req).status)
		assert.False(t, e.fake.Exists(file("a b+c%d?é")))
	})
}

func TestClockSkew(t *testing.T) {
	for _, c := range []struct {
		offset time.Duration
		status int
	}{
		{15 * time.Minute, http.StatusOK},
		{-15 * time.Minute, http.StatusOK},
		{15*time.Minute + time.Second, http.StatusUnauthorized},
		{-15*time.Minute - time.Second, http.StatusUnauthorized},
	} {
		t.Run(c.offset.String(), func(t *testing.T) {
			e := newEnv(t, nil)
			e.fake.Add(file("f1"))
			req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
			signedAt := clock.Add(c.offset)
			mss.Sign(req, ak, sk, nil, signedAt)
			a := e.do(t, req)
			require.Equal(t, c.status, a.status, a.body)
			if c.status == http.StatusUnauthorized {
				assert.Equal(t, "APIG.0303", a.code())
				assert.Equal(t, "Incorrect app authentication information: signature expired, signature time:"+
					signedAt.Format(mss.DateFormat)+",server time:20250601T100000Z", a.fields["error_msg"])
				assert.True(t, e.fake.Exists(file("f1")))
			}
		})
	}
	t.Run("custom MaxSkew", func(t *testing.T) {
		e := newEnv(t, func(o *msstest.Options) { o.MaxSkew = time.Minute })
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
		mss.Sign(req, ak, sk, nil, clock.Add(2*time.Minute))
		assert.Equal(t, "APIG.0303", e.do(t, req).code())
	})
}

func TestTokens(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.Add(file("f1"))
	e.fake.AddToken("old-token", clock.Add(-time.Second))
	send := func(tok string) answer {
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
		req.Header.Set(mss.TokenHeader, tok)
		return e.do(t, req)
	}
	a := send("unknown")
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "APIG.0301", a.code())
	assert.Equal(t, "Incorrect IAM authentication information: decrypt token fail", a.fields["error_msg"])

	a = send("old-token")
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "APIG.0307", a.code())
	assert.Equal(t, "The token must be updated", a.fields["error_msg"])
	assert.True(t, e.fake.Exists(file("f1")))

	assert.Equal(t, http.StatusOK, send(token).status)
	e.fake.Add(file("f1"))
	e.fake.ExpireTokens()
	assert.Equal(t, "APIG.0307", send(token).code())
	assert.True(t, e.fake.Exists(file("f1")))
}

func TestRoutes(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.Add(file("f1"))
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/" + project + "/files/f1"},
		{http.MethodPost, "/v1/" + project + "/files/f1"},
		{http.MethodDelete, "/v1/" + project + "/files"},
		{http.MethodDelete, "/v1/" + project + "/files/f1/"},
		{http.MethodDelete, "/v2/" + project + "/files/f1"},
		{http.MethodDelete, "/v1/" + project + "/digital-assets/f1"},
		{http.MethodDelete, "/"},
	} {
		req := e.request(t, c.method, c.path, "")
		mss.Sign(req, ak, sk, nil, clock)
		a := e.do(t, req)
		assert.Equal(t, http.StatusNotFound, a.status, "%s %s", c.method, c.path)
		assert.Equal(t, "APIGW.0101", a.code())
	}
	assert.True(t, e.fake.Exists(file("f1")))
	assert.Zero(t, e.fake.TotalCalls(), "unrouted requests are not DeleteFile calls")
}

func TestUnknownProject(t *testing.T) {
	e := newEnv(t, nil)
	req := e.request(t, http.MethodDelete, "/v1/another-project/files/f1", "")
	mss.Sign(req, ak, sk, nil, clock)
	a := e.do(t, req)
	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.JSONEq(t, `{"error_code":"MSS.00010009","error_msg":"urlTenantId is not equal tokenTenantId"}`, a.body)

	e.fake.AddProject("another-project")
	req = e.request(t, http.MethodDelete, "/v1/another-project/files/f1", "")
	mss.Sign(req, ak, sk, nil, clock)
	assert.Equal(t, "MSS.10001004", e.do(t, req).code(), "a known project without the file")
}

func TestFaultAnswers(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.Add(file("f1"))
	send := func() answer {
		req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
		mss.Sign(req, ak, sk, nil, clock)
		return e.do(t, req)
	}

	e.fake.Faults().SetThrottle(1)
	assert.Equal(t, http.StatusOK, send().status)
	e.fake.Add(file("f1"))
	a := send()
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	assert.JSONEq(t, `{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second",`+
		`"error_code":"APIG.0308","request_id":"`+a.header.Get(mss.RequestIDHeader)+`"}`, a.body)
	assert.Empty(t, a.header.Get("Retry-After"), "APIG documents no Retry-After")
	e.fake.Faults().Reset()

	e.fake.Faults().SetDown(true)
	a = send()
	assert.Equal(t, http.StatusInternalServerError, a.status)
	assert.JSONEq(t, `{"error_code":"MSS.00000004","error_msg":"Internal Error"}`, a.body)
	e.fake.Faults().SetDown(false)

	e.fake.Faults().FailNext(1, faults.Fault{Status: 503, Body: "<html>down</html>"})
	a = send()
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "<html>down</html>", a.body)
	assert.Equal(t, "text/html", a.header.Get("Content-Type"))

	e.fake.Faults().FailNext(1, faults.Fault{Status: 504, Code: "APIG.0203", Message: "Backend timeout"})
	a = send()
	assert.Equal(t, "APIG.0203", a.code())
	assert.NotEmpty(t, a.fields["request_id"], "gateway bodies carry request_id")

	e.fake.Faults().FailNext(1, faults.Fault{Code: "MSS.00021006", Message: "cbc删除失败"})
	a = send()
	assert.Equal(t, http.StatusInternalServerError, a.status, "a fault without status is a 500")
	assert.JSONEq(t, `{"error_code":"MSS.00021006","error_msg":"cbc删除失败"}`, a.body)

	assert.True(t, e.fake.Exists(file("f1")), "faults leave the file in place")
	assert.Equal(t, 6, e.fake.Calls(file("f1")))
	assert.Equal(t, 1, e.fake.Deleted())
}

// TestAuthBeforeFaults: a request the gateway rejects never reaches the injector, so a queued fault
// stays for the next authenticated call.
func TestAuthBeforeFaults(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.Add(file("f1"))
	e.fake.Faults().FailNext(1, faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"})
	req := e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
	mss.Sign(req, ak, "wrong", nil, clock)
	assert.Equal(t, "APIG.0301", e.do(t, req).code())
	req = e.request(t, http.MethodDelete, "/v1/"+project+"/files/f1", "")
	mss.Sign(req, ak, sk, nil, clock)
	assert.Equal(t, "MSS.00000004", e.do(t, req).code())
	assert.Equal(t, 2, e.fake.Calls(file("f1")))
}

func TestInventory(t *testing.T) {
	e := newEnv(t, nil)
	t0 := clock.Add(-48 * time.Hour)
	e.fake.AddAt(file("b"), t0.Add(time.Hour))
	e.fake.AddAt(file("a"), t0.Add(time.Hour))
	e.fake.AddAt(file("c"), t0)
	e.fake.Add(providers.Target{Provider: providers.MSS, ProjectID: "p2", FileID: "x"})
	assert.Equal(t, []msstest.File{
		{ID: "c", Created: t0}, {ID: "a", Created: t0.Add(time.Hour)}, {ID: "b", Created: t0.Add(time.Hour)},
	}, e.fake.Files(project))
	assert.Equal(t, []msstest.File{{ID: "x", Created: clock}}, e.fake.Files("p2"))
	assert.Empty(t, e.fake.Files("nope"))
	assert.Equal(t, 4, e.fake.Len())
}
