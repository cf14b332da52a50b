package providertest

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

// CannedTransport answers every request with one response, in memory: for fuzzing a client's error
// parsing without a server.
type CannedTransport struct {
	Status int
	Header http.Header
	Body   []byte
}

// RoundTrip implements http.RoundTripper.
func (c CannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.Status, Header: c.Header.Clone(), Body: io.NopCloser(strings.NewReader(string(c.Body))),
		Request: r, ContentLength: int64(len(c.Body))}, nil
}

// CheckProviderError holds an error answer to the contract every provider's parser keeps: a
// classified *providers.Error with bounded, valid-UTF-8 text, a bounded Retry-After, and none of the
// secrets anywhere in it.
func CheckProviderError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	pe, ok := providers.AsError(err)
	require.True(t, ok, "%T %v", err, err)
	require.True(t, slices.Contains(providers.Classes, pe.Class), "class %q", pe.Class)
	require.LessOrEqual(t, len(pe.Message), providers.MaxMessageBytes)
	require.LessOrEqual(t, len(pe.Code), providers.MaxCodeBytes)
	require.LessOrEqual(t, len(pe.RequestID), providers.MaxCodeBytes)
	require.True(t, utf8.ValidString(pe.Message), "%q", pe.Message)
	require.GreaterOrEqual(t, int64(pe.RetryAfter), int64(0))
	require.LessOrEqual(t, pe.RetryAfter, providers.MaxRetryAfter)
	for _, s := range secrets {
		require.NotContains(t, err.Error(), s)
		require.NotContains(t, pe.Code+pe.Message+pe.RequestID, s)
	}
}
