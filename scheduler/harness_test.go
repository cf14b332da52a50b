package scheduler_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/scheduler"
)

// logBuffer collects the replicas' logs for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count counts log lines holding every one of parts.
func (l *logBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all && line != "" {
			n++
		}
	}
	return n
}

// harness is a real redis-server, the three HTTP fakes, a config pointing at both with the given
// policies, and a clock every replica shares.
type harness struct {
	t     *testing.T
	redis *jobstest.Redis
	stack *fakestack.Stack
	cfg   *config.Config
	clock *testclock.Clock // the time the tests move by hand
	logs  *logBuffer
	p     *jobs.Pipeline // the pipeline of the first replica, for looking at batches
}

func newHarness(t *testing.T, start time.Time, tweak func(*config.Config), policies ...config.Policy) *harness {
	t.Helper()
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fakestack.Options{Seed: 11, RecycleBin: true})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	cfg.Scheduler.LeaseTTL = 2 * time.Second
	cfg.Scheduler.Tick = time.Second
	cfg.Scheduler.Policies = policies
	if tweak != nil {
		tweak(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, redis: r, stack: stack, cfg: cfg, clock: testclock.New(start), logs: &logBuffer{}}
	h.p = wiring.Pipeline(cfg, r.Client())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scheduler logs:\n%s", h.logs.String())
		}
	})
	return h
}

// replica starts a scheduler replica with its own Redis connection and pipeline, as a separate
// process would have, with the real provider clients pointed at the fakes.
func (h *harness) replica(id string) *scheduler.Scheduler {
	h.t.Helper()
	p := wiring.Pipeline(h.cfg, h.redis.Client())
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := wiring.Scheduler(h.cfg, p, scheduler.Options{ID: id, Now: h.clock.Now, Logger: log})
	require.NoError(h.t, err)
	return s
}

// at sets the clock and runs one round of every replica given, concurrently.
func (h *harness) at(t time.Time, replicas ...*scheduler.Scheduler) {
	h.clock.Set(t)
	var wg sync.WaitGroup
	for _, s := range replicas {
		wg.Go(func() { s.Tick(context.Background()) })
	}
	wg.Wait()
}

// runs lists the notes (run ids) of the batches the policy's runs created, oldest first.
func (h *harness) runs(policy string) []string {
	h.t.Helper()
	ctx := context.Background()
	ids, err := h.p.Store.Batches(ctx, 10_000)
	require.NoError(h.t, err)
	var out []string
	for _, id := range ids {
		b, err := h.p.Store.Batch(ctx, id)
		require.NoError(h.t, err)
		if b.Source == "policy:"+policy {
			out = append(out, b.Note)
		}
	}
	slices.Sort(out)
	return out
}

// last returns the policy's last run record.
func (h *harness) last(s *scheduler.Scheduler, policy string) *scheduler.RunRecord {
	h.t.Helper()
	sts, err := s.Status(context.Background())
	require.NoError(h.t, err)
	for _, st := range sts {
		if st.Policy.Name == policy {
			return st.LastRun
		}
	}
	h.t.Fatalf("no policy %s", policy)
	return nil
}

// batch reads a batch.
func (h *harness) batch(id string) jobs.BatchInfo {
	h.t.Helper()
	b, err := h.p.Store.Batch(context.Background(), id)
	require.NoError(h.t, err)
	return b
}

// records returns a batch's records by target key.
func (h *harness) records(batch string) map[string]jobs.Record {
	h.t.Helper()
	out := map[string]jobs.Record{}
	require.NoError(h.t, h.p.Store.Records(context.Background(), batch, func(r jobs.Record) error {
		out[r.Key] = r
		return nil
	}))
	return out
}

// queued is the number of tasks in every provider queue.
func (h *harness) queued() int {
	h.t.Helper()
	qs, err := h.p.Admin.Queues()
	require.NoError(h.t, err)
	n := 0
	for _, q := range qs {
		n += q.Total
	}
	return n
}

// worker starts deletion workers against the fakes until the test ends.
func (h *harness) worker() {
	h.t.Helper()
	deleters, err := wiring.Deleters(h.cfg)
	require.NoError(h.t, err)
	w := h.p.NewWorker(deleters, nil, nil)
	require.NoError(h.t, w.Start())
	h.t.Cleanup(w.Shutdown)
}

// waitDone waits until the batch has every outcome.
func (h *harness) waitDone(batch string) jobs.BatchInfo {
	h.t.Helper()
	var b jobs.BatchInfo
	require.Eventually(h.t, func() bool {
		b = h.batch(batch)
		return b.Done()
	}, 30*time.Second, 20*time.Millisecond, "batch %s not done", batch)
	return b
}

// forEachShift is testclock.ForEachShift (the real clock and 30 days either side of it, as jobs'
// tests run), the shifts in parallel (each has its own Redis and fakes), with at's times in UTC as
// the scheduler records them. The scheduler must not care where its clock stands against Redis's,
// which alone times the lease and the run claims. Schedules and cutoffs are wall-clock arithmetic
// from the shifted date, so a test checks the same fire times whatever today is; loc must keep one
// UTC offset all year (no daylight saving: schedule_test.go's fixed dates cover that) for the shifts
// to check the same thing.
func forEachShift(t *testing.T, loc *time.Location, fn func(t *testing.T, at func(days, h, m int) time.Time)) {
	testclock.ForEachShift(t, loc, func(t *testing.T, at func(days, h, m int) time.Time) {
		t.Parallel()
		fn(t, func(days, h, m int) time.Time { return at(days, h, m).UTC() })
	})
}

// stamp is how the scheduler's logs show a time.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// shanghai is Asia/Shanghai: UTC+8 all year.
func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	return loc
}
