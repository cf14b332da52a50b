package limiter

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

func testKey(n providers.Name) string { return "test:" + string(n) }

// nextFree reads the provider's shared state: when its next slot is free, in seconds on Redis's clock.
func nextFree(t *testing.T, rdb *redis.Client, n providers.Name) float64 {
	t.Helper()
	s, err := rdb.Get(context.Background(), "rate:"+testKey(n)).Result()
	require.NoError(t, err)
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

// Slots are handed out back to back across processes, from now: an idle limit gives no burst (the
// first slot is due at once, the next an interval later, whichever process asks), and a reservation
// moves the shared state on by exactly one interval.
func TestSlotsAreBackToBackAcrossProcesses(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	// Three processes, each with its own client and limiter over the same key.
	fleet := []*Limiter{New(r.Client(), testKey), New(r.Client(), testKey), New(r.Client(), testKey)}
	ctx := context.Background()
	iv := interval(10) // 101 ms: the 30 reservations below take far less than one interval
	var waits []time.Duration
	for round := range 10 {
		for _, l := range fleet {
			w, err := l.reserve(ctx, providers.VOD, iv)
			require.NoError(t, err)
			waits = append(waits, w)
			if round == 0 && len(waits) == 1 {
				assert.Zero(t, w, "an idle limit's first slot is now")
			}
		}
	}
	first := nextFree(t, rdb, providers.VOD) - 30*iv.Seconds()
	for i := 1; i < len(waits); i++ {
		// Each slot is one interval after the previous: the later reservation's wait is longer by an
		// interval less the moment between the two calls.
		assert.Greater(t, waits[i], waits[i-1], "slot %d", i)
	}
	assert.InDelta(t, 30*iv.Seconds(), nextFree(t, rdb, providers.VOD)-first, 1e-6)
	assert.Greater(t, waits[29], 28*iv, "30 slots span 29 intervals")
}

// Waiters are served in the order they arrived (their slots are 20 ms apart, far more than the
// moment between a slot's timer and its waiter's append below).
func TestWaitersAreServedInOrder(t *testing.T) {
	r := jobstest.StartRedis(t)
	l := New(r.Client(), testKey)
	ctx := context.Background()
	const n = 20
	var mu sync.Mutex
	var served []int
	var wg sync.WaitGroup
	q := l.queue(providers.VOD)
	for i := range n {
		wg.Go(func() {
			_, later, err := l.Wait(ctx, providers.VOD, 50, time.Minute)
			assert.NoError(t, err)
			assert.Zero(t, later)
			mu.Lock()
			served = append(served, i)
			mu.Unlock()
		})
		// The next waiter arrives once this one is in line (or already served).
		require.Eventually(t, func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			return len(q.waiters)+q.handed > i
		}, 5*time.Second, time.Millisecond)
	}
	wg.Wait()
	for i := range served {
		assert.Equal(t, i, served[i], "served order %v", served)
	}
}

// A task that would wait longer than maxWait behind this process's waiters takes no token: it is told
// to come back later, when it would wait maxWait.
func TestWaitBeyondMaxWaitTakesNoToken(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	l := New(r.Client(), testKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const maxWait = 1500 * time.Millisecond
	// 1/s: the first task is served at once, the second holds the slot a second later, the third
	// waits in line for the one after, and the fourth would wait three seconds.
	_, later, err := l.Wait(ctx, providers.MSS, 1, maxWait)
	require.NoError(t, err)
	require.Zero(t, later)
	var wg sync.WaitGroup
	q := l.queue(providers.MSS)
	for want := range 2 {
		wg.Go(func() {
			_, _, err := l.Wait(ctx, providers.MSS, 1, maxWait)
			assert.ErrorIs(t, err, context.Canceled)
		})
		require.Eventually(t, func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.handed == 2 && len(q.waiters) == want
		}, 5*time.Second, time.Millisecond)
	}
	before := nextFree(t, rdb, providers.MSS)
	_, later, err = l.Wait(ctx, providers.MSS, 1, maxWait)
	require.NoError(t, err)
	assert.Greater(t, later, 3*time.Second-maxWait-100*time.Millisecond, "back when it would wait maxWait")
	assert.Equal(t, before, nextFree(t, rdb, providers.MSS), "the refused task reserved a slot")
	cancel()
	wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	assert.Empty(t, q.waiters, "a cancelled task leaves the line")
}

// When Redis fails, every task in line gets the error: none waits on for a token.
func TestRedisErrorReachesEveryWaiter(t *testing.T) {
	r := jobstest.StartRedis(t)
	l := New(r.Client(), testKey)
	r.Stop()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			_, later, err := l.Wait(context.Background(), providers.VOD, 10, time.Minute)
			assert.Error(t, err)
			assert.Zero(t, later)
		})
	}
	wg.Wait()
}
