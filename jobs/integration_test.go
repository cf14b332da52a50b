package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// live is a real redis-server, the three HTTP fakes and a pipeline wired from config against them.
type live struct {
	redis *jobstest.Redis
	stack *fakestack.Stack
	cfg   *config.Config
	p     *jobs.Pipeline
}

func startLive(t testing.TB, tweak func(*config.Config)) *live {
	t.Helper()
	return startLiveOn(t, jobstest.StartRedis(t), fakestack.Options{RecycleBin: true, Seed: 7}, tweak)
}

// startLiveOn is startLive on redis-server r, with fakes started from o.
func startLiveOn(t testing.TB, r *jobstest.Redis, o fakestack.Options, tweak func(*config.Config)) *live {
	t.Helper()
	stack, err := fakestack.Start(o)
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	if tweak != nil {
		tweak(cfg)
		require.NoError(t, cfg.Validate())
	}
	return &live{redis: r, stack: stack, cfg: cfg, p: wiring.Pipeline(cfg, r.Client())}
}

// startLiveB is startLive for benchmarks: the fakes unthrottled, limits far above what loopback reaches.
func startLiveB(b *testing.B) *live {
	return startLive(b, func(c *config.Config) {
		c.Worker.Concurrency = 32
		c.Providers.MSS.RateLimit = 1_000_000
	})
}

func (l *live) startWorker(t testing.TB) *jobs.Worker {
	t.Helper()
	deleters, err := wiring.Deleters(l.cfg)
	require.NoError(t, err)
	w := l.p.NewWorker(deleters, nil, nil)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	return w
}

func (l *live) submit(t testing.TB, targets ...providers.Target) string {
	t.Helper()
	sum, err := l.p.Producer.Submit(context.Background(), jobs.BatchMeta{SubmittedBy: "test"}, slices.Values(targets), nil)
	require.NoError(t, err)
	require.Equal(t, len(targets), sum.Enqueued)
	return sum.Batch
}

func (l *live) record(t testing.TB, batch string, tg providers.Target) jobs.Record {
	t.Helper()
	r, ok, err := l.p.Store.Record(context.Background(), batch, tg.Key())
	require.NoError(t, err)
	require.True(t, ok, "no record for %s", tg)
	return r
}

// A mixed-fault batch of 3,000 files: 5xx at every provider, a MetaStudio outage, SMH throttling,
// files already gone. Every file ends gone at its fake with exactly one outcome.
func TestMixedFaultBatchDeletesEverything(t *testing.T) {
	l := startLive(t, nil)
	targets := l.stack.Targets(1000, 20)
	l.stack.RealisticFaults(2 * time.Second)
	l.startWorker(t)
	batch := l.submit(t, targets...)
	b := waitDone(t, l.p.Store, batch)
	require.NoError(t, l.stack.Verify(context.Background(), l.p.Store, batch, targets))
	assert.Equal(t, int64(3000), b.Terminal)
	assert.Equal(t, int64(150), b.Counts[jobs.AlreadyGone], "every 20th file was never added")
	assert.Equal(t, int64(950), b.Counts[jobs.Recycled], "SMH's recycle bin is on")
	assert.Zero(t, b.Counts[jobs.Failed])
	assert.Positive(t, l.stack.Faults(providers.MSS).Stats().Outages, "the outage was exercised")
	assert.Positive(t, l.stack.Faults(providers.SMH).Stats().Throttled, "the throttle was exercised")
}

func TestErrorCodesDecideRetries(t *testing.T) {
	l := startLive(t, func(c *config.Config) {
		c.Retry.MaxAttempts = 6
		// One file failing on its own must not trip the breaker here: this test is about the budget
		// (TestFileFailingAloneEnds covers the breaker's part).
		c.Breaker.ConsecutiveFailures = 100
	})
	l.startWorker(t)
	mss := func(id string) providers.Target {
		return providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: id}
	}
	in := l.stack.Faults(providers.MSS)

	t.Run("already gone costs exactly one call", func(t *testing.T) {
		tg := mss("never-existed")
		batch := l.submit(t, tg)
		waitDone(t, l.p.Store, batch)
		assert.Equal(t, 1, l.stack.MSS.Calls(tg))
		r := l.record(t, batch, tg)
		assert.Equal(t, jobs.AlreadyGone, r.Outcome)
		assert.Equal(t, "MSS.10001004", r.Code)
		assert.Equal(t, 1, r.Attempts)
	})
	t.Run("MSS.00000004 is retried until success", func(t *testing.T) {
		tg := mss("flaky")
		l.stack.MSS.Add(tg)
		in.FailNext(3, faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"})
		batch := l.submit(t, tg)
		waitDone(t, l.p.Store, batch)
		assert.Equal(t, 4, l.stack.MSS.Calls(tg))
		r := l.record(t, batch, tg)
		assert.Equal(t, jobs.Deleted, r.Outcome)
		assert.Equal(t, 4, r.Attempts)
		assert.False(t, l.stack.MSS.Exists(tg))
	})
	t.Run("401 costs exactly one call and fails", func(t *testing.T) {
		tg := mss("locked")
		l.stack.MSS.Add(tg)
		in.FailNext(1, faults.Fault{Status: 401, Code: "MSS.00000001", Message: "Unauthorized"})
		batch := l.submit(t, tg)
		b := waitDone(t, l.p.Store, batch)
		assert.Equal(t, 1, l.stack.MSS.Calls(tg))
		r := l.record(t, batch, tg)
		assert.Equal(t, jobs.Failed, r.Outcome)
		assert.Equal(t, "MSS.00000001", r.Code)
		assert.Equal(t, 401, r.HTTPStatus)
		assert.Equal(t, int64(1), b.Counts[jobs.Failed])
		assert.True(t, l.stack.MSS.Exists(tg))
	})
	t.Run("retry budget runs out", func(t *testing.T) {
		tg := mss("hopeless")
		l.stack.MSS.Add(tg)
		in.FailNext(6, faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"})
		batch := l.submit(t, tg)
		waitDone(t, l.p.Store, batch)
		assert.Equal(t, 6, l.stack.MSS.Calls(tg), "max_attempts provider calls, no more")
		r := l.record(t, batch, tg)
		assert.Equal(t, jobs.Failed, r.Outcome)
		assert.Equal(t, 6, r.Attempts)
	})
}

// During an outage the fake sees the calls that trip the breaker and then only its probes, and no
// task fails because of the outage.
func TestOutageIsWaitedOut(t *testing.T) {
	const concurrency = 8
	l := startLive(t, func(c *config.Config) {
		c.Worker.Concurrency = concurrency
		c.Breaker.ConsecutiveFailures = 3
		c.Breaker.OpenTimeout = 500 * time.Millisecond
		c.Retry.MaxAttempts = 2 // an outage must not spend it
	})
	var targets []providers.Target
	for i := range 200 {
		tg := providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("out-%04d", i), SubAppID: l.stack.Creds.VODSubApp}
		l.stack.VOD.Add(tg)
		targets = append(targets, tg)
	}
	in := l.stack.Faults(providers.VOD)
	in.SetDown(true)
	l.startWorker(t)
	batch := l.submit(t, targets...)

	const outage = 4 * time.Second
	time.Sleep(outage)
	calls := in.Stats().Calls
	in.SetDown(false)
	// Before the breaker opens at most the in-flight calls fail; after, one probe per open period
	// (each reschedule adds up to 50% jitter, so this bound is generous).
	bound := concurrency + 3 + 2*int(outage/(500*time.Millisecond))
	assert.LessOrEqual(t, calls, bound, "the fake saw %d calls during a %s outage", calls, outage)
	assert.Positive(t, calls)

	b := waitDone(t, l.p.Store, batch)
	assert.Zero(t, b.Counts[jobs.Failed], "an outage must never turn into failed deletions")
	assert.Equal(t, int64(200), b.Counts[jobs.Deleted])
	require.NoError(t, l.stack.Verify(context.Background(), l.p.Store, batch, targets))
}

// A file that fails on its own trips the breaker and is then the breaker's only probe: its failures
// while the breaker is open are exempt from the budget only up to retry.max_outage_attempts, so it
// still ends failed instead of probing forever.
func TestFileFailingAloneEnds(t *testing.T) {
	l := startLive(t, func(c *config.Config) {
		c.Retry.MaxAttempts = 3
		c.Retry.MaxOutageAttempts = 3
		c.Breaker.ConsecutiveFailures = 2
		c.Breaker.OpenTimeout = 100 * time.Millisecond
	})
	l.startWorker(t)
	tg := providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: "cursed"}
	l.stack.MSS.Add(tg)
	l.stack.Faults(providers.MSS).FailNext(1000, faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"})
	batch := l.submit(t, tg)
	waitDone(t, l.p.Store, batch)
	r := l.record(t, batch, tg)
	assert.Equal(t, jobs.Failed, r.Outcome)
	calls := l.stack.MSS.Calls(tg)
	assert.Equal(t, calls, r.Attempts, "every call is counted once in the record")
	assert.LessOrEqual(t, calls, 3+3+1)
	assert.Greater(t, calls, 3, "the outage exemption was used")
}

// Redis is killed mid-batch and restarted from its append-only file: workers reconnect and every
// file still ends with exactly one outcome.
func TestRedisRestartLosesNothing(t *testing.T) {
	r := jobstest.StartRedisAOF(t)
	stack, err := fakestack.Start(fakestack.Options{Seed: 9})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	cfg.Worker.Concurrency = 8
	l := &live{redis: r, stack: stack, cfg: cfg, p: wiring.Pipeline(cfg, r.Client())}
	for _, n := range providers.Names {
		stack.Faults(n).SetLatency(5*time.Millisecond, 5*time.Millisecond)
	}
	targets := stack.Targets(300, 0)
	batch := l.submit(t, targets...)
	l.startWorker(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := l.p.Store.Batch(context.Background(), batch)
		require.NoError(t, err)
		if b.Terminal >= 200 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no progress: %+v", b)
		time.Sleep(10 * time.Millisecond)
	}
	r.Restart()
	b := waitDoneWithin(t, l.p.Store, batch, 5*time.Minute) // asynq recovers leases of tasks cut off by the kill: 1-2 min
	assert.Equal(t, int64(900), b.Terminal)
	require.NoError(t, stack.Verify(context.Background(), l.p.Store, batch, targets))
}
