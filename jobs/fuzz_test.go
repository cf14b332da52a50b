package jobs_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// FuzzDecodeLine: no manifest line panics the decoder, and an accepted line means one target only:
// encoding it and decoding that again gives the same target, with nothing JSON invented (every string
// valid UTF-8, no U+FFFD the line did not spell out).
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		`{"provider":"mss","file_id":"24bad716-87b1-45e5-8912-6102f7693265","project_id":"p","app_user_id":"u"}`,
		`{"provider":"smh","library_id":"smhxxx","space_id":"-","path":"foo/bar2/file.docx","permanent":false}`,
		`{"provider":"vod","file_id":"7447398156998994860","sub_app_id":1,"delete_parts":[{"type":"TranscodeFiles","definition":230}]}`,
		`{"provider":"smh","path":"docs/\ud83d\ude00.docx"}`,
		"{\"provider\":\"smh\",\"path\":\"docs/caf\xe9.docx\"}",
		`{"provider":"smh","path":"docs/caf\ud800.docx"}`,
		`{"provider":"vod","file_id":"keep-me","file_id":"delete-me"}`,
		`{"provider":"vod","FILE_ID":"1"}`,
		`{"provider":"vod","file_id":"1"}}`,
		`{"provider":"vod","file_id":"1","delete_parts":{"type":"x"}}`,
		`{"provider":"vod","file_id":"1","delete_parts":[{"Type":"OriginalFiles","type":"OriginalFiles"}]}`,
		`[{"provider":"vod"}]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		tg, err := jobs.DecodeLine(line)
		if err != nil {
			return
		}
		checkDecoded(t, line, tg)
		checkKeys(t, line)
		again, err := json.Marshal(tg)
		require.NoError(t, err)
		tg2, err := jobs.DecodeLine(again)
		require.NoError(t, err, "re-encoded %s", again)
		require.Equal(t, tg, tg2)
	})
}

// FuzzDecodePayload: no task body panics the worker's decoder, and an accepted body re-encodes to
// the same payload.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"batch":"20261121T124500Z-3fa2c1d0","eid":"e1","target":{"provider":"vod","file_id":"1","sub_app_id":3}}`,
		`{"v":1,"batch":"b","eid":"e","target":{"provider":"smh","library_id":"l","space_id":"-","path":"a/b c?.mp4","permanent":true}}`,
		`{"v":1,"batch":"b","eid":"e","target":{"provider":"mss","file_id":"f","project_id":"p"}}`,
		`{"v":1,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"keep","file_id":"delete"}}`,
		`{"v":2,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"1"}}`,
		`{"V":1,"batch":"b","eid":"e","target":{"provider":"vod","file_id":"1"}}`,
	} {
		f.Add([]byte(s))
	}
	// Version 2 (binary) bodies of every shape.
	for _, p := range []jobs.Payload{
		{Batch: "20261121T124500Z-3fa2c1d0", EnqueueID: "3fa2c1d04b5e", Target: providers.Target{Provider: providers.VOD, SubAppID: 3, FileID: "5285890781763144364",
			DeleteParts: []providers.DeletePart{{Type: "TranscodeFiles", Definition: 230}}}},
		{Batch: "b", EnqueueID: "e", Target: providers.Target{Provider: providers.SMH, LibraryID: "l", SpaceID: "-", Path: "a/b c?.mp4", Permanent: true, UserID: "u"}},
		{Batch: "b", EnqueueID: "00ff", Target: providers.Target{Provider: providers.MSS, FileID: "ab", ProjectID: "0a1b", AppUserID: "x"}},
		{Batch: "b", EnqueueID: "e", Op: jobs.OpRestore, RecycledItemID: 9, Conflict: providers.ConflictOverwrite,
			Target: providers.Target{Provider: providers.SMH, LibraryID: "l", SpaceID: "-", Path: "x"}},
	} {
		b, err := jobs.EncodePayload(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := jobs.DecodePayload(body)
		if err != nil {
			require.ErrorIs(t, err, jobs.ErrInvalidPayload)
			return
		}
		checkDecoded(t, body, p.Target)
		checkKeys(t, body)
		again, err := jobs.EncodePayload(p)
		require.NoError(t, err)
		p2, err := jobs.DecodePayload(again)
		require.NoError(t, err, "re-encoded %s", again)
		require.Equal(t, p, p2)
	})
}

// checkDecoded fails when a decoded target holds text the raw JSON did not: invalid UTF-8, or a
// U+FFFD that is neither in the input nor escaped there.
func checkDecoded(t *testing.T, raw []byte, tg providers.Target) {
	t.Helper()
	fields := []string{string(tg.Provider), tg.FileID, tg.ProjectID, tg.AppUserID, tg.LibraryID, tg.SpaceID, tg.Path, tg.UserID}
	for _, p := range tg.DeleteParts {
		fields = append(fields, p.Type)
	}
	spelled := bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
	for _, s := range fields {
		require.True(t, utf8.ValidString(s), "%q", s)
		if !spelled {
			require.NotContains(t, s, "\uFFFD", "U+FFFD invented from %q", raw)
		}
	}
}

// checkKeys is an independent oracle for the strict walk, on json.Decoder's tokens: no object of an
// accepted input repeats a key, and every key is spelled as a Target, DeletePart or Payload field.
func checkKeys(t *testing.T, raw []byte) {
	t.Helper()
	known := map[string]bool{}
	for _, v := range []any{providers.Target{}, providers.DeletePart{}, jobs.Payload{}} {
		for _, f := range reflect.VisibleFields(reflect.TypeOf(v)) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			known[name] = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object, key bool
		seen        map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, &frame{object: tok == json.Delim('{'), key: true, seen: map[string]bool{}})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				stack[len(stack)-1].key = true
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.key {
			k := tok.(string)
			require.False(t, top.seen[k], "key %q repeated in %q", k, raw)
			require.True(t, known[k], "key %q is no field name, in %q", k, raw)
			top.seen[k] = true
		}
		top.key = !top.key
	}
}
