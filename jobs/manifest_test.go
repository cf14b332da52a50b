package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

func TestReadManifest(t *testing.T) {
	in := strings.Join([]string{
		`{"provider":"mss","file_id":"24bad716-87b1-45e5-8912-6102f7693265","project_id":"p"}`,
		``,
		`# a comment`,
		`{"provider":"smh","library_id":"smhxxx","space_id":"-","path":"foo/bar2/file.docx","permanent":false}`,
		`{"provider":"vod","file_id":"7447398156998994860","sub_app_id":1,"delete_parts":[{"type":"TranscodeFiles","definition":230}]}`,
		`{"provider":"vod","fileid":"1"}`,
		`{"provider":"vod","file_id":"1","sub_app_id":"one"}`,
		`not json`,
		`{"provider":"vod","file_id":"1"} {"provider":"vod","file_id":"2"}`,
	}, "\n")
	var good []int
	var bad []*jobs.LineError
	err := jobs.ReadManifest(strings.NewReader(in), func(line int, tg providers.Target) error {
		good = append(good, line)
		return nil
	}, func(le *jobs.LineError) error { bad = append(bad, le); return nil })
	require.NoError(t, err)
	assert.Equal(t, []int{1, 4, 5}, good)
	require.Len(t, bad, 4)
	assert.Equal(t, "line 6: field fileid: unknown field", bad[0].Error())
	var fe *providers.FieldError
	require.True(t, errors.As(bad[1], &fe))
	assert.Equal(t, "sub_app_id", fe.Field)
	assert.Equal(t, 7, bad[1].Line)
	assert.Equal(t, 8, bad[2].Line)
	assert.Contains(t, bad[3].Error(), "data after the object")
}

// TestDecodeLineRefusesWhatJSONWouldChange holds the lines encoding/json accepts by changing them:
// each is refused with the field named, never decoded into a different target.
func TestDecodeLineRefusesWhatJSONWouldChange(t *testing.T) {
	for name, tc := range map[string]struct{ line, field, problem string }{
		"invalid UTF-8 in a value": {"{\"provider\":\"smh\",\"path\":\"docs/caf\xe9.docx\"}", "path", "not valid UTF-8 (byte 0xe9)"},
		"invalid UTF-8 in a name":  {"{\"provider\":\"smh\",\"pa\xffth\":\"x\"}", `"pa\xffth"`, "not valid UTF-8"},
		"invalid UTF-8 nested": {"{\"provider\":\"vod\",\"file_id\":\"1\",\"delete_parts\":[{\"type\":\"Orig\xc3\"}]}",
			"delete_parts[0].type", "not valid UTF-8"},
		"lone high surrogate":     {`{"provider":"smh","path":"docs/caf\ud800.docx"}`, "path", `lone surrogate escape \ud800`},
		"lone low surrogate":      {`{"provider":"smh","path":"\udc00"}`, "path", `lone surrogate escape \udc00`},
		"high then non-low":       {`{"provider":"smh","path":"\ud83d\u0041"}`, "path", "lone surrogate"},
		"duplicated key":          {`{"provider":"vod","file_id":"keep-me","file_id":"delete-me"}`, "file_id", "appears more than once"},
		"duplicated nested key":   {`{"provider":"vod","file_id":"1","delete_parts":[{"type":"OriginalFiles","type":"TranscodeFiles"}]}`, "delete_parts[0].type", "more than once"},
		"name in another case":    {`{"provider":"vod","FILE_ID":"1"}`, "FILE_ID", "case-sensitive: did you mean file_id?"},
		"nested name, other case": {`{"provider":"vod","file_id":"1","delete_parts":[{"Type":"OriginalFiles"}]}`, "delete_parts[0].Type", "did you mean type?"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jobs.DecodeLine([]byte(tc.line))
			var fe *providers.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			assert.Equal(t, tc.field, fe.Field)
			assert.Contains(t, fe.Problem, tc.problem)
		})
	}
	for name, line := range map[string]string{
		"data after the object": `{"provider":"vod","file_id":"1"}}`,
		"a second object":       `{"provider":"vod","file_id":"1"}{"provider":"vod","file_id":"2"}`,
		"not an object":         `["provider","vod"]`,
		"null":                  `null`,
		"cut short":             `{"provider":"vod","file_id":"1"`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jobs.DecodeLine([]byte(line))
			assert.ErrorContains(t, err, "not a JSON object")
		})
	}
	// What stays accepted: a surrogate pair, a literal U+FFFD, escaped backslashes before "u".
	for _, line := range []string{
		`{"provider":"smh","path":"docs/\ud83d\ude00.docx"}`,
		"{\"provider\":\"smh\",\"path\":\"docs/\uFFFD.docx\"}",
		`{"provider":"smh","path":"docs/\\ud800.docx"}`,
		`  {"provider":"vod","file_id":"1"}  `,
	} {
		_, err := jobs.DecodeLine([]byte(line))
		assert.NoError(t, err, line)
	}
	tg, err := jobs.DecodeLine([]byte(`{"provider":"smh","path":"docs/\ud83d\ude00.docx"}`))
	require.NoError(t, err)
	assert.Equal(t, "docs/\U0001F600.docx", tg.Path)
}

// TestReadManifestRefusesChangedTargets: the two cafe lines, which used to become the same
// target, are both bad lines, and nothing of the manifest is handed on.
func TestReadManifestRefusesChangedTargets(t *testing.T) {
	in := "{\"provider\":\"smh\",\"path\":\"docs/caf\xe9.docx\"}\n{\"provider\":\"smh\",\"path\":\"docs/caf\xe8.docx\"}\n"
	var good int
	var bad []string
	require.NoError(t, jobs.ReadManifest(strings.NewReader(in), func(int, providers.Target) error { good++; return nil },
		func(le *jobs.LineError) error { bad = append(bad, le.Error()); return nil }))
	assert.Zero(t, good)
	assert.Equal(t, []string{"line 1: field path: is not valid UTF-8 (byte 0xe9)", "line 2: field path: is not valid UTF-8 (byte 0xe8)"}, bad)
}

// TestReadManifestLongLines: an overlong line is a bad line with its number, and reading goes on, so
// every bad line is counted, whatever its length and wherever it is (last line without '\n' too).
func TestReadManifestLongLines(t *testing.T) {
	long := `{"provider":"vod","file_id":"` + strings.Repeat("x", jobs.MaxLineBytes) + `"}`
	exact := `{"provider":"vod","file_id":"` + strings.Repeat("y", jobs.MaxLineBytes-len(`{"provider":"vod","file_id":""}`)) + `"}`
	require.Len(t, exact, jobs.MaxLineBytes)
	lines := []string{`{"provider":"vod","file_id":"1"}`, long, `bad 3`, exact + "\r", strings.Repeat(long, 5), `{"provider":"vod","file_id":"6"}`, `bad 7`}
	for i := 8; i < 1000; i++ {
		lines = append(lines, `bad`)
	}
	lines = append(lines, long) // line 1000, no final newline
	var good, bad []int
	err := jobs.ReadManifest(strings.NewReader(strings.Join(lines, "\n")), func(line int, _ providers.Target) error {
		good = append(good, line)
		return nil
	}, func(le *jobs.LineError) error {
		bad = append(bad, le.Line)
		if le.Line == 2 || le.Line == 5 || le.Line == 1000 {
			assert.EqualError(t, le, fmt.Sprintf("line %d: longer than %d bytes", le.Line, jobs.MaxLineBytes))
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 4, 6}, good)
	assert.Len(t, bad, 997)
	assert.Equal(t, []int{2, 3, 5, 7, 8}, bad[:5])
	assert.Equal(t, 1000, bad[len(bad)-1])
}

func TestPayloadRoundTrip(t *testing.T) {
	p := jobs.Payload{Batch: "b", EnqueueID: "e", Target: providers.Target{Provider: providers.VOD, FileID: "1"}}
	b, err := jobs.EncodePayload(p)
	require.NoError(t, err)
	got, err := jobs.DecodePayload(b)
	require.NoError(t, err)
	p.V = jobs.PayloadVersion
	assert.Equal(t, p, got)
	_, err = jobs.DecodePayload([]byte(`{"v":99,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"1"}}`))
	assert.ErrorIs(t, err, jobs.ErrInvalidPayload)
	_, err = jobs.EncodePayload(jobs.Payload{Batch: "b", EnqueueID: "e", Target: providers.Target{Provider: providers.VOD}})
	assert.Error(t, err)
}

// TestDecodePayloadIsStrict: a task body written into Redis by someone else is held to the manifest's
// rules, so JSON cannot turn it into a different target.
func TestDecodePayloadIsStrict(t *testing.T) {
	for name, body := range map[string]string{
		"duplicated file_id":   `{"v":1,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"keep-me","file_id":"delete-me"}}`,
		"name in another case": `{"v":1,"batch":"b","eid":"e","target":{"provider":"vod","FILE_ID":"1"}}`,
		"invalid UTF-8":        "{\"v\":1,\"batch\":\"b\",\"eid\":\"e\",\"target\":{\"provider\":\"smh\",\"library_id\":\"l\",\"path\":\"caf\xe9\"}}",
		"lone surrogate":       `{"v":1,"batch":"b","eid":"e","target":{"provider":"smh","library_id":"l","path":"caf\udce9"}}`,
		"data after":           `{"v":1,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"1"}}}`,
		"unknown field":        `{"v":1,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"1"},"extra":1}`,
		"duplicated batch":     `{"v":1,"batch":"b","batch":"c","eid":"e","target":{"provider":"vod","file_id":"1"}}`,
	} {
		_, err := jobs.DecodePayload([]byte(body))
		assert.ErrorIs(t, err, jobs.ErrInvalidPayload, name)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	p := jobs.RetryPolicy{BaseDelay: 100_000_000, MaxDelay: 1_000_000_000, Jitter: func() float64 { return 0.999999 }}
	assert.InDelta(t, 100e6, float64(p.Backoff(0)), 1e3)
	assert.InDelta(t, 800e6, float64(p.Backoff(3)), 1e3)
	assert.InDelta(t, 1e9, float64(p.Backoff(4)), 1e3, "capped")
	assert.InDelta(t, 1e9, float64(p.Backoff(100)), 1e3, "no overflow")
	p.Jitter = func() float64 { return 0 }
	assert.Zero(t, p.Backoff(5))
}
