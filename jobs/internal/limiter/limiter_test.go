package limiter

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
			w, err := l.reserve(ctx, providers.VOD, iv, 1)
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

// One Redis call reserves consecutive slots for the tasks in line, as many as fit in lead: the
// shared state moves on by one interval per task, and the tasks' slots are an interval apart.
func TestOneReservationServesTheLine(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	ctx := context.Background()
	// The limit's next slot is 200 ms away, so the state after is known exactly: that plus an
	// interval per task.
	now, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	start := float64(now.UnixMicro())/1e6 - 1483228800 + 0.2
	require.NoError(t, rdb.Set(ctx, "rate:"+testKey(providers.MSS), strconv.FormatFloat(start, 'f', 6, 64), time.Minute).Err())
	calls := &countScripts{}
	rdb.AddHook(calls)
	for _, tc := range []struct {
		rate, tasks, calls int
	}{
		{rate: 1000, tasks: 20, calls: 1}, // 1.01 ms apart: up to 49 slots per reservation
		{rate: 100, tasks: 8, calls: 2},   // 10.1 ms: 4
		{rate: 10, tasks: 2, calls: 2},    // 101 ms: one
	} {
		calls.n.Store(0)
		before := nextFree(t, rdb, providers.MSS)
		l := New(rdb, testKey)
		q := l.queue(providers.MSS)
		q.rate = tc.rate
		line := make([]*waiter, tc.tasks)
		for i := range line {
			line[i] = &waiter{slot: make(chan slot, 1)}
		}
		q.waiters, q.serving = slices.Clone(line), true
		go l.serve(providers.MSS, q)
		iv := interval(tc.rate)
		var prev time.Time
		for i, w := range line {
			s := <-w.slot
			require.NoError(t, s.err)
			if i > 0 {
				assert.InDelta(t, iv, s.due.Sub(prev), float64(2*time.Millisecond), "rate %d, slot %d follows the one before", tc.rate, i)
			}
			prev = s.due
		}
		assert.Equal(t, int64(tc.calls), calls.n.Load(), "rate %d: Redis calls", tc.rate)
		assert.InDelta(t, before+float64(tc.tasks)*iv.Seconds(), nextFree(t, rdb, providers.MSS), 1e-5, "rate %d: an interval per task", tc.rate)
	}
}

// While the limit has room, tasks that arrive faster than maxLate lets a slot wait take spare slots
// their predecessors' reservations added, without a Redis call; few spares go unused, and a spare past
// its time is dropped, not used.
func TestSparesServeArrivalsWithoutRedis(t *testing.T) {
	r := jobstest.StartRedis(t)
	rdb := r.Client()
	ctx := context.Background()
	calls := &countScripts{}
	rdb.AddHook(calls)
	l := New(rdb, testKey)
	const rate, n = 10000, 200 // 0.1 ms apart, maxLate 10 ms: tasks about 0.3 ms apart get spares
	iv := interval(rate)
	for range n {
		_, later, err := l.Wait(ctx, providers.MSS, rate, time.Minute)
		require.NoError(t, err)
		require.Zero(t, later)
		time.Sleep(300 * time.Microsecond)
	}
	q := l.queue(providers.MSS)
	q.mu.Lock()
	unused := len(q.spare)
	q.mu.Unlock()
	assert.Less(t, calls.n.Load(), int64(n/4), "most tasks took a spare")
	assert.LessOrEqual(t, unused, maxSlots(iv), "spares left over")
	// Every slot reserved was taken or is left over, but for a few spares dropped when the tasks
	// came slower than their pace said.
	dropped := calls.slots.Load() - n - int64(unused)
	assert.GreaterOrEqual(t, dropped, int64(0))
	assert.LessOrEqual(t, dropped, int64(n/10), "spares dropped")

	// A spare past its time is dropped: the next task reserves.
	q.mu.Lock()
	q.spare = []slot{{due: time.Now().Add(-2 * maxLate(iv)), interval: iv}}
	q.mu.Unlock()
	before := calls.n.Load()
	_, _, err := l.Wait(ctx, providers.MSS, rate, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, before+1, calls.n.Load(), "the late spare was not used")
}

// countScripts counts the script calls a client makes, and the slots they reserve.
type countScripts struct{ n, slots atomic.Int64 }

func (c *countScripts) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *countScripts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (c *countScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" {
			c.n.Add(1)
			args := cmd.Args() // evalsha sha 1 key interval slots
			k, _ := args[len(args)-1].(int)
			c.slots.Add(int64(k))
		}
		return next(ctx, cmd)
	}
}
