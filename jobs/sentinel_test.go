package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// startSentinelLive is startLive on a Sentinel deployment, wired as a deployment is: its
// redis+sentinel:// URL through config and wiring.Redis, so the pipeline and asynq share one
// go-redis failover client.
func startSentinelLive(t *testing.T) (*live, *jobstest.Sentinel) {
	t.Helper()
	s := jobstest.StartSentinel(t)
	stack, err := fakestack.Start(fakestack.Options{RecycleBin: true, Seed: 11})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, s.URL())
	require.NoError(t, err)
	// About 3 s of work, so the failover lands in the middle of it.
	cfg.Providers.MSS.RateLimit, cfg.Providers.SMH.RateLimit, cfg.Providers.VOD.RateLimit = 50, 50, 50
	require.NoError(t, cfg.Validate())
	rdb, err := wiring.Redis(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() }) // after the worker's Shutdown, registered later
	return &live{stack: stack, cfg: cfg, p: wiring.Pipeline(cfg, rdb)}, s
}

// The Redis master fails over in the middle of a batch: by an operator's SENTINEL FAILOVER, by a
// SIGKILL the sentinels notice, and by SENTINEL FAILOVER after the queues were paused and drained
// (the README's procedure for planned maintenance). Every target still ends with exactly one
// outcome, on the new master, and no file is left undeleted or failed.
//
// Replication is asynchronous, and Sentinel pauses no one before it promotes the replica: writes
// the old master acknowledged after its last replicated byte are lost, and after SENTINEL FAILOVER
// the old master goes on taking writes until the clients follow the switch (a second or two). An
// outcome record lost so goes with the asynq write that completed its task, so the task runs
// again, finds the file gone and records already_gone: exactly one outcome still, but not the
// deletion's own (for SMH, the recycle-bin id is lost). What is guaranteed, and checked: one
// record per target, none failed, every file gone, each record's attempts made and at most the
// one re-run's call uncounted, already_gone only for a file a lost run deleted; and with the
// queues drained first, no record lost at all.
func TestSentinelFailoverMidBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(*testing.T, *live, *jobstest.Sentinel) *jobstest.Redis
		// lossless: no write of an outcome can be lost (nothing was in flight)
		lossless bool
	}{
		{name: "SENTINEL FAILOVER", fail: func(_ *testing.T, _ *live, s *jobstest.Sentinel) *jobstest.Redis { return s.Failover() }},
		{name: "master SIGKILLed", fail: func(_ *testing.T, _ *live, s *jobstest.Sentinel) *jobstest.Redis { return s.KillMaster() }},
		{name: "SENTINEL FAILOVER, queues paused and drained", lossless: true, fail: failOverDrained},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each has its own deployment and fakes; most of it is waiting
			l, s := startSentinelLive(t)
			ctx := context.Background()
			targets := l.stack.Targets(150, 0)
			l.startWorker(t)
			batch := l.submit(t, targets...)
			require.Eventually(t, func() bool {
				b, err := l.p.Store.Batch(ctx, batch)
				return err == nil && b.Terminal >= 100
			}, 30*time.Second, 10*time.Millisecond, "some outcomes recorded")

			old := s.Master()
			next := tc.fail(t, l, s)
			require.NotSame(t, old, next)
			var b jobs.BatchInfo
			require.Eventually(t, func() bool {
				var err error
				b, err = l.p.Store.Batch(ctx, batch)
				return err == nil
			}, 10*time.Second, 10*time.Millisecond, "the pipeline's client follows the new master")
			require.False(t, b.Done(), "the failover landed mid-batch: %+v", b)

			b = waitDoneWithin(t, l.p.Store, batch, 40*time.Second)
			assertOneOutcomeEach(t, l, next, batch, targets)
			if tc.lossless {
				assert.Zero(t, b.Counts[jobs.AlreadyGone], "nothing was in flight, so no record was lost: %v", b.Counts)
			}
		})
	}
}

// SENTINEL FAILOVER in the middle of an enqueue: tasks and counter increments the old master took
// after its last replicated byte are lost, as in a crash of a standalone Redis. Once the queues are
// idle (what could run has run), reconcile with the manifest finds exactly the targets with neither
// a record nor a task and enqueues them again; then every target ends with exactly one outcome.
func TestSentinelFailoverMidEnqueue(t *testing.T) {
	t.Parallel() // with TestSentinelFailoverMidBatch's cases: most of each is waiting
	l, s := startSentinelLive(t)
	ctx := context.Background()
	targets := l.stack.Targets(300, 0)
	l.startWorker(t)
	meta := jobs.BatchMeta{ID: jobs.NewBatchID(time.Now()), SubmittedBy: "test"}
	submitted := make(chan error, 1)
	go func() {
		// A manifest read at about 500 lines a second, so the failover lands inside the enqueue.
		slow := func(yield func(providers.Target) bool) {
			for _, tg := range targets {
				time.Sleep(2 * time.Millisecond)
				if !yield(tg) {
					return
				}
			}
		}
		_, err := l.p.Producer.Submit(ctx, meta, slow, nil)
		submitted <- err
	}()
	require.Eventually(t, func() bool {
		b, err := l.p.Store.Batch(ctx, meta.ID)
		return err == nil && b.Total >= 150
	}, 30*time.Second, 5*time.Millisecond, "part of the manifest enqueued")
	next := s.Failover()
	b, err := l.p.Store.Batch(ctx, meta.ID)
	require.NoError(t, err)
	require.False(t, b.Sealed, "the failover landed mid-enqueue: %+v", b)
	t.Logf("the enqueue across the failover: %v", <-submitted)

	// Reconciled while idle, as the README says: a scan racing the workers' requeue of the tasks the
	// failover stranded in active can count one twice.
	idle := time.Now().Add(40 * time.Second)
	for {
		busy := map[providers.Name]string{}
		for _, n := range providers.Names {
			qi, err := l.p.Admin.Inspector().GetQueueInfo(jobs.QueueName(n))
			if err != nil || qi.Pending+qi.Active+qi.Scheduled+qi.Retry > 0 {
				busy[n] = fmt.Sprintf("%+v %v", qi, err)
			}
		}
		if len(busy) == 0 {
			break
		}
		if time.Now().After(idle) {
			t.Fatalf("the queues are not idle within 40s: %v", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var rep jobs.ReconcileReport
	reenqueued := 0
	require.Eventually(t, func() bool {
		rep, err = l.p.Admin.Reconcile(ctx, meta.ID, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: l.p.Producer})
		reenqueued += rep.Reenqueued
		return err == nil && rep.AddsUp()
	}, 40*time.Second, 500*time.Millisecond, "reconcile: %+v %v", rep, err)
	t.Logf("reconcile: re-enqueued %d targets the failover lost", reenqueued)
	waitDoneWithin(t, l.p.Store, meta.ID, 40*time.Second)
	assertOneOutcomeEach(t, l, next, meta.ID, targets)
}

// assertOneOutcomeEach checks a batch that ended across a failover: one record per target and none
// failed, every file gone (Verify), the counts add up, every record's attempts were made and at most
// one re-run's call is uncounted, already_gone only for a file an earlier call deleted (all
// existed), and the batch as the new master holds it is done.
func assertOneOutcomeEach(t *testing.T, l *live, master *jobstest.Redis, batch string, targets []providers.Target) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
	b, err := l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, int64(len(targets)), b.Total)
	assert.Equal(t, b.Total, b.Terminal, "the counts add up")
	assert.Equal(t, b.Total, b.Counts[jobs.Deleted]+b.Counts[jobs.Recycled]+b.Counts[jobs.AlreadyGone], "%v", b.Counts)
	for _, tg := range targets {
		r := l.record(t, batch, tg)
		calls := l.stack.Fake(tg.Provider).Calls(tg)
		assert.LessOrEqual(t, r.Attempts, calls, "%s: a call counted that was not made", tg)
		assert.LessOrEqual(t, calls-r.Attempts, 1, "%s: calls not counted", tg)
		if r.Outcome == jobs.AlreadyGone {
			assert.GreaterOrEqual(t, calls, 2, "%s existed: already_gone only after a run whose record was lost", tg)
		}
		if r.Outcome == jobs.Recycled {
			assert.Positive(t, r.RecycledItemID, "%s", tg)
		}
	}
	onNew, err := jobs.NewStore(master.Client(), jobs.StoreOptions{}).Batch(ctx, batch)
	require.NoError(t, err)
	assert.True(t, onNew.Done(), "recorded on the new master: %+v", onNew)
	t.Logf("%v (already_gone: records the failover lost)", b.Counts)
}

// failOverDrained is the planned failover: pause every provider's queue, wait until no task is
// active (every in-flight delete recorded) and the replica has every write, fail over, resume.
func failOverDrained(t *testing.T, l *live, s *jobstest.Sentinel) *jobstest.Redis {
	t.Helper()
	for _, n := range providers.Names {
		require.NoError(t, l.p.Admin.Pause(n))
	}
	require.Eventually(t, func() bool {
		for _, n := range providers.Names {
			qi, err := l.p.Admin.Inspector().GetQueueInfo(jobs.QueueName(n))
			if err != nil || qi.Active > 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond, "drained")
	s.WaitReplicated()
	next := s.Failover()
	for _, n := range providers.Names {
		require.Eventually(t, func() bool { return l.p.Admin.Resume(n) == nil }, 10*time.Second, 20*time.Millisecond,
			"resume %s on the new master", n)
	}
	return next
}
