package jobs

import (
	"fmt"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// verdict is what the handler does with a task after a provider call.
type verdict int

const (
	// record writes the task's terminal outcome.
	record verdict = iota
	// retry runs the task again after a backoff; the call used the retry budget.
	retry
	// reschedule runs the task again later without using the budget (a throttle, an outage).
	reschedule
	// exhausted: the budget is used up. The overnight window may park the task; otherwise it fails.
	exhausted
)

func (v verdict) String() string {
	return [...]string{"record", "retry", "reschedule", "exhausted"}[v]
}

// callFacts is everything the decision needs about a provider call and the task's history. The counts
// are the task's own, from its try hash, this call included: the retry budget is provider calls, not
// asynq's retry count, so a Redis error, a task timeout or a lease recovery never spends it.
type callFacts struct {
	Class providers.Class
	// Calls is how many provider calls the task has made.
	Calls int
	// OutageCalls is how many of them failed while the provider's breaker was open.
	OutageCalls int
	// Throttles is how many throttle answers the task has had.
	Throttles int
	// BreakerOpenFor, when positive, says the breaker (here or, through its hint, in another worker) holds
	// calls after this one: how long the task waits before it asks again (short steps, at most breaker.HintRecheck).
	BreakerOpenFor time.Duration
	// RetryAfter is the provider's throttle hint (0: none).
	RetryAfter time.Duration
}

// decision is the verdict with what goes with it.
type decision struct {
	Verdict verdict
	Outcome Outcome       // with record
	After   time.Duration // with retry and reschedule, before the policy's spread
	Reason  string        // with reschedule; with exhausted, why the task gives up
	Code    string        // with exhausted by throttles: the code the failure is recorded with
}

// Codes reaper records for a task that gave up for a reason of its own rather than a provider's error.
const (
	// CodeTooManyThrottles: the provider throttled the task retry.max_throttles times.
	CodeTooManyThrottles = "too_many_throttles"
)

// MaxRetryAfter caps a provider's throttle hint: a Retry-After of years (or an overflowing one) must
// not park a task beyond any window anyone watches.
const MaxRetryAfter = time.Hour

// decide is the handler's whole retry policy as a pure function of a call's class and the task's
// counts: what the table says, testable without Redis or asynq.
//
//	class        decision
//	(success)    record deleted (recycled when the provider says so)
//	Gone         record already_gone
//	Fatal        record failed
//	Throttled    reschedule after RetryAfter (capped at MaxRetryAfter) or ThrottleDelay, no budget used;
//	             after MaxThrottles throttles: exhausted (parked for the night, or failed too_many_throttles)
//	Retry, Auth  while the breaker is open and the task has made at most MaxOutageAttempts calls in
//	             outages: reschedule for when the breaker lets a probe through, no budget used;
//	             otherwise the call uses the budget: retry with backoff, or exhausted once it is used up
func decide(p RetryPolicy, f callFacts) decision {
	switch f.Class {
	case "":
		return decision{Verdict: record, Outcome: Deleted}
	case providers.Gone:
		return decision{Verdict: record, Outcome: AlreadyGone}
	case providers.Fatal:
		return decision{Verdict: record, Outcome: Failed}
	case providers.Throttled:
		if p.MaxThrottles > 0 && f.Throttles >= p.MaxThrottles {
			return decision{Verdict: exhausted, Code: CodeTooManyThrottles,
				Reason: fmt.Sprintf("throttled %d times", f.Throttles)}
		}
		after := p.ThrottleDelay
		if f.RetryAfter > 0 {
			after = f.RetryAfter
		}
		return decision{Verdict: reschedule, After: min(after, MaxRetryAfter), Reason: "throttled"}
	}
	// Retry and Auth: transient. A call that failed in an outage blames the provider, not the task, up
	// to MaxOutageAttempts such calls: without that bound a file failing on its own would be the
	// breaker's only probe forever.
	exempt := min(f.OutageCalls, p.MaxOutageAttempts)
	if f.BreakerOpenFor > 0 && f.OutageCalls <= p.MaxOutageAttempts {
		return decision{Verdict: reschedule, After: f.BreakerOpenFor, Reason: "provider outage"}
	}
	used := f.Calls - exempt
	if used >= p.MaxAttempts {
		return decision{Verdict: exhausted, Reason: fmt.Sprintf("%d attempts used", used)}
	}
	return decision{Verdict: retry, After: p.Backoff(max(0, used-1))}
}
