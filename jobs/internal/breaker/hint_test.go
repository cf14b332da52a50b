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
	hintKey  = "reaper:breaker:vod"
	probeKey = "reaper:breaker:vod:probe"
)

var errDown = &providers.Error{Provider: providers.VOD, Class: providers.Retry, Code: "InternalError"}

// fleetBreaker is one process's breaker on rdb. The local clock is the test's; Redis's TTLs run on
// Redis's own, so the test sets the hint's TTL directly where it needs "time has passed in Redis".
func fleetBreaker(rdb redis.UniversalClient, c *testclock.Clock) *Breaker {
	return New(providers.VOD, Settings{ConsecutiveFailures: 1, ProbeInterval: time.Minute, OpenTimeout: 10 * time.Minute,
		Hint: NewHint(rdb, hintKey, probeKey), Now: c.Now})
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
