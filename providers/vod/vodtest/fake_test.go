package vodtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

var cred = vodtest.Credential{SecretID: "AKIDfakeTest00000000000000000000000", SecretKey: "fakeTestSecretKey000000000000000"}

const subApp = 1500000001

func media(id string) providers.Target {
	return providers.Target{Provider: providers.VOD, FileID: id, SubAppID: subApp}
}

func newServer(t *testing.T, opts vodtest.Options) (*vodtest.Fake, *httptest.Server) {
	t.Helper()
	if len(opts.Credentials) == 0 {
		opts.Credentials = []vodtest.Credential{cred}
	}
	f := vodtest.New(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// answer is a decoded API 3.0 response.
type answer struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func decode(t *testing.T, resp *http.Response) answer {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body struct {
		Response struct {
			Error *struct {
				Code    string
				Message string
			}
			RequestId string
		}
	}
	require.NoError(t, json.Unmarshal(b, &body), "body %q", b)
	require.NotEmpty(t, body.Response.RequestId, "every answer carries a RequestId: %s", b)
	a := answer{Status: resp.StatusCode, RequestID: body.Response.RequestId}
	if e := body.Response.Error; e != nil {
		a.Code, a.Message = e.Code, e.Message
	}
	return a
}

// signed builds a POST the way the SDK does, then lets edit change it before or after signing.
type request struct {
	method, body string
	query        string
	cred         vodtest.Credential
	ts           time.Time
	service      string
	extraSigned  []string
	before       func(*http.Request) // runs before signing
	after        func(*http.Request) // runs after signing
}

func (rq request) send(t *testing.T, srv *httptest.Server) answer {
	t.Helper()
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	if rq.cred == (vodtest.Credential{}) {
		rq.cred = cred
	}
	if rq.ts.IsZero() {
		rq.ts = time.Now()
	}
	if rq.service == "" {
		rq.service = vodtest.Service
	}
	u := srv.URL + "/"
	if rq.query != "" {
		u += "?" + rq.query
	}
	r, err := http.NewRequest(rq.method, u, strings.NewReader(rq.body))
	require.NoError(t, err)
	if rq.method == http.MethodGet {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("X-TC-Action", "DeleteMedia")
	r.Header.Set("X-TC-Version", "2018-07-17")
	if rq.before != nil {
		rq.before(r)
	}
	vodtest.SignRequest(r, []byte(rq.body), rq.cred, rq.service, rq.ts.Unix(), rq.extraSigned...)
	if rq.after != nil {
		rq.after(r)
	}
	resp, err := srv.Client().Do(r)
	require.NoError(t, err)
	return decode(t, resp)
}

// requireCountedWhilePending sends an unsigned POST of action with body while the fake's injector holds
// every answer back, and requires counted to turn true before the answer comes: the fake counts a call
// on arrival, before the injected latency. The request is then abandoned and the latency removed.
func requireCountedWhilePending(t *testing.T, f *vodtest.Fake, srv *httptest.Server, action, body string, counted func() bool) {
	t.Helper()
	f.Faults().SetLatency(time.Minute, 0)
	defer f.Faults().SetLatency(0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", strings.NewReader(body))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-TC-Action", action)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := srv.Client().Do(r); err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, counted, 10*time.Second, time.Millisecond)
	cancel()
	<-done
}

func bodyFor(id string) string {
	return `{"FileId":"` + id + `","SubAppId":` + strconv.Itoa(subApp) + `}`
}

func TestFakeVerifiesRequests(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tokenCred := vodtest.Credential{SecretID: "AKIDtemporary000000000000000000000", SecretKey: "temporarySecretKey00000000000000", Token: "sts-token-1"}
	cases := []struct {
		name string
		req  request
		code string // "" means success
	}{
		{name: "signed like the SDK", req: request{}},
		{name: "4m59s fast clock", req: request{ts: now.Add(-299 * time.Second)}},
		{name: "4m59s slow clock", req: request{ts: now.Add(299 * time.Second)}},
		{name: "6 minutes behind", req: request{ts: now.Add(-6 * time.Minute)}, code: "AuthFailure.SignatureExpire"},
		{name: "6 minutes ahead", req: request{ts: now.Add(6 * time.Minute)}, code: "AuthFailure.SignatureExpire"},
		{name: "x-tc-action signed too, as in the document", req: request{extraSigned: []string{"X-TC-Action"}}},
		{name: "unsigned payload", req: request{
			before: func(r *http.Request) { r.Header.Set("X-TC-Content-SHA256", vodtest.UnsignedPayload) },
			after: func(r *http.Request) {
				// Re-sign with the literal UNSIGNED-PAYLOAD hashed instead of the body.
				ts, _ := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
				canonical, signed := vodtest.CanonicalRequest("POST", "", map[string]string{
					"content-type": r.Header.Get("Content-Type"), "host": r.Host}, vodtest.HashPayload([]byte(vodtest.UnsignedPayload)))
				r.Header.Set("Authorization", vodtest.Authorization(cred.SecretID, ts, "vod", signed, vodtest.Signature(cred.SecretKey, ts, "vod", canonical)))
			}}},
		{name: "temporary credential with its token", req: request{cred: tokenCred}},
		{name: "temporary credential without its token", req: request{cred: tokenCred,
			after: func(r *http.Request) { r.Header.Del("X-TC-Token") }}, code: "AuthFailure.TokenFailure"},
		{name: "wrong secret key", req: request{cred: vodtest.Credential{SecretID: cred.SecretID, SecretKey: "wrongSecretKey000000000000000000"}},
			code: "AuthFailure.SignatureFailure"},
		{name: "unknown secret id", req: request{cred: vodtest.Credential{SecretID: "AKIDunknown", SecretKey: cred.SecretKey}},
			code: "AuthFailure.SecretIdNotFound"},
		{name: "body tampered after signing", req: request{after: func(r *http.Request) {
			b := strings.Replace(bodyFor("m1"), "m1", "m2", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}}, code: "AuthFailure.SignatureFailure"},
		{name: "content-type changed after signing", req: request{after: func(r *http.Request) {
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
		}}, code: "AuthFailure.SignatureFailure"},
		{name: "signed for another host", req: request{before: func(r *http.Request) { r.Host = "vod.tencentcloudapi.com" },
			after: func(r *http.Request) { r.Host = "" }}, code: "AuthFailure.SignatureFailure"},
		{name: "signed for another service", req: request{service: "cvm"}, code: "AuthFailure.SignatureFailure"},
		{name: "scope date is not the UTC date", req: request{after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/2026-11-21/", "/2026-11-22/", 1))
		}}, code: "AuthFailure.SignatureFailure"},
		{name: "signature of another timestamp", req: request{after: func(r *http.Request) {
			r.Header.Set("X-TC-Timestamp", strconv.FormatInt(now.Unix()+1, 10))
		}}, code: "AuthFailure.SignatureFailure"},
		{name: "content-type not signed", req: request{after: func(r *http.Request) {
			ts := now.Unix()
			canonical, signed := vodtest.CanonicalRequest("POST", "", map[string]string{"host": r.Host}, vodtest.HashPayload([]byte(bodyFor("m1"))))
			r.Header.Set("Authorization", vodtest.Authorization(cred.SecretID, ts, "vod", signed, vodtest.Signature(cred.SecretKey, ts, "vod", canonical)))
		}}, code: "AuthFailure.InvalidAuthorization"},
		{name: "other algorithm", req: request{after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "TC3-HMAC-SHA256", "HMAC-SHA256", 1))
		}}, code: "AuthFailure.InvalidAuthorization"},
		{name: "no authorization", req: request{after: func(r *http.Request) { r.Header.Del("Authorization") }},
			code: "AuthFailure.InvalidAuthorization"},
		{name: "no timestamp", req: request{after: func(r *http.Request) { r.Header.Del("X-TC-Timestamp") }}, code: "MissingParameter"},
		{name: "no action", req: request{before: func(r *http.Request) { r.Header.Del("X-TC-Action") }}, code: "MissingParameter"},
		{name: "unknown action", req: request{before: func(r *http.Request) { r.Header.Set("X-TC-Action", "DeleteMediaNow") }}, code: "InvalidAction"},
		{name: "other version", req: request{before: func(r *http.Request) { r.Header.Set("X-TC-Version", "2017-03-12") }}, code: "NoSuchVersion"},
		{name: "unknown parameter", req: request{body: `{"FileId":"m1","SubAppId":1500000001,"Force":true}`}, code: "UnknownParameter"},
		{name: "no FileId", req: request{body: `{"SubAppId":1500000001}`}, code: "MissingParameter"},
		{name: "FileId not a string", req: request{body: `{"FileId":7,"SubAppId":1500000001}`}, code: "InvalidParameter"},
		{name: "unknown part type", req: request{body: `{"FileId":"m1","SubAppId":1500000001,"DeleteParts":[{"Type":"Covers"}]}`}, code: "InvalidParameterValue"},
		{name: "part without type", req: request{body: `{"FileId":"m1","SubAppId":1500000001,"DeleteParts":[{"Definition":10}]}`}, code: "MissingParameter"},
		{name: "not JSON", req: request{body: `FileId=m1`}, code: "InvalidParameter"},
		{name: "unknown sub-application", req: request{body: `{"FileId":"m1","SubAppId":1500000999}`}, code: "InvalidParameterValue.SubAppId"},
		{name: "file not there", req: request{body: `{"FileId":"m404","SubAppId":1500000001}`}, code: "ResourceNotFound"},
		{name: "PUT", req: request{method: http.MethodPut}, code: "UnsupportedProtocol"},
		{name: "GET with the parameters in the query", req: request{method: http.MethodGet, query: "FileId=m1&SubAppId=1500000001"}},
		{name: "GET with the query changed after signing", req: request{method: http.MethodGet, query: "FileId=m2&SubAppId=1500000001",
			after: func(r *http.Request) { r.URL.RawQuery = "FileId=m1&SubAppId=1500000001" }}, code: "AuthFailure.SignatureFailure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newServer(t, vodtest.Options{Now: testclock.New(now).Now,
				Credentials: []vodtest.Credential{cred, tokenCred}})
			f.Add(media("m1"))
			f.Add(media("m2"))
			rq := tc.req
			if rq.body == "" && rq.method != http.MethodGet {
				rq.body = bodyFor("m1")
			}
			if rq.ts.IsZero() {
				rq.ts = now
			}
			a := rq.send(t, srv)
			assert.Equal(t, http.StatusOK, a.Status, "API 3.0 errors come with HTTP 200")
			assert.Equal(t, tc.code, a.Code, a.Message)
			assert.True(t, f.Exists(media("m2")), "nothing but the named media is touched")
			if tc.code == "" {
				assert.False(t, f.Exists(media("m1")))
				assert.Equal(t, 1, f.Deleted())
			} else {
				assert.NotEmpty(t, a.Message)
				assert.True(t, f.Exists(media("m1")), "a refused request changes nothing")
				assert.Zero(t, f.Deleted())
				assert.NotContains(t, a.Message, cred.SecretKey)
			}
		})
	}
}

func TestFakeCountsCallsOnArrival(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	m := media("m1")
	f.Add(m)
	// A refused call still counts: Calls is what reached the service.
	request{body: bodyFor("m1"), cred: vodtest.Credential{SecretID: cred.SecretID, SecretKey: "wrong"}}.send(t, srv)
	assert.Equal(t, 1, f.Calls(m))

	// Counted before the injected latency: visible while the answer is still pending.
	requireCountedWhilePending(t, f, srv, vodtest.ActionDeleteMedia, bodyFor("m1"), func() bool { return f.Calls(m) == 2 })
	assert.True(t, f.Exists(m))

	// Parts targets are counted under their own key.
	withParts := m
	withParts.DeleteParts = []providers.DeletePart{{Type: "TranscodeFiles"}}
	assert.Zero(t, f.Calls(withParts))
}

func TestFakeThrottleOutageAndFaults(t *testing.T) {
	clk := testclock.New(time.Now())
	f, srv := newServer(t, vodtest.Options{Now: clk.Now})
	for i := range 3 {
		f.Add(media("m" + strconv.Itoa(i)))
	}

	f.Faults().SetThrottle(1)
	assert.Empty(t, request{body: bodyFor("m0"), ts: clk.Now()}.send(t, srv).Code)
	a := request{body: bodyFor("m1"), ts: clk.Now()}.send(t, srv)
	assert.Equal(t, "RequestLimitExceeded", a.Code, "the documented throttle answer, with HTTP 200")
	assert.Equal(t, http.StatusOK, a.Status)
	clk.Advance(time.Second) // the fake's clock also drives the throttle
	assert.Empty(t, request{body: bodyFor("m1"), ts: clk.Now()}.send(t, srv).Code)
	f.Faults().Reset()

	f.Faults().SetDown(true)
	resp, err := srv.Client().Post(srv.URL+"/", "application/json", strings.NewReader(bodyFor("m2")))
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, string(page), "502 Bad Gateway")
	f.Faults().SetDown(false)

	f.Faults().FailNext(1, faults.Fault{Status: 500, Code: "InternalError"})
	a = request{body: bodyFor("m2"), ts: clk.Now()}.send(t, srv)
	assert.Equal(t, answer{Status: 500, Code: "InternalError", Message: "Internal error.", RequestID: a.RequestID}, a)

	f.Faults().FailNext(1, faults.Fault{Code: "FailedOperation", Message: "custom"})
	a = request{body: bodyFor("m2"), ts: clk.Now()}.send(t, srv)
	assert.Equal(t, answer{Status: 200, Code: "FailedOperation", Message: "custom", RequestID: a.RequestID}, a)

	f.Faults().FailNext(1, faults.Fault{Body: "<html>oops</html>"})
	resp, err = srv.Client().Post(srv.URL+"/", "application/json", strings.NewReader(bodyFor("m2")))
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "<html>oops</html>", string(page))
	assert.True(t, f.Exists(media("m2")))
}

func TestFakeInventory(t *testing.T) {
	f := vodtest.New(vodtest.Options{})
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.AddAt(media("b"), t0.Add(time.Hour))
	f.AddAt(media("a"), t0.Add(time.Hour))
	f.AddAt(media("c"), t0)
	f.AddMedia(vodtest.Media{FileID: "p", SubAppID: 0, CreateTime: t0, ClassID: 3, Category: "Video",
		SourceType: "Record", StorageRegion: "ap-chongqing", Parts: map[string][]int64{"OriginalFiles": {0}}})
	assert.Equal(t, 4, f.Len())

	var ids []string
	for _, m := range f.List(subApp) {
		ids = append(ids, m.FileID)
	}
	assert.Equal(t, []string{"c", "a", "b"}, ids, "oldest first, FileId breaks ties")

	m, ok := f.Media(providers.Target{Provider: providers.VOD, FileID: "p"})
	require.True(t, ok)
	assert.Equal(t, "ap-chongqing", m.StorageRegion)
	assert.Equal(t, int64(3), m.ClassID)
	m.Parts["OriginalFiles"][0] = 99 // a copy: the inventory is untouched
	again, _ := f.Media(providers.Target{Provider: providers.VOD, FileID: "p"})
	assert.Equal(t, []int64{0}, again.Parts["OriginalFiles"])

	assert.Equal(t, vodtest.DefaultParts(), f.List(subApp)[0].Parts)
	assert.False(t, f.Exists(media("zzz")))
}

// sdkClient is Tencent's official client, configured for the fake.
func sdkClient(srv *httptest.Server, method, secretKey string) *common.Client {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.ReqMethod = method
	return common.NewCommonClient(common.NewCredential(cred.SecretID, secretKey), "", cpf)
}

func sdkDelete(c *common.Client, params map[string]any) error {
	req := tchttp.NewCommonRequest("vod", "2018-07-17", "DeleteMedia")
	if err := req.SetActionParameters(params); err != nil {
		return err
	}
	return c.Send(req, tchttp.NewCommonResponse())
}

func sdkCode(t *testing.T, err error) string {
	t.Helper()
	var sdkErr *tcerr.TencentCloudSDKError
	require.ErrorAs(t, err, &sdkErr)
	assert.NotEmpty(t, sdkErr.GetRequestId())
	return sdkErr.GetCode()
}

// The fake accepts exactly what the official signer produces: the SDK's POST with a JSON body ...
func TestFakeAcceptsOfficialSDKPost(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	m := media("7447398156998994860")
	f.Add(m)
	c := sdkClient(srv, "POST", cred.SecretKey)

	require.NoError(t, sdkDelete(c, map[string]any{"FileId": m.FileID, "SubAppId": uint64(subApp),
		"DeleteParts": []map[string]any{{"Type": "TranscodeFiles", "Definition": 0}}}))
	got, ok := f.Media(m)
	require.True(t, ok)
	assert.NotContains(t, got.Parts, "TranscodeFiles")
	assert.Contains(t, got.Parts, "OriginalFiles")

	require.NoError(t, sdkDelete(c, map[string]any{"FileId": m.FileID, "SubAppId": uint64(subApp)}))
	assert.False(t, f.Exists(m))

	// The SDK reads the fake's error shape as the documented code.
	assert.Equal(t, "ResourceNotFound", sdkCode(t, sdkDelete(c, map[string]any{"FileId": m.FileID, "SubAppId": uint64(subApp)})))

	// A wrong key for a known SecretId is refused as the real service refuses it.
	f.Add(m)
	bad := sdkClient(srv, "POST", "wrongSecretKey000000000000000000")
	assert.Equal(t, "AuthFailure.SignatureFailure", sdkCode(t, sdkDelete(bad, map[string]any{"FileId": m.FileID, "SubAppId": uint64(subApp)})))
	assert.True(t, f.Exists(m))

	// A fake whose clock is six minutes ahead refuses the SDK's current timestamp.
	skewed, skewedSrv := newServer(t, vodtest.Options{Now: func() time.Time { return time.Now().Add(6 * time.Minute) }})
	skewed.Add(m)
	assert.Equal(t, "AuthFailure.SignatureExpire",
		sdkCode(t, sdkDelete(sdkClient(skewedSrv, "POST", cred.SecretKey), map[string]any{"FileId": m.FileID, "SubAppId": uint64(subApp)})))
}

// getDeleteMedia is a typed request like the SDK's generated models, whose name tags the SDK flattens
// into the query of a GET (FileId=..&DeleteParts.0.Type=..).
type getDeleteMedia struct {
	*tchttp.BaseRequest
	FileId      *string    `json:"FileId,omitnil" name:"FileId"`
	SubAppId    *uint64    `json:"SubAppId,omitnil" name:"SubAppId"`
	DeleteParts []*getPart `json:"DeleteParts,omitnil" name:"DeleteParts"`
}

type getPart struct {
	Type       *string `json:"Type,omitnil" name:"Type"`
	Definition *int64  `json:"Definition,omitnil" name:"Definition"`
}

type getResponse struct {
	*tchttp.BaseResponse
	Response *struct {
		RequestId *string `json:"RequestId,omitnil"`
	} `json:"Response"`
}

// ... and its GET with the parameters in a signed query string.
func TestFakeAcceptsOfficialSDKGet(t *testing.T) {
	f, srv := newServer(t, vodtest.Options{})
	m := media("5285890800000000001")
	f.Add(m)
	c := sdkClient(srv, "GET", cred.SecretKey)
	get := func(parts ...*getPart) error {
		req := &getDeleteMedia{BaseRequest: &tchttp.BaseRequest{}, FileId: &m.FileID, SubAppId: &m.SubAppID, DeleteParts: parts}
		req.Init().WithApiInfo("vod", "2018-07-17", "DeleteMedia")
		resp := &getResponse{BaseResponse: &tchttp.BaseResponse{}}
		if err := c.Send(req, resp); err != nil {
			return err
		}
		if resp.Response == nil || resp.Response.RequestId == nil || *resp.Response.RequestId == "" {
			return errors.New("no RequestId in the answer")
		}
		return nil
	}
	typ, def := "TranscodeFiles", int64(100020)
	require.NoError(t, get(&getPart{Type: &typ, Definition: &def}))
	got, ok := f.Media(m)
	require.True(t, ok)
	assert.Equal(t, []int64{100010, 100030}, got.Parts["TranscodeFiles"])

	require.NoError(t, get())
	assert.False(t, f.Exists(m))
	assert.Equal(t, "ResourceNotFound", sdkCode(t, get()))
}
