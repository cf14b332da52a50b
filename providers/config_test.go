package providers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

func TestCheckEndpoint(t *testing.T) {
	cases := []struct {
		raw  string
		want string // "" when accepted, else part of the error
	}{
		{"https://metastudio.cn-north-4.myhuaweicloud.com", ""},
		{"https://proxy.example/mss/", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://fakes:9000/prefix", ""}, // http for any host: fakes and private proxies
		{"ftp://host", "must start with https:// or http://"},
		{"api.tencentsmh.cn", "must start with https:// or http://"},
		{"https://", "has no host"},
		{"https://u:hunter2@h", "must not contain user info"},
		{"https://h/?x=1", "must not contain a query or fragment"},
		{"https://h/?", "must not contain a query or fragment"},
		{"https://h/#top", "must not contain a query or fragment"},
		{"https://h:pw@x:port/", "is not a URL"},
		{"https://h\x7f/", "is not a URL"},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			u, err := providers.CheckEndpoint(c.raw)
			if c.want == "" {
				require.NoError(t, err)
				assert.NotEmpty(t, u.Host)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Config.Endpoint")
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "pw", "the URL's pieces are not quoted back")
		})
	}
}

func TestCheckSecret(t *testing.T) {
	cases := []struct {
		v  string
		ok bool
	}{
		{"", true}, {"AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", true}, {"s3cr+t/=", true},
		{"key ", false}, {" key", false}, {"k\tey", false}, {"key\n", false}, {"k\x00ey", false},
		{"key\u00a0", false}, // a non-breaking space pasted from a web page
	}
	for _, c := range cases {
		err := providers.CheckSecret("SK", c.v)
		if c.ok {
			assert.NoError(t, err, "%q", c.v)
			continue
		}
		require.Error(t, err, "%q", c.v)
		assert.Equal(t, "Config.SK contains blanks or control characters", err.Error())
	}
}

func TestCheckCodes(t *testing.T) {
	cases := []struct {
		name  string
		codes map[string]providers.Class
		want  string
	}{
		{"nil", nil, ""},
		{"every class", map[string]providers.Class{"A": providers.Retry, "B*": providers.Throttled,
			"C": providers.Gone, "D": providers.Auth, "E": providers.Fatal}, ""},
		{"unknown class", map[string]providers.Class{"X": "later"}, `Config.Codes["X"]: unknown error class "later"`},
		{"empty class", map[string]providers.Class{"X": ""}, `Config.Codes["X"]: unknown error class ""`},
		{"every bad entry, in code order", map[string]providers.Class{"Z": "soon", "A": providers.Retry, "M": "never"},
			"Config.Codes[\"M\"]: unknown error class \"never\" (want retry, throttled, gone, auth or fatal)\n" +
				"Config.Codes[\"Z\"]: unknown error class \"soon\" (want retry, throttled, gone, auth or fatal)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := providers.CheckCodes(c.codes)
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
