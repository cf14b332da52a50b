package jobs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
)

func idemProducer(t *testing.T) (*Producer, *jobstest.FaultHook) {
	rdb := jobstest.StartRedis(t).Client()
	hook := jobstest.NewFaultHook()
	rdb.AddHook(hook)
	store := NewStore(rdb, StoreOptions{Retention: 48 * time.Hour})
	return NewProducer(asynq.NewClientFromRedisClient(rdb), store, ProducerOptions{}), hook
}

// A submission sent again with its idempotency key returns the first batch and enqueues nothing;
// the key is kept for the retention (a relative TTL), per scope, and refuses another manifest.
func TestIdempotentSubmissionReturnsTheFirstBatch(t *testing.T) {
	p, _ := idemProducer(t)
	ctx := context.Background()
	key := IdempotencyKey{Scope: "api:sha256:aaaa", Key: "cleanup-1", Request: RequestDigest([]byte("m1"))}
	targets := slices.Values(vodTargets(5))
	first, replayed, err := p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: key}, targets, nil)
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.Equal(t, 5, first.Enqueued)

	again, replayed, err := p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: key}, targets, nil)
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, first.Batch, again.Batch)
	assert.Zero(t, again.Enqueued)
	b, err := p.Store().Batch(ctx, first.Batch)
	require.NoError(t, err)
	assert.Equal(t, int64(5), b.Total, "nothing enqueued twice")

	ttl, err := p.store.rdb.TTL(ctx, key.name()).Result()
	require.NoError(t, err)
	assert.InDelta(t, (48 * time.Hour).Seconds(), ttl.Seconds(), 60, "kept for outcomes.retention, counted by Redis")

	other := key
	other.Request = RequestDigest([]byte("m2"))
	_, _, err = p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: other}, targets, nil)
	assert.ErrorIs(t, err, ErrIdempotencyConflict)

	elsewhere := key
	elsewhere.Scope = "api:sha256:bbbb"
	sum, replayed, err := p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: elsewhere}, slices.Values(vodTargets(1)), nil)
	require.NoError(t, err)
	assert.False(t, replayed, "another client's key of the same name is another key")
	assert.NotEqual(t, first.Batch, sum.Batch)

	_, _, err = p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: IdempotencyKey{Key: "bad\nkey"}}, targets, nil)
	assert.Error(t, err)
}

// Submissions with one key racing each other create one batch; the others replay it.
func TestConcurrentIdempotentSubmissionsCreateOneBatch(t *testing.T) {
	p, _ := idemProducer(t)
	key := IdempotencyKey{Scope: "cli:alice@host", Key: "k", Request: "r"}
	var wg sync.WaitGroup
	results := make([]Summary, 8)
	replays := make([]bool, 8)
	for i := range 8 {
		wg.Go(func() {
			var err error
			results[i], replays[i], err = p.SubmitIdempotent(context.Background(), BatchMeta{IdempotencyKey: key}, slices.Values(vodTargets(20)), nil)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		assert.Equal(t, results[0].Batch, r.Batch)
		if !replays[i] {
			created++
			assert.Equal(t, 20, r.Enqueued+r.Duplicates)
		}
	}
	assert.Equal(t, 1, created)
	ids, err := p.Store().Batches(context.Background(), 100)
	require.NoError(t, err)
	assert.Len(t, ids, 1)
}

// A submitter that claimed the key and died before creating its batch leaves a claim naming a batch
// that does not exist: the next submission with the key creates that batch and enqueues.
func TestAClaimWhoseSubmitterDiedIsTakenOver(t *testing.T) {
	p, hook := idemProducer(t)
	ctx := context.Background()
	key := IdempotencyKey{Scope: "s", Key: "k", Request: "r"}
	// The claim lands; the batch's creation (HSETNX of its id) never reaches Redis, and the submitter
	// gives up there, as a process killed at that point would.
	hook.FailNth("create batch", jobstest.Command("hsetnx").KeyContains("reaper:batch:"), 1)
	_, _, err := p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: key}, slices.Values(vodTargets(3)), nil)
	require.Error(t, err)
	assert.Len(t, hook.Fired(), 1)

	sum, replayed, err := p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: key}, slices.Values(vodTargets(3)), nil)
	require.NoError(t, err)
	assert.False(t, replayed, "the retry is the submission")
	assert.Equal(t, 3, sum.Enqueued)
	b, err := p.Store().Batch(ctx, sum.Batch)
	require.NoError(t, err)
	assert.True(t, b.Sealed)
	again, replayed, err := p.SubmitIdempotent(ctx, BatchMeta{IdempotencyKey: key}, slices.Values(vodTargets(3)), nil)
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, sum.Batch, again.Batch)
}
