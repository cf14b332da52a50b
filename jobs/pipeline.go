package jobs

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/jobs/internal/breaker"
	"github.com/reaper-media/reaper/jobs/internal/limiter"
	"github.com/reaper-media/reaper/providers"
)

// Options configures a Pipeline. Zero values are the documented defaults; only the wiring
// (internal/wiring) turns reaper's YAML into them, so jobs knows nothing of the config file.
type Options struct {
	Store StoreOptions
	// Producer configures enqueueing (parallelism, task timeout, target defaults, enabled providers).
	Producer ProducerOptions
	// Retry is the retry policy.
	Retry RetryPolicy
	// Overnight, when set, parks retry-class failures that used their attempts into a nightly window
	// (Retry is its backoff policy); nil turns parking off.
	Overnight *OvernightOptions
	// Breaker configures each provider's circuit breaker in every worker process.
	Breaker BreakerSettings
	// Worker configures the worker processes.
	Worker WorkerSettings
	// Providers are each provider's settings in the worker.
	Providers map[providers.Name]ProviderSettings
	// Notify delivers batch events (done, suspended) to the outcome stream and webhooks.
	Notify NotifyOptions
}

// BreakerSettings configures each provider's circuit breaker, one per provider in every worker
// process. Only retry and throttled failures count against it.
type BreakerSettings struct {
	// ConsecutiveFailures opens it after this many failures in a row.
	ConsecutiveFailures uint32
	// FailureRatio opens it when at least MinRequests calls in the current Interval failed at this
	// ratio or more (0 disables the ratio rule).
	FailureRatio float64
	MinRequests  uint32
	Interval     time.Duration
	// ProbeInterval is how long it stays open after it trips before one probe is let through (default
	// 1s); each failed probe lengthens the wait by 5%, up to OpenTimeout.
	ProbeInterval time.Duration
	// OpenTimeout is the longest it stays open between probes (default 30s).
	OpenTimeout time.Duration
	// HalfOpenRequests is how many probes the half-open breaker allows.
	HalfOpenRequests uint32
}

// WorkerSettings are a worker process's own settings.
type WorkerSettings struct {
	// Concurrency is how many tasks run at once in one process (default 20).
	Concurrency int
	// ShutdownTimeout is how long in-flight deletes may finish after Shutdown (default 30s).
	ShutdownTimeout time.Duration
	// MaxWait is the longest a task waits in place (for the rate limiter, a short backoff or a
	// throttle) before it is rescheduled through asynq.
	MaxWait time.Duration
	// PollInterval is how often idle workers look for work (default 1s).
	PollInterval time.Duration
}

// ProviderSettings are one provider's settings in the worker.
type ProviderSettings struct {
	// RateLimit is the provider's requests/second, shared by every worker through Redis (0: none).
	RateLimit int
	// Concurrency is how many of its tasks run at once in one process (default
	// WorkerSettings.Concurrency). Each provider has slots of its own.
	Concurrency int
}

// Pipeline is the deletion pipeline of one process: the outcome store, a producer, the admin view,
// and (NewWorker) the workers.
type Pipeline struct {
	Redis    redis.UniversalClient
	Store    *Store
	Producer *Producer
	Admin    *Admin
	o        Options
}

// New wires a pipeline on rdb (the caller owns and closes it).
func New(rdb redis.UniversalClient, o Options) *Pipeline {
	store := NewStore(rdb, o.Store)
	return &Pipeline{
		Redis: rdb, Store: store, Admin: NewAdmin(rdb, store), o: o,
		Producer: NewProducer(asynq.NewClientFromRedisClient(rdb), store, o.Producer),
	}
}

// Policy is the pipeline's retry policy.
func (p *Pipeline) Policy() RetryPolicy { return p.o.Retry }

// Overnight is the overnight retry window, nil when parking is off (a failure that used
// retry.max_attempts fails).
func (p *Pipeline) Overnight() (*Overnight, error) {
	if p.o.Overnight == nil {
		return nil, nil
	}
	o := *p.o.Overnight
	o.Policy = p.o.Retry
	return NewOvernight(p.Store, o)
}

// Worker is a handler and the asynq servers that feed it: one per provider queue, each with its own
// slots, so tasks waiting for one provider's rate limit never hold the slots another provider's
// tasks need.
type Worker struct {
	handler *handler
	servers []*asynq.Server
	// Overnight is the handler's overnight window (nil when off); tests set its clock before Start.
	Overnight *Overnight

	rescue     *rescuer
	stopRescue context.CancelFunc
	rescueDone chan struct{}
	notify     *notifier
}

// Start starts processing tasks, and the sweep that requeues tasks asynq holds active with no live
// worker running them.
func (w *Worker) Start() error {
	for i, srv := range w.servers {
		if err := srv.Start(newMux(w.handler)); err != nil {
			for _, started := range w.servers[:i] {
				started.Shutdown()
			}
			return err
		}
	}
	if err := w.notify.start(); err != nil {
		for _, srv := range w.servers {
			srv.Shutdown()
		}
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stopRescue, w.rescueDone = cancel, make(chan struct{})
	go func() {
		defer close(w.rescueDone)
		w.rescue.run(ctx)
	}()
	return nil
}

// Shutdown stops taking tasks; in-flight deletes finish within worker.shutdown_timeout or go back to
// the queue. It returns once every handler has returned (or the time to record what they have is up),
// so the caller may close Redis after it: an answer a provider gave is recorded, not lost to the close.
func (w *Worker) Shutdown() {
	if w.stopRescue != nil {
		w.stopRescue()
		<-w.rescueDone
	}
	var wg sync.WaitGroup
	for _, srv := range w.servers {
		wg.Go(srv.Shutdown) // together, so the shutdown timeout is not multiplied
	}
	wg.Go(w.notify.shutdown)
	wg.Wait()
	w.handler.Wait(w.handler.persist + 5*time.Second)
	w.handler.pool.close()
}

// maxGroupConcurrency caps the default concurrency a batching provider gets.
const maxGroupConcurrency = 2000

// NewWorker builds a worker for the given provider clients (one per enabled provider), with a breaker
// per provider and the shared rate limiter. obs may be nil.
func (p *Pipeline) NewWorker(deleters map[providers.Name]providers.Deleter, log *slog.Logger, obs Observer) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	ws := p.o.Worker
	lanes := map[providers.Name]lane{}
	var names []providers.Name
	for n, d := range deleters {
		b := p.o.Breaker
		bs := breaker.Settings{ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio,
			MinRequests: b.MinRequests, Interval: b.Interval, ProbeInterval: b.ProbeInterval, OpenTimeout: b.OpenTimeout,
			HalfOpenRequests: b.HalfOpenRequests, Hint: breaker.NewHint(p.Redis, breakerKey(n), breakerProbeKey(n), breakerStreakKey(n)),
			OnStateChange: func(n providers.Name, from, to gobreaker.State) {
				log.Warn("circuit breaker", "provider", string(n), "from", from.String(), "to", to.String())
				obs.BreakerState(n, to)
			}}
		ps := p.o.Providers[n]
		lanes[n] = newLane(d, ps.RateLimit, breaker.New(n, bs))
		names = append(names, n)
	}
	slices.Sort(names)
	h := newHandler(handlerOptions{Lanes: lanes, Store: p.Store, Limiter: limiter.New(p.Redis, limiterKey),
		Policy: p.o.Retry, MaxWait: ws.MaxWait, Logger: log, Observer: obs})
	overnight, err := p.Overnight()
	if err != nil {
		// The wiring validates the window; options built in code without it get a loud log line.
		log.Error("overnight retry window off", "error", err)
	}
	if overnight != nil {
		h.Park = overnight.Park
	}
	var servers []*asynq.Server
	for _, n := range names {
		c := p.o.Providers[n].Concurrency
		if c <= 0 {
			// A batching provider needs enough tasks at hand to fill its calls: two groups' worth, one
			// in flight while the next gathers.
			c = max(ws.Concurrency, min(2*lanes[n].groupSize(), maxGroupConcurrency))
		}
		servers = append(servers, newServer(p.Redis, serverOptions{Concurrency: c, Queues: map[providers.Name]int{n: 1},
			ShutdownTimeout: ws.ShutdownTimeout, Policy: p.o.Retry, PollInterval: ws.PollInterval, Logger: log}))
	}
	return &Worker{handler: h, servers: servers, Overnight: overnight, rescue: newRescuer(p.Redis, names, log),
		notify: newNotifier(p.Redis, p.Store, p.o.Notify, log)}
}
