// Package breaker is the pipeline's per-process circuit breaker for one provider: gobreaker's
// CircuitBreaker plus the time it opened, so a held-back task can be rescheduled for when the breaker
// will let a probe through.
package breaker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/providers"
)

// Settings configures one provider's circuit breaker.
type Settings struct {
	ConsecutiveFailures uint32
	FailureRatio        float64
	MinRequests         uint32
	Interval            time.Duration
	OpenTimeout         time.Duration
	HalfOpenRequests    uint32
	// OnStateChange is called on every transition (for logs and metrics); may be nil.
	OnStateChange func(provider providers.Name, from, to gobreaker.State)
}

// Breaker is a per-process circuit breaker for one provider: gobreaker's CircuitBreaker plus the time
// it opened, so a held-back task can be rescheduled for when the breaker will let a probe through.
// (gobreaker's DistributedCircuitBreaker serialises every call cluster-wide and loses counts, so each
// worker process keeps its own.)
type Breaker struct {
	cb       *gobreaker.CircuitBreaker[providers.Result]
	timeout  time.Duration
	openedAt atomic.Int64 // unix nanoseconds; 0 when not open
	now      func() time.Time
}

// New builds the breaker for provider n.
func New(n providers.Name, s Settings) *Breaker {
	b := &Breaker{timeout: s.OpenTimeout, now: time.Now}
	b.cb = gobreaker.NewCircuitBreaker[providers.Result](gobreaker.Settings{
		Name:        string(n),
		MaxRequests: s.HalfOpenRequests,
		Interval:    s.Interval,
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= s.ConsecutiveFailures {
				return true
			}
			return s.FailureRatio > 0 && c.Requests >= s.MinRequests &&
				float64(c.TotalFailures)/float64(c.Requests) >= s.FailureRatio
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(b.now().UnixNano())
			} else {
				b.openedAt.Store(0)
			}
			if s.OnStateChange != nil {
				s.OnStateChange(n, from, to)
			}
		},
		// Only transient failures say the provider is unhealthy; a file already gone or a bad
		// request is a healthy answer.
		IsSuccessful: func(err error) bool {
			c := providers.ClassOf(err)
			return c != providers.Retry && c != providers.Throttled
		},
		// A cancelled call (shutdown, caller gave up) says nothing about the provider.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	return b
}

// State is the breaker's current state.
func (b *Breaker) State() gobreaker.State { return b.cb.State() }

// OpenFor returns how long the open breaker will keep refusing calls; 0 when it is not open.
func (b *Breaker) OpenFor() time.Duration {
	at := b.openedAt.Load()
	if at == 0 || b.cb.State() != gobreaker.StateOpen {
		return 0
	}
	return max(0, time.Duration(at)+b.timeout-time.Duration(b.now().UnixNano()))
}

// Execute runs call through the breaker.
func (b *Breaker) Execute(call func() (providers.Result, error)) (providers.Result, error) {
	return b.cb.Execute(call)
}

// IsRefusal reports whether err is the breaker refusing a call (open, or half-open and busy).
func IsRefusal(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}
