package vod_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/providertest"
	"github.com/reaper-media/reaper/providers/vod"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

const (
	secretID  = "AKIDvodConformance000000000000000000"
	secretKey = "vodConformanceSecretKey000000000"
	wrongKey  = "vodWrongSecretKey000000000000000"
	subApp    = 1500012345
)

var testCred = vodtest.Credential{SecretID: secretID, SecretKey: secretKey}

func newFake() *vodtest.Fake {
	return vodtest.New(vodtest.Options{Credentials: []vodtest.Credential{testCred}})
}

func newClient(t testing.TB, cfg vod.Config) *vod.Client {
	t.Helper()
	if cfg.SecretID == "" {
		cfg.SecretID, cfg.SecretKey = secretID, secretKey
	}
	c, err := vod.New(cfg)
	require.NoError(t, err)
	return c
}

// fileTarget is the i-th test media, in the conformance sub-application.
func fileTarget(i int) providers.Target {
	return providers.Target{Provider: providers.VOD, FileID: strconv.FormatInt(5285890800000000000+int64(i), 10), SubAppID: subApp}
}

const gatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"

func documentedErrors() []providertest.CodeCase {
	c := func(class providers.Class, codes ...string) []providertest.CodeCase {
		var out []providertest.CodeCase
		for _, code := range codes {
			out = append(out, providertest.CodeCase{Fault: faults.Fault{Code: code}, Class: class})
		}
		return out
	}
	var cases []providertest.CodeCase
	cases = append(cases, c(providers.Gone,
		"ResourceNotFound", "ResourceNotFound.FileNotExist", "InvalidParameterValue.FileId")...)
	cases = append(cases, c(providers.Retry,
		"FailedOperation", "FailedOperation.NetWorkError", "InternalError", "InternalError.DBError",
		"ServiceUnavailable", "ResourceUnavailable", "ResourceInsufficient", "ResourceInUse")...)
	cases = append(cases, c(providers.Throttled,
		"RequestLimitExceeded", "RequestLimitExceeded.UinLimitExceeded",
		"RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded")...)
	cases = append(cases, c(providers.Fatal,
		"AuthFailure.SignatureFailure", "AuthFailure.SignatureExpire", "AuthFailure.SecretIdNotFound",
		"AuthFailure.InvalidSecretId", "AuthFailure.InvalidAuthorization", "AuthFailure.MFAFailure",
		"AuthFailure.TokenFailure", "AuthFailure.UnauthorizedOperation", "UnauthorizedOperation",
		"FailedOperation.InvalidVodUser", "FailedOperation.InvalidAccount", "FailedOperation.NoPrivileges",
		"ResourceNotFound.UserNotExist", "ResourceNotFound.ServiceNotExist",
		"InvalidParameter", "InvalidParameterValue", "InvalidParameterValue.SubAppId", "MissingParameter",
		"UnknownParameter", "InvalidAction", "InvalidRequest", "NoSuchVersion", "NoSuchProduct",
		"UnsupportedRegion", "UnsupportedProtocol", "UnsupportedOperation", "ActionOffline", "DryRunOperation",
		"LimitExceeded", "RequestSizeLimitExceeded", "ResponseSizeLimitExceeded", "IpInBlacklist", "IpNotInWhitelist")...)
	return append(cases,
		// An error body wins over the HTTP status, as in the SDK.
		providertest.CodeCase{Fault: faults.Fault{Status: 500, Code: "InternalError"}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 400, Code: "InvalidParameter"}, Class: providers.Fatal},
		// Codes nobody documented: by HTTP status (200 retries, any other 4xx is fatal).
		providertest.CodeCase{Fault: faults.Fault{Code: "NewFailure.NotYetDocumented"}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 403, Code: "Forbidden.NotYetDocumented"}, Class: providers.Fatal},
		providertest.CodeCase{Fault: faults.Fault{Status: 429, Code: "TooMany.NotYetDocumented"}, Class: providers.Throttled},
		// Bodies that are not API 3.0 JSON: gateway pages, empty objects, truncation, the legacy shape.
		providertest.CodeCase{Fault: faults.Fault{Status: 502, Body: gatewayPage, ContentType: "text/html"}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 503, Body: "{}", ContentType: "application/json"}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 504, Body: "upstream request timeout", ContentType: "text/plain"}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 503}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 200, Body: `{"Response":{"RequestId":"3f1`, ContentType: "application/json"}, Class: providers.Retry},
		providertest.CodeCase{Fault: faults.Fault{Status: 404, Body: "<html>404 Not Found</html>", ContentType: "text/html"}, Class: providers.Fatal},
		providertest.CodeCase{Fault: faults.Fault{Status: 429, Body: "Too Many Requests", ContentType: "text/plain"}, Class: providers.Throttled},
		providertest.CodeCase{Fault: faults.Fault{Body: `{"code":4000,"message":"bad","codeDesc":"InvalidParameter"}`, ContentType: "application/json"}, Class: providers.Fatal},
	)
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		NewFake: func(testing.TB) faults.Fake { return newFake() },
		NewClient: func(t testing.TB, endpoint string, creds providertest.Credentials, timeout time.Duration) providers.Deleter {
			key := secretKey
			if creds == providertest.Invalid {
				key = wrongKey // a known SecretId with the wrong key: AuthFailure.SignatureFailure
			}
			return newClient(t, vod.Config{Endpoint: endpoint, SecretID: secretID, SecretKey: key, Timeout: timeout})
		},
		Target:           fileTarget,
		DocumentedErrors: documentedErrors(),
		Secrets:          []string{secretKey, wrongKey, secretID},
	})
}

func TestDefaultCodesCoverCommonErrors(t *testing.T) {
	// Every API 3.0 common error code (213/33281) has a deliberate entry.
	common := []string{"ActionOffline", "AuthFailure.InvalidAuthorization", "AuthFailure.InvalidSecretId",
		"AuthFailure.MFAFailure", "AuthFailure.SecretIdNotFound", "AuthFailure.SignatureExpire",
		"AuthFailure.SignatureFailure", "AuthFailure.TokenFailure", "AuthFailure.UnauthorizedOperation",
		"DryRunOperation", "FailedOperation", "InternalError", "InvalidAction", "InvalidParameter",
		"InvalidParameterValue", "InvalidRequest", "IpInBlacklist", "IpNotInWhitelist", "LimitExceeded",
		"MissingParameter", "NoSuchProduct", "NoSuchVersion", "RequestLimitExceeded",
		"RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded",
		"RequestLimitExceeded.UinLimitExceeded", "RequestSizeLimitExceeded", "ResourceInUse",
		"ResourceInsufficient", "ResourceNotFound", "ResourceUnavailable", "ResponseSizeLimitExceeded",
		"ServiceUnavailable", "UnauthorizedOperation", "UnknownParameter", "UnsupportedOperation",
		"UnsupportedProtocol", "UnsupportedRegion"}
	table := providers.NewTable(vod.DefaultCodes())
	for _, code := range common {
		_, ok := table.Lookup(code)
		assert.True(t, ok, "common error code %s has no entry", code)
	}
	for code, class := range vod.DefaultCodes() {
		_, err := providers.ParseClass(string(class))
		assert.NoError(t, err, code)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	ok := vod.Config{SecretID: secretID, SecretKey: secretKey}
	cases := []struct {
		name  string
		edit  func(*vod.Config)
		field string
	}{
		{"no secret id", func(c *vod.Config) { c.SecretID = "" }, "SecretID"},
		{"no secret key", func(c *vod.Config) { c.SecretKey = "" }, "SecretKey"},
		{"blank in key", func(c *vod.Config) { c.SecretKey = secretKey + " " }, "SecretKey"},
		{"negative timeout", func(c *vod.Config) { c.Timeout = -time.Second }, "Timeout"},
		{"bad region", func(c *vod.Config) { c.Region = "Guangzhou City" }, "Region"},
		{"ftp endpoint", func(c *vod.Config) { c.Endpoint = "ftp://vod.tencentcloudapi.com" }, "Endpoint"},
		{"endpoint with path", func(c *vod.Config) { c.Endpoint = "https://vod.tencentcloudapi.com/v3" }, "Endpoint"},
		{"endpoint with query", func(c *vod.Config) { c.Endpoint = "http://127.0.0.1:1/?x=1" }, "Endpoint"},
		{"bad class", func(c *vod.Config) { c.Codes = map[string]providers.Class{"FailedOperation": "later"} }, "Codes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := vod.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
			assert.NotContains(t, err.Error(), secretKey)
		})
	}
	for _, ep := range []string{"", vod.IntlEndpoint, "https://vod.ap-guangzhou.tencentcloudapi.com", "http://127.0.0.1:8080", "http://127.0.0.1:8080/"} {
		cfg := ok
		cfg.Endpoint = ep
		_, err := vod.New(cfg)
		assert.NoError(t, err, ep)
	}
}

// capture is a RoundTripper that answers every request with a canned success and keeps the request,
// so the wire format can be checked without a network.
type capture struct {
	reqs []*http.Request
	body [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.reqs, c.body = append(c.reqs, r), append(c.body, b)
	return &http.Response{StatusCode: 200, Status: "200 OK", Request: r,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(`{"Response":{"RequestId":"b5b41468-520d-4192-b42f-595cc34b6c1c"}}`))}, nil
}

func TestWireFormat(t *testing.T) {
	cases := []struct {
		endpoint, region, url, host string
	}{
		{"", "", "https://vod.tencentcloudapi.com/", "vod.tencentcloudapi.com"},
		{vod.IntlEndpoint, "ap-singapore", "https://vod.intl.tencentcloudapi.com/", "vod.intl.tencentcloudapi.com"},
		{"http://127.0.0.1:9", "", "http://127.0.0.1:9/", "127.0.0.1:9"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			rt := &capture{}
			c := newClient(t, vod.Config{Endpoint: tc.endpoint, Region: tc.region, HTTPClient: &http.Client{Transport: rt}})
			tg := providers.Target{Provider: providers.VOD, FileID: "7447398156998994860", SubAppID: 1,
				DeleteParts: []providers.DeletePart{{Type: "TranscodeFiles", Definition: 230}, {Type: "WechatPublishFiles"}}}
			res, err := c.Delete(context.Background(), tg)
			require.NoError(t, err)
			assert.Equal(t, "b5b41468-520d-4192-b42f-595cc34b6c1c", res.RequestID)

			require.Len(t, rt.reqs, 1, "exactly one request, no SDK retries")
			r, body := rt.reqs[0], rt.body[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, tc.url, r.URL.String())
			assert.Equal(t, tc.host, r.Host)
			assert.Equal(t, "DeleteMedia", r.Header.Get("X-TC-Action"))
			assert.Equal(t, "2018-07-17", r.Header.Get("X-TC-Version"))
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			if tc.region == "" {
				assert.NotContains(t, r.Header, "X-Tc-Region")
			} else {
				assert.Equal(t, tc.region, r.Header.Get("X-TC-Region"))
			}
			assert.JSONEq(t, `{"FileId":"7447398156998994860","SubAppId":1,"DeleteParts":[
				{"Type":"TranscodeFiles","Definition":230},{"Type":"WechatPublishFiles","Definition":0}]}`, string(body))

			// The signature checks out under the hand-written TC3 implementation.
			ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
			require.NoError(t, err)
			canonical, signed := vodtest.CanonicalRequest("POST", "", map[string]string{
				"content-type": r.Header.Get("Content-Type"), "host": r.Host}, vodtest.HashPayload(body))
			assert.Equal(t, vodtest.Authorization(secretID, ts, "vod", signed, vodtest.Signature(secretKey, ts, "vod", canonical)),
				r.Header.Get("Authorization"))
		})
	}
}

func TestLargeSubAppIDIsExact(t *testing.T) {
	rt := &capture{}
	c := newClient(t, vod.Config{HTTPClient: &http.Client{Transport: rt}})
	_, err := c.Delete(context.Background(), providers.Target{Provider: providers.VOD, FileID: "1", SubAppID: 18446744073709551615})
	require.NoError(t, err)
	assert.Contains(t, string(rt.body[0]), `"SubAppId":18446744073709551615`, "no float64 round trip")
}

func TestSubAppIDDefault(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL, SubAppID: subApp})

	stored := fileTarget(1) // in subApp
	f.Add(stored)
	given := stored
	given.SubAppID = 0 // the manifest line names no sub-application
	_, err := c.Delete(context.Background(), given)
	require.NoError(t, err)
	assert.False(t, f.Exists(stored))
	assert.Equal(t, 1, f.Calls(stored), "the call named the config's sub-application")

	// A target's own sub-application wins over the default.
	other := providers.Target{Provider: providers.VOD, FileID: "42", SubAppID: 1500000002}
	f.Add(other)
	_, err = c.Delete(context.Background(), other)
	require.NoError(t, err)
	assert.False(t, f.Exists(other))
}

func TestUnknownSubAppIsFatal(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	_, err := c.Delete(context.Background(), providers.Target{Provider: providers.VOD, FileID: "1", SubAppID: 1599999999})
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "InvalidParameterValue.SubAppId", pe.Code)
	assert.Equal(t, providers.Fatal, pe.Class)
	assert.NotEmpty(t, pe.RequestID)
}

func TestInvalidTargetFailsBeforeAnyRequest(t *testing.T) {
	f := newFake()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	base := providers.Target{Provider: providers.VOD, FileID: "5285890800000000001"}
	cases := map[string]func(*providers.Target){
		"no file id":        func(t *providers.Target) { t.FileID = "" },
		"slash in file id":  func(t *providers.Target) { t.FileID = "a/b" },
		"unknown part type": func(t *providers.Target) { t.DeleteParts = []providers.DeletePart{{Type: "Covers"}} },
		"negative definition": func(t *providers.Target) {
			t.DeleteParts = []providers.DeletePart{{Type: "TranscodeFiles", Definition: -1}}
		},
		"smh field":      func(t *providers.Target) { t.Path = "a/b.mp4" },
		"other provider": func(t *providers.Target) { t.Provider = providers.MSS },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			tg := base
			edit(&tg)
			_, err := c.Delete(context.Background(), tg)
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "InvalidTarget", pe.Code)
			assert.Zero(t, pe.HTTPStatus)
		})
	}
	assert.Zero(t, hits.Load(), "an invalid target must not reach the service")
}

func TestDeleteParts(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	media := fileTarget(7)
	f.Add(media)
	parts := func(ps ...providers.DeletePart) providers.Target {
		tg := media
		tg.DeleteParts = ps
		return tg
	}
	del := func(tg providers.Target) {
		t.Helper()
		_, err := c.Delete(context.Background(), tg)
		require.NoError(t, err)
	}
	current := func() map[string][]int64 {
		t.Helper()
		m, ok := f.Media(media)
		require.True(t, ok, "parts deletes keep the media")
		return m.Parts
	}

	one := parts(providers.DeletePart{Type: "TranscodeFiles", Definition: 100010})
	del(one)
	assert.Equal(t, []int64{100020, 100030}, current()["TranscodeFiles"])
	assert.False(t, f.Exists(one))
	assert.True(t, f.Exists(media))

	del(parts(providers.DeletePart{Type: "TranscodeFiles"})) // Definition 0: every transcode
	assert.NotContains(t, current(), "TranscodeFiles")
	assert.Contains(t, current(), "OriginalFiles")
	assert.Contains(t, current(), "AdaptiveDynamicStreamingFiles")

	del(parts(providers.DeletePart{Type: "OriginalFiles"}, providers.DeletePart{Type: "AdaptiveDynamicStreamingFiles", Definition: 10}))
	assert.Empty(t, current())
	assert.True(t, f.Exists(media), "the media record stays until it is deleted without parts")

	del(media)
	assert.False(t, f.Exists(media))
	_, err := c.Delete(context.Background(), one)
	assert.Equal(t, providers.Gone, providers.ClassOf(err), "%v", err)
	assert.Equal(t, 2, f.Calls(one), "calls are counted per target, parts included")
}

func TestThrottleCarriesRetryAfterAndIsNotRetriedBySDK(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"The number of requests exceeds the frequency limit."},"RequestId":"r-1"}}`)
	}))
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	_, err := c.Delete(context.Background(), fileTarget(1))
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Throttled, pe.Class)
	assert.Equal(t, 7*time.Second, pe.RetryAfter)
	assert.Equal(t, "r-1", pe.RequestID)
	assert.Equal(t, http.StatusOK, pe.HTTPStatus)
	assert.Equal(t, int64(1), hits.Load(), "the SDK's rate-limit retries are off")
}

func TestConnectionResetIsNetworkError(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	_, err := c.Delete(context.Background(), fileTarget(1))
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Retry, pe.Class)
	assert.Equal(t, "NetworkError", pe.Code)
	assert.Zero(t, pe.HTTPStatus)
	assert.Equal(t, int64(1), hits.Load(), "the SDK's network retries are off")
}

func TestCodesOverride(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL, Codes: map[string]providers.Class{"FailedOperation": providers.Fatal}})
	tg := fileTarget(1)
	f.Add(tg)
	f.Faults().FailNext(1, faults.Fault{Code: "FailedOperation"})
	_, err := c.Delete(context.Background(), tg)
	assert.Equal(t, providers.Fatal, providers.ClassOf(err), "%v", err)
}

// A server that compresses unasked, under a transport that does not decompress, must not get past the
// body cap: decompression happens below the cap, not in the SDK above it.
func TestCompressedBodiesAreCappedAfterDecoding(t *testing.T) {
	zip := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	bomb := zip(`{"Response":{"RequestId":"` + strings.Repeat("x", 8<<20) + `"}}`)
	small := zip(`{"Response":{"RequestId":"gz-1"}}`)
	var payload atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(*payload.Load())
	}))
	defer srv.Close()
	plain := &http.Transport{DisableCompression: true}
	defer plain.CloseIdleConnections()
	c := newClient(t, vod.Config{Endpoint: srv.URL, HTTPClient: &http.Client{Transport: plain}})

	payload.Store(&small)
	res, err := c.Delete(context.Background(), fileTarget(1))
	require.NoError(t, err)
	assert.Equal(t, "gz-1", res.RequestID)

	require.Less(t, len(bomb), providers.MaxBodyBytes, "the compressed body alone fits the cap")
	payload.Store(&bomb)
	_, err = c.Delete(context.Background(), fileTarget(2))
	require.Error(t, err)
	assert.True(t, errors.Is(err, providers.ErrBodyTooLarge), "%v", err)
	assert.Equal(t, providers.Retry, providers.ClassOf(err))
	assert.Less(t, len(err.Error()), 1000, "the error does not quote the body")
}

// The SDK leaves the body open when reading it fails; Delete closes it and cancels the request's
// context, either of which releases the connection instead of stalling the server mid-write.
func TestOversizedBodyReleasesConnection(t *testing.T) {
	released := make(chan struct{})
	chunk := []byte(strings.Repeat("<html>gateway error</html>", 2048))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(released)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		for {
			if _, err := w.Write(chunk); err != nil {
				return // the client closed the connection
			}
		}
	}))
	defer srv.Close()
	defer srv.CloseClientConnections() // runs first: unblocks the handler if the test fails
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	_, err := c.Delete(context.Background(), fileTarget(1))
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, providers.Retry, pe.Class)
	assert.Equal(t, http.StatusBadGateway, pe.HTTPStatus)
	assert.ErrorIs(t, err, providers.ErrBodyTooLarge)
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("the response body was left open: the server is still writing")
	}
}

func TestResultAndErrorCarryRequestID(t *testing.T) {
	f := vodtest.New(vodtest.Options{Credentials: []vodtest.Credential{testCred}, SubAppIDs: []uint64{subApp}})
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, vod.Config{Endpoint: srv.URL})
	_, err := c.Delete(context.Background(), fileTarget(1)) // never added
	pe, ok := providers.AsError(err)
	require.True(t, ok)
	assert.Equal(t, "ResourceNotFound", pe.Code)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, pe.RequestID)
	assert.Equal(t, "vod", string(pe.Provider))
}

func TestClockSkewIsFatal(t *testing.T) {
	f := vodtest.New(vodtest.Options{
		Credentials: []vodtest.Credential{testCred},
		Now:         func() time.Time { return time.Now().Add(6 * time.Minute) },
	})
	srv := httptest.NewServer(f)
	defer srv.Close()
	tg := fileTarget(1)
	f.Add(tg)
	_, err := newClient(t, vod.Config{Endpoint: srv.URL}).Delete(context.Background(), tg)
	pe, ok := providers.AsError(err)
	require.True(t, ok)
	assert.Equal(t, "AuthFailure.SignatureExpire", pe.Code)
	assert.Equal(t, providers.Fatal, pe.Class)
	assert.True(t, f.Exists(tg))
}

// BenchmarkDelete measures deletes per second through the SDK against the fake over loopback.
func BenchmarkDelete(b *testing.B) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(b, vod.Config{Endpoint: srv.URL})
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tg := fileTarget(int(next.Add(1)))
			f.Add(tg)
			if _, err := c.Delete(context.Background(), tg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
}

// ExampleNew shows the configuration for the international site with a sub-application.
func ExampleNew() {
	c, err := vod.New(vod.Config{
		Endpoint:  vod.IntlEndpoint,
		SecretID:  "AKIDexample",
		SecretKey: "example-secret-key",
		SubAppID:  1500000001,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Provider())
	// Output: vod
}

// The SDK's own http.Client would follow a 302 with the signed request; reaper's transport refuses.
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				elsewhere.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"Response":{"RequestId":"followed"}}`)
			}))
			defer other.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/" {
					elsewhere.Add(1)
				}
				http.Redirect(w, r, other.URL+"/elsewhere?token=s3cret-in-query", status)
			}))
			defer srv.Close()
			c := newClient(t, vod.Config{Endpoint: srv.URL})
			res, err := c.Delete(context.Background(), fileTarget(1))
			pe, ok := providers.AsError(err)
			require.True(t, ok, "%v (result %+v)", err, res)
			assert.Equal(t, providers.Fatal, pe.Class)
			assert.Equal(t, "UnexpectedRedirect", pe.Code)
			assert.Equal(t, status, pe.HTTPStatus)
			assert.Contains(t, pe.Message, "endpoint redirects to "+other.URL+"/elsewhere")
			assert.NotContains(t, err.Error(), "s3cret-in-query")
			assert.NotContains(t, err.Error(), secretKey)
			assert.Zero(t, elsewhere.Load(), "the signed request was sent elsewhere")
		})
	}
}
