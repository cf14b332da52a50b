package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// A task whose dequeue ran in Redis but whose reply no worker got (it sits active, with a lease) is
// requeued once it has been unowned for two heartbeats, and then ends with exactly one outcome; a
// task a live worker is running is never touched.
func TestStrandedActiveTaskIsRequeued(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	tg := l.stack.Targets(1, 0)[0]
	batch := l.submit(t, tg)
	q := "asynq:{" + jobs.QueueName(providers.MSS) + "}:"
	rdb := l.redis.Client()
	id, err := rdb.LMove(ctx, q+"pending", q+"active", "RIGHT", "LEFT").Result()
	require.NoError(t, err)
	require.NoError(t, rdb.HSet(ctx, q+"t:"+id, "state", "active").Err())
	require.NoError(t, rdb.ZAdd(ctx, q+"lease", redis.Z{Score: float64(time.Now().Add(30 * time.Second).Unix()), Member: id}).Err())

	deleters, err := wiring.Deleters(l.cfg)
	require.NoError(t, err)
	w := l.p.NewWorker(deleters, nil, nil)
	now := time.Now()
	n, err := w.SweepStranded(ctx, now)
	require.NoError(t, err)
	assert.Zero(t, n, "seen once: it may be a dequeue a heartbeat has not reported yet")
	n, err = w.SweepStranded(ctx, now.Add(5*time.Second))
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = w.SweepStranded(ctx, now.Add(11*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "unowned for two heartbeats")
	pending, err := rdb.LLen(ctx, q+"pending").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), pending)

	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	b := waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(1), b.Counts[jobs.Deleted])
	assert.Equal(t, 1, l.stack.MSS.Calls(tg))
}

func TestOwnedActiveTaskIsLeftAlone(t *testing.T) {
	l := startLive(t, func(c *config.Config) { c.Providers.MSS.Timeout = 30 * time.Second })
	ctx := context.Background()
	// Longer than two of asynq's 5 s heartbeats, so one reports the task while it runs.
	l.stack.Faults(providers.MSS).SetLatency(12*time.Second, 0)
	w := l.startWorker(t)
	tg := l.stack.Targets(1, 0)[0]
	batch := l.submit(t, tg)
	require.Eventually(t, func() bool {
		servers, err := l.p.Admin.Inspector().Servers()
		require.NoError(t, err)
		for _, s := range servers {
			if len(s.ActiveWorkers) == 1 {
				return true
			}
		}
		return false
	}, 11*time.Second, 50*time.Millisecond, "the worker's heartbeat reports the task")
	now := time.Now()
	for _, at := range []time.Duration{0, 11 * time.Second, 30 * time.Second} {
		n, err := w.SweepStranded(ctx, now.Add(at))
		require.NoError(t, err)
		assert.Zero(t, n, "a running task is owned")
	}
	b := waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(1), b.Counts[jobs.Deleted])
	assert.Equal(t, 1, l.stack.MSS.Calls(tg), "it ran once")
}
