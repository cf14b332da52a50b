// Package faults is the fault injection shared by the provider fakes (msstest, smhtest, vodtest). An
// Injector decides, for each call a fake receives, whether to answer normally or with a fault: added
// latency, an outage window, a throttle at N requests/second, a queued one-shot error, or a random
// documented error at a configured rate. Each fake renders the decision in its own provider's wire format,
// so the clients under test see exactly what the real service would send. A CallCounter keeps the
// per-target call counts every fake reports.
package faults

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Fault is one error response a fake can give. Fakes render Status, Code and Message in their
// provider's documented error body; a non-empty Body is sent verbatim instead (an HTML gateway page,
// a truncated JSON document) with ContentType.
type Fault struct {
	Status      int
	Code        string
	Message     string
	Body        string
	ContentType string
}

// Kind is what the injector decided for one call.
type Kind int

// The decisions.
const (
	None      Kind = iota // answer normally
	Outage                // the provider is down: answer with the fake's outage response
	Throttled             // over the throttle rate: answer with the provider's own throttle response
	Injected              // answer with Decision.Fault
)

// Decision is the injector's verdict for one call.
type Decision struct {
	Kind  Kind
	Fault Fault         // for Injected
	Delay time.Duration // latency to add before answering, whatever the kind
}

// Wait sleeps for the decision's delay, returning early (false) if ctx ends first.
func (d Decision) Wait(ctx context.Context) bool {
	if d.Delay <= 0 {
		return true
	}
	t := time.NewTimer(d.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats counts the decisions an injector made.
type Stats struct {
	Calls, Outages, Throttled, Injected int
}

// Injector decides faults. The zero value is not usable; call New. It is safe for concurrent use and
// cheap enough to sit in front of thousands of requests per second.
type Injector struct {
	mu         sync.Mutex
	rng        *rand.Rand
	now        func() time.Time
	errorRate  float64
	errors     []Fault
	next       []Fault
	latency    time.Duration
	jitter     time.Duration
	down       bool
	outageFrom time.Time
	outageTo   time.Time
	rps        float64
	tokens     float64
	refilled   time.Time
	stats      Stats
}

// New returns an injector that injects nothing until configured. seed makes random choices repeatable.
func New(seed uint64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Now}
}

// SetClock replaces the clock used for outage windows and the throttle (tests move it by hand).
func (in *Injector) SetClock(now func() time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.now = now
}

// SetErrorRate makes each call fail with probability p, with a fault chosen uniformly from choices.
// p = 0 turns random errors off.
func (in *Injector) SetErrorRate(p float64, choices ...Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.errorRate = p
	in.errors = append([]Fault(nil), choices...)
}

// FailNext queues f for the next n calls, ahead of random errors.
func (in *Injector) FailNext(n int, f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for range n {
		in.next = append(in.next, f)
	}
}

// SetLatency adds d plus a uniform random jitter in [0, jitter) to every answer.
func (in *Injector) SetLatency(d, jitter time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.latency, in.jitter = d, jitter
}

// SetDown puts the provider into (true) or out of (false) an open-ended outage.
func (in *Injector) SetDown(down bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.down = down
}

// SetOutage schedules an outage window [from, to) on the injector's clock.
func (in *Injector) SetOutage(from, to time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.outageFrom, in.outageTo = from, to
}

// SetThrottle answers calls beyond rps requests per second (burst of one second's worth) with the
// provider's throttle response. rps <= 0 turns throttling off.
func (in *Injector) SetThrottle(rps float64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rps = rps
	in.tokens = rps
	in.refilled = in.now()
}

// Reset turns every fault off and drops queued ones; the clock and stats stay.
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.errorRate, in.errors, in.next = 0, nil, nil
	in.latency, in.jitter = 0, 0
	in.down, in.outageFrom, in.outageTo = false, time.Time{}, time.Time{}
	in.rps = 0
}

// Stats returns the counts so far.
func (in *Injector) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// Decide returns the verdict for one call. Order: outage, throttle, queued faults, random faults.
func (in *Injector) Decide() Decision {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Calls++
	d := Decision{Delay: in.latency}
	if in.jitter > 0 {
		d.Delay += time.Duration(in.rng.Int64N(int64(in.jitter)))
	}
	now := in.now()
	switch {
	case in.down || (!now.Before(in.outageFrom) && now.Before(in.outageTo)):
		in.stats.Outages++
		d.Kind = Outage
	case in.rps > 0 && !in.take(now):
		in.stats.Throttled++
		d.Kind = Throttled
	case len(in.next) > 0:
		in.stats.Injected++
		d.Kind, d.Fault = Injected, in.next[0]
		in.next = in.next[1:]
	case in.errorRate > 0 && len(in.errors) > 0 && in.rng.Float64() < in.errorRate:
		in.stats.Injected++
		d.Kind, d.Fault = Injected, in.errors[in.rng.IntN(len(in.errors))]
	}
	return d
}

// take spends one throttle token, refilling at rps since the last call.
func (in *Injector) take(now time.Time) bool {
	if el := now.Sub(in.refilled); el > 0 {
		in.tokens = min(in.rps, in.tokens+el.Seconds()*in.rps)
		in.refilled = now
	}
	if in.tokens >= 1 {
		in.tokens--
		return true
	}
	return false
}
