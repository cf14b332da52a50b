package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/internal/breaker"
	"github.com/reaper-media/reaper/jobs/internal/limiter"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// scripted is a Deleter whose answers the test scripts per target key: each call pops the next
// error (nil = success). It counts calls. It stands in for a provider where the test is about the
// pipeline's decisions, not HTTP; the HTTP fakes are exercised in the integration tests.
type scripted struct {
	name    providers.Name
	mu      sync.Mutex
	answers map[string][]error
	calls   map[string]int
}

func newScripted(n providers.Name) *scripted {
	return &scripted{name: n, answers: map[string][]error{}, calls: map[string]int{}}
}

func (s *scripted) Provider() providers.Name { return s.name }

func (s *scripted) script(t providers.Target, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[t.Key()] = errs
}

func (s *scripted) Delete(_ context.Context, t providers.Target) (providers.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := t.Key()
	s.calls[k]++
	if a := s.answers[k]; len(a) > 0 {
		s.answers[k] = a[1:]
		if a[0] != nil {
			return providers.Result{}, a[0]
		}
	}
	return providers.Result{RequestID: "req-" + k}, nil
}

func (s *scripted) callsFor(t providers.Target) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[t.Key()]
}

func perr(class providers.Class, code string) error {
	return &providers.Error{Provider: providers.VOD, Class: class, Code: code, Message: code}
}

type rig struct {
	rdb      *redis.Client
	store    *Store
	producer *Producer
	admin    *Admin
	deleter  *scripted
	srv      *asynq.Server
}

func newRig(t *testing.T, policy RetryPolicy) *rig {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	store := NewStore(rdb, StoreOptions{})
	client := asynq.NewClientFromRedisClient(rdb)
	d := newScripted(providers.VOD)
	srv := newServer(rdb, serverOptions{Concurrency: 8, Queues: map[providers.Name]int{providers.VOD: 1},
		ShutdownTimeout: 5 * time.Second, Policy: policy, PollInterval: 100 * time.Millisecond})
	return &rig{rdb: rdb, store: store, producer: NewProducer(client, store, ProducerOptions{}),
		admin: NewAdmin(rdb, store), deleter: d, srv: srv}
}

func (r *rig) start(t *testing.T, h *handler) {
	require.NoError(t, r.srv.Start(newMux(h)))
	t.Cleanup(r.srv.Shutdown)
}

func vodTarget(i int) providers.Target {
	return providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("file-%05d", i), SubAppID: 1}
}

func waitDone(t testing.TB, s *Store, batch string) BatchInfo {
	t.Helper()
	return waitDoneWithin(t, s, batch, 60*time.Second)
}

func waitDoneWithin(t testing.TB, s *Store, batch string, within time.Duration) BatchInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := s.Batch(context.Background(), batch)
		if err == nil && b.Done() {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s not done: %+v (%v)", batch, b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fastPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		ThrottleDelay: 50 * time.Millisecond}
}

func TestPipelineDecidesOnClass(t *testing.T) {
	policy := fastPolicy()
	r := newRig(t, policy)
	var targets []providers.Target
	for i := range 40 {
		targets = append(targets, vodTarget(i))
	}
	gone, fatal, flaky, hopeless, throttled := targets[0], targets[1], targets[2], targets[3], targets[4]
	r.deleter.script(gone, perr(providers.Gone, "ResourceNotFound"))
	r.deleter.script(fatal, perr(providers.Fatal, "UnauthorizedOperation"))
	r.deleter.script(flaky, perr(providers.Retry, "InternalError"), perr(providers.Retry, "InternalError"))
	r.deleter.script(hopeless, perr(providers.Retry, "InternalError"), perr(providers.Retry, "InternalError"),
		perr(providers.Retry, "InternalError"), perr(providers.Retry, "InternalError"))
	// Throttles do not use the retry budget: five of them, then success, with MaxAttempts 3.
	r.deleter.script(throttled, perr(providers.Throttled, "RequestLimitExceeded"), perr(providers.Throttled, "RequestLimitExceeded"),
		perr(providers.Throttled, "RequestLimitExceeded"), perr(providers.Throttled, "RequestLimitExceeded"),
		perr(providers.Throttled, "RequestLimitExceeded"))

	sum, err := r.producer.Submit(context.Background(), BatchMeta{SubmittedBy: "test"}, slices.Values(targets), nil)
	require.NoError(t, err)
	require.Equal(t, 40, sum.Enqueued)
	r.start(t, r.newHandler(policy))

	b := waitDone(t, r.store, sum.Batch)
	assert.Equal(t, int64(40), b.Total)
	assert.Equal(t, int64(1), b.Counts[AlreadyGone])
	assert.Equal(t, int64(2), b.Counts[Failed])
	assert.Equal(t, int64(37), b.Counts[Deleted])

	rec := func(tg providers.Target) Record {
		rec, ok, err := r.store.Record(context.Background(), sum.Batch, tg.Key())
		require.NoError(t, err)
		require.True(t, ok, "no record for %s", tg)
		return rec
	}
	assert.Equal(t, 1, r.deleter.callsFor(gone), "an already-gone file costs exactly one call")
	assert.Equal(t, AlreadyGone, rec(gone).Outcome)
	assert.Equal(t, 1, r.deleter.callsFor(fatal), "a fatal error is never retried")
	assert.Equal(t, "UnauthorizedOperation", rec(fatal).Code)
	assert.Equal(t, 3, r.deleter.callsFor(flaky))
	assert.Equal(t, Deleted, rec(flaky).Outcome)
	assert.Equal(t, 3, rec(flaky).Attempts)
	assert.Equal(t, 3, r.deleter.callsFor(hopeless), "max_attempts bounds retry-class failures")
	assert.Equal(t, Failed, rec(hopeless).Outcome)
	assert.Equal(t, "InternalError", rec(hopeless).Code)
	assert.Equal(t, 6, r.deleter.callsFor(throttled))
	assert.Equal(t, Deleted, rec(throttled).Outcome, "throttling must never fail a deletion")

	n := 0
	require.NoError(t, r.store.Records(context.Background(), sum.Batch, func(Record) error { n++; return nil }))
	assert.Equal(t, 40, n, "exactly one record per target")
	xlen, err := r.rdb.XLen(context.Background(), StreamKey).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(40), xlen, "one stream entry per outcome")
}

func (r *rig) newHandler(policy RetryPolicy) *handler {
	return newHandler(handlerOptions{
		Lanes: map[providers.Name]lane{providers.VOD: {Deleter: r.deleter, RateLimit: 10000,
			Breaker: breaker.New(providers.VOD, breaker.Settings{ConsecutiveFailures: 1000, Interval: time.Minute,
				OpenTimeout: time.Second, HalfOpenRequests: 1})}},
		Store: r.store, Limiter: limiter.New(r.rdb, limiterKey), Policy: policy, MaxWait: time.Second,
	})
}

func TestDuplicatesAreNotDeletedTwice(t *testing.T) {
	r := newRig(t, fastPolicy())
	a, b := vodTarget(1), vodTarget(2)
	// a appears twice in one batch and again in a second batch while still queued.
	s1, err := r.producer.Submit(context.Background(), BatchMeta{}, slices.Values([]providers.Target{a, b, a}), nil)
	require.NoError(t, err)
	assert.Equal(t, 2, s1.Enqueued)
	assert.Equal(t, 1, s1.Duplicates)
	s2, err := r.producer.Submit(context.Background(), BatchMeta{}, slices.Values([]providers.Target{a}), nil)
	require.NoError(t, err)
	assert.Equal(t, 0, s2.Enqueued)
	assert.Equal(t, 1, s2.Duplicates)

	r.start(t, r.newHandler(fastPolicy()))
	waitDone(t, r.store, s1.Batch)
	b2 := waitDone(t, r.store, s2.Batch)
	assert.Equal(t, int64(0), b2.Total)
	assert.Equal(t, 1, r.deleter.callsFor(a))
}

func TestCancelRemovesQueuedTasks(t *testing.T) {
	r := newRig(t, fastPolicy())
	var targets []providers.Target
	for i := range 50 {
		targets = append(targets, vodTarget(i))
	}
	sum, err := r.producer.Submit(context.Background(), BatchMeta{}, slices.Values(targets), nil)
	require.NoError(t, err)
	removed, err := r.admin.Cancel(context.Background(), sum.Batch)
	require.NoError(t, err)
	assert.Equal(t, 50, removed)
	r.start(t, r.newHandler(fastPolicy()))
	b := waitDone(t, r.store, sum.Batch)
	assert.Equal(t, int64(50), b.Counts[Cancelled])
	for _, tg := range targets {
		assert.Zero(t, r.deleter.callsFor(tg))
	}
}

// A payload that fails validation at the worker (here: a version this worker does not read) is
// recorded failed with code "invalid" and never retried or sent to the provider.
func TestInvalidPayloadIsRecordedFailed(t *testing.T) {
	for body, why := range map[string]string{
		`{"v":99,"batch":"b-invalid","eid":"e1","target":{"provider":"vod","file_id":"file-00001","sub_app_id":1}}`: "payload version 99",
		// The compact record separates its parts with '|': such an enqueue id is refused, and recorded.
		`{"v":1,"batch":"b-invalid","eid":"e|1","target":{"provider":"vod","file_id":"file-00001","sub_app_id":1}}`: "field eid",
	} {
		r := newRig(t, fastPolicy())
		require.NoError(t, r.store.CreateBatch(context.Background(), BatchMeta{ID: "b-invalid"}))
		require.NoError(t, r.store.AddCounts(context.Background(), "b-invalid", 1, 0))
		require.NoError(t, r.store.SealBatch(context.Background(), "b-invalid"))
		client := asynq.NewClientFromRedisClient(r.rdb)
		_, err := client.Enqueue(asynq.NewTask(TaskType(providers.VOD), []byte(body)), asynq.Queue(QueueName(providers.VOD)))
		require.NoError(t, err)
		r.start(t, r.newHandler(fastPolicy()))
		b := waitDone(t, r.store, "b-invalid")
		assert.Equal(t, int64(1), b.Counts[Failed])
		rec, ok, err := r.store.Record(context.Background(), "b-invalid", vodTarget(1).Key())
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "invalid", rec.Code)
		assert.Contains(t, rec.Message, why)
		assert.Zero(t, r.deleter.callsFor(vodTarget(1)))
	}
}

// panicky is a scripted Deleter that panics on one target.
type panicky struct {
	*scripted
	key string
}

func (p panicky) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	if t.Key() == p.key {
		panic("deleter bug on " + t.FileID)
	}
	return p.scripted.Delete(ctx, t)
}

// A panic in a provider client is that task's failed outcome (code panic), and the handler's pooled
// goroutines go on running the other tasks.
func TestPanicIsRecordedFailed(t *testing.T) {
	r := newRig(t, fastPolicy())
	var targets []providers.Target
	for i := range 30 {
		targets = append(targets, vodTarget(i))
	}
	sum, err := r.producer.Submit(context.Background(), BatchMeta{}, slices.Values(targets), nil)
	require.NoError(t, err)
	h := r.newHandler(fastPolicy())
	h.lanes[providers.VOD] = lane{Deleter: panicky{r.deleter, targets[7].Key()}, RateLimit: 10000, Breaker: h.lanes[providers.VOD].Breaker}
	r.start(t, h)
	b := waitDone(t, r.store, sum.Batch)
	assert.Equal(t, int64(1), b.Counts[Failed])
	assert.Equal(t, int64(29), b.Counts[Deleted])
	rec, ok, err := r.store.Record(context.Background(), sum.Batch, targets[7].Key())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Failed, rec.Outcome)
	assert.Equal(t, "panic", rec.Code)
	assert.Contains(t, rec.Message, "deleter bug on file-00007")
}
