package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/internal/breaker"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// breakerHintKey is the fleet's hint for VOD (jobs/schema.go).
const breakerHintKey = "reaper:breaker:vod"

// fleetWorker is one worker "process": its own Redis client, pipeline, VOD client and breaker.
type fleetWorker struct {
	calls  atomic.Int64 // VOD calls made, counted as they start
	opened chan struct{}
	once   sync.Once
}

func startFleetWorker(t *testing.T, l *live, cfg *config.Config, rdb redis.UniversalClient) *fleetWorker {
	t.Helper()
	deleters, err := wiring.Deleters(cfg)
	require.NoError(t, err)
	fw := &fleetWorker{opened: make(chan struct{})}
	d := countingDeleter{Deleter: deleters[providers.VOD], n: &fw.calls}
	w := wiring.Pipeline(cfg, rdb).NewWorker(map[providers.Name]providers.Deleter{providers.VOD: d}, nil, fw)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	return fw
}

func (fw *fleetWorker) BreakerState(_ providers.Name, s gobreaker.State) {
	if s == gobreaker.StateOpen {
		fw.once.Do(func() { close(fw.opened) })
	}
}
func (*fleetWorker) Outcome(providers.Name, jobs.Outcome)                        {}
func (*fleetWorker) Call(providers.Name, providers.Class, string, time.Duration) {}
func (*fleetWorker) RateLimited(providers.Name, time.Duration)                   {}

type countingDeleter struct {
	providers.Deleter
	n *atomic.Int64
}

func (d countingDeleter) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	d.n.Add(1)
	return d.Deleter.Delete(ctx, t)
}

func waitOpened(t *testing.T, fw *fleetWorker, who string) {
	t.Helper()
	select {
	case <-fw.opened:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s's breaker never opened", who)
	}
}

func vodTargets(l *live, n int) []providers.Target {
	var ts []providers.Target
	for i := range n {
		tg := providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("hint-%04d", i), SubAppID: l.stack.Creds.VODSubApp}
		l.stack.VOD.Add(tg)
		ts = append(ts, tg)
	}
	return ts
}

// One worker's breaker opening holds another worker that would never trip on its own: through the
// hint in Redis, the second stops calling (within the hint's recheck) and makes no call while the
// outage's open period lasts. When the probe is due one of them probes, its success deletes the hint,
// and both finish the batch.
func TestBreakerHintHoldsTheOtherWorker(t *testing.T) {
	l := startLive(t, func(c *config.Config) {
		c.Worker.Concurrency = 4
		c.Providers.VOD.RateLimit = 20 // the batch takes seconds: both workers are busy when it begins
		c.Breaker.ConsecutiveFailures = 3
		c.Breaker.ProbeInterval = time.Minute // no probe while the test watches
		c.Breaker.OpenTimeout = 2 * time.Minute
		c.Retry.MaxAttempts = 100 // b's calls before the hint reaches it must not fail its tasks
	})
	targets := vodTargets(l, 150)
	in := l.stack.Faults(providers.VOD)
	deaf := *l.cfg
	deaf.Breaker.ConsecutiveFailures, deaf.Breaker.FailureRatio = 1_000_000, 0
	a := startFleetWorker(t, l, l.cfg, l.redis.Client())
	b := startFleetWorker(t, l, &deaf, l.redis.Client())
	batch := l.submit(t, targets...)
	require.Eventually(t, func() bool { return a.calls.Load() >= 3 && b.calls.Load() >= 3 }, 30*time.Second, 10*time.Millisecond,
		"both workers are deleting")
	in.SetDown(true)

	waitOpened(t, a, "worker a")
	waitOpened(t, b, "worker b (held by a's hint)")
	time.Sleep(jobsHintRecheck) // calls b let through before it read the hint have ended
	aCalls, bCalls := a.calls.Load(), b.calls.Load()
	time.Sleep(4 * jobsHintRecheck)
	assert.Equal(t, bCalls, b.calls.Load(), "b makes no call while the hint holds it")
	assert.Equal(t, aCalls, a.calls.Load(), "nor a, whose breaker is open")

	// The provider is back and the open period is over (cut short in Redis): one probe, then everyone.
	in.SetDown(false)
	require.NoError(t, l.redis.Client().PExpire(context.Background(), breakerHintKey, time.Second).Err())
	info := waitDone(t, l.p.Store, batch)
	assert.Zero(t, info.Counts[jobs.Failed], "an outage never fails a deletion")
	require.NoError(t, l.stack.Verify(context.Background(), l.p.Store, batch, targets))
	assert.Positive(t, b.calls.Load()-bCalls, "b resumed after the hint was deleted")
}

// jobsHintRecheck is a wait past the breaker's hint recheck: a read of the hint and a held task's
// step, and the calls already out when it was read.
const jobsHintRecheck = 2*breaker.HintRecheck + 50*time.Millisecond

// Every Redis call of the hint fails: the workers' breakers open and probe on their own, deletions go
// on through the outage's end, and every target ends in exactly one outcome.
func TestBreakerHintRedisFaultsFailOpen(t *testing.T) {
	const concurrency, outage = 4, 1500 * time.Millisecond
	l := startLive(t, func(c *config.Config) {
		c.Worker.Concurrency = concurrency
		c.Providers.VOD.RateLimit = 200
		c.Breaker.ConsecutiveFailures = 3
		c.Breaker.ProbeInterval = 100 * time.Millisecond
		c.Breaker.OpenTimeout = 400 * time.Millisecond
		c.Retry.MaxAttempts = 2
	})
	targets := vodTargets(l, 300)
	hook := jobstest.NewFaultHook()
	hint := jobstest.Match(func(cmd redis.Cmder) bool {
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "reaper:breaker:") {
				return true
			}
		}
		return false
	})
	const armed = 5000
	for i := range armed {
		hook.FailNth(fmt.Sprintf("hint-%d", i), hint, 1) // each fails the next hint call: all of them fail
	}
	var workers []*fleetWorker
	for range 2 {
		rdb := l.redis.Client()
		rdb.AddHook(hook)
		workers = append(workers, startFleetWorker(t, l, l.cfg, rdb))
	}
	in := l.stack.Faults(providers.VOD)
	in.SetDown(true)
	batch := l.submit(t, targets...)
	for i, w := range workers {
		waitOpened(t, w, fmt.Sprintf("worker %d", i))
	}
	time.Sleep(outage)
	outageCalls := in.Stats().Calls
	in.SetDown(false)

	info := waitDone(t, l.p.Store, batch)
	fired := len(hook.Fired())
	assert.Positive(t, fired, "the hint was tried")
	assert.Less(t, fired, armed, "and every try failed")
	assert.Zero(t, info.Counts[jobs.Failed], "an outage never fails a deletion")
	require.NoError(t, l.stack.Verify(context.Background(), l.p.Store, batch, targets))
	// Without a breaker the outage would see hundreds of calls (200/s); with the local breakers, the
	// calls that trip them and their probes (up to a 400 ms period, 50% jitter on rescheduled tasks).
	bound := 2 * (concurrency + 3 + 2*int(outage/(100*time.Millisecond)))
	assert.LessOrEqual(t, outageCalls, bound, "the fake saw %d calls during the outage", outageCalls)
}
