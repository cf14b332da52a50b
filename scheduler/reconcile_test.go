package scheduler_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// strandScript leaves a pending task the way a dequeue cut off half way would: in active, state
// active, no lease (asynq's recoverer never sees it).
var strandScript = redis.NewScript(`
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then
  return redis.error_reply('not pending')
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'state', 'active')
return 1
`)

func (h *harness) strand(tg providers.Target) {
	h.t.Helper()
	q, id := jobs.QueueName(tg.Provider), jobs.TaskID(tg)
	require.NoError(h.t, strandScript.Run(context.Background(), h.p.Redis,
		[]string{"asynq:{" + q + "}:pending", "asynq:{" + q + "}:active", "asynq:{" + q + "}:t:" + id}, id).Err())
}

func (h *harness) active(n providers.Name) int64 {
	h.t.Helper()
	v, err := h.p.Redis.LLen(context.Background(), "asynq:{"+jobs.QueueName(n)+"}:active").Result()
	require.NoError(h.t, err)
	return v
}

// The leader sweeps open batches every scheduler.reconcile_interval: a stranded task is requeued at
// the next sweep (not before), and the batch then ends with exactly one outcome per target.
func TestLeaderSweepRequeuesStrandedTasks(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		h := newHarness(t, time.Time{}, func(c *config.Config) { c.Scheduler.ReconcileInterval = time.Minute })
		t0 := at(0, 10, 0)
		targets := h.addVOD("sweep", 4, t0)
		sum, err := h.p.Producer.Submit(context.Background(), jobs.BatchMeta{SubmittedBy: "test"}, slices.Values(targets), nil)
		require.NoError(t, err)
		leader, follower := h.replica("a"), h.replica("b")

		h.strand(targets[0])
		h.at(t0, leader)
		require.True(t, leader.IsLeader())
		assert.Zero(t, h.active(providers.VOD), "the first round sweeps")
		assert.Equal(t, 1, h.logs.count("requeued tasks stranded", "stranded=1"))
		f, err := h.p.Store.ReconcileFinding(context.Background(), sum.Batch)
		require.NoError(t, err)
		assert.False(t, f.At.IsZero(), "the finding is recorded for status")
		assert.True(t, f.Stable)
		assert.Zero(t, f.Missing)

		h.strand(targets[1])
		h.at(t0.Add(30*time.Second), leader, follower)
		assert.Equal(t, int64(1), h.active(providers.VOD), "not due yet, and the follower never sweeps")
		h.at(t0.Add(time.Minute), leader, follower)
		assert.Zero(t, h.active(providers.VOD), "swept at the interval")
		assert.Equal(t, 2, h.logs.count("requeued tasks stranded"))

		h.worker()
		h.waitDone(sum.Batch)
		require.NoError(t, h.stack.Verify(context.Background(), h.p.Store, sum.Batch, targets))
	})
}
