package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
	"github.com/reaper-media/reaper/scheduler"
)

// faultInternal is VOD's documented internal error, a retry-class failure.
var faultInternal = faults.Fault{Code: "InternalError", Message: "Internal error."}

const day = 24 * time.Hour

// vodPolicy selects every VOD media older than 30 days.
func vodPolicy(name, schedule string) config.Policy {
	return config.Policy{Name: name, Schedule: schedule, Provider: "vod", MinAge: 30 * day, MaxDeletions: 1000}
}

// addVOD puts n media created at created into the VOD fake and returns their targets.
func (h *harness) addVOD(prefix string, n int, created time.Time) []providers.Target {
	var out []providers.Target
	for i := range n {
		tg := providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("%s%05d", prefix, i), SubAppID: h.stack.Creds.VODSubApp}
		h.stack.VOD.AddAt(tg, created)
		out = append(out, tg)
	}
	return out
}

func keys(ts []providers.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key()
	}
	return out
}

func TestPolicyFiresOnItsScheduleInItsTimeZoneAndNotBefore(t *testing.T) {
	forEachShift(t, shanghai(t), func(t *testing.T, at func(days, h, m int) time.Time) {
		pol := vodPolicy("vod-old", "30 2 * * *") // 02:30 in Shanghai is 18:30 UTC the day before
		pol.TimeZone = "Asia/Shanghai"
		h := newHarness(t, time.Time{}, nil, pol)
		old := h.addVOD("old", 5, at(-80, 0, 0))
		fresh := h.addVOD("new", 2, at(-6, 0, 0))
		s := h.replica("a")

		// First start, 20 s after a fire time: the past is not run.
		h.at(at(0, 2, 30).Add(20*time.Second), s)
		assert.True(t, s.IsLeader())
		assert.Nil(t, h.last(s, "vod-old"))
		fire := at(1, 2, 30)
		h.at(fire.Add(-time.Millisecond), s)
		assert.Empty(t, h.runs("vod-old"), "not before its time")

		h.at(fire, s)
		assert.Equal(t, []string{scheduler.RunID("vod-old", fire)}, h.runs("vod-old"))
		last := h.last(s, "vod-old")
		require.NotNil(t, last)
		assert.Equal(t, scheduler.StatusRan, last.Status)
		assert.Equal(t, 5, last.Found)
		assert.Equal(t, 5, last.Enqueued)
		assert.Equal(t, fire, last.Scheduled)
		assert.Equal(t, "18:30:00", last.Scheduled.Format(time.TimeOnly), "recorded in UTC")
		b := h.batch(last.Batch)
		assert.Equal(t, "policy:vod-old", b.Source)
		assert.Equal(t, "scheduler:a", b.SubmittedBy)
		assert.Equal(t, int64(5), b.Total)
		assert.True(t, b.Sealed)
		assert.Equal(t, 5, h.queued())
		assert.Zero(t, h.logs.count("running missed tick late"), "on time")

		h.at(fire.Add(900*time.Millisecond), s)
		h.at(at(2, 2, 29), s)
		assert.Len(t, h.runs("vod-old"), 1, "once per fire time")
		sts, err := s.Status(context.Background())
		require.NoError(t, err)
		assert.Equal(t, at(2, 2, 30), sts[0].NextRun)

		// The batch is an ordinary batch: a worker deletes exactly the old media.
		h.worker()
		h.waitDone(last.Batch)
		require.NoError(t, h.stack.Verify(context.Background(), h.p.Store, last.Batch, old))
		for _, tg := range fresh {
			assert.True(t, h.stack.VOD.Exists(tg), "younger than min_age: kept")
		}
	})
}

// Three replicas on one Redis tick together for an hour of a five-minute schedule: each fire time
// runs exactly once, by whichever replica leads. Halfway, the leader stops gracefully (releases the
// lease) and another takes over at the very next tick.
func TestReplicasFireEachTickExactlyOnce(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		h := newHarness(t, time.Time{}, nil, vodPolicy("every5", "*/5 * * * *"))
		h.addVOD("old", 3, at(-300, 0, 0))
		replicas := []*scheduler.Scheduler{h.replica("a"), h.replica("b"), h.replica("c")}
		leaders := func() (out []string) {
			for _, s := range replicas {
				if s.IsLeader() {
					out = append(out, s.ID())
				}
			}
			return out
		}
		start := at(0, 0, 0).Add(30 * time.Second)
		var want []string
		for step := 0; step < 120; step++ { // every 30 s for an hour
			now := start.Add(time.Duration(step) * 30 * time.Second)
			if now.Second() == 0 && now.Minute()%5 == 0 {
				want = append(want, scheduler.RunID("every5", now))
			}
			h.at(now, replicas...)
			require.Len(t, leaders(), 1, "exactly one leader at %s", now)
			if step == 60 {
				leader := leaders()[0]
				for i, s := range replicas {
					if s.ID() == leader {
						require.NoError(t, s.Resign(context.Background()))
						replicas = append(replicas[:i], replicas[i+1:]...)
						break
					}
				}
				h.at(now.Add(time.Second), replicas...)
				require.Len(t, leaders(), 1, "a successor leads at the next tick")
				assert.NotEqual(t, leader, leaders()[0])
			}
		}
		assert.Len(t, want, 12)
		assert.Equal(t, want, h.runs("every5"))
		assert.Zero(t, h.logs.count("running missed tick late"))
	})
}

// The leader is killed (it never releases the lease). Until the lease expires nobody fires; then a
// successor takes over, runs the tick missed meanwhile once, late, with a log line saying so, and
// fires the next tick on time. The killed replica, back with a stale view, fires nothing.
func TestKilledLeadersSuccessorRunsTheMissedTickOnceLate(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		h := newHarness(t, time.Time{}, nil, vodPolicy("every5", "*/5 * * * *"))
		h.addVOD("old", 3, at(-300, 0, 0))
		run := func(m int) string { return scheduler.RunID("every5", at(0, 0, m)) }
		a, b := h.replica("a"), h.replica("b")
		h.at(at(0, 0, 0).Add(30*time.Second), a)
		h.at(at(0, 0, 0).Add(30*time.Second), b)
		require.True(t, a.IsLeader())
		require.False(t, b.IsLeader())
		h.at(at(0, 0, 5), a, b)
		require.Equal(t, []string{run(5)}, h.runs("every5"))

		// a is killed: it stops ticking and keeps its lease until it expires.
		h.at(at(0, 0, 10), b)
		assert.False(t, b.IsLeader(), "the lease has not expired yet")
		assert.Len(t, h.runs("every5"), 1, "nobody fires without the lease")

		h.clock.Set(at(0, 0, 12))
		require.Eventually(t, func() bool {
			b.Tick(context.Background())
			return b.IsLeader()
		}, 10*time.Second, 50*time.Millisecond, "b takes over once a's lease expires")
		assert.Equal(t, []string{run(5), run(10)}, h.runs("every5"))
		assert.Equal(t, 1, h.logs.count("running missed tick late", "scheduled="+stamp(at(0, 0, 10)), "replica=b"))

		h.at(at(0, 0, 15), b)
		h.at(at(0, 0, 15).Add(500*time.Millisecond), a) // back from the dead: not the leader
		assert.False(t, a.IsLeader())
		assert.Equal(t, []string{run(5), run(10), run(15)}, h.runs("every5"))
		assert.Equal(t, 1, h.logs.count("running missed tick late"), "the on-time tick is not late")
	})
}

// A replica whose view of the policy is stale (it read checked_until before another replica ran the
// tick) finds the run id claimed and does not run it again.
func TestAClaimedTickNeverRunsTwice(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		h := newHarness(t, time.Time{}, nil, vodPolicy("every5", "*/5 * * * *"))
		h.addVOD("old", 3, at(-300, 0, 0))
		a := h.replica("a")
		started := at(0, 0, 0).Add(30 * time.Second)
		h.at(started, a)
		h.at(at(0, 0, 5), a)
		require.Len(t, h.runs("every5"), 1)

		// Rewind the policy's progress, as a replica with a stale read would see it.
		rdb := h.redis.Client()
		require.NoError(t, rdb.HSet(context.Background(), "reaper:scheduler:policy:every5", "checked_until",
			strconv.FormatInt(started.UnixMilli(), 10)).Err())
		h.at(at(0, 0, 5).Add(time.Second), a)
		assert.Len(t, h.runs("every5"), 1)
		run := scheduler.RunID("every5", at(0, 0, 5))
		assert.Equal(t, 1, h.logs.count("tick already run", "run="+run))
		claimedBy, err := rdb.Get(context.Background(), "reaper:scheduler:run:"+run).Result()
		require.NoError(t, err)
		assert.Equal(t, "a", claimedBy)
	})
}

// A burst of ticks missed while no scheduler ran collapses into one run of the latest; a missed tick
// older than max_catch_up is skipped with a log line.
func TestMissedTicksCollapseAndOldOnesAreSkipped(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		daily := vodPolicy("daily", "0 1 * * *")
		h := newHarness(t, time.Time{}, func(c *config.Config) { c.Scheduler.MaxCatchUp = 20 * time.Minute },
			vodPolicy("every5", "*/5 * * * *"), daily)
		h.addVOD("old", 3, at(-300, 0, 0))
		a := h.replica("a")
		h.at(at(0, 0, 0).Add(30*time.Second), a)

		// Down from 00:00:30 to 00:31: 00:05 ... 00:30 are due, 00:05 and 00:10 older than max_catch_up.
		h.at(at(0, 0, 31), a)
		assert.Equal(t, []string{scheduler.RunID("every5", at(0, 0, 30))}, h.runs("every5"))
		assert.Equal(t, 1, h.logs.count("running missed tick late", "scheduled="+stamp(at(0, 0, 30)), "collapsed=3"))
		assert.Equal(t, 1, h.logs.count("skipping missed ticks older than scheduler.max_catch_up", "policy=every5",
			"first_missed="+stamp(at(0, 0, 5))))

		// The daily 01:00 run is 30 minutes late at 01:30: older than max_catch_up, skipped.
		h.at(at(0, 1, 30), a)
		assert.Empty(t, h.runs("daily"))
		assert.Equal(t, 1, h.logs.count("skipping missed ticks older than scheduler.max_catch_up", "policy=daily",
			"first_missed="+stamp(at(0, 1, 0))))
		h.at(at(1, 1, 0), a)
		assert.Equal(t, []string{scheduler.RunID("daily", at(1, 1, 0))}, h.runs("daily"))
	})
}

// A dry run (the policy's dry_run, or `policies run --dry-run`) deletes nothing and records, as its
// batch's dry_run outcomes, exactly what it would have deleted.
func TestDryRunDeletesNothingAndReportsWhatItWould(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		dry := vodPolicy("vod-dry", "0 * * * *")
		dry.DryRun = true
		h := newHarness(t, time.Time{}, nil, dry, vodPolicy("vod-real", "0 3 * * *"))
		old := h.addVOD("old", 6, at(-80, 0, 0))
		fresh := h.addVOD("new", 2, at(-1, 0, 0))
		s := h.replica("a")
		h.worker() // a worker is running: still nothing may be deleted
		h.at(at(0, 0, 30), s)
		h.at(at(0, 1, 0), s)
		scheduled := h.last(s, "vod-dry")
		require.NotNil(t, scheduled)

		manual, err := s.RunNow(context.Background(), "vod-real", true)
		require.NoError(t, err)
		assert.Equal(t, scheduler.ManualRunID("vod-real", at(0, 1, 0)), manual.ID)

		for _, rec := range []scheduler.RunRecord{*scheduled, manual} {
			assert.Equal(t, scheduler.StatusDryRun, rec.Status, rec.ID)
			assert.True(t, rec.DryRun)
			assert.Equal(t, 6, rec.Found)
			b := h.batch(rec.Batch)
			assert.Equal(t, rec.ID+" dry run", b.Note)
			assert.True(t, b.Done(), "nothing to wait for")
			assert.Equal(t, int64(6), b.Total)
			assert.Equal(t, int64(6), b.Counts[jobs.DryRun])
			recs := h.records(rec.Batch)
			assert.ElementsMatch(t, keys(old), mapKeys(recs))
			for _, r := range recs {
				assert.Equal(t, jobs.DryRun, r.Outcome)
				assert.Zero(t, r.Attempts, "no provider call")
			}
		}
		assert.Zero(t, h.queued())
		for _, tg := range append(old, fresh...) {
			assert.True(t, h.stack.VOD.Exists(tg))
			assert.Zero(t, h.stack.VOD.Calls(tg))
		}
		assert.Zero(t, h.stack.VOD.Deleted())
	})
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A run that finds more than max_deletions deletes nothing and is recorded refused with the count it
// found (counting stops at ten times the cap).
func TestTheCapRefusesARunThatFindsTooMuch(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		capped, tight := vodPolicy("capped", "0 3 * * *"), vodPolicy("tight", "0 3 * * *")
		capped.MaxDeletions, tight.MaxDeletions = 10, 2
		h := newHarness(t, at(0, 0, 0), nil, capped, tight)
		h.addVOD("old", 30, at(-80, 0, 0))
		s := h.replica("a")
		h.at(at(0, 2, 0), s)
		h.at(at(0, 3, 0), s)

		for _, tc := range []struct {
			policy, note string
			found        int
			atLeast      bool
		}{
			{"capped", "refused: found 30, more than max_deletions 10", 30, false},
			{"tight", "refused: found at least 20 (counting stopped), more than max_deletions 2", 20, true},
		} {
			rec := h.last(s, tc.policy)
			require.NotNil(t, rec, tc.policy)
			assert.Equal(t, scheduler.StatusRefused, rec.Status)
			assert.Equal(t, tc.found, rec.Found)
			assert.Equal(t, tc.atLeast, rec.FoundAtLeast)
			assert.Zero(t, rec.Enqueued)
			b := h.batch(rec.Batch)
			assert.Equal(t, scheduler.RunID(tc.policy, at(0, 3, 0))+": "+tc.note, b.Note)
			assert.Zero(t, b.Total)
			assert.True(t, b.Done())
			assert.Equal(t, 1, h.logs.count("policy run refused", "policy="+tc.policy))
		}
		assert.Zero(t, h.queued(), "nothing enqueued")

		// Refusal holds for a dry run as well.
		rec, err := s.RunNow(context.Background(), "capped", true)
		require.NoError(t, err)
		assert.Equal(t, scheduler.StatusRefused, rec.Status)
		assert.Contains(t, h.batch(rec.Batch).Note, "dry run: refused: found 30")
	})
}

// SearchMedia cannot page past 5,000 results; the search source splits the creation-time window, so a
// policy run reaches all 12,000 matching media (recorded by a dry run, one outcome each).
func TestSearchPolicyReaches12000MatchingMedia(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		pol := vodPolicy("vod-bulk", "0 3 * * *")
		pol.MaxDeletions = 20_000
		pol.VOD.Categories = []string{"Video"}
		h := newHarness(t, at(0, 0, 0), nil, pol)
		cutoff := at(0, 0, 0).Add(-pol.MinAge)
		const n = 12_000
		want := make([]string, 0, n)
		step := 365 * day / n
		for i := range n {
			tg := providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("bulk%05d", i), SubAppID: h.stack.Creds.VODSubApp}
			created := cutoff.Add(-time.Second - time.Duration(i/2)*2*step).Truncate(time.Second) // pairs share a second
			h.stack.VOD.AddMedia(vodtest.Media{FileID: tg.FileID, SubAppID: tg.SubAppID, CreateTime: created, Category: "Video",
				Parts: vodtest.DefaultParts()})
			want = append(want, tg.Key())
		}
		h.addVOD("young", 50, cutoff.Add(time.Hour)) // younger than min_age
		for i := range 50 {                          // not a video
			h.stack.VOD.AddMedia(vodtest.Media{FileID: fmt.Sprintf("audio%02d", i), SubAppID: h.stack.Creds.VODSubApp,
				CreateTime: cutoff.Add(-day), Category: "Audio", Parts: vodtest.DefaultParts()})
		}

		s := h.replica("a")
		rec, err := s.RunNow(context.Background(), "vod-bulk", true)
		require.NoError(t, err)
		assert.Equal(t, scheduler.StatusDryRun, rec.Status)
		assert.Equal(t, n, rec.Found)
		assert.Empty(t, rec.Error)
		b := h.batch(rec.Batch)
		assert.Equal(t, int64(n), b.Total)
		assert.Equal(t, int64(n), b.Counts[jobs.DryRun])
		got := mapKeys(h.records(rec.Batch))
		slices.Sort(got)
		slices.Sort(want)
		assert.Equal(t, want, got, "one dry_run record per matching media")

		capped := 0
		for _, q := range h.stack.VOD.SearchQueries() {
			assert.LessOrEqual(t, q.Offset+q.Limit, 5000)
			if q.TotalCount == 5000 {
				capped++
			}
		}
		assert.Greater(t, capped, 1, "windows over SearchMedia's 5,000 were split")
	})
}

// More than 5,000 media created within one second cannot all be reached by SearchMedia. The run
// deletes what it reached (it all matches), records why the selection is incomplete, and the next
// run reaches the rest.
func TestSearchPolicyRunsWithAnIncompleteSecond(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		pol := vodPolicy("vod-dense", "0 3 * * *")
		pol.MaxDeletions = 10_000
		h := newHarness(t, at(0, 0, 0), nil, pol)
		dense := at(-80, 0, 0)
		h.addVOD("dense", 5003, dense)
		h.addVOD("older", 3, at(-110, 0, 0))
		rec, err := h.replica("a").RunNow(context.Background(), "vod-dense", true)
		require.NoError(t, err)
		assert.Equal(t, scheduler.StatusDryRun, rec.Status)
		assert.Equal(t, 5003, rec.Found, "the 5,000 reachable in the dense second and the 3 older")
		assert.Contains(t, rec.Error, "selection incomplete")
		assert.Contains(t, rec.Error, stamp(dense))
		assert.Equal(t, 1, h.logs.count("selection incomplete"))
	})
}

// A selection error fails the run and enqueues nothing, even after partial results (here the first
// prefix lists fine, the second does not exist); the next tick selects again from scratch.
func TestASelectionErrorFailsTheRunAndEnqueuesNothing(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		pol := config.Policy{Name: "smh-tmp", Schedule: "0 * * * *", Provider: "smh", MinAge: 7 * day, MaxDeletions: 100,
			SMH: config.PolicySMH{Prefixes: []string{"tmp", "missing"}}}
		flaky := vodPolicy("vod-flaky", "0 * * * *")
		h := newHarness(t, at(0, 0, 0), nil, pol, flaky)
		for i := range 3 {
			h.stack.SMH.AddAt(providers.Target{Provider: providers.SMH, LibraryID: h.stack.Creds.SMHLibrary, SpaceID: "-",
				Path: fmt.Sprintf("tmp/f%d.mp4", i)}, at(-80, 0, 0))
		}
		h.addVOD("old", 4, at(-80, 0, 0))
		h.stack.Faults(providers.VOD).FailNext(1, faultInternal)
		s := h.replica("a")
		h.at(at(0, 0, 30), s)
		h.at(at(0, 1, 0), s)

		smh := h.last(s, "smh-tmp")
		require.NotNil(t, smh)
		assert.Equal(t, scheduler.StatusFailed, smh.Status)
		assert.Equal(t, 3, smh.Found, "partial results")
		assert.Contains(t, smh.Error, `directory "missing" does not exist`)
		assert.Contains(t, h.batch(smh.Batch).Note, scheduler.RunID("smh-tmp", at(0, 1, 0))+": failed: select: ")
		assert.Zero(t, h.batch(smh.Batch).Total)

		vod := h.last(s, "vod-flaky")
		require.NotNil(t, vod)
		assert.Equal(t, scheduler.StatusFailed, vod.Status)
		assert.Contains(t, vod.Error, "InternalError")
		assert.Zero(t, h.queued(), "nothing enqueued")
		assert.Equal(t, 2, h.logs.count("policy run failed"))

		h.at(at(0, 2, 0), s)
		vod = h.last(s, "vod-flaky")
		assert.Equal(t, scheduler.StatusRan, vod.Status, "the next tick selects again")
		assert.Equal(t, 4, vod.Enqueued)
	})
}

// An SMH list policy deletes (permanently, as the policy says) the old files under its prefixes,
// recursively, and nothing else.
func TestListPolicyDeletesOldFilesUnderItsPrefixes(t *testing.T) {
	forEachShift(t, shanghai(t), func(t *testing.T, at func(days, h, m int) time.Time) {
		deep := config.Policy{Name: "smh-tmp", Schedule: "0 3 * * *", TimeZone: "Asia/Shanghai", Provider: "smh",
			MinAge: 7 * day, MaxDeletions: 100, Permanent: true,
			SMH: config.PolicySMH{Prefixes: []string{"tmp", "exports/daily"}, Recursive: true}}
		flat := deep
		flat.Name, flat.Schedule, flat.Permanent, flat.SMH.Prefixes, flat.SMH.Recursive = "smh-flat", "0 4 * * *", false, []string{"tmp"}, false
		h := newHarness(t, at(0, 8, 0), nil, deep, flat)
		oldTime, newTime := at(-19, 8, 0), at(0, 8, 0)
		file := func(path string, modified time.Time) providers.Target {
			tg := providers.Target{Provider: providers.SMH, LibraryID: h.stack.Creds.SMHLibrary, SpaceID: "-", Path: path}
			h.stack.SMH.AddAt(tg, modified)
			return tg
		}
		selected := []providers.Target{file("tmp/a.mp4", oldTime), file("tmp/sub/b c.mp4", oldTime), file("exports/daily/2026/d.mp4", oldTime)}
		kept := []providers.Target{file("tmp/new.mp4", newTime), file("exports/weekly/e.mp4", oldTime), file("f.mp4", oldTime)}
		s := h.replica("a")

		flatRun, err := s.RunNow(context.Background(), "smh-flat", true)
		require.NoError(t, err)
		assert.Equal(t, []string{selected[0].Key()}, mapKeys(h.records(flatRun.Batch)), "not recursive: tmp's own files")

		h.at(at(1, 2, 0), s)
		h.worker()
		h.at(at(1, 3, 0), s) // 03:00 in Shanghai
		rec := h.last(s, "smh-tmp")
		require.NotNil(t, rec)
		assert.Equal(t, scheduler.RunID("smh-tmp", at(1, 3, 0)), rec.ID)
		assert.Equal(t, 3, rec.Found)
		h.waitDone(rec.Batch)
		require.NoError(t, h.stack.Verify(context.Background(), h.p.Store, rec.Batch, selected))
		for _, r := range h.records(rec.Batch) {
			assert.Equal(t, jobs.Deleted, r.Outcome, "permanent: not to the recycle bin")
			assert.True(t, r.Target.Permanent)
		}
		assert.Empty(t, h.stack.SMH.Recycled(h.stack.Creds.SMHLibrary))
		for _, tg := range kept {
			assert.True(t, h.stack.SMH.Exists(tg), tg.Path)
		}
	})
}

// Registrations in the retention index are deleted by an index policy once due (plus the policy's
// min_age), not before; a cancelled registration never is.
func TestIndexPolicyDeletesRegistrationsWhenDueAndNotBefore(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		pol := config.Policy{Name: "mss-expiries", Schedule: "*/10 * * * *", Provider: "mss", MinAge: time.Minute, MaxDeletions: 100}
		h := newHarness(t, at(0, 0, 0), nil, pol)
		ctx := context.Background()
		index := jobs.NewIndex(h.redis.Client(), h.cfg.FillTarget)
		mss := func(id string, due time.Time) providers.Target {
			tg := providers.Target{Provider: providers.MSS, ProjectID: h.stack.Creds.MSSProject, FileID: id}
			h.stack.MSS.Add(tg)
			require.NoError(t, index.Register(ctx, tg, due))
			return tg
		}
		r1 := mss("due-0005", at(0, 0, 5))
		r2 := mss("due-0015", at(0, 0, 15))
		r3 := mss("due-0009-30", at(0, 0, 9).Add(30*time.Second)) // due, but within min_age of the 00:10 run
		r4 := mss("cancelled", at(0, 0, 2))
		ok, err := index.Unregister(ctx, r4)
		require.NoError(t, err)
		require.True(t, ok)
		h.worker()
		s := h.replica("a")

		h.at(at(0, 0, 0).Add(30*time.Second), s)
		h.at(at(0, 0, 10).Add(-time.Second), s)
		assert.Nil(t, h.last(s, "mss-expiries"))
		h.at(at(0, 0, 10), s)
		first := h.last(s, "mss-expiries")
		require.NotNil(t, first)
		assert.Equal(t, 1, first.Found)
		h.waitDone(first.Batch)
		require.NoError(t, h.stack.Verify(ctx, h.p.Store, first.Batch, []providers.Target{r1}))
		assert.True(t, h.stack.MSS.Exists(r2))
		assert.True(t, h.stack.MSS.Exists(r3))
		n, err := index.Count(ctx, providers.MSS)
		require.NoError(t, err)
		assert.Equal(t, int64(2), n, "the enqueued registration is dropped")

		h.at(at(0, 0, 20), s)
		second := h.last(s, "mss-expiries")
		assert.Equal(t, 2, second.Found)
		h.waitDone(second.Batch)
		require.NoError(t, h.stack.Verify(ctx, h.p.Store, second.Batch, []providers.Target{r2, r3}))
		assert.True(t, h.stack.MSS.Exists(r4), "cancelled before it was due")
		n, err = index.Count(ctx, providers.MSS)
		require.NoError(t, err)
		assert.Zero(t, n)

		// Nothing due: the run finds nothing and creates no batch.
		h.at(at(0, 0, 30), s)
		third := h.last(s, "mss-expiries")
		assert.Equal(t, scheduler.RunID("mss-expiries", at(0, 0, 30)), third.ID)
		assert.Equal(t, scheduler.StatusRan, third.Status)
		assert.Zero(t, third.Found)
		assert.Empty(t, third.Batch)
		assert.Len(t, h.runs("mss-expiries"), 2)
	})
}
