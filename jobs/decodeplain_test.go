package jobs

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

// plainLines are lines decodePlainTarget must decode itself (fast is true) or leave to json.Unmarshal.
var plainLines = []struct {
	line string
	fast bool
}{
	{`{"provider":"mss","file_id":"24bad716-87b1-45e5-8912-6102f7693265","project_id":"p","app_user_id":"u"}`, true},
	{`{"provider":"smh","library_id":"smhxxx","space_id":"-","path":"foo/bar2/file.docx","permanent":true,"user_id":"u"}`, true},
	{` { "provider" : "vod" , "file_id" : "7447398156998994860" , "sub_app_id" : 18446744073709551615 } `, true},
	{`{"provider":"smh","path":"","permanent":false}`, true},
	{`{"provider":"smh","path":"docs/café 😀.docx"}`, true},
	{`{}`, true},
	{`{"provider":"vod","file_id":"1","sub_app_id":18446744073709551616}`, false}, // overflows uint64
	{`{"provider":"vod","file_id":"1","sub_app_id":-1}`, false},
	{`{"provider":"vod","file_id":"1","sub_app_id":1.0}`, false},
	{`{"provider":"vod","file_id":"1","sub_app_id":1e3}`, false},
	{`{"provider":"vod","file_id":"1","sub_app_id":"1"}`, false},
	{`{"provider":"vod","file_id":1}`, false},
	{`{"provider":"vod","file_id":null}`, false},
	{`{"provider":"smh","path":"a","permanent":null}`, false},
	{`{"provider":"smh","path":"a","permanent":"true"}`, false},
	{`{"provider":"smh","path":"docs/\ud83d\ude00.docx"}`, false},
	{`{"provider":"smh","path":"say \"hi\""}`, false},
	{`{"provider":"smh","pat\u0068":"a"}`, false},
	{`{"provider":"vod","file_id":"1","sub_app_id":1,"delete_parts":[{"type":"TranscodeFiles","definition":230}]}`, false},
	{`{"provider":"vod","file_id":"1","delete_parts":[]}`, false},
}

// TestDecodePlainTargetMatchesJSON: whatever line decodePlainTarget decodes, it decodes as
// json.Unmarshal does, and it decodes the common lines itself.
func TestDecodePlainTargetMatchesJSON(t *testing.T) {
	for _, tc := range plainLines {
		b := []byte(tc.line)
		require.NoError(t, checkStrictJSON(b, targetType), tc.line)
		got, ok := decodePlainTarget(b)
		assert.Equal(t, tc.fast, ok, tc.line)
		if ok {
			var want providers.Target
			require.NoError(t, json.Unmarshal(b, &want))
			assert.Equal(t, want, got, tc.line)
		}
	}
}

// FuzzDecodePlainTarget: on any line checkStrictJSON accepts, decodePlainTarget either declines or
// agrees with json.Unmarshal.
func FuzzDecodePlainTarget(f *testing.F) {
	for _, tc := range plainLines {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkStrictJSON(b, targetType) != nil {
			return
		}
		got, ok := decodePlainTarget(b)
		if !ok {
			return
		}
		var want providers.Target
		require.NoError(t, json.Unmarshal(b, &want), "%q", b)
		require.Equal(t, want, got, "%q", b)
	})
}
