package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/jobs/internal/breaker"
	"github.com/reaper-media/reaper/jobs/internal/limiter"
	"github.com/reaper-media/reaper/providers"
)

// Observer receives the handler's events; metrics implement it. Methods must be cheap and must not block.
type Observer interface {
	// Outcome is called once per recorded outcome.
	Outcome(p providers.Name, o Outcome)
	// Call is called after every provider call with its class ("" on success), code and duration.
	Call(p providers.Name, class providers.Class, code string, d time.Duration)
	// RateLimited is called when the shared limiter made a task wait (in place or rescheduled).
	RateLimited(p providers.Name, wait time.Duration)
	// BreakerState is called on every circuit-breaker transition with the new state.
	BreakerState(p providers.Name, state gobreaker.State)
}

type nopObserver struct{}

func (nopObserver) Outcome(providers.Name, Outcome)                             {}
func (nopObserver) Call(providers.Name, providers.Class, string, time.Duration) {}
func (nopObserver) RateLimited(providers.Name, time.Duration)                   {}
func (nopObserver) BreakerState(providers.Name, gobreaker.State)                {}

// lane is everything the handler needs for one provider.
type lane struct {
	Deleter providers.Deleter
	// RateLimit is the provider's requests/second, shared by all workers through Redis.
	RateLimit int
	Breaker   *breaker.Breaker

	// batcher and batch, when the provider deletes many targets per call (providers.BatchDeleter
	// with MaxBatch above 1), group concurrent deletes into one call.
	batcher providers.BatchDeleter
	batch   *callGroups[providers.Target, providers.BatchItem]
	// restorer and restore, when the provider has a recycle bin (providers.Restorer), group an undo's
	// restores into batch restore calls.
	restorer providers.Restorer
	restore  *callGroups[providers.RestoreRequest, providers.RestoreItem]
}

// newLane builds the lane for deleter d, with call groups for what d can do in batches.
func newLane(d providers.Deleter, rateLimit int, b *breaker.Breaker) lane {
	ln := lane{Deleter: d, RateLimit: rateLimit, Breaker: b}
	if bd, ok := d.(providers.BatchDeleter); ok && bd.MaxBatch() > 1 {
		ln.batcher, ln.batch = bd, newCallGroups[providers.Target, providers.BatchItem](bd.MaxBatch())
	}
	if r, ok := d.(providers.Restorer); ok && r.MaxRestore() >= 1 {
		ln.restorer, ln.restore = r, newCallGroups[providers.RestoreRequest, providers.RestoreItem](r.MaxRestore())
	}
	return ln
}

// groupSize is how many tasks the lane sends in one call at most (1 when it does not batch).
func (ln lane) groupSize() int {
	if ln.batch == nil {
		return 1
	}
	return ln.batch.max
}

// handler is the asynq handler for delete tasks: batch cancelled?, shared rate limit,
// circuit breaker, provider call, then exactly one outcome or a retry decision (decide).
type handler struct {
	lanes    map[providers.Name]lane
	store    *Store
	limiter  *limiter.Limiter
	policy   RetryPolicy
	maxWait  time.Duration
	persist  time.Duration
	log      *slog.Logger
	observer Observer
	cancels  cancelCache
	inflight sync.WaitGroup
	pool     *stackPool
	// Park, when set, is asked what to do with a retry-class failure that has used its attempts: it
	// returns how long until the task runs again (the overnight window, Overnight.Park) or ok=false
	// to let it fail. A delay rather than a time, so a window read on a test's clock still tells asynq
	// (which schedules on the wall clock) the right wait. perr is a failure to record the decision:
	// this run fails and the next asks again.
	Park func(ctx context.Context, p Payload, attempts int, err error) (after time.Duration, ok bool, perr error)
}

// handlerOptions configures newHandler.
type handlerOptions struct {
	Lanes   map[providers.Name]lane
	Store   *Store
	Limiter *limiter.Limiter
	Policy  RetryPolicy
	// MaxWait is the longest a task waits in place for the rate limiter before it is rescheduled.
	MaxWait time.Duration
	// PersistTimeout bounds how long the handler keeps retrying a Redis write that records what a
	// provider answered (the outcome, the attempt, the parking): a Redis blip, failover or stall must
	// not lose the answer. Default 2m: longer than asynq's 30 s lease, so a stall that makes asynq
	// run the task again still ends with this run's record.
	PersistTimeout time.Duration
	Logger         *slog.Logger
	Observer       Observer
}

// newHandler builds the handler.
func newHandler(o handlerOptions) *handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.PersistTimeout <= 0 {
		o.PersistTimeout = 2 * time.Minute
	}
	return &handler{lanes: o.Lanes, store: o.Store, limiter: o.Limiter, policy: o.Policy, maxWait: o.MaxWait,
		persist: o.PersistTimeout, log: o.Logger, observer: o.Observer, cancels: cancelCache{m: map[string]cancelState{}},
		pool: newStackPool()}
}

// Wait blocks until every ProcessTask call has returned, or timeout passes; it reports whether they
// all returned. asynq's Shutdown stops waiting for handlers after its ShutdownTimeout, but a handler
// that has a provider's answer is still recording it: close Redis only after Wait.
func (h *handler) Wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { h.inflight.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// ProcessTask implements asynq.Handler: the task runs on one of the handler's pooled goroutines
// (stackPool), whose stacks have grown already.
func (h *handler) ProcessTask(ctx context.Context, task *asynq.Task) error {
	h.inflight.Add(1)
	defer h.inflight.Done()
	return h.pool.run(func() error { return h.processTask(ctx, task) })
}

// processTask is ProcessTask's work: decode the payload, then process it, a panic recorded failed.
func (h *handler) processTask(ctx context.Context, task *asynq.Task) (err error) {
	taskID, _ := asynq.GetTaskID(ctx)
	p, err := DecodePayload(task.Payload())
	log := h.log
	if log.Enabled(ctx, slog.LevelWarn) {
		log = log.With("task_id", taskID, "batch_id", p.Batch, "provider", string(p.Target.Provider))
	}
	if err != nil {
		if p.Batch == "" || p.Target.Provider == "" {
			// Not ours to record (no batch to record it in): asynq archives it for inspection.
			log.Error("undecodable task payload", "error", err)
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return h.fail(ctx, log, &p, "invalid", err.Error())
	}
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panic", "panic", r)
			err = h.fail(ctx, log, &p, "panic", fmt.Sprint(r))
		}
	}()
	return h.process(ctx, log, &p)
}

// fail records p failed with code and message, having made no provider call. Its record lives in
// its own frame, not ProcessTask's, which every task's stack holds (see process).
func (h *handler) fail(ctx context.Context, log *slog.Logger, p *Payload, code, message string) error {
	return h.finish(ctx, log, &Record{Batch: p.Batch, Provider: p.Target.Provider, Key: p.Target.Key(),
		EnqueueID: p.EnqueueID, Target: p.Target, Outcome: Failed, Code: code, Message: message}, false)
}

// process runs attempts until one ends the task or asks for a wait longer than the handler waits in
// place (handlerOptions.MaxWait): a short backoff or throttle is waited out here, holding the slot,
// instead of a round trip through asynq's retry set, which comes back only at the forwarder's next
// poll and, if its own write fails, only after asynq's lease recovery a minute or two later.
//
// p is passed by pointer here and below: a goroutine's stack grows by copying, and the payload
// copied into each frame made reaper's tasks grow it once more than a bare asynq handler's (before
// the handler ran on pooled goroutines, stackPool, every task paid for that growth).
func (h *handler) process(ctx context.Context, log *slog.Logger, p *Payload) error {
	for {
		err := h.attempt(ctx, log, p)
		if err == nil {
			return nil
		}
		var rs *rescheduleError
		if !errors.As(err, &rs) || rs.After > h.maxWait || rs.Reason == "parked" || rs.Reason == reasonSuspended {
			return err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < rs.After+h.persist {
			return err // not enough of the task's time left to wait and still record what happens
		}
		t := time.NewTimer(rs.After)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// attempt is one try: cancel check, breaker, rate limit, provider call, decision.
func (h *handler) attempt(ctx context.Context, log *slog.Logger, p *Payload) error {
	t := p.Target
	rec := Record{Batch: p.Batch, Provider: t.Provider, Key: t.Key(), EnqueueID: p.EnqueueID, Target: t}
	// No per-task "already recorded?" read: a re-run after a crash, or a second line for the same
	// target, calls the provider again (it answers gone), and Finish keeps the first record (or the
	// deletion, when the first record was a re-run's already_gone).
	switch st, err := h.cancels.state(ctx, h.store, p.Batch); {
	case err != nil:
		return err // before any provider call: asynq runs it again, no budget spent
	case st.cancelled:
		rec.Outcome = Cancelled
		return h.finish(ctx, log, &rec, false)
	case st.suspended:
		// Held, unrecorded, budget untouched, until the batch is resumed (Admin.ResumeBatch runs held
		// tasks at once) or cancelled.
		return &rescheduleError{After: h.policy.spread(suspendHold), Reason: reasonSuspended}
	}
	lane, ok := h.lanes[t.Provider]
	if !ok {
		rec.Outcome, rec.Code, rec.Message = Failed, "not_configured", "this worker has no client for provider "+string(t.Provider)
		return h.finish(ctx, log, &rec, false)
	}
	// Held by the breaker (here or, through its hint, in another worker): wait in short steps, so the
	// task runs within HintRecheck of the provider's recovery instead of a whole open period later.
	if d := lane.Breaker.Hold(ctx); d > 0 {
		return &rescheduleError{After: d, Reason: "breaker open"}
	}
	start := time.Now()
	res, restored, grouped, err := h.call(ctx, lane, p)
	var class providers.Class
	var pe *providers.Error
	if err != nil { // the checks below cost allocations: none on success
		var nc notCalled
		if errors.As(err, &nc) {
			return nc.err // the rate limiter's wait or error: no call was made
		}
		if breaker.IsRefusal(err) {
			// Open, or half-open with its probe already out (here or in another worker): ask again shortly.
			return &rescheduleError{After: max(lane.Breaker.Hold(ctx), breaker.HintRecheck), Reason: "breaker open"}
		}
		class = providers.ClassOf(err)
		pe, _ = providers.AsError(err)
		if pe != nil {
			rec.HTTPStatus, rec.Code, rec.Message, rec.RequestID = pe.HTTPStatus, pe.Code, pe.Message, pe.RequestID
			if rec.Message == "" && pe.Err != nil {
				rec.Message = pe.Err.Error()
			}
		} else {
			rec.Message = err.Error()
		}
	}
	if !grouped {
		h.observer.Call(t.Provider, class, rec.Code, time.Since(start))
	}

	facts := callFacts{Class: class}
	if pe != nil {
		facts.RetryAfter = pe.RetryAfter
	}
	if class != "" && class != providers.Gone && class != providers.Fatal {
		// Count the call (and what kind of failure it was) before deciding: the budget is the task's
		// provider calls in the store.
		// Held by the breaker (open here, or by the fleet's hint): the task waits in short steps, so
		// it runs again promptly when the provider is back.
		facts.BreakerOpenFor = lane.Breaker.Hold(ctx)
		n, err := h.note(ctx, p, rec.Key, newCallID(), rec.Code, facts.BreakerOpenFor > 0 && class != providers.Throttled, class == providers.Throttled)
		if err != nil {
			log.Warn("could not record attempt; the task runs again", "code", rec.Code, "error", err)
			return fmt.Errorf("record attempt after %s: %w", rec.Code, err)
		}
		facts.Calls, facts.OutageCalls, facts.Throttles = n.Calls, n.Outage, n.Throttles
	}

	d := decide(h.policy, facts)
	switch d.Verdict {
	case record:
		rec.Outcome = d.Outcome
		if restored != nil {
			rec.Outcome, rec.RecycledItemID = restoreOutcome(restored.Outcome), p.RecycledItemID
			switch {
			case restored.Outcome == providers.Restored && restored.Path != "":
				rec.Message = "restored at " + restored.Path
			case restored.Outcome == providers.RestoreNotFound:
				// A restore is not idempotent the way a delete is: a re-run after a call whose answer
				// was lost finds the item gone from the bin because that call restored it.
				rec.Message = "the recycle bin no longer holds it: restored or purged already (attempts above 1: maybe by an earlier attempt whose answer was lost)"
			}
		} else if class == "" {
			rec.RequestID = res.RequestID
			if res.Recycled {
				rec.Outcome, rec.RecycledItemID = Recycled, res.RecycledItemID
			}
		}
		return h.finish(ctx, log, &rec, true)
	case reschedule:
		return &rescheduleError{After: h.policy.spread(d.After), Reason: d.Reason, Code: rec.Code}
	case retry:
		log.Info("transient failure, will retry", "code", rec.Code, "attempt", facts.Calls, "error", err)
		return &rescheduleError{After: d.After, Reason: "retry", Code: rec.Code}
	}

	return h.exhausted(ctx, log, p, &rec, facts.Calls, d, err)
}

// exhausted ends a retry-class failure that has used its attempts (calls, counted already): the
// overnight window may give it another night; otherwise it fails. (Its own frame: see process.)
func (h *handler) exhausted(ctx context.Context, log *slog.Logger, p *Payload, rec *Record, calls int, d decision, callErr error) error {
	if h.Park != nil {
		var after time.Duration
		var parked bool
		perr := h.retryWrite(ctx, func(ctx context.Context) (werr error) {
			after, parked, werr = h.Park(ctx, *p, calls, callErr)
			return werr
		})
		if perr != nil {
			return fmt.Errorf("park after %s: %w", rec.Code, perr)
		}
		if parked {
			log.Info("transient failure parked for the overnight window", "code", rec.Code, "after", after.Round(time.Second).String())
			return &rescheduleError{After: max(0, after), Reason: "parked", Code: rec.Code}
		}
	}
	rec.Outcome = Failed
	if d.Code != "" {
		rec.Message = d.Reason + " (last: " + rec.Code + ")"
		rec.Code = d.Code
	}
	return h.finish(ctx, log, rec, false)
}

// call makes the task's provider call: on its own, or as one item of a group call (callGroups) when
// the lane batches deletes or the task is a restore. grouped says the call was shared (its leader
// reported it to the observer, once for the group). A failure before any call (the rate limiter's
// wait or error) comes back wrapped in notCalled.
func (h *handler) call(ctx context.Context, ln lane, p *Payload) (res providers.Result, restored *providers.RestoreItem, grouped bool, err error) {
	if p.Op == OpRestore || ln.batch != nil {
		return h.callGrouped(ctx, ln, p)
	}
	if err := h.waitForRate(ctx, p.Target.Provider, ln.RateLimit); err != nil {
		return res, nil, false, notCalled{err}
	}
	// The call is not cancelled with the task: asynq cancels a handler it stops waiting for (shutdown,
	// task timeout), and a delete aborted in flight may still have happened at the provider, leaving
	// nothing to record but a re-run's already_gone. The client's own timeout bounds the call.
	callCtx := context.WithoutCancel(ctx)
	res, err = ln.Breaker.Execute(func() (providers.Result, error) { return ln.Deleter.Delete(callCtx, p.Target) })
	return res, nil, false, err
}

// callGrouped is call for a restore, or a delete the lane batches: one item of a group call.
func (h *handler) callGrouped(ctx context.Context, ln lane, p *Payload) (res providers.Result, restored *providers.RestoreItem, grouped bool, err error) {
	t := p.Target
	ready := func(ctx context.Context) error {
		if err := h.waitForRate(ctx, t.Provider, ln.RateLimit); err != nil {
			return notCalled{err}
		}
		return nil
	}
	callCtx := context.WithoutCancel(ctx) // not cancelled with the task: see call
	// shared runs one group call through the breaker and reports it once.
	shared := func(do func() error) error {
		start := time.Now()
		_, err := ln.Breaker.Execute(func() (providers.Result, error) { return providers.Result{}, do() })
		if !breaker.IsRefusal(err) {
			pe, _ := providers.AsError(err)
			code := ""
			if pe != nil {
				code = pe.Code
			}
			h.observer.Call(t.Provider, providers.ClassOf(err), code, time.Since(start))
		}
		return err
	}
	if p.Op == OpRestore {
		if ln.restore == nil {
			return res, nil, false, &providers.Error{Provider: t.Provider, Class: providers.Fatal, Code: "not_restorable",
				Message: "provider " + string(t.Provider) + " has no recycle bin to restore from"}
		}
		req := providers.RestoreRequest{Target: t, RecycledItemID: p.RecycledItemID}
		conflict := p.Conflict
		item, err := ln.restore.do(ctx, ln.restorer.BatchKey(t)+"\n"+string(conflict), req, ready,
			func(reqs []providers.RestoreRequest) (items []providers.RestoreItem, err error) {
				err = shared(func() (err error) {
					items, err = ln.restorer.Restore(callCtx, reqs, conflict)
					return err
				})
				return items, err
			})
		if err != nil {
			return res, nil, true, err
		}
		return res, &item, true, item.Err
	}
	item, err := ln.batch.do(ctx, ln.batcher.BatchKey(t), t, ready,
		func(ts []providers.Target) (items []providers.BatchItem, err error) {
			err = shared(func() (err error) {
				items, err = ln.batcher.DeleteBatch(callCtx, ts)
				return err
			})
			return items, err
		})
	if err != nil {
		return res, nil, true, err
	}
	return item.Result, nil, true, item.Err
}

// notCalled wraps an error that came before any provider call (the rate limiter's).
type notCalled struct{ err error }

func (e notCalled) Error() string { return e.err.Error() }
func (e notCalled) Unwrap() error { return e.err }

// restoreOutcome is the outcome a restore item records.
func restoreOutcome(o providers.RestoreOutcome) Outcome {
	switch o {
	case providers.Restored:
		return Restored
	case providers.RestoreNotFound:
		return NotFound
	case providers.RestoreConflict:
		return Conflict
	}
	return Failed
}

// waitForRate takes one token from the provider's shared limiter, waiting in place, in order with
// this process's other tasks for the provider, up to maxWait, and rescheduling the task beyond that.
func (h *handler) waitForRate(ctx context.Context, n providers.Name, perSecond int) error {
	if h.limiter == nil || perSecond <= 0 {
		return nil
	}
	waited, later, err := h.limiter.Wait(ctx, n, perSecond, h.maxWait)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("rate limiter: %w", err)
	case later > 0:
		// Not spread: later is when the task would wait maxWait in line, and asynq brings it back at
		// its next poll for due tasks; later still, the line may have run dry.
		h.observer.RateLimited(n, later)
		return &rescheduleError{After: later, Reason: "rate limited"}
	case waited > 0:
		h.observer.RateLimited(n, waited)
	}
	return nil
}

// note counts a provider call that did not end the task, retrying the write in place.
func (h *handler) note(ctx context.Context, p *Payload, key, callID, code string, outage, throttle bool) (tryCounts, error) {
	var n tryCounts
	err := h.retryWrite(ctx, func(ctx context.Context) (err error) {
		n, err = h.store.note(ctx, p.Batch, key, callID, code, outage, throttle)
		return err
	})
	return n, err
}

// newCallID names one provider call, so that recording it twice (a lost reply) counts it once.
func newCallID() string { return newEnqueueID() }

// retryWrite runs a Redis write that records a provider's answer until it succeeds, for up to the
// handler's persist timeout, whether or not ctx is cancelled meanwhile (shutdown, asynq's task timeout):
// the answer exists only in this process until it is written. Every write it runs is idempotent.
func (h *handler) retryWrite(ctx context.Context, write func(context.Context) error) error {
	detached := context.WithoutCancel(ctx)
	// The first try costs no timer: most writes succeed at once.
	err := write(detached)
	if err == nil || errors.Is(err, ErrNoBatch) {
		return err
	}
	ctx, cancel := context.WithTimeout(detached, h.persist)
	defer cancel()
	return retryRedis(ctx, write)
}

// retryRedis calls write until it returns nil or ctx ends, backing off from 20 ms to 1 s.
func retryRedis(ctx context.Context, write func(context.Context) error) error {
	wait := 20 * time.Millisecond
	for {
		err := write(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, ErrNoBatch) {
			return err // nothing to retry for
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// finish records the terminal outcome, retrying in place through Redis errors (retryWrite). Only when
// Redis stays unreachable for the whole persist timeout does the task fail this run: asynq runs it
// again, and the re-run's record is corrected by this one if it lands later (a deletion replaces a
// re-run's already_gone).
func (h *handler) finish(ctx context.Context, log *slog.Logger, rec *Record, called bool) error {
	var wrote bool
	err := h.retryWrite(ctx, func(ctx context.Context) (err error) {
		wrote, err = h.store.Finish(ctx, *rec, called)
		return err
	})
	if err == nil {
		if wrote {
			h.observer.Outcome(rec.Provider, rec.Outcome)
			lvl := slog.LevelDebug
			if rec.Outcome == Failed {
				lvl = slog.LevelWarn
			}
			if log.Enabled(ctx, lvl) { // its arguments cost allocations, every outcome
				log.Log(ctx, lvl, "outcome", "outcome", string(rec.Outcome), "key", rec.Key, "code", rec.Code,
					"message", rec.Message, "request_id", rec.RequestID)
			}
		}
		return nil
	}
	if errors.Is(err, ErrNoBatch) {
		// The batch expired or was never created: recreating a partial batch that can never complete
		// helps nobody.
		log.Error("outcome for a batch that no longer exists, dropped", "outcome", string(rec.Outcome), "key", rec.Key)
		return nil
	}
	log.Error("could not record outcome; the task runs again", "outcome", string(rec.Outcome), "key", rec.Key, "error", err)
	return err
}

// cancelRecheck is how often a worker re-reads a batch's cancelled and suspended flags: cancel,
// suspension and resume take effect at the workers within this time (queued tasks are removed by
// cancel itself at once).
const cancelRecheck = time.Second

// cancelCache remembers each batch's cancelled and suspended flags for cancelRecheck, so a batch of a
// million tasks costs a Redis read per second per worker, not one per task.
type cancelCache struct {
	mu sync.Mutex
	m  map[string]cancelState
}

type cancelState struct {
	batchFlags
	checked time.Time
}

// state returns batch's flags, read at most once per cancelRecheck (a cancel, which is final, once).
func (c *cancelCache) state(ctx context.Context, s *Store, batch string) (batchFlags, error) {
	now := time.Now()
	c.mu.Lock()
	st, ok := c.m[batch]
	c.mu.Unlock()
	if ok && (st.cancelled || now.Sub(st.checked) < cancelRecheck) {
		return st.batchFlags, nil
	}
	f, err := s.flags(ctx, batch)
	if err != nil {
		return batchFlags{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 { // many batches seen: forget them all rather than grow without bound
		clear(c.m)
	}
	c.m[batch] = cancelState{batchFlags: f, checked: now}
	return f, nil
}
