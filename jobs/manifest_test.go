package jobs_test

import (
	"errors"
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
	assert.Contains(t, bad[3].Error(), "more than one JSON value")
}

func TestReadManifestLongLine(t *testing.T) {
	in := `{"provider":"vod","file_id":"1"}` + "\n" + `{"provider":"vod","file_id":"` + strings.Repeat("x", jobs.MaxLineBytes) + `"}`
	err := jobs.ReadManifest(strings.NewReader(in), func(int, providers.Target) error { return nil },
		func(*jobs.LineError) error { return nil })
	var le *jobs.LineError
	require.True(t, errors.As(err, &le))
	assert.Equal(t, 2, le.Line)
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

func TestBackoffFullJitter(t *testing.T) {
	p := jobs.RetryPolicy{BaseDelay: 100_000_000, MaxDelay: 1_000_000_000, Jitter: func() float64 { return 0.999999 }}
	assert.InDelta(t, 100e6, float64(p.Backoff(0)), 1e3)
	assert.InDelta(t, 800e6, float64(p.Backoff(3)), 1e3)
	assert.InDelta(t, 1e9, float64(p.Backoff(4)), 1e3, "capped")
	assert.InDelta(t, 1e9, float64(p.Backoff(100)), 1e3, "no overflow")
	p.Jitter = func() float64 { return 0 }
	assert.Zero(t, p.Backoff(5))
	assert.False(t, jobs.IsFailure(&jobs.RescheduleError{After: 1}))
	assert.True(t, jobs.IsFailure(errors.New("x")))
	assert.Equal(t, int64(7), int64(p.RetryDelay(3, &jobs.RescheduleError{After: 7}, nil)))
}
