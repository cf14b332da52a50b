package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	return loc
}

func TestWindowAtAndNext(t *testing.T) {
	sh := shanghai(t)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	at := func(loc *time.Location, d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, loc) }
	night := jobs.Window{Start: time.Hour, End: 5 * time.Hour, Loc: sh}
	late := jobs.Window{Start: 22 * time.Hour, End: 4 * time.Hour} // spans midnight, UTC

	for _, tc := range []struct {
		name       string
		w          jobs.Window
		t          time.Time
		inside     bool
		start, end time.Time // the window containing t, or the next one
		nextStart  time.Time
	}{
		{"by day", night, at(sh, 21, 14, 0), false, at(sh, 22, 1, 0), at(sh, 22, 5, 0), at(sh, 22, 1, 0)},
		{"just after midnight", night, at(sh, 22, 0, 30), false, at(sh, 22, 1, 0), at(sh, 22, 5, 0), at(sh, 22, 1, 0)},
		{"at the opening", night, at(sh, 22, 1, 0), true, at(sh, 22, 1, 0), at(sh, 22, 5, 0), at(sh, 23, 1, 0)},
		{"inside", night, at(sh, 22, 3, 59), true, at(sh, 22, 1, 0), at(sh, 22, 5, 0), at(sh, 23, 1, 0)},
		{"at the close", night, at(sh, 22, 5, 0), false, at(sh, 23, 1, 0), at(sh, 23, 5, 0), at(sh, 23, 1, 0)},
		{"in another zone's terms", night, at(time.UTC, 21, 18, 30), true, at(sh, 22, 1, 0), at(sh, 22, 5, 0), at(sh, 23, 1, 0)},
		{"spanning, before midnight", late, at(time.UTC, 21, 23, 0), true, at(time.UTC, 21, 22, 0), at(time.UTC, 22, 4, 0), at(time.UTC, 22, 22, 0)},
		{"spanning, after midnight", late, at(time.UTC, 22, 2, 0), true, at(time.UTC, 21, 22, 0), at(time.UTC, 22, 4, 0), at(time.UTC, 22, 22, 0)},
		{"spanning, by day", late, at(time.UTC, 22, 12, 0), false, at(time.UTC, 22, 22, 0), at(time.UTC, 23, 4, 0), at(time.UTC, 22, 22, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, e, inside := tc.w.At(tc.t)
			assert.Equal(t, tc.inside, inside)
			if inside {
				assert.True(t, tc.start.Equal(s), "start %s", s)
				assert.True(t, tc.end.Equal(e), "end %s", e)
			} else {
				s, e = tc.w.Next(tc.t)
				assert.True(t, tc.start.Equal(s), "next start %s", s)
				assert.True(t, tc.end.Equal(e), "next end %s", e)
			}
			ns, _ := tc.w.Next(tc.t)
			assert.True(t, tc.nextStart.Equal(ns), "Next %s", ns)
		})
	}

	// The window follows the wall clock across a daylight-saving change: on 2026-03-08 New York's
	// 01:00-05:00 lasts three hours.
	dst := jobs.Window{Start: time.Hour, End: 5 * time.Hour, Loc: ny}
	s, e := dst.Next(time.Date(2026, 3, 7, 12, 0, 0, 0, ny))
	assert.Equal(t, 3*time.Hour, e.Sub(s))
	assert.Equal(t, "01:00 05:00", s.In(ny).Format("15:04")+" "+e.In(ny).Format("15:04"))
}

func TestNewOvernightRefusesUnusableSettings(t *testing.T) {
	store := jobs.NewStore(jobstest.StartRedis(t).Client(), jobs.StoreOptions{})
	w := jobs.Window{Start: time.Hour, End: 5 * time.Hour}
	_, err := jobs.NewOvernight(store, jobs.OvernightOptions{Nights: 0, Window: w})
	assert.ErrorContains(t, err, "nights must be at least 1")
	_, err = jobs.NewOvernight(store, jobs.OvernightOptions{Nights: 1, Window: jobs.Window{Start: time.Hour, End: time.Hour}})
	assert.ErrorContains(t, err, "same time")
	_, err = jobs.NewOvernight(store, jobs.OvernightOptions{Nights: 1, Window: jobs.Window{Start: 25 * time.Hour, End: time.Hour}})
	assert.ErrorContains(t, err, "not a time of day")
}

// overnightRig is an Overnight on a real redis-server, driven directly (no worker): the decisions.
type overnightRig struct {
	store *jobs.Store
	ov    *jobs.Overnight
	clk   *testclock.Clock
}

func newOvernightRig(t *testing.T, nights int, start time.Time) *overnightRig {
	t.Helper()
	store := jobs.NewStore(jobstest.StartRedis(t).Client(), jobs.StoreOptions{})
	clk := testclock.New(start)
	ov, err := jobs.NewOvernight(store, jobs.OvernightOptions{
		Nights: nights, Window: jobs.Window{Start: time.Hour, End: 5 * time.Hour, Loc: shanghai(t)}, Now: clk.Now,
		// Backoff n is exactly half its ceiling: 30s, 1m, 2m, ... up to 5m.
		Policy: jobs.RetryPolicy{BaseDelay: time.Minute, MaxDelay: 10 * time.Minute, Jitter: func() float64 { return 0.5 }},
	})
	require.NoError(t, err)
	return &overnightRig{store: store, ov: ov, clk: clk}
}

func mssPayload(batch, id string) jobs.Payload {
	return jobs.Payload{V: jobs.PayloadVersion, Batch: batch, EnqueueID: "e-" + id,
		Target: providers.Target{Provider: providers.MSS, ProjectID: "p", FileID: id}}
}

// park asks the window about p at the rig's clock and returns the next attempt's time.
func (r *overnightRig) park(t *testing.T, p jobs.Payload) (time.Time, bool) {
	t.Helper()
	after, ok, err := r.ov.Park(context.Background(), p, 3, fmt.Errorf("MSS.00000004"))
	require.NoError(t, err)
	return r.clk.Now().Add(after), ok
}

func TestOvernightParksRetriesInsideTheWindowAndFailsAfterItsNights(t *testing.T) {
	sh := shanghai(t)
	forEachShift(t, sh, func(t *testing.T, at func(day, h, m int) time.Time) {
		r := newOvernightRig(t, 2, at(0, 14, 0))
		ctx := context.Background()
		w1s, w1e := at(1, 1, 0), at(1, 5, 0)
		w2s, w2e := w1s.AddDate(0, 0, 1), w1e.AddDate(0, 0, 1)
		require.NoError(t, r.store.CreateBatch(ctx, jobs.BatchMeta{ID: "b1"}))
		p := mssPayload("b1", "f1")
		inside := func(at, s, e time.Time) bool { return !at.Before(s) && at.Before(e) }

		// By day: parked into tonight's window.
		slot, ok := r.park(t, p)
		require.True(t, ok)
		assert.True(t, inside(slot, w1s, w1e), "parked to %s", slot)
		parked, err := r.store.Parked(ctx, "b1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), parked.Count)
		assert.True(t, slot.Equal(parked.Next), "status shows the next attempt %s", parked.Next)

		// Brought forward by day (`retry --now`) and failing again: it keeps its slot and its night.
		r.clk.Set(at(0, 16, 0))
		again, ok := r.park(t, p)
		require.True(t, ok)
		assert.True(t, slot.Equal(again), "same slot %s, got %s", slot, again)

		// Inside its window it retries with the normal backoff.
		r.clk.Set(slot)
		next, ok := r.park(t, p)
		require.True(t, ok)
		assert.Equal(t, 30*time.Second, next.Sub(slot))
		r.clk.Set(next)
		next2, ok := r.park(t, p)
		require.True(t, ok)
		assert.Equal(t, time.Minute, next2.Sub(next))

		// Near the close the backoff (2m) no longer fits: parked for the second night.
		r.clk.Set(w1e.Add(-time.Minute))
		slot2, ok := r.park(t, p)
		require.True(t, ok)
		assert.True(t, inside(slot2, w2s, w2e), "second night %s", slot2)

		// The second night's window closes with the task still failing: no third night.
		r.clk.Set(slot2)
		_, ok = r.park(t, p)
		require.True(t, ok, "inside its second window it still retries")
		r.clk.Set(w2e)
		_, ok = r.park(t, p)
		assert.False(t, ok, "two nights used: it fails")

		// Attempts running out at night: the current window is its first night, retried at once.
		r.clk.Set(at(1, 3, 0))
		q := mssPayload("b1", "f2")
		qat, ok := r.park(t, q)
		require.True(t, ok)
		assert.Equal(t, 30*time.Second, qat.Sub(r.clk.Now()))

		// Once a task has its outcome, it leaves the parked set.
		_, err = r.store.Finish(ctx, jobs.Record{Batch: "b1", Provider: providers.MSS, Key: q.Target.Key(), EnqueueID: q.EnqueueID,
			Target: q.Target, Outcome: jobs.Deleted}, true)
		require.NoError(t, err)
		parked, err = r.store.Parked(ctx, "b1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), parked.Count, "f1 is still parked, f2 ended")
	})
}

// Parked tasks are spread evenly across the window, however many a day parks.
func TestOvernightSpreadsParkedTasksAcrossTheWindow(t *testing.T) {
	sh := shanghai(t)
	forEachShift(t, sh, func(t *testing.T, at func(day, h, m int) time.Time) {
		r := newOvernightRig(t, 1, at(0, 9, 0))
		start := at(1, 1, 0)
		const window = 4 * time.Hour
		for _, n := range []int{10, 100, 1000} {
			var tenths [10]int
			for i := range n {
				// Tasks are parked through the day.
				r.clk.Set(at(0, 9, 0).Add(time.Duration(i) * 15 * time.Second))
				at, ok := r.park(t, mssPayload(fmt.Sprintf("spread-%d", n), fmt.Sprintf("f%05d", i)))
				require.True(t, ok)
				off := at.Sub(start)
				require.True(t, off >= 0 && off < window, "slot %s outside the window", at)
				tenths[off*10/window]++
			}
			for i, c := range tenths {
				// An even spread puts n/10 in each tenth; all at the opening would put n in the first.
				assert.LessOrEqual(t, c, max(2, n*15/100), "%d tasks: tenth %d holds %d (%v)", n, i, c, tenths)
				assert.GreaterOrEqual(t, c, n*5/100, "%d tasks: tenth %d holds %d (%v)", n, i, c, tenths)
			}
			// The next batch fills the gaps the earlier ones left, so the window stays even overall.
		}
		parked, err := r.store.Parked(context.Background(), "spread-1000")
		require.NoError(t, err)
		assert.Equal(t, int64(1000), parked.Count)
		assert.False(t, parked.Next.Before(start))
	})
}

// forEachShift is testclock.ForEachShift: fn at the real clock and 30 days either side of it.
var forEachShift = testclock.ForEachShift

// overnightLive is the live pipeline with parking on, breakers that never open (these failures are
// per file, not an outage) and a worker whose window reads the test's clock.
func overnightLive(t *testing.T, nights int, clk *testclock.Clock) *live {
	t.Helper()
	l := startLive(t, func(c *config.Config) {
		c.Retry.MaxAttempts = 2
		c.Retry.Overnight = config.Overnight{Nights: nights, Start: "01:00", End: "05:00", TimeZone: "Asia/Shanghai"}
		c.Breaker.ConsecutiveFailures = 1 << 30
		c.Breaker.FailureRatio = 0
	})
	deleters, err := wiring.Deleters(l.cfg)
	require.NoError(t, err)
	w := l.p.NewWorker(deleters, nil, nil)
	require.NotNil(t, w.Overnight, "retry.overnight.nights > 0 turns parking on")
	w.Overnight.Now = clk.Now
	l.stack.Faults(providers.MSS).SetClock(clk.Now)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
	return l
}

func (l *live) parked(t *testing.T, batch string) jobs.Parked {
	t.Helper()
	p, err := l.p.Store.Parked(context.Background(), batch)
	require.NoError(t, err)
	return p
}

// retrying is how many tasks wait in MetaStudio's retry set (where parked tasks wait).
func (l *live) retrying(t *testing.T) int {
	t.Helper()
	qi, err := l.p.Admin.Inspector().GetQueueInfo(jobs.QueueName(providers.MSS))
	require.NoError(t, err)
	return qi.Retry
}

// MetaStudio answers 500 MSS.00000004 all day and recovers at night: every task uses its daytime
// attempts, is parked into the night spread across the window, and succeeds there.
func TestTransientFailuresAreParkedAndSucceedOvernight(t *testing.T) {
	sh := shanghai(t)
	forEachShift(t, sh, func(t *testing.T, at func(day, h, m int) time.Time) {
		day := at(0, 9, 0)
		night := at(1, 1, 0)
		clk := testclock.New(day)
		l := overnightLive(t, 2, clk)
		l.stack.Faults(providers.MSS).SetOutage(day, night)

		const n = 200
		var targets []providers.Target
		for i := range n {
			tg := providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: fmt.Sprintf("night-%04d", i)}
			l.stack.MSS.Add(tg)
			targets = append(targets, tg)
		}
		batch := l.submit(t, targets...)
		require.Eventually(t, func() bool { return l.parked(t, batch).Count == n && l.retrying(t) == n },
			60*time.Second, 50*time.Millisecond, "every task parked")

		b, err := l.p.Store.Batch(context.Background(), batch)
		require.NoError(t, err)
		assert.Zero(t, b.Terminal, "parked, not failed")
		for _, tg := range targets {
			assert.Equal(t, 2, l.stack.MSS.Calls(tg), "retry.max_attempts calls by day, then parked")
		}

		// Spread across the window, not stampeding at 01:00.
		var tenths [10]int
		require.NoError(t, l.p.Store.ParkedTasks(context.Background(), batch, func(_ string, next time.Time) error {
			off := next.Sub(night)
			require.True(t, off >= 0 && off < 4*time.Hour, "next attempt %s outside 01:00-05:00", next.In(sh))
			tenths[off*10/(4*time.Hour)]++
			return nil
		}))
		for i, c := range tenths {
			assert.LessOrEqual(t, c, n*15/100, "tenth %d of the window holds %d of %d (%v)", i, c, n, tenths)
			assert.GreaterOrEqual(t, c, n*5/100, "tenth %d of the window holds %d of %d (%v)", i, c, n, tenths)
		}
		assert.False(t, l.parked(t, batch).Next.Before(night))

		// asynq holds them on the wall clock until their slot: at least the 16 hours to 01:00.
		tasks, err := l.p.Admin.Inspector().ListRetryTasks(jobs.QueueName(providers.MSS))
		require.NoError(t, err)
		require.NotEmpty(t, tasks)
		for _, ti := range tasks {
			assert.True(t, ti.NextProcessAt.After(time.Now().Add(night.Sub(day)-time.Minute)), "due %s", ti.NextProcessAt)
		}

		// Night falls (the provider's outage is the day): the parked tasks run in the window.
		clk.Set(night.Add(90 * time.Minute))
		started, err := l.p.Admin.RunParked(context.Background(), batch)
		require.NoError(t, err)
		assert.Equal(t, n, started)
		b = waitDone(t, l.p.Store, batch)
		assert.Equal(t, int64(n), b.Counts[jobs.Deleted])
		require.NoError(t, l.stack.Verify(context.Background(), l.p.Store, batch, targets))
		r := l.record(t, batch, targets[0])
		assert.Equal(t, 3, r.Attempts, "two by day, one at night")
		assert.Zero(t, l.parked(t, batch).Count, "nothing parked once they ended")
	})
}

// A task that fails at night too retries inside each window and fails after retry.overnight.nights
// windows, recorded with its last error.
func TestParkedTaskFailsAfterItsNights(t *testing.T) {
	sh := shanghai(t)
	forEachShift(t, sh, func(t *testing.T, at func(day, h, m int) time.Time) {
		clk := testclock.New(at(0, 9, 0))
		l := overnightLive(t, 2, clk)
		l.stack.Faults(providers.MSS).SetDown(true) // 500 MSS.00000004 day and night
		tg := providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: "hopeless"}
		l.stack.MSS.Add(tg)
		batch := l.submit(t, tg)
		ctx := context.Background()

		for night := range 2 {
			ws := at(1+night, 1, 0)
			we := ws.Add(4 * time.Hour)
			require.Eventually(t, func() bool {
				p := l.parked(t, batch)
				return p.Count == 1 && !p.Next.Before(ws) && p.Next.Before(we) && l.retrying(t) == 1
			}, 30*time.Second, 20*time.Millisecond, "parked for night %d", night+1)
			calls := l.stack.MSS.Calls(tg)

			clk.Set(ws.Add(time.Hour))
			require.Eventually(t, func() bool {
				n, err := l.p.Admin.RunParked(ctx, batch)
				require.NoError(t, err)
				return n == 1
			}, 10*time.Second, 20*time.Millisecond)
			// Inside the window: retried with the normal backoff, not failed.
			require.Eventually(t, func() bool { return l.stack.MSS.Calls(tg) >= calls+2 }, 30*time.Second, 20*time.Millisecond)
			b, err := l.p.Store.Batch(ctx, batch)
			require.NoError(t, err)
			require.Zero(t, b.Terminal)
			clk.Set(we) // the window closes with the task still failing
		}

		b := waitDone(t, l.p.Store, batch)
		assert.Equal(t, int64(1), b.Counts[jobs.Failed])
		r := l.record(t, batch, tg)
		assert.Equal(t, jobs.Failed, r.Outcome)
		assert.Equal(t, "MSS.00000004", r.Code)
		assert.Equal(t, 500, r.HTTPStatus)
		assert.Equal(t, l.stack.MSS.Calls(tg), r.Attempts, "every call counted")
		assert.True(t, l.stack.MSS.Exists(tg))
		assert.Zero(t, l.parked(t, batch).Count)
	})
}
