package jobs

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// codecPayloads are payloads of every shape: each provider, defaults and not, a restore.
func codecPayloads() []Payload {
	batch := "20261121T124500Z-3fa2c1d0"
	return []Payload{
		{Batch: batch, EnqueueID: "3fa2c1d04b5e", Target: providers.Target{Provider: providers.VOD, SubAppID: 1500000001, FileID: "5285890781763144364"}},
		{Batch: batch, EnqueueID: "3fa2c1d04b5e", Target: providers.Target{Provider: providers.VOD, SubAppID: 1, FileID: "0123",
			DeleteParts: []providers.DeletePart{{Type: "TranscodeFiles", Definition: 230}, {Type: "OriginalFiles"}}}},
		{Batch: batch, EnqueueID: "00ff00ff00ff", Target: providers.Target{Provider: providers.MSS, ProjectID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
			FileID: "24bad716-87b1-45e5-8912-6102f7693265", AppUserID: "user 1"}},
		{Batch: "retry-of-x", EnqueueID: "e", Target: providers.Target{Provider: providers.SMH, LibraryID: "smh3bfc2hxvm6jz", SpaceID: "-",
			Path: "videos/2026/11/clip-000123.mp4", Permanent: true, UserID: "42"}},
		{Batch: batch, EnqueueID: "ABC_def-1", Op: OpRestore, RecycledItemID: 1 << 40, Conflict: providers.ConflictRename,
			Target: providers.Target{Provider: providers.SMH, LibraryID: "l", SpaceID: "s", Path: "中文/视频 1.mp4"}},
	}
}

// TestCompactPayloadRoundTrip: version 2 gives every payload back exactly, and is the smaller form.
func TestCompactPayloadRoundTrip(t *testing.T) {
	for _, p := range codecPayloads() {
		b, err := EncodePayload(p)
		require.NoError(t, err)
		require.Equal(t, byte(2), b[0])
		got, err := DecodePayload(b)
		require.NoError(t, err, "%x", b)
		want := p
		want.V = PayloadVersion
		assert.Equal(t, want, got)

		p.V = 1
		js, err := EncodePayload(p)
		require.NoError(t, err)
		assert.Less(t, len(b), len(js)*2/3, "version 2 of %s is %d bytes, JSON %d", p, len(b), len(js))
		fromJSON, err := DecodePayload(js)
		require.NoError(t, err, "a task queued by a version 1 producer still runs")
		assert.Equal(t, p, fromJSON)
	}
}

// TestCompactPayloadSizes pins what makes a queued task small: the common VOD task's payload and its
// whole asynq message stay under what keeps asynq's task hash a listpack (hash-max-listpack-value).
func TestCompactPayloadSizes(t *testing.T) {
	p := codecPayloads()[0]
	b, err := EncodePayload(p)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), 40, "%x", b)
	msg := asynqMessage{Type: p.taskType(), Payload: b, ID: p.taskID(), Queue: QueueName(p.Target.Provider), Retry: maxAsynqRetry,
		Timeout: 5 * time.Minute}.encode()
	assert.LessOrEqual(t, len(msg), 90)
	assert.Len(t, p.taskID(), 14)
}

// TestCompactPayloadIsStrict: anything but exactly one meaning is refused, never guessed at.
func TestCompactPayloadIsStrict(t *testing.T) {
	good, err := EncodePayload(codecPayloads()[3])
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"truncated":            good[:len(good)-1],
		"trailing byte":        append(append([]byte{}, good...), 0),
		"unknown field":        append(append([]byte{}, good...), 63<<2),
		"field repeated":       append(append([]byte{}, good...), byte(pfUserID<<2), 1, 'x'),
		"out of order":         {2, byte(pfBatch << 2), 1, 'b', byte(pfProvider << 2), 3, 'v', 'o', 'd'},
		"unknown form":         {2, byte(pfProvider<<2 | 3), 3, 'v', 'o', 'd'},
		"invalid UTF-8":        {2, byte(pfProvider << 2), 3, 'v', 'o', 'd', byte(pfBatch << 2), 1, 'b', byte(pfEnqueueID << 2), 1, 'e', byte(pfFileID << 2), 1, 0xff},
		"no enqueue id":        {2, byte(pfProvider << 2), 3, 'v', 'o', 'd', byte(pfBatch << 2), 1, 'b', byte(pfFileID << 2), 1, '1'},
		"length past the end":  {2, byte(pfProvider << 2), 9, 'v', 'o', 'd'},
		"delete parts not obj": {2, byte(pfProvider << 2), 3, 'v', 'o', 'd', byte(pfBatch << 2), 1, 'b', byte(pfEnqueueID << 2), 1, 'e', byte(pfFileID << 2), 1, '1', byte(pfDeleteParts << 2), 2, '[', ']'},
		"eid with a separator": {2, byte(pfProvider << 2), 3, 'v', 'o', 'd', byte(pfBatch << 2), 1, 'b', byte(pfEnqueueID << 2), 1, '|', byte(pfFileID << 2), 1, '1'},
	} {
		_, err := DecodePayload(b)
		assert.ErrorIs(t, err, ErrInvalidPayload, name)
	}
}

// TestCompactRecordRoundTrip: a record written by the finish script comes back from its compact form
// as it went in (times to the millisecond; a success's request id only on the stream entry), and the
// JSON of an earlier release is read too.
func TestCompactRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	rdb := jobstest.StartRedis(t).Client()
	now := time.UnixMilli(1764590000123).UTC()
	store := NewStore(rdb, StoreOptions{Now: func() time.Time { return now }})
	require.NoError(t, store.CreateBatch(ctx, BatchMeta{ID: "b"}))
	for i, p := range codecPayloads() {
		r := Record{Batch: "b", Provider: p.Target.Provider, Key: p.Target.Key(), EnqueueID: p.EnqueueID, Target: p.Target,
			Outcome: Outcomes[i], Attempts: 1, FirstAttempt: now, LastAttempt: now, RequestID: "req-" + itoa(i)}
		switch i {
		case 1:
			r.RecycledItemID = 1<<40 + 77
		case 3:
			r.HTTPStatus, r.Code, r.Message = 403, "MSS.00000003", "no | permission \"x\""
		}
		wrote, err := store.Finish(ctx, r, true)
		require.NoError(t, err)
		require.True(t, wrote)
		if r.Outcome != Failed && r.Outcome != Conflict {
			r.RequestID = ""
		}
		got, ok, err := store.Record(ctx, "b", r.Key)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, r, got)
		raw := rdb.HGet(ctx, outKey("b"), r.Key).Val()
		if i == 0 {
			assert.Equal(t, "d1|"+strconv.FormatInt(now.UnixMilli(), 36)+"|0|3fa2c1d04b5e", raw,
				"a deletion whose key names its target entirely is its outcome, attempts, times and enqueue id")
		}

		js, err := json.Marshal(r)
		require.NoError(t, err)
		legacy, err := decodeRecord("b", r.Key, string(js))
		require.NoError(t, err)
		assert.True(t, legacy.Target.Equal(r.Target) && legacy.Outcome == r.Outcome && legacy.Attempts == r.Attempts)
	}
	n := 0
	require.NoError(t, store.Records(ctx, "b", func(Record) error { n++; return nil }))
	assert.Equal(t, len(codecPayloads()), n)

	for _, v := range []string{"", "x1|1|1|e", "d1|1|1", "d1|!|1|e", "d1|1|1|e||{", "d-1|1|1|e", "d1|1|1|e|-5"} {
		_, err := decodeRecord("b", "vod/1/2", v)
		assert.Error(t, err, v)
	}
	_, err := decodeRecord("b", "not-a-key", "d1|1|1|e")
	assert.Error(t, err, "no target to give back")
}

// TestBase36Lua holds the finish script's base 36 to strconv's.
func TestBase36Lua(t *testing.T) {
	ns := []int64{0, 1, 35, 36, 1295, 1296, 1764590000123, 1 << 52}
	got := runLua(t, base36Lua, "b36", ns)
	for i, n := range ns {
		assert.Equal(t, strconv.FormatInt(n, 36), got[i])
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRFC3339Lua holds the finish script's date formatting to Go's, across centuries, leap days and
// the test clock's ±30 days.
func TestRFC3339Lua(t *testing.T) {
	now := time.Now()
	ms := []int64{0, 951782400000, 951868799999, 4107542400000, 1709164800000, 253402300799999,
		now.UnixMilli(), now.AddDate(0, 0, -30).UnixMilli(), now.AddDate(0, 0, 30).UnixMilli()}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		ms = append(ms, rng.Int64N(253402300799999))
	}
	got := runLua(t, rfc3339Lua, "rfc3339", ms)
	for i, m := range ms {
		want := time.UnixMilli(m).UTC().Format("2006-01-02T15:04:05.000Z")
		require.Equal(t, want, got[i], m)
		back, err := time.Parse(time.RFC3339Nano, got[i])
		require.NoError(t, err)
		require.Equal(t, m, back.UnixMilli())
	}
}

// runLua calls the Lua function fn, defined by lib, on each of ns in a real redis-server, and returns
// its answers.
func runLua(t *testing.T, lib, fn string, ns []int64) []string {
	t.Helper()
	script := redis.NewScript(lib + `
local out = {}
for i, v in ipairs(ARGV) do out[i] = ` + fn + `(tonumber(v)) end
return out`)
	args := make([]any, len(ns))
	for i, n := range ns {
		args[i] = n
	}
	got, err := script.Run(context.Background(), jobstest.StartRedis(t).Client(), nil, args...).StringSlice()
	require.NoError(t, err)
	return got
}
