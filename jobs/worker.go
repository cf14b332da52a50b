package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// serverOptions configures newServer.
type serverOptions struct {
	// Concurrency is how many tasks run at once in this process.
	Concurrency int
	// Queues weighs the enabled providers' queues (provider -> weight); only these queues are served.
	Queues map[providers.Name]int
	// ShutdownTimeout is how long in-flight deletes may finish after Shutdown before they are requeued.
	ShutdownTimeout time.Duration
	// Policy is the retry policy (asynq's RetryDelayFunc and isFailure come from it).
	Policy RetryPolicy
	// PollInterval is how often idle workers look for work and scheduled tasks come due (default 1s).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// newServer returns an asynq server for every provider queue in o.Queues; start it with newMux(handler). The caller owns
// rdb. Run it with Start and stop it with Shutdown (in-flight deletes finish or go back to the queue).
func newServer(rdb redis.UniversalClient, o serverOptions) *asynq.Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	queues := map[string]int{}
	for n, w := range o.Queues {
		queues[QueueName(n)] = w
	}
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   queues,
		RetryDelayFunc:           o.Policy.retryDelay,
		IsFailure:                isFailure,
		ShutdownTimeout:          o.ShutdownTimeout,
		TaskCheckInterval:        o.PollInterval,
		DelayedTaskCheckInterval: o.PollInterval,
		Logger:                   asynqLogger{o.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
}

// newMux routes every provider's task types (delete, restore) to h.
func newMux(h *handler) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	for _, n := range providers.Names {
		mux.Handle(TaskType(n), h)
		mux.Handle(restoreTaskType(n), h)
		for _, typ := range legacyTaskTypes(n) {
			mux.Handle(typ, h)
		}
	}
	return mux
}

// asynqLogger sends asynq's own log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}

// Admin is the operator's view of the queues: cancel batches, pause providers, read queue depth.
type Admin struct {
	insp  *asynq.Inspector
	store *Store
}

// NewAdmin returns an Admin over rdb (the caller owns it).
func NewAdmin(rdb redis.UniversalClient, store *Store) *Admin {
	return &Admin{insp: asynq.NewInspectorFromRedisClient(rdb), store: store}
}

// Cancel stops a batch: the batch is flagged so workers record its remaining tasks cancelled, and its
// pending, scheduled and retrying tasks are recorded cancelled and removed from the queues now.
// In-flight deletes finish and are recorded as they end (a deletion that happens after all replaces
// the cancelled record). It returns how many tasks it removed. Run again after an error, it picks up
// where it stopped. ctx bounds its Redis retries. A suspended batch's held tasks are in the retry
// sets, so they are recorded cancelled too.
func (a *Admin) Cancel(ctx context.Context, batch string) (int, error) {
	return a.CancelAs(ctx, batch, "")
}

// CancelAs is Cancel recording who cancelled in the batch's audit trail.
func (a *Admin) CancelAs(ctx context.Context, batch, who string) (int, error) {
	if err := a.store.CancelBatch(ctx, batch, who); err != nil {
		return 0, err
	}
	known, err := a.insp.Queues()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, n := range providers.Names {
		q := QueueName(n)
		if !slices.Contains(known, q) {
			continue
		}
		info, err := a.insp.GetQueueInfo(q)
		if err != nil {
			return removed, fmt.Errorf("queue %s: %w", q, err)
		}
		states := []struct {
			size int
			list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
		}{
			{info.Pending, a.insp.ListPendingTasks}, {info.Scheduled, a.insp.ListScheduledTasks}, {info.Retry, a.insp.ListRetryTasks},
		}
		for _, st := range states {
			// Last page first: removing a page's tasks only moves the tasks after them, which have
			// been visited already. Memory stays at one page whatever the queue holds; a task that
			// moves past the scan meanwhile still meets the batch's cancelled flag at the worker.
			for page := (st.size + cancelPage - 1) / cancelPage; page >= 1; page-- {
				tasks, err := st.list(q, asynq.PageSize(cancelPage), asynq.Page(page))
				if err != nil {
					return removed, fmt.Errorf("list %s: %w", q, err)
				}
				for _, ti := range tasks {
					p, err := DecodePayload(ti.Payload)
					if err != nil || p.Batch != batch {
						continue
					}
					// The record first, then the task: a failure between the two leaves a queued task
					// that already has its outcome (the worker's record of it is a no-op), never a
					// target that is neither queued nor recorded. A worker that took the task meanwhile
					// and deletes the file replaces the cancelled record with the deletion.
					rec := Record{Batch: batch, Provider: n, Key: p.Target.Key(), EnqueueID: p.EnqueueID, Target: p.Target, Outcome: Cancelled}
					if err := a.recordCancelled(ctx, rec); err != nil {
						return removed, err
					}
					if err := a.insp.DeleteTask(q, ti.ID); err != nil {
						continue // a worker took it meanwhile, or it ran; its record is written
					}
					removed++
				}
			}
		}
	}
	return removed, nil
}

// recordCancelled writes a cancelled record, retrying through Redis errors for up to 30 s.
func (a *Admin) recordCancelled(ctx context.Context, rec Record) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return retryRedis(ctx, func(ctx context.Context) error {
		_, err := a.store.Finish(ctx, rec, false)
		return err
	})
}

// cancelPage is how many queued tasks Cancel reads at a time.
const cancelPage = 1000

// Pause holds provider n's queue: workers take no new tasks from it until Resume.
func (a *Admin) Pause(n providers.Name) error { return a.insp.PauseQueue(QueueName(n)) }

// Resume releases a paused provider queue.
func (a *Admin) Resume(n providers.Name) error { return a.insp.UnpauseQueue(QueueName(n)) }

// QueueStat is one provider queue's state.
type QueueStat struct {
	Provider                                 providers.Name
	Pending, Active, Scheduled, Retry, Total int
	Paused                                   bool
	Latency                                  time.Duration
}

// Queues reports every provider queue (a queue never used reports zeros).
func (a *Admin) Queues() ([]QueueStat, error) {
	known, err := a.insp.Queues()
	if err != nil {
		return nil, err
	}
	var out []QueueStat
	for _, n := range providers.Names {
		if !slices.Contains(known, QueueName(n)) {
			out = append(out, QueueStat{Provider: n}) // never used yet
			continue
		}
		qi, err := a.insp.GetQueueInfo(QueueName(n))
		if err != nil {
			return nil, err
		}
		out = append(out, QueueStat{Provider: n, Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled,
			Retry: qi.Retry, Paused: qi.Paused, Latency: qi.Latency,
			Total: qi.Pending + qi.Active + qi.Scheduled + qi.Retry})
	}
	return out, nil
}

// Inspector exposes asynq's inspector for tools that need more (the dashboard, tests).
func (a *Admin) Inspector() *asynq.Inspector { return a.insp }

func isQueueNotFound(err error) bool { return errors.Is(err, asynq.ErrQueueNotFound) }
