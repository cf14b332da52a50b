package breaker

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
)

// The errors a refused call returns (IsRefusal reports both).
var (
	// ErrOpen: the breaker is open, locally or by the fleet's hint.
	ErrOpen = errors.New("circuit breaker is open")
	// ErrProbing: the breaker is half-open and its probe is already out (here or in another process).
	ErrProbing = errors.New("circuit breaker is half-open and a probe is out")
)

// probeGrowth is how much each failed probe lengthens the open period (up to Settings.OpenTimeout).
// 5%, not gobreaker-style doubling: the probe that sees the provider back then comes at most about a
// twentieth of the outage's length after its end. Doubling from 1 s probes at 1, 3, 7, 15 and 31 s,
// so a 20 s outage would be seen over 11 s late; at 5% the probes come at 1, 2.05, 3.15, ... 17.7,
// 19.6 and 21.6 s (14 in 20 s), and the period reaches 30 s after about ten minutes (70 probes; 171
// in a one-hour outage, against 120 for a fixed 30 s).
const probeGrowth = 1.05

// result is what a call said about the provider.
type result int

const (
	success  result = iota // healthy answer
	failure                // the provider looks unhealthy
	excluded               // says nothing (cancelled)
)

// transition is one state change, reported to Settings.OnStateChange after the lock is released.
type transition struct{ from, to gobreaker.State }

// machine is the breaker's state machine: a pure function of the times it is given and the results
// it is told, so it is tested without I/O or sleeps. It follows gobreaker's CircuitBreaker (closed
// counting windows, ReadyToTrip, half-open MaxRequests, generations so that a call that started in an
// earlier state is not counted in a later one), with one difference gobreaker cannot express: the
// open period is not fixed. It starts at ProbeInterval and grows by probeGrowth with every failed
// probe, up to OpenTimeout; a successful probe closes the breaker and starts the next outage at
// ProbeInterval again. (gobreaker's Settings.Timeout is fixed per breaker and its clock is time.Now,
// so neither a wrapper gating it nor recreating it would let a test drive the open periods by clock.)
// It is not safe for concurrent use: Breaker holds a lock around it.
type machine struct {
	s       Settings // defaults applied
	state   gobreaker.State
	gen     uint64
	counts  gobreaker.Counts
	expiry  time.Time     // closed: end of the counting interval (zero: never); open: when it goes half-open
	period  time.Duration // the open period of the current outage (0 while closed)
	probes  uint32        // half-open calls out
	heldTo  time.Time     // half-open: another process probes; refuse calls until then
	changes []transition
}

func newMachine(s Settings, now time.Time) *machine {
	m := &machine{s: s}
	m.newGeneration(now)
	return m
}

// current moves the machine along to now: a closed counting interval that ended starts afresh, an
// open period that ended goes half-open.
func (m *machine) current(now time.Time) gobreaker.State {
	switch m.state {
	case gobreaker.StateClosed:
		if !m.expiry.IsZero() && !now.Before(m.expiry) {
			m.newGeneration(now)
		}
	case gobreaker.StateOpen:
		if !now.Before(m.expiry) {
			m.setState(gobreaker.StateHalfOpen, now)
		}
	}
	return m.state
}

// allow asks to make a call at now. It returns the call's generation (for done) and whether the call
// is a half-open probe, or a refusal (ErrOpen, ErrProbing).
func (m *machine) allow(now time.Time) (gen uint64, probe bool, err error) {
	switch m.current(now) {
	case gobreaker.StateOpen:
		return 0, false, ErrOpen
	case gobreaker.StateHalfOpen:
		if m.probes >= m.s.HalfOpenRequests || now.Before(m.heldTo) {
			return 0, false, ErrProbing
		}
		m.probes++
		m.counts.Requests++
		return m.gen, true, nil
	}
	m.counts.Requests++
	return m.gen, false, nil
}

// release gives back a probe allow handed out that was never made (another process probes).
func (m *machine) release(gen uint64) {
	if gen == m.gen && m.state == gobreaker.StateHalfOpen && m.probes > 0 {
		m.probes--
		m.counts.Requests--
	}
}

// done records the result of a call allow let through in generation gen.
func (m *machine) done(now time.Time, gen uint64, r result) {
	state := m.current(now)
	if gen != m.gen {
		return // the call started in an earlier state: it says nothing about this one
	}
	if state == gobreaker.StateHalfOpen && m.probes > 0 {
		m.probes--
	}
	switch r {
	case excluded:
		m.counts.Requests--
		m.counts.TotalExclusions++
	case success:
		m.counts.TotalSuccesses++
		m.counts.ConsecutiveSuccesses++
		m.counts.ConsecutiveFailures = 0
		if state == gobreaker.StateHalfOpen && m.counts.ConsecutiveSuccesses >= m.s.HalfOpenRequests {
			m.period = 0
			m.setState(gobreaker.StateClosed, now)
		}
	case failure:
		m.counts.TotalFailures++
		m.counts.ConsecutiveFailures++
		m.counts.ConsecutiveSuccesses = 0
		switch {
		case state == gobreaker.StateHalfOpen:
			m.open(now, m.nextPeriod())
		case state == gobreaker.StateClosed && m.readyToTrip():
			m.open(now, m.s.ProbeInterval)
		}
	}
}

// trip opens a closed machine for the first open period: the fleet's failure streak reached the
// threshold. It reports whether it opened.
func (m *machine) trip(now time.Time) bool {
	if m.current(now) != gobreaker.StateClosed {
		return false
	}
	m.open(now, m.s.ProbeInterval)
	return true
}

// openFor is how long the breaker stays open from now (0 when it is not open).
func (m *machine) openFor(now time.Time) time.Duration {
	if m.current(now) != gobreaker.StateOpen {
		return 0
	}
	return m.expiry.Sub(now)
}

// heldFor is how long a call asking now would be refused for (0: it would be let through, as a
// normal call or a probe). While a probe is out it is the caller's recheck: a probe has no end time.
func (m *machine) heldFor(now time.Time, recheck time.Duration) time.Duration {
	switch m.current(now) {
	case gobreaker.StateOpen:
		return m.expiry.Sub(now)
	case gobreaker.StateHalfOpen:
		if now.Before(m.heldTo) {
			return m.heldTo.Sub(now)
		}
		if m.probes >= m.s.HalfOpenRequests {
			return recheck
		}
	}
	return 0
}

// adopt takes the fleet's hint: the provider's breaker is open in another process for openFor more
// (0 or less: its probe is due), in an outage whose open period is period. Its own probe out, the
// machine keeps its state: that probe's answer is newer than the hint.
func (m *machine) adopt(now time.Time, openFor, period time.Duration) {
	if m.current(now) == gobreaker.StateHalfOpen && m.probes > 0 {
		return
	}
	m.period = min(max(period, m.s.ProbeInterval), m.s.OpenTimeout)
	if openFor <= 0 {
		if m.state != gobreaker.StateHalfOpen {
			m.setState(gobreaker.StateHalfOpen, now)
		}
		return
	}
	m.expiry = now.Add(min(openFor, m.s.OpenTimeout))
	m.setState(gobreaker.StateOpen, now)
}

// holdProbes refuses this machine's probes until now+d: another process is probing.
func (m *machine) holdProbes(now time.Time, d time.Duration) {
	if m.current(now) == gobreaker.StateHalfOpen {
		m.heldTo = now.Add(d)
	}
}

// recovered closes the machine: the fleet's probe succeeded. Its own probe out, it waits for that.
func (m *machine) recovered(now time.Time) {
	if m.current(now) == gobreaker.StateClosed || m.probes > 0 {
		return
	}
	m.period = 0
	m.setState(gobreaker.StateClosed, now)
}

func (m *machine) nextPeriod() time.Duration {
	next := time.Duration(float64(m.period) * probeGrowth)
	return min(max(next, m.s.ProbeInterval), m.s.OpenTimeout)
}

func (m *machine) readyToTrip() bool {
	c := m.counts
	if c.ConsecutiveFailures >= m.s.ConsecutiveFailures {
		return true
	}
	return m.s.FailureRatio > 0 && c.Requests >= m.s.MinRequests &&
		float64(c.TotalFailures)/float64(c.Requests) >= m.s.FailureRatio
}

func (m *machine) open(now time.Time, period time.Duration) {
	m.period = period
	m.expiry = now.Add(period)
	m.setState(gobreaker.StateOpen, now)
}

func (m *machine) setState(to gobreaker.State, now time.Time) {
	from := m.state
	m.state = to
	m.newGeneration(now)
	if from != to {
		m.changes = append(m.changes, transition{from, to})
	}
}

// newGeneration clears the counts; only the closed state keeps a counting interval.
func (m *machine) newGeneration(now time.Time) {
	m.gen++
	m.counts = gobreaker.Counts{}
	m.probes = 0
	m.heldTo = time.Time{}
	if m.state == gobreaker.StateClosed {
		m.expiry = time.Time{}
		if m.s.Interval > 0 {
			m.expiry = now.Add(m.s.Interval)
		}
	}
}

// drain returns the transitions since the last drain.
func (m *machine) drain() []transition {
	c := m.changes
	m.changes = nil
	return c
}
