package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/providers"
)

// Pipeline is the deletion pipeline of one process, wired from config: the outcome store, a producer,
// the admin view, and (NewWorker) the workers.
type Pipeline struct {
	Config   *config.Config
	Redis    redis.UniversalClient
	Store    *Store
	Producer *Producer
	Admin    *Admin
}

// FromConfig wires a pipeline on rdb (the caller owns and closes it).
func FromConfig(cfg *config.Config, rdb redis.UniversalClient) *Pipeline {
	streamRetention := cfg.Outcomes.StreamRetention
	if streamRetention == 0 {
		streamRetention = -1 // off
	}
	store := NewStore(rdb, StoreOptions{Retention: cfg.Outcomes.Retention, StreamRetention: streamRetention,
		StreamMaxLen: cfg.Outcomes.StreamMaxLen})
	return &Pipeline{
		Config: cfg, Redis: rdb, Store: store, Admin: NewAdmin(rdb, store),
		Producer: NewProducer(asynq.NewClientFromRedisClient(rdb), store, ProducerOptions{
			Parallel: cfg.Enqueue.Parallel, TaskTimeout: cfg.Worker.TaskTimeout,
			Fill: cfg.FillTarget, Enabled: cfg.Enabled(),
		}),
	}
}

// Policy is the retry policy from config.
func (p *Pipeline) Policy() RetryPolicy {
	r := p.Config.Retry
	return RetryPolicy{MaxAttempts: r.MaxAttempts, BaseDelay: r.BaseDelay, MaxDelay: r.MaxDelay, ThrottleDelay: r.ThrottleDelay,
		MaxOutageAttempts: r.MaxOutageAttempts, MaxThrottles: r.MaxThrottles}
}

// Overnight is the overnight retry window from retry.overnight, nil when retry.overnight.nights is 0
// (parking off: a failure that used retry.max_attempts fails).
func (p *Pipeline) Overnight() (*Overnight, error) {
	o := p.Config.Retry.Overnight
	if o.Nights <= 0 {
		return nil, nil
	}
	start, err := config.ParseClock(o.Start)
	if err != nil {
		return nil, fmt.Errorf("retry.overnight.start: %w", err)
	}
	end, err := config.ParseClock(o.End)
	if err != nil {
		return nil, fmt.Errorf("retry.overnight.end: %w", err)
	}
	loc, err := time.LoadLocation(o.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("retry.overnight.timezone: %w", err)
	}
	return NewOvernight(p.Store, OvernightOptions{Nights: o.Nights, Window: Window{Start: start, End: end, Loc: loc}, Policy: p.Policy()})
}

// Worker is a handler and the asynq server that feeds it.
type Worker struct {
	Handler *Handler
	Server  *asynq.Server
	// Overnight is the handler's overnight window (nil when off); tests set its clock before Start.
	Overnight *Overnight

	rescue     *rescuer
	stopRescue context.CancelFunc
	rescueDone chan struct{}
}

// Start starts processing tasks, and the sweep that requeues tasks asynq holds active with no live
// worker running them.
func (w *Worker) Start() error {
	if err := w.Server.Start(Mux(w.Handler)); err != nil {
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
	w.Server.Shutdown()
	w.Handler.Wait(w.Handler.persist + 5*time.Second)
}

// NewWorker builds a worker for the given provider clients (one per enabled provider), with a breaker
// per provider and the shared rate limiter. obs may be nil.
func (p *Pipeline) NewWorker(deleters map[providers.Name]providers.Deleter, log *slog.Logger, obs Observer) *Worker {
	cfg := p.Config
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	b := cfg.Breaker
	lanes := map[providers.Name]Lane{}
	queues := map[providers.Name]int{}
	for n, d := range deleters {
		lanes[n] = Lane{Deleter: d, RateLimit: cfg.Provider(n).RateLimit, Breaker: NewBreaker(n, BreakerSettings{
			ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio, MinRequests: b.MinRequests,
			Interval: b.Interval, OpenTimeout: b.OpenTimeout, HalfOpenRequests: b.HalfOpenRequests,
			OnStateChange: func(n providers.Name, from, to gobreaker.State) {
				log.Warn("circuit breaker", "provider", string(n), "from", from.String(), "to", to.String())
				obs.BreakerState(n, to)
			},
		})}
		queues[n] = max(1, cfg.Worker.Queues[string(n)])
	}
	h := NewHandler(HandlerOptions{Lanes: lanes, Store: p.Store, Limiter: NewSharedLimiter(redis_rate.NewLimiter(p.Redis)),
		Policy: p.Policy(), MaxWait: cfg.Worker.RateLimitMaxWait, Logger: log, Observer: obs})
	overnight, err := p.Overnight()
	if err != nil {
		// Config validation rejects this; a config built in code without it gets a loud log line.
		log.Error("overnight retry window off", "error", err)
	}
	if overnight != nil {
		h.Park = overnight.Park
	}
	srv := NewServer(p.Redis, WorkerOptions{Concurrency: cfg.Worker.Concurrency, Queues: queues,
		ShutdownTimeout: cfg.Worker.ShutdownTimeout, Policy: p.Policy(), Logger: log})
	names := make([]providers.Name, 0, len(queues))
	for n := range queues {
		names = append(names, n)
	}
	return &Worker{Handler: h, Server: srv, Overnight: overnight, rescue: newRescuer(p.Redis, names, log)}
}
