package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// strandScript does what a dequeue cut off half way would leave behind: the task moved from pending to
// active, its state active, and no lease, so asynq's recoverer (which reads the lease set) never sees it.
//
//	KEYS[1] pending  KEYS[2] active  KEYS[3] task hash  ARGV[1] task id
var strandScript = redis.NewScript(`
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then
  return redis.error_reply('not pending')
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'state', 'active')
redis.call('HDEL', KEYS[3], 'pending_since')
return 1
`)

// strand strands tg's pending task and returns its id.
func strand(t *testing.T, rdb redis.UniversalClient, tg providers.Target) string {
	t.Helper()
	q, id := jobs.QueueName(tg.Provider), jobs.TaskID(tg)
	require.NoError(t, strandScript.Run(context.Background(), rdb,
		[]string{"asynq:{" + q + "}:pending", "asynq:{" + q + "}:active", "asynq:{" + q + "}:t:" + id}, id).Err())
	return id
}

// lose deletes a queued target's task from Redis, as a Redis that lost its last second of writes does
// to an enqueue.
func lose(t *testing.T, rdb redis.UniversalClient, tg providers.Target) {
	t.Helper()
	q, id := jobs.QueueName(tg.Provider), jobs.TaskID(tg)
	ctx := context.Background()
	n, err := rdb.LRem(ctx, "asynq:{"+q+"}:pending", 0, id).Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "%s was not pending", tg)
	require.NoError(t, rdb.Del(ctx, "asynq:{"+q+"}:t:"+id).Err())
}

// digest is every key of the database with its serialised value, to show a dry run changed nothing.
func digest(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		require.NoError(t, err)
		fmt.Fprintf(&b, "%s=%x\n", k, v)
	}
	return b.String()
}

func queueLen(t *testing.T, rdb redis.UniversalClient, n providers.Name, state string) int64 {
	t.Helper()
	n64, err := rdb.LLen(context.Background(), "asynq:{"+jobs.QueueName(n)+"}:"+state).Result()
	require.NoError(t, err)
	return n64
}

// A task stranded in active without a lease is requeued (a leased one is left alone) and then ends
// with exactly one outcome.
func TestReconcileRequeuesStrandedTasks(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	rdb := l.p.Redis
	targets := l.stack.Targets(5, 0)
	batch := l.submit(t, targets...)

	stranded := strand(t, rdb, targets[0])
	leased := strand(t, rdb, targets[3])
	// A lease far in the future: a worker holds it (asynq's recoverer would take it back on expiry).
	require.NoError(t, rdb.ZAdd(ctx, "asynq:{reaper-mss}:lease", redis.Z{Score: 1 << 40, Member: leased}).Err())

	before := digest(t, rdb)
	rep, err := l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, before, digest(t, rdb), "a dry run changes nothing")
	assert.Equal(t, 1, rep.Stranded)
	assert.Zero(t, rep.Requeued)
	assert.Equal(t, jobs.QueuedCounts{Pending: 13, Active: 2}, rep.Queued)
	assert.True(t, rep.AddsUp(), "%+v", rep)

	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Stranded)
	assert.Equal(t, 1, rep.Requeued)
	assert.Equal(t, int64(15), rep.Total)
	assert.Equal(t, int64(0), rep.Missing)
	assert.True(t, rep.AddsUp(), "%+v", rep)
	assert.Equal(t, int64(1), queueLen(t, rdb, providers.MSS, "active"), "the leased task stays active")
	pending, err := rdb.LRange(ctx, "asynq:{reaper-mss}:pending", -1, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{stranded}, pending, "requeued at the front of pending, as asynq's requeue does")

	// The worker holding the lease dies in a way that loses the lease too: now it is stranded.
	require.NoError(t, rdb.ZRem(ctx, "asynq:{reaper-mss}:lease", leased).Err())
	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Requeued)

	l.startWorker(t)
	b := waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(15), b.Terminal)
	require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
}

// Targets lost from Redis (their tasks, and for some their count in the total too) are found with the
// manifest and re-enqueued into the batch: every manifest line ends with exactly one outcome and the
// total adds up.
func TestReconcileWithManifestReenqueuesLostTargets(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	rdb := l.p.Redis
	targets := l.stack.Targets(10, 0)
	batch := l.submit(t, targets...)
	for _, tg := range targets[:5] {
		lose(t, rdb, tg) // counted, then lost
	}
	for _, tg := range targets[5:8] {
		lose(t, rdb, tg) // lost with its count
	}
	require.NoError(t, rdb.HIncrBy(ctx, "reaper:batch:"+batch, "total", -3).Err())
	manifest := append(slices.Clone(targets), targets[0]) // a repeated line is re-enqueued once

	rep, err := l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(27), rep.Total)
	assert.Equal(t, int64(22), rep.Queued.Sum())
	assert.Equal(t, int64(5), rep.Missing)
	assert.False(t, rep.AddsUp())
	b, err := l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	missing, f, err := l.p.Admin.Discrepancy(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, int64(5), missing, "status sees the finding: %+v", f)

	// A manifest that cannot be read to its end changes nothing: no total corrected on half a manifest.
	before := digest(t, rdb)
	broken := func(yield func(providers.Target, error) bool) {
		_ = yield(targets[0], nil) && yield(targets[1], nil) && yield(providers.Target{}, errors.New("line 3: unreadable"))
	}
	_, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: broken, Producer: l.p.Producer})
	require.ErrorContains(t, err, "line 3: unreadable")
	assert.Equal(t, before, digest(t, rdb))

	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(manifest), Producer: l.p.Producer, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, before, digest(t, rdb), "a dry run changes nothing")
	assert.Equal(t, 8, rep.Reenqueued)
	assert.Equal(t, int64(3), rep.TotalAdded)
	assert.Equal(t, 1, rep.ManifestRepeats)
	assert.True(t, rep.AddsUp(), "it would add up: %+v", rep)

	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(manifest), Producer: l.p.Producer})
	require.NoError(t, err)
	assert.Equal(t, 31, rep.Checked)
	assert.Equal(t, 22, rep.HadTask)
	assert.Equal(t, 8, rep.Reenqueued)
	assert.Equal(t, 1, rep.ManifestRepeats)
	assert.Equal(t, int64(3), rep.TotalAdded)
	assert.True(t, rep.AddsUp(), "%+v", rep)
	b, err = l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, int64(30), b.Total)
	missing, _, err = l.p.Admin.Discrepancy(ctx, b)
	require.NoError(t, err)
	assert.Zero(t, missing)

	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(manifest), Producer: l.p.Producer})
	require.NoError(t, err)
	assert.Zero(t, rep.Reenqueued, "a second run finds nothing missing")
	assert.Zero(t, rep.TotalAdded)
	assert.True(t, rep.AddsUp(), "%+v", rep)

	l.startWorker(t)
	b = waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(30), b.Terminal)
	require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
}

// A sealed batch whose tasks are all gone from the queues is seen not to add up without a scan.
func TestDiscrepancyWhenQueuesAreEmpty(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	targets := l.stack.Targets(2, 0)
	batch := l.submit(t, targets...)
	for _, tg := range targets {
		lose(t, l.p.Redis, tg)
	}
	b, err := l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	missing, f, err := l.p.Admin.Discrepancy(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, int64(6), missing)
	assert.True(t, f.At.IsZero(), "never reconciled")
}

// callRecorder counts, per command name, the calls (a pipeline once per name it holds) made while on:
// the places a reconcile touches Redis, for the fault matrix to fail each in turn.
type callRecorder struct {
	mu    sync.Mutex
	on    bool
	calls map[string]int
}

func (r *callRecorder) note(cmds []redis.Cmder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if n := c.Name(); !seen[n] {
			seen[n] = true
			r.calls[n]++
		}
	}
}

func (r *callRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *callRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.note([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (r *callRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.note(cmds)
		return next(ctx, cmds)
	}
}

// One injected failure (jobstest.FaultHook) on each Redis call a reconcile with a manifest makes
// (failed before the call, and dropped after it ran): the run fails or not, a second run brings the batch to the right
// counts, and every target ends with exactly one outcome.
func TestReconcileSurvivesAFailedRedisCall(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	rdb := l.redis.Client()
	rec := &callRecorder{calls: map[string]int{}}
	faults := jobstest.NewFaultHook()
	rdb.AddHook(rec)
	rdb.AddHook(faults)
	p := wiring.Pipeline(l.cfg, rdb)

	n := 0
	setup := func() (string, []providers.Target) {
		n++
		var ts []providers.Target
		for i := range 3 {
			ts = append(ts,
				providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: fmt.Sprintf("rc-%03d-%d", n, i)},
				providers.Target{Provider: providers.SMH, LibraryID: l.stack.Creds.SMHLibrary, SpaceID: "-", Path: fmt.Sprintf("rc/%03d/%d.mp4", n, i)},
				providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("77%04d%04d", n, i), SubAppID: l.stack.Creds.VODSubApp})
		}
		for _, tg := range ts {
			l.stack.Fake(tg.Provider).Add(tg)
		}
		batch := l.submit(t, ts...)
		lose(t, rdb, ts[0])
		lose(t, rdb, ts[1])
		lose(t, rdb, ts[2])
		require.NoError(t, rdb.HIncrBy(ctx, "reaper:batch:"+batch, "total", -1).Err()) // ts[2]'s count was lost too
		strand(t, rdb, ts[5])
		strand(t, rdb, ts[8]) // and then orphaned: in no list
		require.NoError(t, rdb.LRem(ctx, "asynq:{reaper-vod}:active", 0, jobs.TaskID(ts[8])).Err())
		return batch, ts
	}
	reconcile := func(batch string, ts []providers.Target) (jobs.ReconcileReport, error) {
		return p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(ts), Producer: p.Producer})
	}

	// A clean run, recording which calls a reconcile makes.
	batch, ts := setup()
	rec.mu.Lock()
	rec.on = true
	rec.mu.Unlock()
	rep, err := reconcile(batch, ts)
	require.NoError(t, err)
	require.True(t, rep.AddsUp(), "%+v", rep)
	require.Equal(t, 3, rep.Reenqueued)
	require.Equal(t, 1, rep.Requeued)
	require.Equal(t, 1, rep.Orphans)
	rec.mu.Lock()
	calls := rec.calls
	rec.on = false
	rec.mu.Unlock()
	batches := map[string][]providers.Target{batch: ts}

	cases := 0
	for name, count := range calls {
		for nth := 1; nth <= count; nth++ {
			for _, after := range []bool{false, true} {
				batch, ts := setup()
				batches[batch] = ts
				label := fmt.Sprintf("%s #%d", name, nth)
				if after {
					faults.DropNth(label, jobstest.Command(name), nth)
				} else {
					faults.FailNth(label, jobstest.Command(name), nth)
				}
				_, err := reconcile(batch, ts)
				fired := faults.Fired()
				faults.Reset()
				if err != nil {
					require.ErrorContains(t, err, "injected Redis fault", "%s after=%v", label, after) // asynq flattens errors
				}
				rep, err := reconcile(batch, ts)
				require.NoError(t, err)
				assert.True(t, rep.AddsUp(), "%s after=%v (fired %v): %+v", label, after, fired, rep)
				b, err := p.Store.Batch(ctx, batch)
				require.NoError(t, err)
				assert.Equal(t, int64(9), b.Total, "%s after=%v", label, after)
				assert.True(t, b.Sealed)
				cases++
			}
		}
	}
	t.Logf("%d injected failures over %d commands: %v", cases, len(calls), calls)

	l.startWorker(t)
	for batch, ts := range batches {
		b := waitDone(t, p.Store, batch)
		assert.Equal(t, int64(9), b.Terminal)
		require.NoError(t, l.stack.Verify(ctx, p.Store, batch, ts))
	}
}

// The sweep keeps an open batch's keys alive past the store's retention, while a done batch expires.
func TestSweepKeepsOpenBatchesAlive(t *testing.T) {
	r := jobstest.StartRedis(t)
	ctx := context.Background()
	rdb := r.Client()
	const retention = 3 * time.Second
	store := jobs.NewStore(rdb, jobs.StoreOptions{Retention: retention})
	admin := jobs.NewAdmin(rdb, store)
	producer := jobs.NewProducer(asynq.NewClientFromRedisClient(rdb), store, jobs.ProducerOptions{})
	vod := func(i int) providers.Target {
		return providers.Target{Provider: providers.VOD, FileID: fmt.Sprint(900 + i), SubAppID: 1}
	}

	open, err := producer.Submit(ctx, jobs.BatchMeta{}, slices.Values([]providers.Target{vod(1), vod(2)}), nil)
	require.NoError(t, err)
	done, err := producer.Submit(ctx, jobs.BatchMeta{}, slices.Values([]providers.Target{vod(3)}), nil)
	require.NoError(t, err)
	// The done batch's one task ends (as a cancel ends it: removed from the queue, then recorded).
	require.NoError(t, admin.Inspector().DeleteTask(jobs.QueueName(providers.VOD), jobs.TaskID(vod(3))))
	_, err = store.Finish(ctx, jobs.Record{Batch: done.Batch, Provider: providers.VOD, Key: vod(3).Key(), EnqueueID: "x", Target: vod(3), Outcome: jobs.Cancelled}, false)
	require.NoError(t, err)

	ttl, err := rdb.PTTL(ctx, "reaper:batch:"+open.Batch).Result()
	require.NoError(t, err)
	require.Positive(t, ttl)
	require.LessOrEqual(t, ttl, retention, "without the sweep the open batch would expire with the retention")

	// Sweep once a second, like the leader, for twice the retention.
	for range 6 {
		rep, err := admin.Sweep(ctx, jobs.SweepOptions{})
		require.NoError(t, err)
		assert.Equal(t, 1, rep.Open, "the done batch is not swept")
		assert.Equal(t, 1, rep.Kept)
		assert.Empty(t, rep.Missing)
		time.Sleep(time.Second)
	}
	b, err := store.Batch(ctx, open.Batch)
	require.NoError(t, err, "the open batch outlived its retention")
	assert.Equal(t, int64(2), b.Total)
	f, err := store.ReconcileFinding(ctx, open.Batch)
	require.NoError(t, err)
	assert.False(t, f.At.IsZero())
	assert.True(t, f.Stable)
	assert.Zero(t, f.Missing)
	_, err = store.Batch(ctx, done.Batch)
	assert.ErrorIs(t, err, jobs.ErrNoBatch, "the done batch expired")
	ids, err := rdb.ZRange(ctx, "reaper:batches", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{open.Batch}, ids, "the sweep dropped the expired batch from the index")
	n, err := rdb.Exists(ctx, "reaper:batch:"+done.Batch+":out").Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}

// asynq's client registers a queue once per process; a Redis that lost the registration still holds
// the queue's tasks. A dry run says so; a run registers the queue again and counts its tasks.
func TestReconcileRegistersALostQueue(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	targets := l.stack.Targets(2, 0)
	batch := l.submit(t, targets...)
	require.NoError(t, l.p.Redis.SRem(ctx, "asynq:queues", "reaper-vod").Err())

	_, err := l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{DryRun: true})
	require.ErrorContains(t, err, "queue reaper-vod holds tasks but is not registered")
	rep, err := l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{})
	require.NoError(t, err)
	assert.True(t, rep.AddsUp(), "%+v", rep)
	assert.Equal(t, int64(6), rep.Queued.Pending)
	ok, err := l.p.Redis.SIsMember(ctx, "asynq:queues", "reaper-vod").Result()
	require.NoError(t, err)
	assert.True(t, ok)
}

// Redis's host crashes after a batch was enqueued, losing the tail of the append-only file: what
// appendfsync everysec can lose (up to a second of writes: tasks, their counts, asynq's queue
// registrations). Redis restarts from what is left; reconcile with the manifest then brings every
// target to exactly one outcome.
func TestLostAOFTailIsReconciledFromTheManifest(t *testing.T) {
	r := jobstest.StartRedisAOF(t)
	stack, err := fakestack.Start(fakestack.Options{Seed: 13})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	rdb := r.Client()
	l := &live{redis: r, stack: stack, cfg: cfg, p: wiring.Pipeline(cfg, rdb)}
	ctx := context.Background()
	targets := stack.Targets(1000, 0)
	batch := l.submit(t, targets...)

	dir, err := rdb.ConfigGet(ctx, "dir").Result()
	require.NoError(t, err)
	r.Stop() // SIGKILL
	// The host's crash: the last writes never reached the disk. Cut the AOF's increment to half.
	incr, err := filepath.Glob(filepath.Join(dir["dir"], "appendonlydir", "*.incr.aof"))
	require.NoError(t, err)
	require.NotEmpty(t, incr, "redis-server 7 writes a multi-part AOF")
	last := incr[len(incr)-1]
	st, err := os.Stat(last)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(last, st.Size()/2))
	r.Restart()

	b, err := l.p.Store.Batch(ctx, batch)
	require.NoError(t, err, "the batch was created in the half that survived")
	rep, err := l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: l.p.Producer})
	require.NoError(t, err)
	t.Logf("after the crash: total %d sealed %v; reconcile: %+v", b.Total, b.Sealed, rep)
	assert.Positive(t, rep.Reenqueued, "the crash lost tasks")
	assert.True(t, rep.AddsUp(), "%+v", rep)
	assert.Equal(t, 3000, rep.HadTask+rep.Reenqueued)

	l.startWorker(t)
	b = waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(3000), b.Total)
	require.NoError(t, stack.Verify(ctx, l.p.Store, batch, targets))
}

// A task whose hash says active while it is in no list (what asynq's done or retry script leaves when
// it stops at a missing lease) is never run, and its task id refuses a new enqueue. Reconcile with the
// manifest puts it back to pending; it then ends with exactly one outcome, counted once.
func TestReconcileRescuesOrphanedTasks(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	rdb := l.p.Redis
	targets := l.stack.Targets(2, 0)
	batch := l.submit(t, targets...)
	orphan := targets[4]
	strand(t, rdb, orphan)
	q := "asynq:{" + jobs.QueueName(orphan.Provider) + "}:"
	require.NoError(t, rdb.LRem(ctx, q+"active", 0, jobs.TaskID(orphan)).Err())

	rep, err := l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), rep.Missing, "no list holds it")

	before := digest(t, rdb)
	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: l.p.Producer, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, before, digest(t, rdb))
	assert.Equal(t, 1, rep.Orphans)
	assert.True(t, rep.AddsUp(), "%+v", rep)

	rep, err = l.p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: l.p.Producer})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Orphans)
	assert.Zero(t, rep.Reenqueued)
	assert.Zero(t, rep.TotalAdded)
	assert.True(t, rep.AddsUp(), "%+v", rep)
	state, err := rdb.HGet(ctx, q+"t:"+jobs.TaskID(orphan), "state").Result()
	require.NoError(t, err)
	assert.Equal(t, "pending", state)

	l.startWorker(t)
	b := waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(6), b.Total)
	require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
}

// BenchmarkReconcile reads a batch of 30,000 queued tasks through asynq's Inspector and checks its
// 30,000-line manifest: the cost of `reaper reconcile --manifest` per target.
func BenchmarkReconcile(b *testing.B) {
	l := startLiveB(b)
	ctx := context.Background()
	var targets []providers.Target
	for i := range 10_000 {
		targets = append(targets,
			providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: fmt.Sprintf("bench-%06d", i)},
			providers.Target{Provider: providers.SMH, LibraryID: l.stack.Creds.SMHLibrary, SpaceID: "-", Path: fmt.Sprintf("bench/%06d.mp4", i)},
			providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("88%08d", i), SubAppID: l.stack.Creds.VODSubApp})
	}
	sum, err := l.p.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: "bench"}, slices.Values(targets), nil)
	require.NoError(b, err)
	b.ResetTimer()
	for b.Loop() {
		rep, err := l.p.Admin.Reconcile(ctx, sum.Batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: l.p.Producer, DryRun: true})
		require.NoError(b, err)
		require.True(b, rep.AddsUp())
	}
	b.ReportMetric(float64(len(targets)*b.N)/b.Elapsed().Seconds(), "targets/s")
}

// A stranded task comes back even when no batch is open (its own batch expired or is done).
func TestSweepRequeuesStrandedTasksWithNoOpenBatch(t *testing.T) {
	l := startLive(t, nil)
	ctx := context.Background()
	tg := l.stack.Targets(1, 0)[0]
	batch := l.submit(t, tg)
	strand(t, l.p.Redis, tg)
	require.NoError(t, l.p.Redis.Del(ctx, "reaper:batch:"+batch).Err()) // past retention

	rep, err := l.p.Admin.Sweep(ctx, jobs.SweepOptions{})
	require.NoError(t, err)
	assert.Zero(t, rep.Open)
	assert.Equal(t, 1, rep.Stranded)
	assert.Equal(t, 1, rep.Requeued)
	assert.Equal(t, int64(1), queueLen(t, l.p.Redis, tg.Provider, "pending"))
}

// afterScanHook runs do once, before the first pipeline holding an HGET and an HEXISTS (the manifest
// check, which reconcile makes after its queue scan): what happens to a task between the two.
type afterScanHook struct {
	once sync.Once
	do   func()
}

func (h *afterScanHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *afterScanHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *afterScanHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		has := func(name string) bool {
			return slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == name })
		}
		if has("hget") && has("hexists") {
			h.once.Do(h.do)
		}
		return next(ctx, cmds)
	}
}

// A target whose record is written while its task is still, or again, queued in its batch (asynq runs
// a task at least once: its done lost to a Redis restart, its lease lapsed) is counted once: a
// reconcile with the manifest adds nothing to the total, and the batch gets done. Beside it, the
// states that look alike and are counted otherwise: a second enqueue of the target in the batch
// (counted in the total too, it lowers the total when it ends) and the target queued by another batch.
func TestReconcileCountsARerunOfARecordedTaskOnce(t *testing.T) {
	cases := []struct {
		name   string
		extra  int   // enqueues the total counts beyond one per target
		reruns int64 // queued tasks that re-run a recorded enqueue
		// setup leaves target tg of batch in the state the case is about; the returned func, when not
		// nil, runs between reconcile's queue scan and its manifest check.
		setup func(t *testing.T, l *live, batch string, tg providers.Target) func()
	}{
		{"re-run of the recorded enqueue", 0, 1, func(t *testing.T, l *live, batch string, tg providers.Target) func() {
			finish(t, l, batch, tg, queuedEnqueueID(t, l, tg))
			return nil
		}},
		{"re-run that ends between the scan and the manifest check", 0, 1, func(t *testing.T, l *live, batch string, tg providers.Target) func() {
			finish(t, l, batch, tg, queuedEnqueueID(t, l, tg))
			return func() { // as the re-run ends: Finish keeps the record, asynq's done removes the task
				require.NoError(t, l.p.Admin.Inspector().DeleteTask(jobs.QueueName(tg.Provider), jobs.TaskID(tg)))
			}
		}},
		{"second enqueue of a recorded target", 1, 0, func(t *testing.T, l *live, batch string, tg providers.Target) func() {
			finish(t, l, batch, tg, "an-earlier-enqueue")
			require.NoError(t, l.p.Redis.HIncrBy(context.Background(), "reaper:batch:"+batch, "total", 1).Err()) // its count
			return nil
		}},
		{"target queued by another batch", 0, 0, func(t *testing.T, l *live, batch string, tg providers.Target) func() {
			finish(t, l, batch, tg, queuedEnqueueID(t, l, tg))
			require.NoError(t, l.p.Admin.Inspector().DeleteTask(jobs.QueueName(tg.Provider), jobs.TaskID(tg)))
			l.submit(t, tg)
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := startLive(t, nil)
			ctx := context.Background()
			targets := l.stack.Targets(2, 0)
			batch := l.submit(t, targets...)
			tg := targets[1]
			between := c.setup(t, l, batch, tg)
			rdb := l.redis.Client()
			if between != nil {
				rdb.AddHook(&afterScanHook{do: between})
			}
			p := wiring.Pipeline(l.cfg, rdb)

			rep, err := p.Admin.Reconcile(ctx, batch, jobs.ReconcileOptions{Manifest: jobs.ManifestOf(targets), Producer: p.Producer})
			require.NoError(t, err)
			assert.True(t, rep.AddsUp(), "%+v", rep)
			assert.Zero(t, rep.Missing, "%+v", rep)
			assert.Equal(t, c.reruns, rep.Reruns, "%+v", rep)
			assert.Zero(t, rep.TotalAdded, "%+v", rep)
			assert.Zero(t, rep.Reenqueued, "%+v", rep)
			assert.Equal(t, 1, rep.HadRecord, "%+v", rep)
			b, err := l.p.Store.Batch(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, int64(len(targets)+c.extra), b.Total, "the total counts every enqueue once")

			l.startWorker(t)
			b = waitDone(t, l.p.Store, batch)
			assert.Equal(t, int64(len(targets)), b.Total)
			require.NoError(t, l.stack.Verify(ctx, l.p.Store, batch, targets))
		})
	}
}

// queuedEnqueueID is the enqueue id of tg's queued task.
func queuedEnqueueID(t *testing.T, l *live, tg providers.Target) string {
	t.Helper()
	ti, err := l.p.Admin.Inspector().GetTaskInfo(jobs.QueueName(tg.Provider), jobs.TaskID(tg))
	require.NoError(t, err)
	p, err := jobs.DecodePayload(ti.Payload)
	require.NoError(t, err)
	return p.EnqueueID
}

// finish deletes tg at its fake and records it in batch by enqueue eid, as a worker does.
func finish(t *testing.T, l *live, batch string, tg providers.Target, eid string) {
	t.Helper()
	ctx := context.Background()
	deleter, err := wiring.Deleter(l.cfg, tg.Provider)
	require.NoError(t, err)
	res, err := deleter.Delete(ctx, tg)
	require.NoError(t, err)
	r := jobs.Record{Batch: batch, Provider: tg.Provider, Key: tg.Key(), EnqueueID: eid, Target: tg, Outcome: jobs.Deleted}
	if res.Recycled {
		r.Outcome, r.RecycledItemID = jobs.Recycled, res.RecycledItemID
	}
	wrote, err := l.p.Store.Finish(ctx, r, true)
	require.NoError(t, err)
	require.True(t, wrote)
}
