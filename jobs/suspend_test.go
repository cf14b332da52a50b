package jobs

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// misconfigured is a provider behind wrong credentials until fixed: every call is a fatal auth
// failure (as VOD's AuthFailure.SecretIdNotFound is), or gone when gone is set. Calls take delay, so
// a test can see what happens while a batch runs.
type misconfigured struct {
	broken, gone atomic.Bool
	delay        time.Duration
	mu           sync.Mutex
	calls        map[string]int
}

func newMisconfigured(delay time.Duration) *misconfigured {
	m := &misconfigured{delay: delay, calls: map[string]int{}}
	m.broken.Store(true)
	return m
}

func (m *misconfigured) Provider() providers.Name { return providers.VOD }

func (m *misconfigured) Delete(_ context.Context, t providers.Target) (providers.Result, error) {
	time.Sleep(m.delay)
	m.mu.Lock()
	m.calls[t.Key()]++
	m.mu.Unlock()
	switch {
	case m.gone.Load():
		return providers.Result{}, perr(providers.Gone, "ResourceNotFound")
	case m.broken.Load():
		return providers.Result{}, perr(providers.Fatal, "AuthFailure.SecretIdNotFound")
	}
	return providers.Result{RequestID: "req"}, nil
}

func (m *misconfigured) totalCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		n += c
	}
	return n
}

func (r *rig) handlerWith(d providers.Deleter) *handler {
	h := r.newHandler(fastPolicy())
	ln := h.lanes[providers.VOD]
	ln.Deleter = d
	h.lanes[providers.VOD] = ln
	return h
}

func ratio(f float64) *float64 { return &f }

// waitSuspended waits for batch to be suspended and for every task already running to end: its
// terminal count stands still for a second and a half (longer than the workers' flag cache).
func waitSuspended(t *testing.T, s *Store, batch string) BatchInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last BatchInfo
	still := time.Time{}
	for time.Now().Before(deadline) {
		b, err := s.Batch(context.Background(), batch)
		require.NoError(t, err)
		if b.Suspended && b.Terminal == last.Terminal {
			if still.IsZero() {
				still = time.Now()
			} else if time.Since(still) > 1500*time.Millisecond {
				return b
			}
		} else {
			still = time.Time{}
		}
		last = b
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("batch %s not suspended and still: %+v", batch, last)
	return last
}

func vodTargets(n int) []providers.Target {
	var out []providers.Target
	for i := range n {
		out = append(out, vodTarget(i))
	}
	return out
}

// A batch behind wrong credentials fails everything: once min_outcomes are recorded with more than
// max_failure_ratio failed it is suspended, its remaining tasks are held with no outcome and no
// provider call, resume (after the credentials are fixed) runs them at once, and every target ends
// with exactly one outcome.
func TestSuspendHoldsTheRestAndResumeRunsIt(t *testing.T) {
	r := newRig(t, fastPolicy())
	d := newMisconfigured(100 * time.Millisecond)
	targets := vodTargets(300)
	ctx := context.Background()
	sum, err := r.producer.Submit(ctx, BatchMeta{SubmittedBy: "alice", MaxFailureRatio: ratio(0.5), MinOutcomes: 10}, slices.Values(targets), nil)
	require.NoError(t, err)
	r.start(t, r.handlerWith(d))

	b := waitSuspended(t, r.store, sum.Batch)
	assert.GreaterOrEqual(t, b.Terminal, int64(10), "not before min_outcomes")
	assert.Less(t, b.Terminal, int64(300), "the rest is held")
	assert.Equal(t, b.Terminal, b.Counts[Failed])
	assert.Contains(t, b.SuspendReason, "outcomes failed")
	assert.Equal(t, int(b.Terminal), d.totalCalls(), "held tasks make no provider call")
	n := 0
	require.NoError(t, r.store.Records(ctx, sum.Batch, func(Record) error { n++; return nil }))
	assert.Equal(t, int(b.Terminal), n, "held tasks have no record")
	st := StatusOf(b)
	assert.True(t, st.Suspended)
	assert.NotNil(t, st.SuspendedAt)

	// Fixed: resume lets the held tasks run now, not after their hold.
	d.broken.Store(false)
	started, err := r.admin.ResumeBatch(ctx, sum.Batch, "bob")
	require.NoError(t, err)
	assert.Positive(t, started)
	done := waitDoneWithin(t, r.store, sum.Batch, 30*time.Second)
	assert.False(t, done.Suspended)
	assert.Equal(t, int64(300), done.Terminal)
	assert.Equal(t, b.Terminal, done.Counts[Failed], "a resumed batch that succeeds is not suspended again")
	assert.Equal(t, 300-b.Terminal, done.Counts[Deleted])
	for _, tg := range targets {
		assert.Equal(t, 1, d.calls[tg.Key()], "one call per target")
	}

	trail, err := r.store.AuditTrail(ctx, sum.Batch)
	require.NoError(t, err)
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Who+" "+e.Action)
	}
	assert.Equal(t, []string{"alice submitted", "reaper suspended", "bob resumed"}, actions)
	assert.Contains(t, trail[2].Detail, "outcomes failed")

	_, err = r.admin.ResumeBatch(ctx, sum.Batch, "bob")
	assert.ErrorIs(t, err, ErrNotSuspended)
}

// Cancel ends a suspended batch: its held tasks (in asynq's retry set) are recorded cancelled, so
// every target has exactly one outcome, and a cancelled batch cannot be resumed.
func TestCancelEndsASuspendedBatch(t *testing.T) {
	r := newRig(t, fastPolicy())
	d := newMisconfigured(100 * time.Millisecond)
	targets := vodTargets(200)
	ctx := context.Background()
	sum, err := r.producer.Submit(ctx, BatchMeta{MaxFailureRatio: ratio(0.5), MinOutcomes: 10}, slices.Values(targets), nil)
	require.NoError(t, err)
	r.start(t, r.handlerWith(d))
	b := waitSuspended(t, r.store, sum.Batch)
	calls := d.totalCalls()

	_, err = r.admin.CancelAs(ctx, sum.Batch, "carol")
	require.NoError(t, err)
	done := waitDoneWithin(t, r.store, sum.Batch, 30*time.Second)
	assert.Equal(t, int64(200), done.Terminal)
	assert.Equal(t, b.Counts[Failed], done.Counts[Failed])
	assert.Equal(t, 200-b.Terminal, done.Counts[Cancelled])
	assert.Equal(t, calls, d.totalCalls(), "no provider call after the suspension")
	seen := map[string]int{}
	require.NoError(t, r.store.Records(ctx, sum.Batch, func(rec Record) error { seen[rec.Key]++; return nil }))
	assert.Len(t, seen, 200)
	for k, n := range seen {
		assert.Equal(t, 1, n, k)
	}
	_, err = r.admin.ResumeBatch(ctx, sum.Batch, "dave")
	assert.ErrorIs(t, err, ErrCancelled)
	trail, err := r.store.AuditTrail(ctx, sum.Batch)
	require.NoError(t, err)
	require.Len(t, trail, 3)
	assert.Equal(t, AuditCancelled, trail[2].Action)
	assert.Equal(t, "carol", trail[2].Who)
}

// already_gone is a success for a deletion: a batch of files that are all gone never suspends.
func TestAlreadyGoneDoesNotCountAsFailure(t *testing.T) {
	r := newRig(t, fastPolicy())
	d := newMisconfigured(0)
	d.gone.Store(true)
	sum, err := r.producer.Submit(context.Background(), BatchMeta{MaxFailureRatio: ratio(0.01), MinOutcomes: 5}, slices.Values(vodTargets(40)), nil)
	require.NoError(t, err)
	r.start(t, r.handlerWith(d))
	b := waitDone(t, r.store, sum.Batch)
	assert.False(t, b.Suspended)
	assert.Equal(t, int64(40), b.Counts[AlreadyGone])
}

// The threshold in the finish script: not before min_outcomes, then at the first failure that makes
// the ratio more than max_failure_ratio; once, with one audit entry and one outbox event, also when
// the reply of the suspending write is lost and the write is run again. A ratio of 0 is off.
// The store's clock runs 30 days behind, at, and 30 days ahead of Redis's: nothing here depends on
// them agreeing (every TTL is relative).
func TestFinishSuspendsAtTheThreshold(t *testing.T) {
	for _, shift := range []time.Duration{-30 * 24 * time.Hour, 0, 30 * 24 * time.Hour} {
		t.Run(shift.String(), func(t *testing.T) { finishSuspendsAtTheThreshold(t, shift) })
	}
}

func finishSuspendsAtTheThreshold(t *testing.T, shift time.Duration) {
	redis := jobstest.StartRedis(t)
	rdb := redis.Client()
	hook := jobstest.NewFaultHook()
	rdb.AddHook(hook)
	s := NewStore(rdb, StoreOptions{Now: func() time.Time { return time.Now().Add(shift) }})
	ctx := context.Background()
	require.NoError(t, s.CreateBatch(ctx, BatchMeta{ID: "b", MaxFailureRatio: ratio(0.5), MinOutcomes: 4}))
	require.NoError(t, s.CreateBatch(ctx, BatchMeta{ID: "off", MaxFailureRatio: ratio(0), MinOutcomes: 1}))
	rec := func(batch string, i int, o Outcome) Record {
		tg := vodTarget(i)
		return Record{Batch: batch, Provider: providers.VOD, Key: tg.Key(), EnqueueID: "e", Target: tg, Outcome: o}
	}
	suspended := func(batch string) bool {
		b, err := s.Batch(ctx, batch)
		require.NoError(t, err)
		return b.Suspended
	}
	for i, o := range []Outcome{Failed, AlreadyGone, Failed, Deleted} {
		_, err := s.Finish(ctx, rec("b", i, o), true)
		require.NoError(t, err)
		assert.False(t, suspended("b"), "after %d outcomes, 2 of them failed: not more than half", i+1)
	}
	// The fifth makes 3 of 5: suspended. Its reply is lost; the handler's retry writes nothing more.
	hook.DropNth("suspending finish", jobstest.Script(finishScript.Hash()), 1)
	_, err := s.Finish(ctx, rec("b", 4, Failed), true)
	require.Error(t, err)
	assert.True(t, suspended("b"))
	wrote, err := s.Finish(ctx, rec("b", 4, Failed), true)
	require.NoError(t, err)
	assert.False(t, wrote)
	_, err = s.Finish(ctx, rec("b", 5, Failed), true)
	require.NoError(t, err)
	b, err := s.Batch(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, int64(6), b.Terminal)
	assert.Equal(t, "3 of 5 outcomes failed (60.0%), more than max_failure_ratio 0.5", b.SuspendReason)

	trail, err := s.AuditTrail(ctx, "b")
	require.NoError(t, err)
	require.Len(t, trail, 2)
	assert.Equal(t, AuditWho, trail[1].Who)
	assert.Equal(t, AuditSuspended, trail[1].Action)
	assert.WithinDuration(t, time.Now().Add(shift), trail[1].At, time.Minute, "stamped by the store's clock")
	for _, k := range []string{metaKey("b"), outKey("b"), auditKey("b"), notifyOutboxKey} {
		ttl, err := rdb.TTL(ctx, k).Result()
		require.NoError(t, err)
		assert.InDelta(t, s.retention.Seconds(), ttl.Seconds(), 60, "%s: a relative TTL of the retention", k)
	}
	events, err := rdb.LRange(ctx, notifyOutboxKey, 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, events, 1)
	var ev outboxEvent
	require.NoError(t, json.Unmarshal([]byte(events[0]), &ev))
	assert.Equal(t, outboxEvent{Batch: "b", Event: EventSuspended, AtMS: ev.AtMS}, ev)

	for i := range 5 {
		_, err := s.Finish(ctx, rec("off", i, Failed), true)
		require.NoError(t, err)
	}
	assert.False(t, suspended("off"), "ratio 0 is no threshold")

	// Resumed, the threshold counts again from the resume: 4 more outcomes before it can trip.
	was, err := s.resumeBatch(ctx, "b", "op")
	require.NoError(t, err)
	assert.True(t, was)
	for i := 10; i < 13; i++ {
		_, err := s.Finish(ctx, rec("b", i, Failed), true)
		require.NoError(t, err)
		assert.False(t, suspended("b"), "%d failures since the resume", i-9)
	}
	_, err = s.Finish(ctx, rec("b", 13, Failed), true)
	require.NoError(t, err)
	assert.True(t, suspended("b"))
}

// Sealing a batch whose tasks have all ended already (they ran during the enqueue) announces it done
// once; so does the last outcome of a sealed batch, and a duplicate that lowers the total to what has
// ended.
func TestDoneIsAnnouncedOnceWhicheverWriteMakesIt(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	s := NewStore(rdb, StoreOptions{})
	ctx := context.Background()
	events := func() []outboxEvent {
		raw, err := rdb.LRange(ctx, notifyOutboxKey, 0, -1).Result()
		require.NoError(t, err)
		var out []outboxEvent
		for _, r := range raw {
			var ev outboxEvent
			require.NoError(t, json.Unmarshal([]byte(r), &ev))
			out = append(out, outboxEvent{Batch: ev.Batch, Event: ev.Event})
		}
		return out
	}
	rec := func(batch string, i int, eid string) Record {
		tg := vodTarget(i)
		return Record{Batch: batch, Provider: providers.VOD, Key: tg.Key(), EnqueueID: eid, Target: tg, Outcome: Deleted}
	}
	// Done before the seal.
	require.NoError(t, s.CreateBatch(ctx, BatchMeta{ID: "early"}))
	require.NoError(t, s.AddCounts(ctx, "early", 1, 0))
	_, err := s.Finish(ctx, rec("early", 1, "e"), true)
	require.NoError(t, err)
	assert.Empty(t, events(), "not sealed: not done")
	require.NoError(t, s.SealBatch(ctx, "early"))
	require.NoError(t, s.SealBatch(ctx, "early"))
	assert.Equal(t, []outboxEvent{{Batch: "early", Event: EventDone}}, events())

	// Done by its last outcome; then by a duplicate (another enqueue of a target already recorded).
	require.NoError(t, s.CreateBatch(ctx, BatchMeta{ID: "late"}))
	require.NoError(t, s.AddCounts(ctx, "late", 3, 0))
	require.NoError(t, s.SealBatch(ctx, "late"))
	_, err = s.Finish(ctx, rec("late", 1, "e1"), true)
	require.NoError(t, err)
	_, err = s.Finish(ctx, rec("late", 2, "e2"), true)
	require.NoError(t, err)
	assert.Len(t, events(), 1)
	_, err = s.Finish(ctx, rec("late", 1, "e3"), true) // a second enqueue of target 1: a duplicate
	require.NoError(t, err)
	assert.Equal(t, []outboxEvent{{Batch: "early", Event: EventDone}, {Batch: "late", Event: EventDone}}, events())
	b, err := s.Batch(ctx, "late")
	require.NoError(t, err)
	assert.True(t, b.Done())

	assert.ErrorIs(t, s.SealBatch(ctx, "never-made"), ErrNoBatch)
}

// A held task waits in asynq's retry set: the stranded-task sweep (which reads active lists) and
// reconcile (which counts retry tasks as queued) see nothing wrong with a suspended batch.
func TestHeldTasksAreNotMisreadAsLost(t *testing.T) {
	r := newRig(t, fastPolicy())
	d := newMisconfigured(100 * time.Millisecond)
	ctx := context.Background()
	sum, err := r.producer.Submit(ctx, BatchMeta{MaxFailureRatio: ratio(0.5), MinOutcomes: 5}, slices.Values(vodTargets(300)), nil)
	require.NoError(t, err)
	r.start(t, r.handlerWith(d))
	b := waitSuspended(t, r.store, sum.Batch)
	rep, err := r.admin.Reconcile(ctx, sum.Batch, ReconcileOptions{DryRun: true})
	require.NoError(t, err)
	assert.Zero(t, rep.Missing, "%+v", rep)
	assert.Equal(t, 300-b.Terminal, rep.Queued.Sum(), "%+v", rep.Queued)
	info, err := r.admin.Inspector().GetQueueInfo(QueueName(providers.VOD))
	require.NoError(t, err)
	assert.Zero(t, info.Active, "no held task sits in active, where the sweep looks")
	retry, err := r.admin.Inspector().ListRetryTasks(QueueName(providers.VOD), asynq.PageSize(1))
	require.NoError(t, err)
	require.Len(t, retry, 1)
	assert.Contains(t, retry[0].LastErr, reasonSuspended)
}
