package providertest

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// SDKVector is one request recorded from a provider's official SDK, with the keys that signed it
// (official-sdk-requests.json): what a fake must accept as the real service does.
type SDKVector struct {
	Name       string            `json:"name"`
	SDK        string            `json:"sdk"`
	Keys       map[string]string `json:"keys"`
	Method     string            `json:"method"`
	Host       string            `json:"host"`
	RequestURI string            `json:"request_uri"`
	Headers    http.Header       `json:"headers"`
	Body       string            `json:"body"`
}

// SDKVectors reads the recorded requests whose name starts with prefix ("mss ", "vod ") from the
// calling package's testdata/official-sdk-requests.json, and fails the test unless there are want of
// them. The copy is committed, so CI never depends on a path outside the repository; when the shared
// vectors file sits beside the clone (../shared/vectors/ from the repository root), the copy must
// still match it.
func SDKVectors(t *testing.T, prefix string, want int) []SDKVector {
	t.Helper()
	const file = "official-sdk-requests.json"
	read := func(path string) []SDKVector {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var all, mine []SDKVector
		require.NoError(t, json.Unmarshal(b, &all), path)
		for _, v := range all {
			if strings.HasPrefix(v.Name, prefix) {
				mine = append(mine, v)
			}
		}
		return mine
	}
	vs := read(filepath.Join("testdata", file))
	require.Len(t, vs, want, "recorded %q requests in testdata/%s", prefix, file)
	dir, err := os.Getwd()
	require.NoError(t, err)
	for ; filepath.Dir(dir) != dir; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
	}
	shared := filepath.Join(dir, "..", "shared", "vectors", file)
	if _, err := os.Stat(shared); err == nil {
		require.Equal(t, read(shared), vs, "testdata/%s differs from %s: copy the %q vectors again", file, shared, prefix)
	}
	return vs
}
