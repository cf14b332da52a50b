package jobs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reaper-media/reaper/providers"
)

// ProducerOptions configures a Producer.
type ProducerOptions struct {
	// Parallel is how many enqueue calls are kept in flight (default 32); an enqueue sends one
	// pipeline of up to 128 tasks per 8 of them.
	Parallel int
	// TaskTimeout bounds one run of a task at the worker (default 5m).
	TaskTimeout time.Duration
	// Fill applies config defaults to a target before validation (the wiring passes config.Config.FillTarget).
	Fill func(*providers.Target)
	// Enabled lists the providers this deployment serves; targets for others are rejected.
	Enabled []providers.Name
	// Batch is what a batch gets when its BatchMeta leaves it out: the failure threshold and the
	// webhook (config batch.*).
	Batch BatchDefaults
}

// Producer enqueues delete tasks. It is the Go API behind `reaper enqueue`, the HTTP API and the
// scheduler; any Go service can use it the same way.
type Producer struct {
	client *asynq.Client
	store  *Store
	o      ProducerOptions
}

// NewProducer returns a producer enqueueing into client's asynq queues and recording batches in
// store. The two must share one Redis: tasks are written through the store's connection, many per
// pipeline, with asynq's own enqueue script (see pipelineEnqueue).
func NewProducer(client *asynq.Client, store *Store, o ProducerOptions) *Producer {
	if o.Parallel <= 0 {
		o.Parallel = 32
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = 5 * time.Minute
	}
	if o.Fill == nil {
		o.Fill = func(*providers.Target) {}
	}
	return &Producer{client: client, store: store, o: o}
}

// Store is the outcome store the producer records batches in.
func (p *Producer) Store() *Store { return p.store }

// Prepare applies defaults to t and validates it, with an error naming the field.
func (p *Producer) Prepare(t *providers.Target) error {
	p.o.Fill(t)
	if err := t.Validate(); err != nil {
		return err
	}
	if len(p.o.Enabled) > 0 && !slices.Contains(p.o.Enabled, t.Provider) {
		return &providers.FieldError{Field: "provider", Problem: fmt.Sprintf("%s is not enabled in this deployment's config", t.Provider)}
	}
	return nil
}

// Summary is what an enqueue did.
type Summary struct {
	Batch      string
	Enqueued   int                    // tasks added to the queues
	Duplicates int                    // targets already queued (by this or another batch): not enqueued again
	ByProvider map[providers.Name]int // tasks added, per provider
}

// Submit creates batch meta.ID (a new id when empty), enqueues every target (already Prepared), and
// seals the batch. progress, when set, is called from time to time with the running totals. On an
// enqueue error it stops and returns the summary so far with the error; the batch stays unsealed so
// `status` shows it incomplete, and `cancel` can stop what was enqueued.
func (p *Producer) Submit(ctx context.Context, meta BatchMeta, targets iter.Seq[providers.Target], progress func(Summary)) (Summary, error) {
	if meta.ID == "" {
		meta.ID = NewBatchID(time.Now())
	}
	if err := p.store.CreateBatch(ctx, p.o.Batch.apply(meta)); err != nil {
		return Summary{Batch: meta.ID}, err
	}
	sum, err := p.Add(ctx, meta.ID, targets, progress)
	if err != nil {
		return sum, err
	}
	if err := p.store.SealBatch(ctx, meta.ID); err != nil {
		return sum, fmt.Errorf("seal batch: %w", err)
	}
	return sum, nil
}

// Add enqueues targets into an existing, unsealed batch. Submit is Add between CreateBatch and SealBatch.
func (p *Producer) Add(ctx context.Context, batch string, targets iter.Seq[providers.Target], progress func(Summary)) (Summary, error) {
	tasks := func(yield func(Payload) bool) {
		for t := range targets {
			if !yield(Payload{Batch: batch, Target: t}) {
				return
			}
		}
	}
	return p.addTasks(ctx, batch, tasks, progress)
}

// addTasks enqueues tasks (their Batch set, EnqueueID left for enqueue) into an existing, unsealed
// batch, flushing the batch's counters as it goes. It is Add's work, and undo's.
func (p *Producer) addTasks(ctx context.Context, batch string, tasks iter.Seq[Payload], progress func(Summary)) (Summary, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	enqueued, duplicates := newProviderCounts(), newProviderCounts()
	total := func() Summary {
		return Summary{Batch: batch, Enqueued: enqueued.total(), Duplicates: duplicates.total(), ByProvider: enqueued.byProvider()}
	}

	// Flush counters to the batch while enqueueing, so status and wait see a growing total.
	var flushed Summary
	flush := func() error {
		now := total()
		delta := map[providers.Name]int{}
		for n, c := range now.ByProvider {
			delta[n] = c - flushed.ByProvider[n]
		}
		if err := p.store.addCounts(context.WithoutCancel(ctx), batch, now.Enqueued-flushed.Enqueued, now.Duplicates-flushed.Duplicates, delta); err != nil {
			return err
		}
		flushed = now
		if progress != nil {
			progress(now)
		}
		return nil
	}
	stop := make(chan struct{})
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		ticker := time.NewTicker(250 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				if err := flush(); err != nil {
					cancel(err)
				}
			case <-stop:
				return
			}
		}
	}()

	err := forEach(ctx, enqueuePipelines(p.o.Parallel), chunks(tasks, enqueuePipelineSize), func(ctx context.Context, c taskChunk) error {
		res, failed, err := p.enqueueAll(ctx, c)
		for i, r := range res {
			switch r {
			case enqueueOK:
				enqueued.add(c[i].Target.Provider, 1)
			case enqueueDuplicate:
				duplicates.add(c[i].Target.Provider, 1)
			}
		}
		if err != nil {
			return fmt.Errorf("enqueue %s: %w", c[failed], err)
		}
		return nil
	})
	close(stop)
	<-flusherDone
	ferr := flush()
	if err == nil {
		err = context.Cause(ctx) // the flusher's error
	}
	if err != nil {
		return total(), err
	}
	return total(), ferr
}

// enqueue adds one task; dup is true when its target is already queued (for a restore: the same
// recycled item).
func (p *Producer) enqueue(ctx context.Context, task Payload) (dup bool, err error) {
	res, _, err := p.enqueueAll(ctx, taskChunk{task})
	if err != nil {
		return false, err
	}
	return res[0] == enqueueDuplicate, nil
}

// enqueueAll adds the tasks of c in one pipeline, as asynq's Client.Enqueue would one by one (see
// pipelineEnqueue): each one's result, and the first error with the index of its task.
func (p *Producer) enqueueAll(ctx context.Context, c taskChunk) (res []enqueueResult, failed int, err error) {
	msgs := make([]asynqMessage, len(c))
	for i, task := range c {
		task.EnqueueID = newEnqueueID()
		payload, err := EncodePayload(task)
		if err != nil {
			return nil, i, err // nothing of c sent
		}
		msgs[i] = asynqMessage{Type: task.taskType(), Payload: payload, ID: task.taskID(),
			Queue: QueueName(task.Target.Provider),
			// The handler owns the retry budget (retry.max_attempts) and records the outcome itself;
			// asynq must never archive a delete task, its archive drops records past 10,000.
			// 2^21-1 and not MaxInt32: failures are Redis errors only (reschedules do not count), so
			// it is as good as unlimited, and its varint is 2 bytes shorter in every queued task.
			Retry:   maxAsynqRetry,
			Timeout: p.o.TaskTimeout}
	}
	return pipelineEnqueue(ctx, p.store.rdb, msgs)
}

// maxAsynqRetry is every task's asynq MaxRetry.
const maxAsynqRetry = 1<<21 - 1

// newEnqueueID is 32 random bits in URL-safe base64 (6 characters): it tells apart enqueues of one
// target into one batch, a handful at most (two of them alike: 1 in 4 billion); the compact payload
// carries it as its 4 bytes, and every record holds it.
func newEnqueueID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// RetryFailed enqueues the failed targets of batch as a new batch (meta.ID empty for a fresh id) and
// returns its summary. Targets recorded deleted, recycled, already gone or cancelled are not retried.
// The failed targets stream from the records into the queues (one page of records and the enqueue
// pipeline's buffer in memory, whatever the batch's size). A read error stops it with the new batch
// left unsealed, like any enqueue error: `status` shows it incomplete, `cancel` stops what it holds.
func (p *Producer) RetryFailed(ctx context.Context, batch string, meta BatchMeta) (Summary, error) {
	if _, err := p.store.Batch(ctx, batch); err != nil {
		return Summary{}, err
	}
	if meta.Source == "" {
		meta.Source = "retry:" + batch
	}
	if meta.ID == "" {
		meta.ID = NewBatchID(time.Now())
	}
	if err := p.store.CreateBatch(ctx, p.o.Batch.apply(meta)); err != nil {
		return Summary{Batch: meta.ID}, err
	}
	if err := p.store.Audit(ctx, batch, meta.SubmittedBy, AuditRetried, "retried as "+meta.ID); err != nil {
		return Summary{Batch: meta.ID}, err
	}
	var readErr error
	failed := func(yield func(providers.Target) bool) {
		readErr = p.store.Records(ctx, batch, func(r Record) error {
			if r.Outcome == Failed && !yield(r.Target) {
				return errStopRecords
			}
			return nil
		})
		if errors.Is(readErr, errStopRecords) {
			readErr = nil // Add stopped on an error of its own, which it returns
		}
	}
	sum, err := p.Add(ctx, meta.ID, failed, nil)
	if err == nil {
		err = readErr
	}
	if err != nil {
		return sum, err
	}
	if err := p.store.SealBatch(ctx, meta.ID); err != nil {
		return sum, fmt.Errorf("seal batch: %w", err)
	}
	return sum, nil
}

// errStopRecords ends a Store.Records scan early.
var errStopRecords = errors.New("stop reading records")
