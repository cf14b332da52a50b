package providers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

func TestTargetValidate(t *testing.T) {
	cases := []struct {
		name  string
		t     providers.Target
		field string // "" = valid
	}{
		{"mss ok", providers.Target{Provider: "mss", FileID: "24bad716-87b1", ProjectID: "p1"}, ""},
		{"mss no file", providers.Target{Provider: "mss"}, "file_id"},
		{"mss slash in id", providers.Target{Provider: "mss", FileID: "a/b"}, "file_id"},
		{"mss dotdot id", providers.Target{Provider: "mss", FileID: ".."}, "file_id"},
		{"mss chinese app user", providers.Target{Provider: "mss", FileID: "f", AppUserID: "用户"}, "app_user_id"},
		{"mss with smh field", providers.Target{Provider: "mss", FileID: "f", Path: "a/b"}, "path"},
		{"smh ok", providers.Target{Provider: "smh", LibraryID: "smhxxx", SpaceID: "-", Path: "foo/bar2/file.docx"}, ""},
		{"smh odd names ok", providers.Target{Provider: "smh", Path: "a?b/c#d/%e f.txt"}, ""},
		{"smh empty segment", providers.Target{Provider: "smh", Path: "foo//bar"}, "path"},
		{"smh leading slash", providers.Target{Provider: "smh", Path: "/foo"}, "path"},
		{"smh trailing slash", providers.Target{Provider: "smh", Path: "foo/"}, "path"},
		{"smh dot", providers.Target{Provider: "smh", Path: "foo/./bar"}, "path"},
		{"smh dotdot", providers.Target{Provider: "smh", Path: "foo/../bar"}, "path"},
		{"smh control", providers.Target{Provider: "smh", Path: "foo/b\nar"}, "path"},
		{"smh no path", providers.Target{Provider: "smh"}, "path"},
		// Not UTF-8: JSON (the task payload) would carry U+FFFD instead, naming another file or none.
		{"smh path not UTF-8", providers.Target{Provider: "smh", Path: "docs/caf\xe9.docx"}, "path"},
		{"smh surrogate bytes", providers.Target{Provider: "smh", Path: "\xed\xa0\x80"}, "path"},
		{"smh library not UTF-8", providers.Target{Provider: "smh", LibraryID: "l\xff", Path: "a"}, "library_id"},
		{"smh user not UTF-8", providers.Target{Provider: "smh", Path: "a", UserID: "u\xff"}, "user_id"},
		{"vod file id not UTF-8", providers.Target{Provider: "vod", FileID: "1\xff"}, "file_id"},
		{"mss app user not UTF-8", providers.Target{Provider: "mss", FileID: "f", AppUserID: "u\xff"}, "app_user_id"},
		{"smh with file_id", providers.Target{Provider: "smh", Path: "a", FileID: "x"}, "file_id"},
		{"vod ok", providers.Target{Provider: "vod", FileID: "7447398156998994860", SubAppID: 1,
			DeleteParts: []providers.DeletePart{{Type: "TranscodeFiles", Definition: 230}}}, ""},
		{"vod bad part", providers.Target{Provider: "vod", FileID: "1", DeleteParts: []providers.DeletePart{{Type: "Covers"}}}, "delete_parts[0].type"},
		{"vod negative definition", providers.Target{Provider: "vod", FileID: "1", DeleteParts: []providers.DeletePart{{Type: "TranscodeFiles", Definition: -1}}}, "delete_parts[0].definition"},
		{"vod permanent", providers.Target{Provider: "vod", FileID: "1", Permanent: true}, "permanent"},
		{"unknown provider", providers.Target{Provider: "s3"}, "provider"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.t.Validate()
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var fe *providers.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			assert.Equal(t, c.field, fe.Field, "%v", err)
		})
	}
}

func TestTargetKey(t *testing.T) {
	a := providers.Target{Provider: "vod", FileID: "1", SubAppID: 2, DeleteParts: []providers.DeletePart{{Type: "TranscodeFiles", Definition: 230}, {Type: "WechatPublishFiles"}}}
	b := a
	b.DeleteParts = []providers.DeletePart{a.DeleteParts[1], a.DeleteParts[0]}
	assert.Equal(t, a.Key(), b.Key(), "part order does not change what is deleted")
	assert.Equal(t, "vod/2/1?TranscodeFiles:230,WechatPublishFiles:0", a.Key())
	whole := providers.Target{Provider: "vod", FileID: "1", SubAppID: 2}
	assert.NotEqual(t, whole.Key(), a.Key())

	s1 := providers.Target{Provider: "smh", LibraryID: "lib", SpaceID: "-", Path: "a/b c.txt"}
	s2 := s1
	s2.Permanent = true
	assert.Equal(t, s1.Key(), s2.Key(), "permanent or not, it is the same file")
	assert.Equal(t, "smh/lib/-/a/b%20c.txt", s1.Key())
	m := providers.Target{Provider: "mss", ProjectID: "p", FileID: "f"}
	assert.Equal(t, "mss/p/f", m.Key())
}

// TestParseKey: ParseKey gives back the key fields of every provider's targets, Diff is what it cannot
// give back, and Patch puts that back; a string no Key makes is refused.
func TestParseKey(t *testing.T) {
	for _, tg := range []providers.Target{
		{Provider: providers.MSS, ProjectID: "p 1", FileID: "f?x"},
		{Provider: providers.MSS, ProjectID: "p", FileID: "f", AppUserID: "u"},
		{Provider: providers.SMH, LibraryID: "lib", SpaceID: "-", Path: "a/b c?.mp4/中文#%.txt"},
		{Provider: providers.SMH, LibraryID: "lib", SpaceID: "s", Path: "x", Permanent: true, UserID: "7"},
		{Provider: providers.VOD, SubAppID: 2, FileID: "5285890781763144364"},
		{Provider: providers.VOD, SubAppID: 1, FileID: "1", DeleteParts: []providers.DeletePart{{Type: "WechatPublishFiles"}, {Type: "TranscodeFiles", Definition: 230}}},
	} {
		base, ok := providers.ParseKey(tg.Key())
		require.True(t, ok, tg.Key())
		assert.Equal(t, tg.Key(), base.Key())
		d := tg.Diff(base)
		assert.Equal(t, tg, base.Patch(d), tg.Key())
		d.Provider = tg.Provider
		assert.Empty(t, d.Diff(tg), "the diff holds nothing the target does not")
	}
	whole := providers.Target{Provider: providers.MSS, ProjectID: "p", FileID: "f"}
	base, _ := providers.ParseKey(whole.Key())
	assert.Equal(t, providers.Target{}, whole.Diff(base), "a target its key names entirely has no diff")
	for _, k := range []string{"", "mss", "mss/p", "mss/p/f/g", "mss/%zz/f", "smh/l/s", "vod/x/1", "vod/1/2?Type", "vod/1/2?T:x",
		"nope/a/b", "mss/p/f%2f"} {
		_, ok := providers.ParseKey(k)
		assert.False(t, ok, k)
	}
}

func TestEscapePath(t *testing.T) {
	assert.Equal(t, "a%3Fb/c%23d/%25e%20f.txt", providers.EscapePath("a?b/c#d/%e f.txt"))
	assert.Equal(t, "%E4%B8%AD/x", providers.EscapePath("中/x"))
}

func TestTable(t *testing.T) {
	tab := providers.NewTable(map[string]providers.Class{
		"ResourceNotFound*":      providers.Gone,
		"RequestLimitExceeded*":  providers.Throttled,
		"InternalError":          providers.Retry,
		"Auth*":                  providers.Fatal,
		"AuthFailure.Signature*": providers.Retry,
	})
	look := func(code string) providers.Class { c, _ := tab.Lookup(code); return c }
	assert.Equal(t, providers.Gone, look("ResourceNotFound"))
	assert.Equal(t, providers.Gone, look("ResourceNotFound.FileNotExist"))
	assert.Equal(t, providers.Throttled, look("RequestLimitExceeded.UinLimitExceeded"))
	assert.Equal(t, providers.Retry, look("AuthFailure.SignatureExpire"), "longest prefix wins")
	assert.Equal(t, providers.Fatal, look("AuthFailure.SecretIdNotFound"))
	_, ok := tab.Lookup("Other")
	assert.False(t, ok)

	assert.Equal(t, providers.Throttled, tab.Classify(429, "Other"))
	assert.Equal(t, providers.Retry, tab.Classify(503, ""))
	assert.Equal(t, providers.Fatal, tab.Classify(400, "Other"))
	assert.Equal(t, providers.Gone, tab.Classify(200, "ResourceNotFound"))

	over := tab.Override(map[string]providers.Class{"InternalError": providers.Fatal, "ResourceNotFound.UserNotExist": providers.Fatal})
	assert.Equal(t, providers.Fatal, over.Classify(500, "InternalError"))
	assert.Equal(t, providers.Fatal, over.Classify(200, "ResourceNotFound.UserNotExist"))
	assert.Equal(t, providers.Gone, over.Classify(200, "ResourceNotFound.FileNotExist"))
	assert.Equal(t, providers.Retry, tab.Classify(500, "InternalError"), "Override leaves the original alone")
}

func TestParseClass(t *testing.T) {
	for _, c := range providers.Classes {
		got, err := providers.ParseClass(string(c))
		require.NoError(t, err)
		assert.Equal(t, c, got)
	}
	_, err := providers.ParseClass("sometimes")
	assert.Error(t, err)
}

func TestTransportErrorRedactsAndKeepsCause(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, "http://127.0.0.1:1/api/v1/file/l/-/a?access_token=SECRET-TOKEN&user_id=u", nil)
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err)
	require.Contains(t, err.Error(), "SECRET-TOKEN", "precondition: Go prints the whole URL")
	pe := providers.TransportError(providers.SMH, err, "SECRET-TOKEN")
	assert.NotContains(t, pe.Error(), "SECRET-TOKEN")
	assert.True(t, errors.Is(pe, context.Canceled))
	assert.Equal(t, "Canceled", pe.Code)
	assert.Equal(t, providers.Retry, providers.ClassOf(pe))
	assert.Equal(t, providers.Class(""), providers.ClassOf(nil))
	assert.Equal(t, providers.Retry, providers.ClassOf(errors.New("anything")))
}

func TestRedactURL(t *testing.T) {
	got := providers.RedactURL("https://u:pw@h/api/v1/token?library_id=l&library_secret=S3CR3T&access_token=T0K")
	assert.NotContains(t, got, "S3CR3T")
	assert.NotContains(t, got, "T0K")
	assert.NotContains(t, got, "pw")
	assert.Contains(t, got, "library_id=l")
}

func TestReadBodyCap(t *testing.T) {
	b, err := providers.ReadBody(bytes.NewReader(make([]byte, providers.MaxBodyBytes)))
	require.NoError(t, err)
	assert.Len(t, b, providers.MaxBodyBytes)
	_, err = providers.ReadBody(bytes.NewReader(make([]byte, providers.MaxBodyBytes+1)))
	assert.True(t, providers.IsBodyTooLarge(err))
}

func TestCappedTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := providers.MaxBodyBytes
		if r.URL.Path == "/big" {
			n += 10
		}
		_, _ = w.Write(bytes.Repeat([]byte("x"), n))
	}))
	defer srv.Close()
	c := &http.Client{Transport: providers.CappedTransport(nil)}
	for path, wantErr := range map[string]bool{"/exact": false, "/big": true} {
		resp, err := c.Get(srv.URL + path)
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, wantErr, providers.IsBodyTooLarge(err), path)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	assert.Zero(t, providers.ParseRetryAfter(http.Header{}, now), "absent")
	for v, want := range map[string]time.Duration{
		"3":                    3 * time.Second,
		" 7 ":                  7 * time.Second,
		"0":                    0,
		"3600":                 time.Hour,
		"3601":                 time.Hour,
		"9300000000":           time.Hour, // *time.Second overflows int64
		"99999999999":          time.Hour,
		"18446744073709551616": time.Hour, // past uint64
		"-1":                   0,
		"-9300000000":          0,
		"+5":                   0, // delay-seconds is 1*DIGIT
		"1.5":                  0,
		"0x10":                 0,
		"soon":                 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		"Fri, 01 Jan 9999 00:00:00 GMT":                   time.Hour,
		"Mon, 01 Jan 0001 00:00:00 GMT":                   0,
		"Friday, 01-Jan-99 00:00:00 GMT":                  0, // RFC 850: 1999, the past
	} {
		h := http.Header{}
		h.Set("Retry-After", v)
		got := providers.ParseRetryAfter(h, now)
		assert.Equal(t, want, got, "Retry-After: %q", v)
		assert.GreaterOrEqual(t, got, time.Duration(0))
		assert.LessOrEqual(t, got, providers.MaxRetryAfter)
	}
}

func TestCut(t *testing.T) {
	assert.Equal(t, "short", providers.Cut("short", 16))
	assert.Equal(t, strings.Repeat("x", 16), providers.Cut(strings.Repeat("x", 16), 16), "exactly max is kept")
	got := providers.Cut(strings.Repeat("x", 100), 16)
	assert.Equal(t, strings.Repeat("x", 16-len(providers.CutMark))+providers.CutMark, got)
	// A cut never splits a character: "é" is two bytes; 9 bytes are left before the mark.
	got = providers.Cut(strings.Repeat("é", 50), 9+len(providers.CutMark))
	assert.Equal(t, "éééé"+providers.CutMark, got)
	assert.True(t, utf8.ValidString(got))
	for n := range 40 {
		c := providers.Cut(strings.Repeat("日本語", 20), n+len(providers.CutMark))
		assert.True(t, utf8.ValidString(c))
		assert.LessOrEqual(t, len(c), n+len(providers.CutMark))
	}
}

// TestErrorBound: a 1 MiB message (what a provider may send) leaves as at most MaxMessageBytes,
// marked cut, in the Error and in its text.
func TestErrorBound(t *testing.T) {
	huge := strings.Repeat("ü", providers.MaxBodyBytes/2)
	e := (&providers.Error{Provider: providers.SMH, Class: providers.Fatal, Code: strings.Repeat("C", 5000),
		Message: huge, RequestID: strings.Repeat("r", 5000)}).Bound()
	assert.LessOrEqual(t, len(e.Message), providers.MaxMessageBytes)
	assert.True(t, strings.HasSuffix(e.Message, providers.CutMark))
	assert.True(t, utf8.ValidString(e.Message))
	assert.LessOrEqual(t, len(e.Code), providers.MaxCodeBytes)
	assert.LessOrEqual(t, len(e.RequestID), providers.MaxCodeBytes)
	// Error() bounds an unbounded Error too.
	raw := &providers.Error{Provider: providers.SMH, Class: providers.Fatal, Message: huge, Err: errors.New(huge)}
	assert.Less(t, len(raw.Error()), 3*providers.MaxMessageBytes)
	te := providers.TransportError(providers.VOD, fmt.Errorf("read: %s: %w", huge, context.Canceled))
	assert.LessOrEqual(t, len(te.Err.Error()), providers.MaxMessageBytes)
	assert.ErrorIs(t, te, context.Canceled)
}

func TestErrorText(t *testing.T) {
	e := &providers.Error{Provider: providers.MSS, Class: providers.Retry, HTTPStatus: 500, Code: "MSS.00000004",
		Message: "Internal Error", RequestID: "r1"}
	assert.Equal(t, "mss: HTTP 500 MSS.00000004: Internal Error (request id r1) [retry]", e.Error())
	w := fmt.Errorf("delete: %w", e)
	got, ok := providers.AsError(w)
	require.True(t, ok)
	assert.Equal(t, e, got)
	assert.True(t, strings.HasPrefix(providers.TransportError(providers.VOD, errors.New("dial tcp: refused")).Error(), "vod: NetworkError"))
}
