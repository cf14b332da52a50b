package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/scheduler"
)

func TestLeaseHasOneHolderAndOnlyTheHolderRenewsOrReleases(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	a := scheduler.NewLease(rdb, scheduler.LeaderKey, "a", time.Minute)
	b := scheduler.NewLease(rdb, scheduler.LeaderKey, "b", time.Minute)
	held := func(l *scheduler.Lease, f func(context.Context) (bool, error)) bool {
		ok, err := f(ctx)
		require.NoError(t, err)
		return ok
	}

	assert.True(t, held(a, a.Acquire))
	assert.False(t, held(a, a.Acquire), "Acquire is SET NX: not even the holder gets it twice")
	assert.False(t, held(b, b.Acquire))
	assert.False(t, held(b, b.Hold))
	assert.False(t, held(b, b.Renew), "only the holder renews")
	assert.False(t, held(b, b.Release), "only the holder releases")
	assert.True(t, held(a, a.Hold), "the holder keeps it")
	holder, err := a.Holder(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a", holder)
	ttl, err := rdb.PTTL(ctx, scheduler.LeaderKey).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 30*time.Second, "renewed with its ttl")

	assert.True(t, held(a, a.Release))
	holder, err = b.Holder(ctx)
	require.NoError(t, err)
	assert.Empty(t, holder)
	assert.True(t, held(b, b.Hold), "a released lease is free at once")
	assert.False(t, held(a, a.Hold))
}

// A holder that stops renewing (killed) loses the lease after its ttl, on Redis's clock, and cannot
// renew or release its successor's lease when it comes back.
func TestLeaseExpiresWhenItsHolderStopsRenewing(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	a := scheduler.NewLease(rdb, scheduler.LeaderKey, "a", 300*time.Millisecond)
	b := scheduler.NewLease(rdb, scheduler.LeaderKey, "b", time.Minute)
	ok, err := a.Hold(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		ok, err := b.Hold(ctx)
		require.NoError(t, err)
		return ok
	}, 10*time.Second, 20*time.Millisecond)

	for _, f := range []func(context.Context) (bool, error){a.Renew, a.Release, a.Hold} {
		ok, err := f(ctx)
		require.NoError(t, err)
		assert.False(t, ok)
	}
	holder, err := a.Holder(ctx)
	require.NoError(t, err)
	assert.Equal(t, "b", holder)
}
