// Package breaker is the pipeline's circuit breaker for one provider in one worker process: a state
// machine (state.go) whose open period starts short and grows with every failed probe, and a hint in
// Redis (hint.go) through which an outage one process sees holds the others while one probes.
package breaker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/providers"
)

// Settings configures one provider's circuit breaker. Zero values are the documented defaults.
type Settings struct {
	// ConsecutiveFailures opens it after this many failures in a row (default 5).
	ConsecutiveFailures uint32
	// FailureRatio opens it when at least MinRequests calls in the current Interval failed at this
	// ratio or more (0 disables the ratio rule).
	FailureRatio float64
	MinRequests  uint32
	// Interval is the closed state's counting window (0: counts never clear while closed).
	Interval time.Duration
	// ProbeInterval is how long it stays open after it trips before one probe goes through (default
	// 1s, at most OpenTimeout). Each failed probe lengthens it by 5%, up to OpenTimeout.
	ProbeInterval time.Duration
	// OpenTimeout is the longest it stays open between probes (default 30s).
	OpenTimeout time.Duration
	// HalfOpenRequests is how many probes the half-open breaker lets through, and how many of them
	// must succeed to close it (default 1).
	HalfOpenRequests uint32
	// Hint, when set, shares the breaker's openings with the provider's breakers in the other worker
	// processes through Redis; nil keeps it to this process.
	Hint *Hint
	// OnStateChange is called on every transition (for logs and metrics); may be nil.
	OnStateChange func(provider providers.Name, from, to gobreaker.State)
	// Now is the clock (default time.Now); tests move it by hand.
	Now func() time.Time
}

func (s Settings) withDefaults() Settings {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = 5
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = 30 * time.Second
	}
	if s.ProbeInterval <= 0 {
		s.ProbeInterval = time.Second
	}
	s.ProbeInterval = min(s.ProbeInterval, s.OpenTimeout)
	if s.HalfOpenRequests == 0 {
		s.HalfOpenRequests = 1
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// Breaker is one provider's circuit breaker in one worker process. Ask Hold before a call (it reads
// the fleet's hint, cached) and make the call through Execute.
type Breaker struct {
	name providers.Name
	s    Settings
	mu   sync.Mutex
	m    *machine
}

// New builds the breaker for provider n.
func New(n providers.Name, s Settings) *Breaker {
	s = s.withDefaults()
	return &Breaker{name: n, s: s, m: newMachine(s, s.Now())}
}

// State is the breaker's current state.
func (b *Breaker) State() gobreaker.State {
	var st gobreaker.State
	b.locked(func(now time.Time) { st = b.m.current(now) })
	return st
}

// OpenFor returns how long the open breaker will keep refusing calls; 0 when it is not open. It
// reads no hint: Hold does.
func (b *Breaker) OpenFor() time.Duration {
	var d time.Duration
	b.locked(func(now time.Time) { d = b.m.openFor(now) })
	return d
}

// Hold reports how long a task should wait before it asks again, at most HintRecheck so that a
// recovery is seen promptly; 0 when the call may go ahead (as a normal call, or as the probe when
// half-open). It takes the fleet's hint into account, re-read at most every HintRecheck.
func (b *Breaker) Hold(ctx context.Context) time.Duration {
	b.sync(ctx)
	var d time.Duration
	b.locked(func(now time.Time) { d = b.m.heldFor(now, HintRecheck) })
	return min(d, HintRecheck)
}

// Execute runs call through the breaker. A refusal (IsRefusal) means the call was not made. A
// half-open breaker's call is the probe: with a hint, only the process that claims the probe makes it.
// (No context: the hint's Redis calls have their own short timeout and ignore cancellation, like the
// provider call they guard.)
func (b *Breaker) Execute(call func() (providers.Result, error)) (res providers.Result, err error) {
	ctx := context.Background()
	b.sync(ctx)
	var gen uint64
	var probe bool
	b.locked(func(now time.Time) { gen, probe, err = b.m.allow(now) })
	if err != nil {
		return res, err
	}
	if probe && b.s.Hint != nil {
		ok, v := b.s.Hint.claim(ctx, b.s.Now())
		if !ok {
			b.locked(func(now time.Time) {
				b.m.release(gen)
				if v.present && v.openFor > 0 {
					b.m.adopt(now, v.openFor, v.period) // its probe failed just now
				} else {
					b.m.holdProbes(now, HintRecheck)
				}
			})
			return res, ErrProbing
		}
	}
	r := failure
	defer func() {
		// A panicking call counts as a failure (as in gobreaker) and panics on.
		b.finish(ctx, gen, probe, r)
	}()
	res, err = call()
	r = classify(err)
	return res, err
}

// finish records a call's result and tells the fleet what changed.
func (b *Breaker) finish(ctx context.Context, gen uint64, probe bool, r result) {
	var changes []transition
	var period time.Duration
	var now time.Time
	b.mu.Lock()
	now = b.s.Now()
	b.m.done(now, gen, r)
	changes, period = b.m.drain(), b.m.period
	inARow := b.m.counts.ConsecutiveFailures
	b.mu.Unlock()
	b.notify(changes)
	h := b.s.Hint
	if h == nil {
		return
	}
	opened, closed := false, false
	for _, c := range changes {
		opened = opened || c.to == gobreaker.StateOpen
		closed = closed || c.to == gobreaker.StateClosed
	}
	switch {
	case r == failure && !probe && !opened:
		h.stale() // an outage may have begun: the next call reads the hint rather than a cached absence
		if n := h.failed(ctx); n >= int64(b.s.ConsecutiveFailures) && inARow >= min(fleetTripLocal, b.s.ConsecutiveFailures) {
			// The fleet's failures in a row trip this process's breaker too, and the hint holds the rest.
			b.mu.Lock()
			now = b.s.Now()
			tripped := b.m.trip(now)
			changes, period = b.m.drain(), b.m.period
			b.mu.Unlock()
			b.notify(changes)
			if tripped {
				h.publish(ctx, now, period)
			}
		}
	case r == success && !probe:
		h.succeeded(ctx)
	case probe && opened:
		h.probed(ctx, now, period)
	case probe && closed:
		h.probed(ctx, now, 0)
	case probe:
		h.probed(ctx, now, -1) // the answer came too late to count: just drop the claim
	case opened:
		h.publish(ctx, now, period)
	}
}

// sync brings the fleet's hint into the machine, when a fresh read of it is due.
func (b *Breaker) sync(ctx context.Context) {
	h := b.s.Hint
	if h == nil {
		return
	}
	v, was, fresh := h.read(ctx, b.s.Now())
	if !fresh {
		return
	}
	b.locked(func(now time.Time) {
		switch {
		case v.present:
			b.m.adopt(now, v.openFor, v.period)
		case was:
			b.m.recovered(now) // the hint was deleted: another process's probe succeeded
		}
	})
}

// locked runs fn under the lock with the time, then reports the transitions it caused.
func (b *Breaker) locked(fn func(now time.Time)) {
	b.mu.Lock()
	fn(b.s.Now())
	changes := b.m.drain()
	b.mu.Unlock()
	b.notify(changes)
}

func (b *Breaker) notify(changes []transition) {
	if b.s.OnStateChange == nil {
		return
	}
	for _, c := range changes {
		b.s.OnStateChange(b.name, c.from, c.to)
	}
}

// classify says what a call's error tells about the provider. Only transient failures say it is
// unhealthy: a file already gone or a bad request is a healthy answer. A cancelled call (shutdown,
// caller gave up) says nothing.
func classify(err error) result {
	if errors.Is(err, context.Canceled) {
		return excluded
	}
	if c := providers.ClassOf(err); c == providers.Retry || c == providers.Throttled {
		return failure
	}
	return success
}

// IsRefusal reports whether err is the breaker refusing a call (open, or half-open with its probe out).
func IsRefusal(err error) bool {
	return errors.Is(err, ErrOpen) || errors.Is(err, ErrProbing)
}
