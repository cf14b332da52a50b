package providers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

// FuzzRetryAfter: whatever a server sends as Retry-After, the delay is between 0 and MaxRetryAfter,
// and a plain number of seconds within the cap is honoured exactly.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"3", "0", "3600", "3601", "9300000000", "99999999999", "18446744073709551616", "-1", "+5",
		"1.5", "soon", "Fri, 01 Jan 9999 00:00:00 GMT", "Sat, 21 Nov 2026 12:01:30 GMT", "Friday, 01-Jan-99 00:00:00 GMT",
		"Mon Jan  2 15:04:05 2006", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := providers.RetryAfter(v, now)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, providers.MaxRetryAfter)
		h := http.Header{}
		h.Set("Retry-After", v)
		require.Equal(t, d, providers.ParseRetryAfter(h, now))
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n <= 3600 && !strings.HasPrefix(v, "+") {
			require.Equal(t, time.Duration(n)*time.Second, d)
		}
	})
}

// FuzzSMHPath: a path CheckPath accepts is escaped segment by segment into a URL path that means
// exactly that path (same segments, each unescaping to itself, nothing that ends or splits the path),
// is a valid SMH target, and survives the manifest's JSON unchanged.
func FuzzSMHPath(f *testing.F) {
	for _, s := range []string{"foo/bar2/file.docx", "a?b/c#d/e%f.mp4", "中文/视频 1.mp4", "docs/caf\xe9.docx", "a//b",
		"/a", "a/", "a/../b", ".", "a/\x00b", "a\u2028b", "%2F", "a+b c", "\xed\xa0\x80", "\uFFFD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if providers.CheckPath(p) != nil {
			return
		}
		esc := providers.EscapePath(p)
		require.NotContains(t, esc, "?")
		require.NotContains(t, esc, "#")
		segs, escSegs := strings.Split(p, "/"), strings.Split(esc, "/")
		require.Len(t, escSegs, len(segs))
		for i, s := range escSegs {
			un, err := url.PathUnescape(s)
			require.NoError(t, err)
			require.Equal(t, segs[i], un)
		}
		u, err := url.Parse("https://h/api/v1/file/l/-/" + esc)
		require.NoError(t, err)
		require.Equal(t, "/api/v1/file/l/-/"+p, u.Path)

		tg := providers.Target{Provider: providers.SMH, LibraryID: "l", SpaceID: "-", Path: p}
		require.NoError(t, tg.Validate())
		line, err := json.Marshal(tg)
		require.NoError(t, err)
		var back providers.Target
		require.NoError(t, json.Unmarshal(line, &back))
		require.Equal(t, tg, back, "the target as the manifest and the task payload carry it")
		require.Equal(t, tg.Key(), back.Key())
		parsed, ok := providers.ParseKey(tg.Key())
		require.True(t, ok, "the outcome store finds the target again from its key")
		require.Equal(t, tg, parsed)
	})
}
