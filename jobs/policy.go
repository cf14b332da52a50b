package jobs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// RetryPolicy decides when a task runs again (decide has the table). Retry-class failures back off
// exponentially with full jitter and use the retry budget, which counts provider calls; throttles, open
// breakers and a busy rate limiter reschedule the task after the provider's hint without using it, so an
// outage never turns into failed deletions.
type RetryPolicy struct {
	// MaxAttempts is the number of provider calls a retry-class failure may use.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: attempt n (0-based) waits uniformly in
	// [0, min(MaxDelay, BaseDelay*2^n)).
	BaseDelay, MaxDelay time.Duration
	// ThrottleDelay is used for a throttle the provider gave no hint for.
	ThrottleDelay time.Duration
	// MaxOutageAttempts is how many calls failing while the breaker is open a task may make without
	// using MaxAttempts (config retry.max_outage_attempts).
	MaxOutageAttempts int
	// MaxThrottles is how many throttle answers a task may get before it gives up (parked for the
	// overnight window when one is configured, else failed with CodeTooManyThrottles); 0 means no cap.
	MaxThrottles int
	// Jitter returns a float in [0, 1); nil means math/rand.
	Jitter func() float64
}

func (p RetryPolicy) jitter() float64 {
	if p.Jitter != nil {
		return p.Jitter()
	}
	return rand.Float64()
}

// Backoff is the delay after the n-th (0-based) retry-class failure.
func (p RetryPolicy) Backoff(n int) time.Duration {
	ceil := p.MaxDelay
	if n < 40 {
		if d := p.BaseDelay << n; d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(p.jitter() * float64(ceil))
}

// retryDelay is the asynq RetryDelayFunc: a rescheduled task waits what the handler asked for. Any
// other error is one the handler could not decide on (Redis failed under it): it backs off on asynq's
// count of those, which is never the retry budget.
func (p RetryPolicy) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var rs *rescheduleError
	if errors.As(err, &rs) {
		return rs.After
	}
	if errors.Is(err, asynq.ErrLeaseExpired) {
		// asynq's recoverer already waited out the lease: run it again at once.
		return 0
	}
	// Redis trouble under the handler: back off briefly, never the provider backoff's minutes.
	return min(time.Duration(p.jitter()*float64(time.Second<<min(n, 5))), 30*time.Second)
}

// isFailure is the asynq isFailure func: a reschedule is not a failure. (The retry budget is the
// task's provider calls in the store, not asynq's count, so this only keeps asynq's statistics honest.)
func isFailure(err error) bool {
	var rs *rescheduleError
	return !errors.As(err, &rs)
}

// rescheduleError puts a task back on its queue after After without counting a failed attempt.
type rescheduleError struct {
	After  time.Duration
	Reason string // "throttled", "breaker open", "rate limited", ...
	Code   string // the provider's code when a provider answer caused it
}

func (e *rescheduleError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("rescheduled in %s: %s (%s)", e.After.Round(time.Millisecond), e.Reason, e.Code)
	}
	return fmt.Sprintf("rescheduled in %s: %s", e.After.Round(time.Millisecond), e.Reason)
}

// spread adds up to 50% random jitter to d, so tasks held back together do not return together.
func (p RetryPolicy) spread(d time.Duration) time.Duration {
	return d + time.Duration(p.jitter()*float64(d)/2)
}
