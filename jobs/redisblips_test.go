package jobs_test

import (
	"context"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// Every client connection Redis has is reset again and again while a batch runs (a network blip, a
// proxy restart): every file is recorded as what happened to it (deleted or recycled, never
// already_gone: all existed), and the batch is done within seconds of the last reset, not a
// lease-recovery minute later.
func TestConnectionResetsMisrecordNothing(t *testing.T) {
	l := startLive(t, func(c *config.Config) {
		// About 3 s of work, so the resets land while it runs.
		c.Providers.MSS.RateLimit, c.Providers.SMH.RateLimit, c.Providers.VOD.RateLimit = 100, 100, 100
	})
	for _, n := range providers.Names {
		l.stack.Faults(n).SetLatency(2*time.Millisecond, 2*time.Millisecond)
	}
	targets := l.stack.Targets(300, 0)
	l.startWorker(t)
	batch := l.submit(t, targets...)

	admin := l.redis.Client()
	ctx := context.Background()
	var resets atomic.Int64
	var last time.Time
	for range 10 {
		time.Sleep(200 * time.Millisecond)
		n, err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Result()
		require.NoError(t, err)
		resets.Add(n)
		last = time.Now()
	}
	require.Positive(t, resets.Load(), "connections were reset")
	// Tasks whose dequeue reply a reset lost are requeued by the workers' stranded-task sweep within
	// about rescueAfter (10 s), not asynq's lease recovery (60 to 120 s).
	b := waitDoneWithin(t, l.p.Store, batch, time.Until(last.Add(25*time.Second)))
	require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
	assert.Zero(t, b.Counts[jobs.AlreadyGone], "a deleted file recorded already_gone: %v", b.Counts)
	assert.Zero(t, b.Counts[jobs.Failed], "%v", b.Counts)
	assert.Equal(t, int64(len(targets)), b.Counts[jobs.Deleted]+b.Counts[jobs.Recycled])
	t.Logf("%d connections reset in 10 rounds; batch %v", resets.Load(), b.Counts)
}

// Redis stalls (SIGSTOP) for longer than asynq's 30 s lease in the middle of a batch: leases lapse,
// asynq and the stranded-task sweep run tasks again, handlers keep retrying what they must record.
// Afterwards every file has exactly one outcome, the right one (a file this worker deleted is never
// left recorded already_gone by a re-run), and no provider call is counted twice.
func TestRedisStallLongerThanTheLeaseLosesNothing(t *testing.T) {
	l := startLive(t, func(c *config.Config) {
		c.Providers.MSS.RateLimit, c.Providers.SMH.RateLimit, c.Providers.VOD.RateLimit = 50, 50, 50
	})
	targets := l.stack.Targets(200, 0)
	l.startWorker(t)
	batch := l.submit(t, targets...)
	ctx := context.Background()
	require.Eventually(t, func() bool {
		b, err := l.p.Store.Batch(ctx, batch)
		require.NoError(t, err)
		return b.Terminal >= 100
	}, 30*time.Second, 10*time.Millisecond)

	l.redis.Pause()
	time.Sleep(35 * time.Second)
	l.redis.Resume()

	b := waitDoneWithin(t, l.p.Store, batch, 3*time.Minute)
	require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
	assert.Zero(t, b.Counts[jobs.AlreadyGone], "%v", b.Counts)
	assert.Zero(t, b.Counts[jobs.Failed], "%v", b.Counts)
	for _, tg := range targets {
		// A task whose lease lapsed in the stall may run once more after its record was written (the
		// provider then answers gone and the record stands): that call is the only one a record
		// cannot count. No call is counted twice, and Redis spent no budget.
		r := l.record(t, batch, tg)
		calls := l.stack.Fake(tg.Provider).Calls(tg)
		assert.LessOrEqual(t, r.Attempts, calls, "%s: a call counted that was not made", tg)
		assert.LessOrEqual(t, calls-r.Attempts, 1, "%s: calls not counted", tg)
	}
}

// A worker shut down while a delete is in flight (asynq stops waiting after worker.shutdown_timeout
// and cancels the handler) still records what the provider did: the call is not aborted, and Shutdown
// returns only once the handler has recorded, so the caller may close Redis after it.
func TestShutdownRecordsTheDeleteInFlight(t *testing.T) {
	l := startLive(t, func(c *config.Config) { c.Worker.ShutdownTimeout = 100 * time.Millisecond })
	l.stack.Faults(providers.MSS).SetLatency(2*time.Second, 0)
	tg := l.stack.Targets(1, 0)[0]
	w := l.startWorker(t)
	batch := l.submit(t, tg)
	require.Eventually(t, func() bool { return l.stack.MSS.Calls(tg) == 1 }, 10*time.Second, 5*time.Millisecond)
	w.Shutdown()
	require.NoError(t, l.p.Redis.Close(), "the caller closes Redis once Shutdown returns")

	store := jobs.NewStore(l.redis.Client(), jobs.StoreOptions{})
	r, ok, err := store.Record(context.Background(), batch, tg.Key())
	require.NoError(t, err)
	require.True(t, ok, "the answer the provider gave was recorded before Shutdown returned")
	assert.Equal(t, jobs.Deleted, r.Outcome)
	assert.Equal(t, 1, r.Attempts)
	assert.False(t, l.stack.MSS.Exists(tg))
}

// Redis, with the append-only file fsynced once a second (its default), is SIGKILLed in the middle of
// an enqueue and again in the middle of the batch, and restarted from its AOF each time. After
// reconcile with the manifest, every target has exactly one outcome, none failed, and the retry budget
// was not spent on Redis's trouble.
func TestRedisKilledMidEnqueueAndMidBatch(t *testing.T) {
	r := jobstest.StartRedisAOFEverySec(t)
	stack, err := fakestack.Start(fakestack.Options{Seed: 21})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	cfg.Providers.MSS.RateLimit, cfg.Providers.SMH.RateLimit, cfg.Providers.VOD.RateLimit = 400, 400, 400
	l := &live{redis: r, stack: stack, cfg: cfg, p: wiring.Pipeline(cfg, r.Client())}
	ctx := context.Background()
	targets := stack.Targets(1000, 0)
	l.startWorker(t)

	meta := jobs.BatchMeta{ID: jobs.NewBatchID(time.Now()), SubmittedBy: "test"}
	submitted := make(chan error, 1)
	go func() {
		// A manifest read at about 3,000 lines a second, so the kill lands inside the enqueue.
		slow := func(yield func(providers.Target) bool) {
			for i, tg := range targets {
				if i%3 == 0 {
					time.Sleep(time.Millisecond)
				}
				if !yield(tg) {
					return
				}
			}
		}
		_, err := l.p.Producer.Submit(ctx, meta, slow, nil)
		submitted <- err
	}()
	progress := func(enough func(jobs.BatchInfo) bool) {
		require.Eventually(t, func() bool {
			b, err := l.p.Store.Batch(ctx, meta.ID)
			return err == nil && enough(b)
		}, 30*time.Second, 5*time.Millisecond)
	}
	progress(func(b jobs.BatchInfo) bool { return b.Total >= 500 && !b.Sealed })
	r.Restart() // mid-enqueue
	err = <-submitted
	t.Logf("the enqueue across the kill: %v", err)
	progress(func(b jobs.BatchInfo) bool { return b.Terminal >= 1000 })
	r.Restart() // mid-batch

	var rep jobs.ReconcileReport
	require.Eventually(t, func() bool {
		rep, err = l.p.Admin.Reconcile(ctx, meta.ID, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: l.p.Producer})
		return err == nil && rep.AddsUp()
	}, 2*time.Minute, 500*time.Millisecond, "reconcile: %+v %v", rep, err)
	t.Logf("reconcile: re-enqueued %d, re-runs %d, missing before %d", rep.Reenqueued, rep.Reruns, rep.Missing)

	b := waitDoneWithin(t, l.p.Store, meta.ID, 5*time.Minute) // tasks cut off by a kill come back by lease recovery
	require.NoError(t, stack.Verify(ctx, l.p.Store, meta.ID, targets))
	assert.Zero(t, b.Counts[jobs.Failed], "%v", b.Counts)
	assert.Zero(t, b.Counts[jobs.AlreadyGone], "every file existed: none may be recorded already gone: %v", b.Counts)
	for _, tg := range targets {
		rec := l.record(t, meta.ID, tg)
		calls := stack.Fake(tg.Provider).Calls(tg)
		assert.LessOrEqual(t, rec.Attempts, calls, "%s", tg)
		assert.LessOrEqual(t, calls-rec.Attempts, 1, "%s: at most the one uncounted re-run a lost lease causes", tg)
	}
}
