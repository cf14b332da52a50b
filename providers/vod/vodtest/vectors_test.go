package vodtest_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/providertest"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

// sdkVector is one request recorded from an official SDK (providertest.SDKVectors).
type sdkVector = providertest.SDKVector

func vodVectors(t *testing.T) []sdkVector {
	t.Helper()
	return providertest.SDKVectors(t, "vod ", 2)
}

// oneDigitChanged changes the first digit of a JSON body to the next one: the body stays valid JSON,
// so only the signature can refuse it.
func oneDigitChanged(body string) string {
	i := strings.IndexAny(body, "0123456789")
	return body[:i] + string('0'+(body[i]-'0'+1)%10) + body[i+1:]
}

// TestOfficialSDKRequests: what Tencent's CommonClient sends for DeleteMedia is accepted with the key
// that signed it, at the X-TC-Timestamp it was signed, and refused with another key or with one byte
// of the body or of a signed header (Host) changed.
func TestOfficialSDKRequests(t *testing.T) {
	for _, v := range vodVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			ts, err := strconv.ParseInt(v.Headers.Get("X-TC-Timestamp"), 10, 64)
			require.NoError(t, err)
			var call struct {
				FileId      string
				SubAppId    uint64
				DeleteParts []struct {
					Type       string
					Definition int64
				}
			}
			require.NoError(t, json.Unmarshal([]byte(v.Body), &call))
			target := providers.Target{Provider: providers.VOD, FileID: call.FileId, SubAppID: call.SubAppId}
			for _, p := range call.DeleteParts {
				target.DeleteParts = append(target.DeleteParts, providers.DeletePart{Type: p.Type, Definition: p.Definition})
			}
			key := v.Keys["secret_key"]

			for _, c := range []struct {
				name      string
				secretKey string
				body      string
				host      string
				ok        bool
			}{
				{name: "as recorded", secretKey: key, body: v.Body, host: v.Host, ok: true},
				{name: "wrong key", secretKey: key[:len(key)-1] + "X", body: v.Body, host: v.Host},
				{name: "one byte of body", secretKey: key, body: oneDigitChanged(v.Body), host: v.Host},
				{name: "one byte of a signed header", secretKey: key, body: v.Body, host: oneDigitChanged(v.Host)},
			} {
				t.Run(c.name, func(t *testing.T) {
					f, srv := newServer(t, vodtest.Options{
						Credentials: []vodtest.Credential{{SecretID: v.Keys["secret_id"], SecretKey: c.secretKey}},
						Now:         func() time.Time { return time.Unix(ts, 0) },
					})
					// The media has every part the call names, and one more it does not.
					f.AddMedia(vodtest.Media{FileID: target.FileID, SubAppID: target.SubAppID,
						Parts: map[string][]int64{"OriginalFiles": {0}, "TranscodeFiles": {230, 100010}}})

					req, err := http.NewRequest(v.Method, srv.URL+v.RequestURI, strings.NewReader(c.body))
					require.NoError(t, err)
					req.Host = c.host
					req.Header = v.Headers.Clone()
					resp, err := srv.Client().Do(req)
					require.NoError(t, err)
					a := decode(t, resp)
					assert.Equal(t, http.StatusOK, a.Status, "API 3.0 answers errors with 200 too")
					if c.ok {
						assert.Empty(t, a.Code, a.Message)
						assert.False(t, f.Exists(target), "what the call names is gone")
						return
					}
					assert.Equal(t, "AuthFailure.SignatureFailure", a.Code, a.Message)
					assert.True(t, f.Exists(target))
				})
			}
		})
	}
}
