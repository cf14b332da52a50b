package vodtest_test

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

// The published inputs shared by vectors A and B (signature-v3 document, DescribeInstances on cvm).
const (
	vectorTimestamp = 1551113065 // 2019-02-26 in UTC+8, but 2019-02-25 in UTC: the scope date is UTC
	vectorPayload   = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	vectorHost      = "cvm.tencentcloudapi.com"
	vectorCT        = "application/json; charset=utf-8"
)

func TestHashPayloadVector(t *testing.T) {
	assert.Equal(t, "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064",
		vodtest.HashPayload([]byte(vectorPayload)))
	assert.Equal(t, "2019-02-25", vodtest.Date(vectorTimestamp))
}

// Vector A is the current document's example: x-tc-action is signed too, its value lowercased.
func TestVectorA(t *testing.T) {
	secretKey := strings.Repeat("*", 32) // the document masks the key; its SecretDate matches 32 '*'
	canonical, signed := vodtest.CanonicalRequest("POST", "", map[string]string{
		"Content-Type": vectorCT, "Host": vectorHost, "X-TC-Action": "DescribeInstances",
	}, vodtest.HashPayload([]byte(vectorPayload)))
	assert.Equal(t, "content-type;host;x-tc-action", signed)
	assert.Equal(t, "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"+
		"x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n"+
		"35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064", canonical)
	assert.Equal(t, "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"+
		"7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84",
		vodtest.StringToSign(vectorTimestamp, "cvm", canonical))

	date, service, signing := vodtest.DerivedKeys(secretKey, "2019-02-25", "cvm")
	assert.Equal(t, "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0", hex.EncodeToString(date))
	assert.Equal(t, "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f", hex.EncodeToString(service))
	assert.Equal(t, "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af", hex.EncodeToString(signing))
	assert.Equal(t, "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f",
		vodtest.Signature(secretKey, vectorTimestamp, "cvm", canonical))
}

// Vector B is the older document's example (content-type;host only), copied into many SDKs' tests;
// it pins the whole Authorization header.
func TestVectorB(t *testing.T) {
	cred := vodtest.Credential{SecretID: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", SecretKey: "Gu5t9xGARNpq86cd98joQYCN3*******"}
	canonical, signed := vodtest.CanonicalRequest("POST", "", map[string]string{
		"content-type": vectorCT, "host": vectorHost,
	}, vodtest.HashPayload([]byte(vectorPayload)))
	assert.Equal(t, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
		vodtest.HashPayload([]byte(canonical)))
	date, service, signing := vodtest.DerivedKeys(cred.SecretKey, "2019-02-25", "cvm")
	assert.Equal(t, "f1cb4d518a0eda9d5cbbfdb7850983f1e603eeae484edea76e4dd8d8deb5556e", hex.EncodeToString(date))
	assert.Equal(t, "e7c609ce81bea53546bed2cc904778bef9ca14082e48e67883443ed64e227cd7", hex.EncodeToString(service))
	assert.Equal(t, "8aa8ab5755582f576e94bcfe383b8e29325b0ca90c3590d569221c6a63a091ed", hex.EncodeToString(signing))
	sig := vodtest.Signature(cred.SecretKey, vectorTimestamp, "cvm", canonical)
	want := "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, " +
		"SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
	assert.Equal(t, want, vodtest.Authorization(cred.SecretID, vectorTimestamp, "cvm", signed, sig))

	// SignRequest on a real *http.Request produces the same header.
	r, err := http.NewRequest(http.MethodPost, "https://"+vectorHost+"/", strings.NewReader(vectorPayload))
	require.NoError(t, err)
	r.Header.Set("Content-Type", vectorCT)
	vodtest.SignRequest(r, []byte(vectorPayload), cred, "cvm", vectorTimestamp)
	assert.Equal(t, want, r.Header.Get("Authorization"))
	assert.Equal(t, "1551113065", r.Header.Get("X-TC-Timestamp"))
}

// Vector C is what the Go SDK sends for DeleteMedia (no charset, content-type;host), computed
// independently in the research notes.
func TestVectorC(t *testing.T) {
	body := []byte(`{"FileId":"7447398156998994860","SubAppId":1}`)
	assert.Equal(t, "13dd18ad7f43707e870783d6ca32384c744221451609452c940db87cf500858e", vodtest.HashPayload(body))
	canonical, _ := vodtest.CanonicalRequest("POST", "", map[string]string{
		"content-type": "application/json", "host": "vod.tencentcloudapi.com",
	}, vodtest.HashPayload(body))
	assert.Equal(t, "e05daaf1d849f632cd1390b514bc28a7677f56da02e2f739cf2b9b272a60fc24",
		vodtest.HashPayload([]byte(canonical)))
	assert.Equal(t, "a47402319c0143d86ef3ad7e3e32a106695006281af407f63a6ae3113aed9974",
		vodtest.Signature("Gu5t9xGARNpq86cd98joQYCN3*******", vectorTimestamp, "vod", canonical))
}
