package breaker

import (
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)

func testMachine(s Settings) *machine {
	return newMachine(s.withDefaults(), t0)
}

// fail makes one call at now that fails, and requires that it was let through.
func fail(t *testing.T, m *machine, now time.Time) {
	t.Helper()
	gen, _, err := m.allow(now)
	require.NoError(t, err)
	m.done(now, gen, failure)
}

// probe makes the half-open probe at now with result r.
func probe(t *testing.T, m *machine, now time.Time, r result) {
	t.Helper()
	gen, isProbe, err := m.allow(now)
	require.NoError(t, err)
	require.True(t, isProbe, "the call at %s is the probe", now.Sub(t0))
	m.done(now, gen, r)
}

// halfOpen returns a machine that tripped at t0 and the time its probe is due.
func halfOpen(t *testing.T) (*machine, time.Time) {
	t.Helper()
	m := testMachine(Settings{ConsecutiveFailures: 1, ProbeInterval: time.Second, OpenTimeout: time.Minute})
	fail(t, m, t0)
	return m, t0.Add(time.Second)
}

// Each failed probe lengthens the open period by 5%, from ProbeInterval up to OpenTimeout.
func TestBreakerBackoffSequence(t *testing.T) {
	m := testMachine(Settings{ConsecutiveFailures: 3, ProbeInterval: time.Second, OpenTimeout: 1500 * time.Millisecond})
	now := t0
	for range 2 {
		fail(t, m, now)
	}
	assert.Equal(t, gobreaker.StateClosed, m.current(now))
	fail(t, m, now)
	require.Equal(t, gobreaker.StateOpen, m.current(now), "the third failure in a row trips it")
	assert.Equal(t, []transition{{gobreaker.StateClosed, gobreaker.StateOpen}}, m.drain())

	var periods []time.Duration
	for range 16 {
		d := m.openFor(now)
		periods = append(periods, d)
		_, _, err := m.allow(now.Add(d - time.Millisecond))
		assert.ErrorIs(t, err, ErrOpen, "refused until the open period ends")
		now = now.Add(d)
		probe(t, m, now, failure)
	}
	want := []time.Duration{1000, 1050, 1103, 1158, 1216, 1276, 1340, 1407, 1477, 1500, 1500, 1500, 1500, 1500, 1500, 1500}
	for i := range want {
		want[i] *= time.Millisecond
	}
	for i := range want {
		assert.InDelta(t, want[i], periods[i], float64(time.Millisecond), "period %d", i)
	}
	assert.Equal(t, 1500*time.Millisecond, periods[len(periods)-1], "capped at OpenTimeout")
}

// A successful probe closes the breaker, and the next outage starts at ProbeInterval again.
func TestBreakerProbeSuccessResets(t *testing.T) {
	m := testMachine(Settings{ConsecutiveFailures: 1, ProbeInterval: time.Second, OpenTimeout: time.Minute})
	now := t0
	fail(t, m, now)
	for range 5 {
		now = now.Add(m.openFor(now))
		probe(t, m, now, failure)
	}
	require.Greater(t, m.openFor(now), 1200*time.Millisecond)
	now = now.Add(m.openFor(now))
	probe(t, m, now, success)
	assert.Equal(t, gobreaker.StateClosed, m.current(now))
	assert.Zero(t, m.openFor(now))

	fail(t, m, now)
	assert.Equal(t, time.Second, m.openFor(now), "a new outage starts at ProbeInterval")
}

// While the probe is out, every other call is refused; a cancelled probe gives its place back.
func TestBreakerHalfOpenLetsOneProbe(t *testing.T) {
	m, now := halfOpen(t)
	gen, isProbe, err := m.allow(now)
	require.NoError(t, err)
	require.True(t, isProbe)
	_, _, err = m.allow(now)
	assert.ErrorIs(t, err, ErrProbing)
	assert.Equal(t, 250*time.Millisecond, m.heldFor(now, 250*time.Millisecond), "held for the recheck while a probe is out")

	m.done(now, gen, excluded)
	assert.Equal(t, gobreaker.StateHalfOpen, m.current(now), "a cancelled probe says nothing")
	assert.Zero(t, m.heldFor(now, 250*time.Millisecond))
	probe(t, m, now, success)
	assert.Equal(t, gobreaker.StateClosed, m.current(now))
}

// A call that started before the breaker tripped and ends after is not counted in the open state: a
// late failure must not lengthen the open period, nor a late success close it.
func TestBreakerIgnoresCallsFromAnEarlierState(t *testing.T) {
	m := testMachine(Settings{ConsecutiveFailures: 2, ProbeInterval: time.Second, OpenTimeout: time.Minute})
	lateFail, _, err := m.allow(t0)
	require.NoError(t, err)
	lateOK, _, err := m.allow(t0)
	require.NoError(t, err)
	fail(t, m, t0)
	fail(t, m, t0)
	require.Equal(t, gobreaker.StateOpen, m.current(t0))
	m.done(t0, lateFail, failure)
	m.done(t0, lateOK, success)
	assert.Equal(t, gobreaker.StateOpen, m.current(t0))
	assert.Equal(t, time.Second, m.openFor(t0))
}

// The ratio rule trips over a counting interval; a new interval starts with fresh counts.
func TestBreakerFailureRatio(t *testing.T) {
	m := testMachine(Settings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4, Interval: time.Minute})
	ok := func(now time.Time) {
		gen, _, err := m.allow(now)
		require.NoError(t, err)
		m.done(now, gen, success)
	}
	ok(t0)
	fail(t, m, t0)
	ok(t0)
	now := t0.Add(time.Minute) // the interval ends: counts start over
	fail(t, m, now)
	ok(now)
	fail(t, m, now)
	assert.Equal(t, gobreaker.StateClosed, m.current(now), "3 calls are below MinRequests")
	fail(t, m, now)
	assert.Equal(t, gobreaker.StateOpen, m.current(now), "3 of 4 failed")
}

// The fleet's hint opens a closed breaker for what is left of the other process's open period and
// gives it that outage's period, so its failed probe backs off from there; its deletion closes it.
func TestBreakerAdoptsTheFleetsHint(t *testing.T) {
	m := testMachine(Settings{ConsecutiveFailures: 5, ProbeInterval: time.Second, OpenTimeout: time.Minute})
	m.adopt(t0, 4*time.Second, 10*time.Second)
	assert.Equal(t, gobreaker.StateOpen, m.current(t0))
	assert.Equal(t, 4*time.Second, m.openFor(t0))
	now := t0.Add(4 * time.Second)
	probe(t, m, now, failure)
	assert.Equal(t, 10500*time.Millisecond, m.openFor(now), "backs off from the fleet's period")

	m.adopt(now, 0, 11*time.Second)
	assert.Equal(t, gobreaker.StateHalfOpen, m.current(now), "a hint whose probe is due: half-open")
	gen, _, err := m.allow(now)
	require.NoError(t, err)
	m.adopt(now, 30*time.Second, 30*time.Second)
	assert.Equal(t, gobreaker.StateHalfOpen, m.current(now), "its own probe out, it waits for that answer")
	m.recovered(now)
	assert.Equal(t, gobreaker.StateHalfOpen, m.current(now))
	m.done(now, gen, excluded)

	m.recovered(now)
	assert.Equal(t, gobreaker.StateClosed, m.current(now), "the fleet's probe succeeded")
	fail(t, m, now)
	assert.Equal(t, gobreaker.StateClosed, m.current(now), "closed afresh: five failures to trip again")
}

// Another process probing holds this process's probes until the recheck.
func TestBreakerHoldsProbesForAnotherProcess(t *testing.T) {
	m, now := halfOpen(t)
	gen, _, err := m.allow(now)
	require.NoError(t, err)
	m.release(gen) // the claim went to another process
	m.holdProbes(now, 250*time.Millisecond)
	_, _, err = m.allow(now.Add(249 * time.Millisecond))
	assert.ErrorIs(t, err, ErrProbing)
	assert.Equal(t, 50*time.Millisecond, m.heldFor(now.Add(200*time.Millisecond), time.Second))
	probe(t, m, now.Add(250*time.Millisecond), success)
}

func TestBreakerSettingsDefaults(t *testing.T) {
	s := Settings{ProbeInterval: time.Minute, OpenTimeout: 10 * time.Second}.withDefaults()
	assert.Equal(t, 10*time.Second, s.ProbeInterval, "cut to OpenTimeout")
	s = Settings{}.withDefaults()
	assert.Equal(t, time.Second, s.ProbeInterval)
	assert.Equal(t, 30*time.Second, s.OpenTimeout)
	assert.Equal(t, uint32(5), s.ConsecutiveFailures)
	assert.Equal(t, uint32(1), s.HalfOpenRequests)
}
