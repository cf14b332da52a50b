package breaker

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

const (
	hintKey   = "reaper:breaker:vod"
	probeKey  = "reaper:breaker:vod:probe"
	streakKey = "reaper:breaker:vod:streak"
)

var errDown = &providers.Error{Provider: providers.VOD, Class: providers.Retry, Code: "InternalError"}

// fleetBreaker is one process's breaker on rdb. The local clock is the test's; Redis's TTLs run on
// Redis's own, so the test sets the hint's TTL directly where it needs "time has passed in Redis".
func fleetBreaker(rdb redis.UniversalClient, c *testclock.Clock) *Breaker {
	return fleetBreakerAfter(rdb, c, 1)
}

// fleetBreakerAfter is fleetBreaker tripping after failures in a row.
func fleetBreakerAfter(rdb redis.UniversalClient, c *testclock.Clock, failures uint32) *Breaker {
	return New(providers.VOD, Settings{ConsecutiveFailures: failures, ProbeInterval: time.Minute, OpenTimeout: 10 * time.Minute,
		Hint: NewHint(rdb, hintKey, probeKey, streakKey), Now: c.Now})
}

func call(b *Breaker, err error) error {
	_, got := b.Execute(func() (providers.Result, error) { return providers.Result{}, err })
	return got
}

// One process's outage holds another within HintRecheck; only one of them probes; the probe's
// success releases both; a failed probe backs both off.
func TestBreakerHintSharesTheOutage(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	c := testclock.New(time.Now())
	a, b := fleetBreaker(rdb, c), fleetBreaker(rdb, c)
	assert.Zero(t, b.Hold(ctx), "no hint: b calls")

	require.ErrorIs(t, call(a, errDown), errDown)
	require.Equal(t, gobreaker.StateOpen, a.State())
	period, err := rdb.Get(ctx, hintKey).Int64()
	require.NoError(t, err)
	assert.Equal(t, time.Minute.Milliseconds(), period, "the hint carries the open period")
	ttl, err := rdb.PTTL(ctx, hintKey).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Minute, "a relative TTL: the open period plus the probe window")

	assert.Zero(t, b.Hold(ctx), "b read the hint's absence a moment ago and has not re-read it")
	c.Advance(HintRecheck)
	assert.Equal(t, HintRecheck, b.Hold(ctx), "b re-reads the hint and holds, in steps of the recheck")
	assert.Equal(t, gobreaker.StateOpen, b.State())
	assert.InDelta(t, float64(time.Minute-HintRecheck), float64(b.OpenFor()), float64(2*time.Second))

	// The open period passes (locally by the clock, in Redis by cutting the TTL to the probe window):
	// both are half-open and only the one that claims the probe calls.
	c.Advance(time.Minute)
	require.NoError(t, rdb.PExpire(ctx, hintKey, probeWindow-time.Second).Err())
	require.Equal(t, gobreaker.StateHalfOpen, a.State())
	require.Equal(t, gobreaker.StateHalfOpen, b.State())
	inProbe := make(chan struct{})
	release := make(chan error)
	probed := make(chan error)
	go func() {
		_, err := a.Execute(func() (providers.Result, error) { close(inProbe); return providers.Result{}, <-release })
		probed <- err
	}()
	<-inProbe
	assert.ErrorIs(t, call(b, nil), ErrProbing, "a holds the probe claim")
	assert.Equal(t, HintRecheck, b.Hold(ctx), "b holds its probes until the recheck")
	release <- errDown
	require.ErrorIs(t, <-probed, errDown)
	assert.Equal(t, gobreaker.StateOpen, a.State())
	assert.Equal(t, 63*time.Second, a.OpenFor(), "a failed probe lengthens the period by 5%")
	period, err = rdb.Get(ctx, hintKey).Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(63000), period, "and rewrites the hint for everyone")
	c.Advance(HintRecheck)
	b.Hold(ctx)
	assert.Equal(t, gobreaker.StateOpen, b.State(), "b adopts the new period")
	assert.InDelta(t, float64(63*time.Second), float64(b.OpenFor()), float64(2*time.Second))

	// The next probe succeeds: the hint is deleted and b resumes at its next read.
	c.Advance(63 * time.Second)
	require.NoError(t, rdb.PExpire(ctx, hintKey, probeWindow-time.Second).Err())
	require.NoError(t, call(a, nil))
	assert.Equal(t, gobreaker.StateClosed, a.State())
	n, err := rdb.Exists(ctx, hintKey, probeKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the successful prober deletes the hint and its claim")
	c.Advance(HintRecheck)
	assert.Zero(t, b.Hold(ctx))
	assert.Equal(t, gobreaker.StateClosed, b.State(), "the hint's deletion closes b without a probe of its own")
}

// A trip while another process's outage is already backed off keeps that outage's period (SET NX).
func TestBreakerHintKeepsTheFleetsBackoff(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	c := testclock.New(time.Now())
	a := fleetBreaker(rdb, c)
	assert.Zero(t, a.Hold(ctx), "a reads no hint")
	require.NoError(t, rdb.Set(ctx, hintKey, 300000, 5*time.Minute).Err()) // another process's outage, 5 min in
	require.ErrorIs(t, call(a, errDown), errDown, "a has not re-read the hint yet: it calls and trips")
	period, err := rdb.Get(ctx, hintKey).Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(300000), period, "the fleet's period stands")
	c.Advance(HintRecheck)
	a.Hold(ctx)
	assert.Greater(t, a.OpenFor(), 4*time.Minute, "and a adopts it")
}

// With Redis unreachable the breaker works alone: it trips, probes and closes on its own clock.
func TestBreakerHintFailsOpen(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{MaxRetries: -1, DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no Redis here") }})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	c := testclock.New(time.Now())
	a := fleetBreaker(rdb, c)
	assert.Zero(t, a.Hold(ctx))
	require.ErrorIs(t, call(a, errDown), errDown)
	assert.Equal(t, gobreaker.StateOpen, a.State())
	assert.ErrorIs(t, call(a, nil), ErrOpen)
	c.Advance(time.Minute)
	assert.Zero(t, a.Hold(ctx), "half-open: the probe may go")
	require.NoError(t, call(a, nil), "the claim's Redis error lets the probe through")
	assert.Equal(t, gobreaker.StateClosed, a.State())
}

// The fleet's failures in a row trip a process whose own second failure in a row brings them to the
// threshold, and the hint holds the others: three processes spend about three calls on an outage's
// start, not nine.
func TestBreakerFleetStreakTrips(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	c := testclock.New(time.Now())
	a, b, other := fleetBreakerAfter(rdb, c, 3), fleetBreakerAfter(rdb, c, 3), fleetBreakerAfter(rdb, c, 3)
	require.ErrorIs(t, call(a, errDown), errDown)
	require.ErrorIs(t, call(other, errDown), errDown)
	answer, answered := outstanding(a)
	require.ErrorIs(t, call(b, errDown), errDown)
	assert.Equal(t, gobreaker.StateClosed, b.State(), "the fleet's third failure in a row, but b's first")
	require.ErrorIs(t, call(b, errDown), errDown)
	assert.Equal(t, gobreaker.StateOpen, b.State(), "the fleet's fourth and b's second: b trips")
	assert.ErrorIs(t, call(b, nil), ErrOpen)
	period, err := rdb.Get(ctx, hintKey).Int64()
	require.NoError(t, err)
	assert.Equal(t, time.Minute.Milliseconds(), period, "and b published the outage")
	ttl, err := rdb.PTTL(ctx, streakKey).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "the streak has a relative TTL")
	assert.LessOrEqual(t, ttl, streakTTL)

	answer <- errDown
	require.ErrorIs(t, <-answered, errDown, "a's call, out when b tripped, fails too")
	assert.Equal(t, gobreaker.StateOpen, a.State(), "a's second failure finds the streak past the threshold: a trips at once")
	c.Advance(HintRecheck)
	assert.Equal(t, HintRecheck, other.Hold(ctx), "the third holds by the hint")
}

// A success ends the streak in a process that knows it runs: one that added to it, or one whose last
// read of the hint saw it. Other successes cost no Redis call.
func TestBreakerFleetStreakEndsOnSuccess(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	c := testclock.New(time.Now())
	a, b, other := fleetBreakerAfter(rdb, c, 3), fleetBreakerAfter(rdb, c, 3), fleetBreakerAfter(rdb, c, 3)
	assert.Zero(t, other.Hold(ctx), "other reads the hint: no streak")
	require.ErrorIs(t, call(a, errDown), errDown)
	require.ErrorIs(t, call(a, errDown), errDown)
	require.NoError(t, call(a, nil))
	n, err := rdb.Exists(ctx, streakKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a's success ended the streak a built")
	require.ErrorIs(t, call(b, errDown), errDown)
	assert.Equal(t, gobreaker.StateClosed, b.State(), "one failure since the success")

	require.NoError(t, rdb.ConfigResetStat(ctx).Err())
	require.NoError(t, call(other, nil))
	assert.Zero(t, redisCalls(t, rdb, "del"), "other has not read the streak since it began: its success costs nothing")
	streak, err := rdb.Get(ctx, streakKey).Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(1), streak)
	c.Advance(HintRecheck)
	assert.Zero(t, other.Hold(ctx), "other re-reads the hint, and sees the streak")
	require.NoError(t, call(other, nil))
	assert.Equal(t, int64(1), redisCalls(t, rdb, "del"), "other's next success ends it")
	n, err = rdb.Exists(ctx, streakKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, call(b, nil))
	assert.Equal(t, int64(2), redisCalls(t, rdb, "del"), "b added to it: its success ends it too (it may have begun again)")
	require.NoError(t, call(b, nil))
	assert.Equal(t, int64(2), redisCalls(t, rdb, "del"), "once")
}

// outstanding starts a call through b that is out until it is sent its answer; answered gives
// what Execute returned.
func outstanding(b *Breaker) (answer chan<- error, answered <-chan error) {
	in, ans, out := make(chan struct{}), make(chan error), make(chan error, 1)
	go func() {
		_, err := b.Execute(func() (providers.Result, error) { close(in); return providers.Result{}, <-ans })
		out <- err
	}()
	<-in
	return ans, out
}

// redisCalls is how many times Redis has run the command since its stats were last reset.
func redisCalls(t *testing.T, rdb *redis.Client, name string) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	return int64(jobstest.CommandStats(info)[name].Calls)
}

// A successful probe ends the outage's streak with its hint: the failures counted while the breaker
// was open (calls already out when it tripped) do not trip it again at the next failure.
func TestBreakerFleetStreakEndsWithTheOutage(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	ctx := context.Background()
	c := testclock.New(time.Now())
	a, b := fleetBreakerAfter(rdb, c, 3), fleetBreakerAfter(rdb, c, 3)
	answer, answered := outstanding(b)
	for range 3 {
		require.ErrorIs(t, call(a, errDown), errDown)
	}
	require.Equal(t, gobreaker.StateOpen, a.State())
	answer <- errDown
	require.ErrorIs(t, <-answered, errDown, "b's call out when a tripped")
	streak, err := rdb.Get(ctx, streakKey).Int64()
	require.NoError(t, err)
	require.Equal(t, int64(3), streak, "a's first two (its third tripped it on its own count) and b's")
	c.Advance(time.Minute)
	require.NoError(t, rdb.PExpire(ctx, hintKey, probeWindow-time.Second).Err())
	require.NoError(t, call(a, nil), "a's probe succeeds")
	assert.Equal(t, gobreaker.StateClosed, a.State())
	n, err := rdb.Exists(ctx, hintKey, streakKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the probe ended the hint and the streak")
	require.ErrorIs(t, call(a, errDown), errDown)
	assert.Equal(t, gobreaker.StateClosed, a.State(), "one failure after the recovery")
}

// With Redis unreachable the streak is the process's own: it trips on its own count.
func TestBreakerFleetStreakFailsOpen(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{MaxRetries: -1, DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no Redis here") }})
	t.Cleanup(func() { _ = rdb.Close() })
	a := fleetBreakerAfter(rdb, testclock.New(time.Now()), 3)
	for range 2 {
		require.ErrorIs(t, call(a, errDown), errDown)
	}
	assert.Equal(t, gobreaker.StateClosed, a.State())
	require.NoError(t, call(a, nil), "a success whose streak DEL fails")
	for range 2 {
		require.ErrorIs(t, call(a, errDown), errDown)
	}
	assert.Equal(t, gobreaker.StateClosed, a.State(), "the success ended the local count")
	require.ErrorIs(t, call(a, errDown), errDown)
	assert.Equal(t, gobreaker.StateOpen, a.State())
}
