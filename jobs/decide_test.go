package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/reaper-media/reaper/providers"
)

// The retry policy as a table: no Redis, no asynq, no clock.
func TestDecide(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Minute, ThrottleDelay: 2 * time.Second,
		MaxOutageAttempts: 2, MaxThrottles: 5, Jitter: func() float64 { return 0.5 }}
	open := 10 * time.Second
	cases := []struct {
		name string
		f    callFacts
		want decision
	}{
		{"success is recorded deleted", callFacts{}, decision{Verdict: record, Outcome: Deleted}},
		{"gone is already_gone", callFacts{Class: providers.Gone, Calls: 7}, decision{Verdict: record, Outcome: AlreadyGone}},
		{"fatal fails at once", callFacts{Class: providers.Fatal}, decision{Verdict: record, Outcome: Failed}},
		{"first transient failure retries with backoff 0", callFacts{Class: providers.Retry, Calls: 1},
			decision{Verdict: retry, After: 500 * time.Millisecond}},
		{"second backs off further", callFacts{Class: providers.Retry, Calls: 2}, decision{Verdict: retry, After: time.Second}},
		{"auth is transient like retry", callFacts{Class: providers.Auth, Calls: 2}, decision{Verdict: retry, After: time.Second}},
		{"the budget is provider calls", callFacts{Class: providers.Retry, Calls: 3},
			decision{Verdict: exhausted, Reason: "3 attempts used"}},
		{"a failure in an outage is rescheduled without budget", callFacts{Class: providers.Retry, Calls: 3, OutageCalls: 1, BreakerOpenFor: open},
			decision{Verdict: reschedule, After: open, Reason: "provider outage"}},
		{"outage calls are exempt from the budget after the outage", callFacts{Class: providers.Retry, Calls: 4, OutageCalls: 2},
			decision{Verdict: retry, After: time.Second}},
		{"beyond max_outage_attempts outage calls count", callFacts{Class: providers.Retry, Calls: 4, OutageCalls: 3, BreakerOpenFor: open},
			decision{Verdict: retry, After: time.Second}},
		{"and end the task eventually", callFacts{Class: providers.Retry, Calls: 5, OutageCalls: 3, BreakerOpenFor: open},
			decision{Verdict: exhausted, Reason: "3 attempts used"}},
		{"a throttle waits the provider's hint", callFacts{Class: providers.Throttled, Calls: 1, Throttles: 1, RetryAfter: 7 * time.Second},
			decision{Verdict: reschedule, After: 7 * time.Second, Reason: "throttled"}},
		{"or the throttle delay", callFacts{Class: providers.Throttled, Calls: 1, Throttles: 1},
			decision{Verdict: reschedule, After: 2 * time.Second, Reason: "throttled"}},
		{"a hint of years is capped", callFacts{Class: providers.Throttled, Throttles: 1, RetryAfter: 1 << 62},
			decision{Verdict: reschedule, After: MaxRetryAfter, Reason: "throttled"}},
		{"throttles never use the budget", callFacts{Class: providers.Throttled, Calls: 50, Throttles: 4},
			decision{Verdict: reschedule, After: 2 * time.Second, Reason: "throttled"}},
		{"but a task throttled max_throttles times gives up", callFacts{Class: providers.Throttled, Calls: 5, Throttles: 5},
			decision{Verdict: exhausted, Code: CodeTooManyThrottles, Reason: "throttled 5 times"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, decide(p, c.f))
		})
	}

	t.Run("no throttle cap when max_throttles is 0", func(t *testing.T) {
		q := p
		q.MaxThrottles = 0
		assert.Equal(t, reschedule, decide(q, callFacts{Class: providers.Throttled, Throttles: 1 << 20}).Verdict)
	})
}
