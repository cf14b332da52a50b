package msstest_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers/mss/msstest"
)

// The fake's verifier reproduces Huawei's published vectors step by step, so it stands on the
// signing guide and the official SDK's tests, not on reaper's client.

// TestGuideVector is the API Signing Guide's worked example (GET on vpcs, content-type and host
// signed), whose canonical request, string to sign, signature and header the guide prints.
func TestGuideVector(t *testing.T) {
	const sk = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
	uri, ok := msstest.CanonicalURI("/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs")
	require.True(t, ok)
	query, ok := msstest.CanonicalQuery("marker=13551d6b-755d-4757-b956-536f674975c0&limit=2")
	require.True(t, ok)
	canonical, signed := msstest.CanonicalRequest("GET", uri, query, map[string][]string{
		"Content-Type": {"application/json"}, "Host": {"service.region.example.com"}, "X-Sdk-Date": {"20191115T033655Z"},
	}, msstest.HashPayload(nil))
	assert.Equal(t, "content-type;host;x-sdk-date", signed)
	assert.Equal(t, "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n"+
		"limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n"+
		"content-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n\n"+
		"content-type;host;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", canonical)
	sts := msstest.StringToSign("20191115T033655Z", canonical)
	assert.Equal(t, "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a", sts)
	sig := msstest.Signature(sk, sts)
	assert.Equal(t, "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe", sig)
	assert.Equal(t, "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, "+
		"Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
		msstest.Authorization("QTWAOYTTINDUT2QVKYUC", signed, sig))
}

// TestSDKSignerVectors are huaweicloud-sdk-go-v3's own signer tests (core/auth/signer/signer_test.go):
// only x-sdk-date signed, once without a body and once with a JSON body as json.Encoder writes it.
func TestSDKSignerVectors(t *testing.T) {
	for _, c := range []struct {
		name, method, query, body, payloadHash, signature string
	}{
		{"GET", "GET", "limit=1", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"},
		{"POST", "POST", "key=value", "{\"Name\":\"test\",\"Id\":1}\n", "a29d7b4c5efd1a22011d69fd7b7aee76fe51e4083c609244228de258afd61289",
			"cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.payloadHash, msstest.HashPayload([]byte(c.body)))
			uri, _ := msstest.CanonicalURI("/path")
			query, _ := msstest.CanonicalQuery(c.query)
			canonical, signed := msstest.CanonicalRequest(c.method, uri, query,
				map[string][]string{"x-sdk-date": {"20060102T150405Z"}}, c.payloadHash)
			if c.method == "GET" {
				assert.Equal(t, "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n"+c.payloadHash, canonical)
				assert.Equal(t, "85c3b7730f308aee452b16138a42a914397e43a8f0d732dfa521c0ef2afa98a4", msstest.HashPayload([]byte(canonical)))
			}
			assert.Equal(t, "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature="+c.signature,
				msstest.Authorization("AccessKey", signed, msstest.Signature("SecretKey", msstest.StringToSign("20060102T150405Z", canonical))))
		})
	}
}

// TestCanonicalQueryVector is the SDK's canonical query test: repeated names with sorted values,
// "/" and non-ASCII encoded, a space as %20, reserved characters as upper-case hex, whatever escaping
// the request itself used.
func TestCanonicalQueryVector(t *testing.T) {
	q := url.Values{"test": {"一 (&=?!#%.*)"}, "path": {"/tmp/123"}, "multi": {"3", "1", "2"}, "limit": {"1"}, "enable": {"true"}}
	got, ok := msstest.CanonicalQuery(q.Encode()) // Encode writes a space as '+'
	require.True(t, ok)
	assert.Equal(t, "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29", got)

	_, ok = msstest.CanonicalQuery("a=%zz")
	assert.False(t, ok, "a query that does not parse")
}

// TestDeleteFileVector is DeleteFile's shape (host and date signed, empty body), computed
// independently in the research notes.
func TestDeleteFileVector(t *testing.T) {
	uri, ok := msstest.CanonicalURI("/v1/0123456789abcdef0123456789abcdef/files/file-123")
	require.True(t, ok)
	canonical, signed := msstest.CanonicalRequest("DELETE", uri, "", map[string][]string{
		"host": {"metastudio.cn-north-4.myhuaweicloud.com"}, "x-sdk-date": {"20240101T000000Z"},
	}, msstest.HashPayload(nil))
	assert.Equal(t, "host;x-sdk-date", signed)
	assert.Equal(t, "9216621ef1dec8a649c3ae176efa93545d6d51364f1a01a0473d6fade25ae8b0", msstest.HashPayload([]byte(canonical)))
	assert.Equal(t, "4dc7840385a28b3e694f4b08bad5d8c7ac6d6e05e8a27f83ab02e141ee77028f",
		msstest.Signature("SecretKey", msstest.StringToSign("20240101T000000Z", canonical)))
}

func TestCanonicalURI(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "/",
		"/v1/p/files/a%20b":  "/v1/p/files/a%20b/",
		"/v1/p/files/a+b~":   "/v1/p/files/a%2Bb~/",
		"/v1/p/files/a%2Fb":  "/v1/p/files/a%2Fb/", // an encoded "/" stays inside its segment
		"/v1/p/files/%c3%a9": "/v1/p/files/%C3%A9/",
		"/v1/p/":             "/v1/p/",
	} {
		got, ok := msstest.CanonicalURI(in)
		require.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	_, ok := msstest.CanonicalURI("/v1/%zz")
	assert.False(t, ok)
}
