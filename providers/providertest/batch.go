package providertest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

// batch holds a providers.BatchDeleter to the checks single deletes pass: deleted then gone, every
// documented error per item and for the whole call, bad credentials, throttling, outage, token renewal,
// cancellation, timeout, the body cap and concurrency; plus the batch's own contract (one item per
// target in order, the MaxBatch bound). It is skipped for clients that are not BatchDeleters or whose
// MaxBatch is 1 (batching off).
func (s *suite) batch(t *testing.T) {
	probe := s.newEnv(t, Valid, 0)
	bd, ok := probe.client.(providers.BatchDeleter)
	if !ok || bd.MaxBatch() < 2 {
		t.Skip("not a BatchDeleter with batching on")
	}
	t.Run("DeleteThenGone", func(t *testing.T) { s.batchDeleteThenGone(t, false) })
	if _, ok := probe.fake.(AsyncBatcher); ok {
		t.Run("AsyncDeleteThenGone", func(t *testing.T) { s.batchDeleteThenGone(t, true) })
	}
	t.Run("ItemErrors", s.batchItemErrors)
	t.Run("CallErrors", s.batchCallErrors)
	t.Run("InvalidCredentials", s.batchInvalidCredentials)
	t.Run("Throttle", s.batchThrottle)
	t.Run("Outage", s.batchOutage)
	t.Run("TokenRenewal", s.batchTokenRenewal)
	t.Run("ContextCancel", s.batchContextCancel)
	t.Run("Timeout", s.batchTimeout)
	t.Run("BodyCap", s.batchBodyCap)
	t.Run("TooLarge", s.batchTooLarge)
	t.Run("Concurrent", s.batchConcurrent)
	if _, ok := probe.client.(providers.Restorer); ok && s.h.Recycles {
		t.Run("Restore", s.restore)
	}
}

// restore holds a providers.Restorer to its contract when the harness's deletes recycle: what a batch
// recycled comes back, a second restore finds nothing, a taken path is a conflict under ask, and an
// item without a recycle-bin id fails alone.
func (s *suite) restore(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	r := bd.(providers.Restorer)
	ts := s.targets(e, min(bd.MaxBatch(), r.MaxRestore(), 3))
	items, err := s.delBatch(t, bd, context.Background(), ts)
	require.NoError(t, err)
	var reqs []providers.RestoreRequest
	for _, it := range items {
		require.NoError(t, it.Err)
		reqs = append(reqs, providers.RestoreRequest{Target: it.Target, RecycledItemID: it.Result.RecycledItemID})
	}
	e.fake.Add(ts[0]) // its path is taken again
	got, err := r.Restore(context.Background(), append(reqs, providers.RestoreRequest{Target: ts[0]}), providers.ConflictAsk)
	s.record(err)
	require.NoError(t, err)
	require.Len(t, got, len(reqs)+1)
	assert.Equal(t, providers.RestoreConflict, got[0].Outcome, "%v", got[0].Err)
	for i := 1; i < len(reqs); i++ {
		assert.Equal(t, reqs[i], got[i].Request)
		assert.Equal(t, providers.Restored, got[i].Outcome, "%v", got[i].Err)
		assert.True(t, e.fake.Exists(ts[i]), "a restored file is back")
	}
	last := got[len(reqs)]
	assert.Equal(t, providers.RestoreFailed, last.Outcome, "a request without a recycle-bin id")
	assert.Equal(t, providers.Fatal, providers.ClassOf(last.Err))

	again, err := r.Restore(context.Background(), reqs[1:], providers.ConflictAsk)
	require.NoError(t, err)
	for _, it := range again {
		s.record(it.Err)
		assert.Equal(t, providers.RestoreNotFound, it.Outcome, "restoring twice: %v", it.Err)
		assert.NotEqual(t, providers.Gone, providers.ClassOf(it.Err))
	}
}

// batchEnv is an env whose client is a BatchDeleter.
func (s *suite) batchEnv(t *testing.T, creds Credentials, timeout time.Duration) (env, providers.BatchDeleter) {
	t.Helper()
	e := s.newEnv(t, creds, timeout)
	return e, e.client.(providers.BatchDeleter)
}

// delBatch runs DeleteBatch and checks the contract every answer must keep: with no call-level error,
// one item per target, in order; with one, no items. Every error is recorded for the secrets check.
func (s *suite) delBatch(t *testing.T, bd providers.BatchDeleter, ctx context.Context, ts []providers.Target) ([]providers.BatchItem, error) {
	t.Helper()
	items, err := bd.DeleteBatch(ctx, ts)
	s.record(err)
	if err != nil {
		_, ok := providers.AsError(err)
		assert.True(t, ok, "call-level error is not a *providers.Error: %v", err)
		assert.NotEqual(t, providers.Gone, providers.ClassOf(err), "a call-level error is never gone: %v", err)
		assert.Nil(t, items, "a failed call returns no items")
		return nil, err
	}
	require.Len(t, items, len(ts), "one item per target")
	for i, it := range items {
		assert.Equal(t, ts[i], it.Target, "item %d is not for target %d", i, i)
		if it.Err != nil {
			s.record(it.Err)
			_, ok := providers.AsError(it.Err)
			assert.True(t, ok, "item error is not a *providers.Error: %v", it.Err)
		}
	}
	return items, nil
}

// targets returns n fresh targets added to the fake.
func (s *suite) targets(e env, n int) []providers.Target {
	ts := make([]providers.Target, n)
	for i := range ts {
		ts[i] = s.target(e)
	}
	return ts
}

func (s *suite) batchDeleteThenGone(t *testing.T, async bool) {
	e, bd := s.batchEnv(t, Valid, 0)
	if async {
		e.fake.(AsyncBatcher).SetAsync(1, 0) // every batch; done at the first query
	}
	n := min(bd.MaxBatch()-1, 5)
	ts := append(s.targets(e, n), s.h.Target(-1)) // the last one never existed
	items, err := s.delBatch(t, bd, context.Background(), ts)
	require.NoError(t, err)
	for i, it := range items[:n] {
		require.NoError(t, it.Err, "item %d", i)
		assert.NotEmpty(t, it.Result.RequestID, "a successful item carries the provider's request id")
		if s.h.Recycles {
			assert.True(t, it.Result.Recycled, "item %d", i)
			assert.Positive(t, it.Result.RecycledItemID, "the recycle-bin item id is what lets a user restore")
		} else {
			assert.False(t, it.Result.Recycled, "item %d", i)
		}
		assert.False(t, e.fake.Exists(ts[i]), "item %d still in the fake after a successful batch", i)
	}
	assert.Equal(t, providers.Gone, providers.ClassOf(items[n].Err), "a file that never existed: %v", items[n].Err)
	if s.h.Recycles {
		ids := map[int64]bool{}
		for _, it := range items[:n] {
			ids[it.Result.RecycledItemID] = true
		}
		assert.Len(t, ids, n, "every recycled item has its own id")
	}

	again, err := s.delBatch(t, bd, context.Background(), ts)
	require.NoError(t, err)
	for i, it := range again {
		assert.Equal(t, providers.Gone, providers.ClassOf(it.Err), "item %d the second time: %v", i, it.Err)
		assert.Equal(t, 2, e.fake.Calls(ts[i]), "two batches name each target twice")
	}
}

// batchItemErrors fails one item of a batch with each documented error that fits in an item (JSON
// status, code and message): that item gets the single delete's class, its neighbours are deleted.
func (s *suite) batchItemErrors(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	failer, ok := e.fake.(ItemFailer)
	if !ok {
		t.Skip("the fake cannot fail single items")
	}
	for _, c := range s.h.DocumentedErrors {
		if c.Fault.Body != "" || c.Fault.Code == "" {
			continue
		}
		t.Run(c.Fault.Code, func(t *testing.T) {
			ts := s.targets(e, 3)
			failer.FailItem(ts[1], 1, c.Fault)
			items, err := s.delBatch(t, bd, context.Background(), ts)
			require.NoError(t, err)
			pe, ok := providers.AsError(items[1].Err)
			require.True(t, ok, "the failed item has no *providers.Error: %v", items[1].Err)
			assert.Equal(t, c.Class, pe.Class, "%v", pe)
			assert.Equal(t, c.Fault.Code, pe.Code)
			if c.Fault.Status != 0 {
				assert.Equal(t, c.Fault.Status, pe.HTTPStatus)
			}
			assert.True(t, e.fake.Exists(ts[1]), "a failed item must leave its file in place")
			for _, i := range []int{0, 2} {
				assert.NoError(t, items[i].Err, "a neighbour of a failed item")
				assert.False(t, e.fake.Exists(ts[i]), "a neighbour of a failed item is deleted")
			}
		})
	}
}

// batchCallErrors answers the whole batch request with each documented error: the call fails with the
// single delete's class (never gone: a whole request cannot show a file absent) and deletes nothing.
func (s *suite) batchCallErrors(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	for _, c := range s.h.DocumentedErrors {
		name := c.Fault.Code
		if name == "" {
			name = http.StatusText(c.Fault.Status)
		}
		t.Run(name, func(t *testing.T) {
			ts := s.targets(e, 2)
			e.fake.Faults().FailNext(2, c.Fault) // twice: a client that renews and retries once still sees it
			defer e.fake.Faults().Reset()
			_, err := s.delBatch(t, bd, context.Background(), ts)
			require.Error(t, err)
			if c.Class != providers.Gone {
				assert.Equal(t, c.Class, providers.ClassOf(err), "%v", err)
			}
			for _, tg := range ts {
				assert.True(t, e.fake.Exists(tg), "a failed call must leave every file in place")
			}
		})
	}
}

// batchInvalidCredentials: every target ends fatal, whether the call fails or each item does.
func (s *suite) batchInvalidCredentials(t *testing.T) {
	e, bd := s.batchEnv(t, Invalid, 0)
	ts := s.targets(e, 2)
	items, err := s.delBatch(t, bd, context.Background(), ts)
	if err != nil {
		assert.Equal(t, providers.Fatal, providers.ClassOf(err), "%v", err)
	}
	for i, it := range items {
		assert.Equal(t, providers.Fatal, providers.ClassOf(it.Err), "item %d: %v", i, it.Err)
	}
	for _, tg := range ts {
		assert.True(t, e.fake.Exists(tg))
	}
}

func (s *suite) batchThrottle(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	e.fake.Faults().SetThrottle(1)
	var throttled, ok int
	for range 5 {
		items, err := s.delBatch(t, bd, context.Background(), s.targets(e, 2))
		switch providers.ClassOf(err) {
		case "":
			ok++
			for _, it := range items {
				assert.NoError(t, it.Err)
			}
		case providers.Throttled:
			throttled++
		default:
			t.Fatalf("unexpected error under throttling: %v", err)
		}
	}
	assert.GreaterOrEqual(t, ok, 1)
	assert.GreaterOrEqual(t, throttled, 1, "five batches at once under a 1/s throttle must see a throttle answer")
}

func (s *suite) batchOutage(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	e.fake.Faults().SetDown(true)
	ts := s.targets(e, 2)
	_, err := s.delBatch(t, bd, context.Background(), ts)
	assert.Equal(t, providers.Retry, providers.ClassOf(err), "%v", err)
	e.fake.Faults().SetDown(false)
	items, err := s.delBatch(t, bd, context.Background(), ts)
	require.NoError(t, err)
	for _, it := range items {
		assert.NoError(t, it.Err)
	}
}

func (s *suite) batchTokenRenewal(t *testing.T) {
	if s.h.ExpireTokens == nil {
		t.Skip("no renewable token")
	}
	e, bd := s.batchEnv(t, Valid, 0)
	_, err := s.delBatch(t, bd, context.Background(), s.targets(e, 1))
	require.NoError(t, err)

	s.h.ExpireTokens(e.fake)
	ts := s.targets(e, 3)
	items, err := s.delBatch(t, bd, context.Background(), ts)
	require.NoError(t, err)
	for i, it := range items {
		assert.NoError(t, it.Err)
		assert.Equal(t, 2, e.fake.Calls(ts[i]), "renewal costs exactly one extra batch call")
		assert.False(t, e.fake.Exists(ts[i]))
	}
}

func (s *suite) batchContextCancel(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	e.fake.Faults().SetLatency(time.Minute, 0)
	ts := s.targets(e, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := bd.DeleteBatch(ctx, ts)
		done <- s.record(err)
	}()
	waitForCalls(t, e.fake, ts[0], 1)
	cancel()
	err := <-done
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Equal(t, providers.Retry, providers.ClassOf(err))
}

func (s *suite) batchTimeout(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 50*time.Millisecond)
	e.fake.Faults().SetLatency(time.Minute, 0)
	_, err := s.delBatch(t, bd, context.Background(), s.targets(e, 2))
	assertTimedOut(t, err)
}

// batchBodyCap: a batch answered 500 with an endless body fails retryable, read only up to the cap.
func (s *suite) batchBodyCap(t *testing.T) {
	srv, written := endlessErrorServer(t)
	bd := s.h.NewClient(t, srv.URL, Valid, 10*time.Second).(providers.BatchDeleter)
	ts := []providers.Target{s.h.Target(int(s.next.Add(1))), s.h.Target(int(s.next.Add(1)))}
	_, err := s.delBatch(t, bd, context.Background(), ts)
	assertReadCapped(t, srv, written, err)
}

// batchTooLarge: more than MaxBatch targets are refused before any request.
func (s *suite) batchTooLarge(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	ts := make([]providers.Target, bd.MaxBatch()+1)
	for i := range ts {
		ts[i] = s.h.Target(int(s.next.Add(1)))
	}
	_, err := s.delBatch(t, bd, context.Background(), ts)
	require.Error(t, err)
	assert.Equal(t, providers.Fatal, providers.ClassOf(err), "%v", err)
	assert.Zero(t, e.fake.Calls(ts[0]), "an oversized batch must not reach the provider")
}

func (s *suite) batchConcurrent(t *testing.T) {
	e, bd := s.batchEnv(t, Valid, 0)
	const workers, batches = 16, 4
	size := min(bd.MaxBatch(), 8)
	groups := make([][][]providers.Target, workers)
	for w := range groups {
		for range batches {
			groups[w] = append(groups[w], s.targets(e, size))
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, ts := range groups[w] {
				items, err := bd.DeleteBatch(context.Background(), ts)
				if s.record(err) != nil {
					t.Errorf("concurrent batch: %v", err)
					continue
				}
				for _, it := range items {
					if s.record(it.Err) != nil {
						t.Errorf("concurrent batch item %s: %v", it.Target, it.Err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, g := range groups {
		for _, ts := range g {
			for _, tg := range ts {
				assert.False(t, e.fake.Exists(tg))
				assert.Equal(t, 1, e.fake.Calls(tg))
			}
		}
	}
}
