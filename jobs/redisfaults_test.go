package jobs_test

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// asynqScript matches runs of asynq's own scripts on a provider queue whose keys include every part.
func asynqScript(parts ...string) jobstest.Match {
	return func(cmd redis.Cmder) bool {
		if n := strings.ToLower(cmd.Name()); n != "evalsha" && n != "eval" {
			return false
		}
		var keys []string
		for _, a := range cmd.Args()[1:] {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "asynq:{reaper-") {
				keys = append(keys, s)
			}
		}
		for _, p := range parts {
			found := false
			for _, k := range keys {
				if strings.Contains(k, p) {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// not is m's complement, within the commands base matches.
func butNot(base, m jobstest.Match) jobstest.Match {
	return func(cmd redis.Cmder) bool { return base(cmd) && !m(cmd) }
}

// faultRow is one row of the fault-injection matrix: a Redis call on the task path, the fault injected
// into it, and what must come out anyway.
type faultRow struct {
	site  string
	drop  bool // the call runs and its reply is lost; otherwise it never reaches Redis
	match jobstest.Match
	nth   int // which matching call after the batch is submitted
	times int // how many consecutive matching calls fail (default 1)
	// provider is where the target lives; transient makes the provider answer 500 this many times first.
	provider  providers.Name
	transient int
	want      jobs.Outcome
	wantCalls int
	// viaAsynq turns waiting in place off, so a retry goes through asynq's retry set (and its write).
	viaAsynq bool
	// within bounds the wait for the outcome (default 30 s).
	within time.Duration
}

var (
	finishScript = jobstest.Script(jobs.FinishScriptSHA)
	noteScript   = jobstest.Script(jobs.NoteScriptSHA)
	asynqDone    = butNot(asynqScript(":active", ":processed:"), asynqScript(":failed:"))
	asynqRetry   = asynqScript(":active", ":retry", ":failed:")
	// cancelCheck is the worker's one read of a batch's cancelled and suspended flags.
	cancelCheck = jobstest.Command("hmget").KeyContains("suspended_at")
)

func faultMatrix() []faultRow {
	return []faultRow{
		{site: "cancel check (HMGET)", match: cancelCheck, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "cancel check (HMGET), twice", match: cancelCheck, times: 2, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "rate limiter (redis_rate script)", match: jobstest.Command("evalsha").KeyContains("rate:reaper:"), provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "finish script", match: finishScript, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "finish script", drop: true, match: finishScript, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "finish script, 5 times", match: finishScript, times: 5, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "finish script (recycle bin)", match: finishScript, provider: providers.SMH, want: jobs.Recycled, wantCalls: 1},
		{site: "finish script (recycle bin)", drop: true, match: finishScript, provider: providers.SMH, want: jobs.Recycled, wantCalls: 1},
		{site: "asynq done", match: asynqDone, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "asynq done", drop: true, match: asynqDone, provider: providers.MSS, want: jobs.Deleted, wantCalls: 1},
		{site: "attempt note after a 500", match: noteScript, provider: providers.MSS, transient: 1, want: jobs.Deleted, wantCalls: 2},
		{site: "attempt note after a 500", drop: true, match: noteScript, provider: providers.MSS, transient: 1, want: jobs.Deleted, wantCalls: 2},
		// asynq's own retry write failing leaves the task active until asynq's lease recovery (30 s of
		// lease, 30 s of clock-skew margin, a one-minute recoverer tick): slow, but the budget is intact.
		{site: "asynq retry after a 500", match: asynqRetry, provider: providers.MSS, transient: 1, want: jobs.Deleted, wantCalls: 2,
			viaAsynq: true, within: 3 * time.Minute},
		{site: "asynq retry after a 500", drop: true, match: asynqRetry, provider: providers.MSS, transient: 1, want: jobs.Deleted, wantCalls: 2,
			viaAsynq: true},
		{site: "cancel check before the last attempt", match: cancelCheck, nth: 2, times: 2,
			provider: providers.MSS, transient: 10, want: jobs.Failed, wantCalls: 3},
		{site: "attempt note of the last attempt", match: noteScript, nth: 3, provider: providers.MSS, transient: 10, want: jobs.Failed, wantCalls: 3},
		{site: "attempt note of the last attempt", drop: true, match: noteScript, nth: 3, provider: providers.MSS, transient: 10, want: jobs.Failed, wantCalls: 3},
		{site: "finish script after the budget", match: finishScript, provider: providers.MSS, transient: 10, want: jobs.Failed, wantCalls: 3},
	}
}

func (r faultRow) name() string {
	kind := "fail"
	if r.drop {
		kind = "drop"
	}
	return fmt.Sprintf("%s %s", kind, r.site)
}

// Every Redis call on the task path, failed or dropped once: every target still ends in exactly one
// outcome, the right one (deleted or recycled with its item id for a file that was deleted, never
// already_gone), and Redis trouble spends no provider calls: max_attempts 3 means at most 3 calls.
func TestRedisFaultMatrix(t *testing.T) {
	for _, row := range faultMatrix() {
		t.Run(row.name(), func(t *testing.T) {
			t.Parallel() // each row has its own Redis and fakes; most of a row is waiting
			l := startLive(t, func(c *config.Config) {
				c.Retry.MaxAttempts = 3
				c.Retry.BaseDelay, c.Retry.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
				c.Breaker.ConsecutiveFailures = 1000
				c.Breaker.FailureRatio = 0
				if row.viaAsynq {
					c.Worker.RateLimitMaxWait = 0
				}
			})
			hook := jobstest.NewFaultHook()
			l.p.Redis.AddHook(hook)
			tg := l.stack.Targets(1, 0)[slicesIndex(row.provider)]
			if row.transient > 0 {
				l.stack.Faults(row.provider).FailNext(row.transient, faults.Fault{Status: 500, Code: transientCode(row.provider), Message: "Internal Error"})
			}
			nth := max(1, row.nth)
			for i := range max(1, row.times) {
				label := fmt.Sprintf("%s #%d", row.site, nth+i)
				if row.drop {
					hook.DropNth(label, row.match, nth)
				} else {
					hook.FailNth(label, row.match, nth)
				}
				nth = 1 // the following faults fire on the calls right after
			}
			l.startWorker(t)
			batch := l.submit(t, tg)
			b := waitDoneWithin(t, l.p.Store, batch, cmp.Or(row.within, 30*time.Second))

			// Some sites come after the outcome (asynq's done script runs once the handler has
			// returned): wait for the fault rather than race it.
			assert.Eventually(t, func() bool { return len(hook.Fired()) >= max(1, row.times) }, 10*time.Second, 5*time.Millisecond,
				"the fault fired")
			assert.Len(t, hook.Fired(), max(1, row.times), "the fault fired")
			assert.Equal(t, int64(1), b.Total)
			assert.Equal(t, int64(1), b.Terminal, "exactly one outcome")
			assert.Equal(t, int64(1), b.Counts[row.want], "counted as %s: %v", row.want, b.Counts)
			rec := l.record(t, batch, tg)
			assert.Equal(t, row.want, rec.Outcome, "code %s message %s", rec.Code, rec.Message)
			calls := l.stack.Fake(row.provider).Calls(tg)
			assert.Equal(t, row.wantCalls, calls, "provider calls")
			assert.LessOrEqual(t, calls, 3, "never more than retry.max_attempts")
			assert.Equal(t, calls, rec.Attempts, "every call counted once")
			if row.want == jobs.Recycled {
				assert.Positive(t, rec.RecycledItemID, "the recycle-bin id that restores it")
			}
			if row.want == jobs.Deleted || row.want == jobs.Recycled {
				assert.False(t, l.stack.Fake(row.provider).Exists(tg))
			}
		})
	}
}

func slicesIndex(n providers.Name) int {
	for i, m := range providers.Names {
		if m == n {
			return i
		}
	}
	panic("unknown provider " + string(n))
}

func transientCode(n providers.Name) string {
	switch n {
	case providers.MSS:
		return "MSS.00000004"
	case providers.VOD:
		return "InternalError"
	}
	return "InternalError"
}

// A deletion replaces what was recorded without it (a re-run's already_gone, a racing cancel) for the
// same enqueue; nothing else replaces a record, and the counters stay right.
func TestFinishLetsADeletionReplaceAReRunsRecord(t *testing.T) {
	store := jobs.NewStore(jobstest.StartRedis(t).Client(), jobs.StoreOptions{})
	ctx := context.Background()
	require.NoError(t, store.CreateBatch(ctx, jobs.BatchMeta{ID: "b"}))
	rec := func(key, eid string, o jobs.Outcome) jobs.Record {
		return jobs.Record{Batch: "b", Provider: providers.SMH, Key: key, EnqueueID: eid, Outcome: o, RecycledItemID: 42}
	}
	finish := func(r jobs.Record) bool {
		wrote, err := store.Finish(ctx, r, true)
		require.NoError(t, err)
		return wrote
	}
	require.NoError(t, store.AddCounts(ctx, "b", 5, 0))

	assert.True(t, finish(rec("gone-then-recycled", "e1", jobs.AlreadyGone)))
	assert.True(t, finish(rec("gone-then-recycled", "e1", jobs.Recycled)), "the deletion that happened wins")
	assert.True(t, finish(rec("cancel-then-deleted", "e2", jobs.Cancelled)))
	assert.True(t, finish(rec("cancel-then-deleted", "e2", jobs.Deleted)))
	assert.True(t, finish(rec("deleted-then-gone", "e3", jobs.Deleted)))
	assert.False(t, finish(rec("deleted-then-gone", "e3", jobs.AlreadyGone)), "a re-run never downgrades")
	assert.True(t, finish(rec("failed-then-deleted", "e4", jobs.Failed)))
	assert.False(t, finish(rec("failed-then-deleted", "e4", jobs.Deleted)), "failed stands: it was recorded after its calls")
	assert.True(t, finish(rec("other-enqueue", "e5", jobs.AlreadyGone)))
	assert.False(t, finish(rec("other-enqueue", "e6", jobs.Deleted)), "another enqueue of the target is a duplicate")

	b, err := store.Batch(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, int64(4), b.Total, "the duplicate left the total")
	assert.Equal(t, int64(5), b.Terminal)
	assert.Equal(t, map[jobs.Outcome]int64{jobs.Recycled: 1, jobs.Deleted: 2, jobs.AlreadyGone: 1, jobs.Failed: 1,
		jobs.Cancelled: 0, jobs.DryRun: 0}, b.Counts)
	r, ok, err := store.Record(ctx, "b", "gone-then-recycled")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, jobs.Recycled, r.Outcome)
	assert.Equal(t, int64(42), r.RecycledItemID)
	assert.Equal(t, 2, r.Attempts, "both runs' calls")
}

// A late outcome for a batch that has expired writes nothing: it must not recreate a partial batch that
// can never complete.
func TestFinishForAnExpiredBatchRecreatesNothing(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	store := jobs.NewStore(rdb, jobs.StoreOptions{})
	ctx := context.Background()
	_, err := store.Finish(ctx, jobs.Record{Batch: "gone", Provider: providers.MSS, Key: "k", EnqueueID: "e", Outcome: jobs.Deleted}, true)
	require.ErrorIs(t, err, jobs.ErrNoBatch)
	n, err := rdb.Exists(ctx, "reaper:batch:gone", "reaper:batch:gone:out").Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}

// Cancel, with one fault in each of its Redis calls: run again after an error (as an operator would),
// every target of the batch ends cancelled exactly once, and no provider call is made.
func TestCancelFaultMatrix(t *testing.T) {
	rows := []struct {
		site  string
		drop  bool
		match jobstest.Match
		nth   int
	}{
		{"cancelled flag (script)", false, jobstest.Script(jobs.FlagOnceScriptSHA), 1},
		{"cancelled flag (script)", true, jobstest.Script(jobs.FlagOnceScriptSHA), 1},
		{"reading the queue (asynq)", false, asynqScript(":pending"), 1},
		{"cancelled record (finish script)", false, finishScript, 2},
		{"cancelled record (finish script)", true, finishScript, 2},
		{"removing the task (asynq)", false, asynqScript(":t:", ":groups"), 2},
		{"removing the task (asynq)", true, asynqScript(":t:", ":groups"), 2},
	}
	for _, row := range rows {
		name := "fail " + row.site
		if row.drop {
			name = "drop " + row.site
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := startLive(t, nil)
			targets := l.stack.Targets(3, 0)
			batch := l.submit(t, targets...)
			hook := jobstest.NewFaultHook()
			l.p.Redis.AddHook(hook)
			if row.drop {
				hook.DropNth(row.site, row.match, row.nth)
			} else {
				hook.FailNth(row.site, row.match, row.nth)
			}
			ctx := context.Background()
			removed, err := l.p.Admin.Cancel(ctx, batch)
			if err != nil {
				again, err := l.p.Admin.Cancel(ctx, batch)
				require.NoError(t, err, "cancel again after %v", err)
				removed += again
			}
			assert.Equal(t, []string{row.site}, hook.Fired())
			assert.LessOrEqual(t, removed, len(targets))
			l.startWorker(t) // whatever cancel left queued meets the cancelled flag
			b := waitDone(t, l.p.Store, batch)
			assert.Equal(t, int64(len(targets)), b.Terminal)
			assert.Equal(t, int64(len(targets)), b.Counts[jobs.Cancelled], "%v", b.Counts)
			trail, err := l.p.Store.AuditTrail(ctx, batch)
			require.NoError(t, err)
			cancels := 0
			for _, e := range trail {
				if e.Action == jobs.AuditCancelled {
					cancels++
				}
			}
			assert.Equal(t, 1, cancels, "one cancel in the audit trail, however often cancel ran: %v", trail)
			for _, tg := range targets {
				assert.Zero(t, l.stack.Fake(tg.Provider).Calls(tg), "a cancelled target is never called")
				assert.True(t, l.stack.Fake(tg.Provider).Exists(tg))
			}
		})
	}
}

// Parking, with one fault in each of its Redis calls: the task is parked once, for the night, having
// used exactly retry.max_attempts calls, and succeeds there.
func TestParkFaultMatrix(t *testing.T) {
	rows := []struct {
		site  string
		match jobstest.Match
	}{
		{"reading the park state (HMGET)", jobstest.Command("hmget").KeyContains(":try")},
		{"taking a slot (INCR)", jobstest.Command("incr").KeyContains("reaper:overnight:")},
		{"saving the park state (MULTI/EXEC)", jobstest.Command("zadd").KeyContains(":parked")},
	}
	for _, row := range rows {
		t.Run("fail "+row.site, func(t *testing.T) {
			t.Parallel()
			sh := shanghai(t)
			y, m, d := time.Now().In(sh).Date()
			day, night := time.Date(y, m, d, 9, 0, 0, 0, sh), time.Date(y, m, d+1, 1, 0, 0, 0, sh)
			clk := testclock.New(day)
			l := overnightLive(t, 2, clk)
			l.stack.Faults(providers.MSS).SetOutage(day, night)
			hook := jobstest.NewFaultHook()
			l.p.Redis.AddHook(hook)
			hook.FailNth(row.site, row.match, 1)
			tg := providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: "park-me"}
			l.stack.MSS.Add(tg)
			batch := l.submit(t, tg)
			require.Eventually(t, func() bool { return l.parked(t, batch).Count == 1 && l.retrying(t) == 1 },
				30*time.Second, 20*time.Millisecond, "parked")
			assert.Equal(t, []string{row.site}, hook.Fired())
			assert.Equal(t, 2, l.stack.MSS.Calls(tg), "retry.max_attempts calls, none spent by Redis")
			p := l.parked(t, batch)
			assert.False(t, p.Next.Before(night), "parked for the night, next attempt %s", p.Next.In(sh))

			clk.Set(night.Add(time.Hour))
			n, err := l.p.Admin.RunParked(context.Background(), batch)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			b := waitDone(t, l.p.Store, batch)
			assert.Equal(t, int64(1), b.Counts[jobs.Deleted])
			assert.Equal(t, 3, l.record(t, batch, tg).Attempts)
		})
	}
}

// The outcome stream is trimmed by age, on Redis's clock: entries past outcomes.stream_retention go,
// whatever their number; with the stream off nothing is written.
func TestOutcomeStreamIsTrimmedByAge(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	store := jobs.NewStore(rdb, jobs.StoreOptions{StreamRetention: 300 * time.Millisecond})
	require.NoError(t, store.CreateBatch(ctx, jobs.BatchMeta{ID: "b"}))
	finish := func(s *jobs.Store, key string) {
		_, err := s.Finish(ctx, jobs.Record{Batch: "b", Provider: providers.VOD, Key: key, EnqueueID: "e", Outcome: jobs.Deleted}, true)
		require.NoError(t, err)
	}
	for i := range 300 {
		finish(store, fmt.Sprint(i))
	}
	n, err := rdb.XLen(ctx, jobs.StreamKey).Result()
	require.NoError(t, err)
	require.Equal(t, int64(300), n)
	time.Sleep(500 * time.Millisecond) // Redis's clock moves on: the stream's age is Redis's to judge
	// The trim runs at one outcome in 64.
	for i := range 64 {
		finish(store, fmt.Sprint("late-", i))
	}
	n, err = rdb.XLen(ctx, jobs.StreamKey).Result()
	require.NoError(t, err)
	assert.Less(t, n, int64(100+64), "entries older than the retention were trimmed (whole nodes: MINID ~)")

	off := jobs.NewStore(rdb, jobs.StoreOptions{StreamRetention: -1})
	before, err := rdb.XLen(ctx, jobs.StreamKey).Result()
	require.NoError(t, err)
	finish(off, "quiet")
	after, err := rdb.XLen(ctx, jobs.StreamKey).Result()
	require.NoError(t, err)
	assert.Equal(t, before, after, "stream off: no entry")
}
