package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// A release-1 task (type reaper:delete:<provider>, JSON payload, "del-" id) still queued when workers
// are upgraded runs, and its record is the compact one.
func TestLegacyTaskRunsAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	l := startLive(t, nil)
	tg := providers.Target{Provider: providers.VOD, SubAppID: l.stack.Creds.VODSubApp, FileID: "legacy-1"}
	l.stack.VOD.Add(tg)
	batch := jobs.NewBatchID(time.Now())
	require.NoError(t, l.p.Store.CreateBatch(ctx, jobs.BatchMeta{ID: batch}))
	require.NoError(t, l.p.Store.AddCounts(ctx, batch, 1, 0))
	require.NoError(t, l.p.Store.SealBatch(ctx, batch))
	body, err := jobs.EncodePayload(jobs.Payload{V: 1, Batch: batch, EnqueueID: "0123456789abcdef", Target: tg})
	require.NoError(t, err)
	require.Equal(t, byte('{'), body[0])
	client := asynq.NewClientFromRedisClient(l.redis.Client())
	_, err = client.Enqueue(asynq.NewTask("reaper:delete:vod", body), asynq.Queue(jobs.QueueName(providers.VOD)),
		asynq.TaskID("del-00000000000000000000000000000001"), asynq.MaxRetry(1<<20))
	require.NoError(t, err)

	l.startWorker(t)
	info := waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(1), info.Counts[jobs.Deleted])
	rec := l.record(t, batch, tg)
	assert.Equal(t, "0123456789abcdef", rec.EnqueueID)
	assert.True(t, rec.Target.Equal(tg))
	assert.False(t, l.stack.VOD.Exists(tg))
}

// A record an earlier release wrote as JSON is read, and the finish script still lets a deletion of
// the same enqueue replace its already_gone (and counts it over).
func TestLegacyJSONRecordIsReadAndReplaced(t *testing.T) {
	ctx := context.Background()
	l := startLive(t, nil)
	rdb := l.redis.Client()
	batch := jobs.NewBatchID(time.Now())
	require.NoError(t, l.p.Store.CreateBatch(ctx, jobs.BatchMeta{ID: batch}))
	require.NoError(t, l.p.Store.AddCounts(ctx, batch, 1, 0))
	tg := providers.Target{Provider: providers.SMH, LibraryID: "lib", SpaceID: "-", Path: "a/b.mp4"}
	legacy := `{"batch":"` + batch + `","provider":"smh","key":"` + tg.Key() + `","enqueue_id":"e1","target":{"provider":"smh","library_id":"lib","space_id":"-","path":"a/b.mp4"},"outcome":"already_gone","attempts":1,"first_attempt":"2026-11-01T10:00:00Z","last_attempt":"2026-11-01T10:00:00Z"}`
	require.NoError(t, rdb.HSet(ctx, "reaper:batch:"+batch+":out", tg.Key(), legacy).Err())
	require.NoError(t, rdb.HIncrBy(ctx, "reaper:batch:"+batch, "already_gone", 1).Err())
	require.NoError(t, rdb.HIncrBy(ctx, "reaper:batch:"+batch, "terminal", 1).Err())

	rec, ok, err := l.p.Store.Record(ctx, batch, tg.Key())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, jobs.AlreadyGone, rec.Outcome)
	assert.True(t, rec.Target.Equal(tg))

	wrote, err := l.p.Store.Finish(ctx, jobs.Record{Batch: batch, Provider: tg.Provider, Key: tg.Key(), EnqueueID: "e1", Target: tg,
		Outcome: jobs.Recycled, RecycledItemID: 9}, true)
	require.NoError(t, err)
	assert.True(t, wrote, "the deletion replaces the re-run's already_gone")
	rec, _, err = l.p.Store.Record(ctx, batch, tg.Key())
	require.NoError(t, err)
	assert.Equal(t, jobs.Recycled, rec.Outcome)
	assert.Equal(t, int64(9), rec.RecycledItemID)
	assert.Equal(t, 2, rec.Attempts)
	info, err := l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, int64(0), info.Counts[jobs.AlreadyGone])
	assert.Equal(t, int64(1), info.Counts[jobs.Recycled])
	assert.Equal(t, int64(1), info.Terminal)

	wrote, err = l.p.Store.Finish(ctx, jobs.Record{Batch: batch, Provider: tg.Provider, Key: tg.Key(), EnqueueID: "e2", Target: tg,
		Outcome: jobs.AlreadyGone}, true)
	require.NoError(t, err)
	assert.False(t, wrote, "another enqueue's outcome is a duplicate")
}
