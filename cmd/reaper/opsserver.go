package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs/httpapi"
	"github.com/reaper-media/reaper/jobs/metrics"
	"github.com/reaper-media/reaper/providers"
)

// httpShutdownTimeout is how long an HTTP server waits for requests in flight when the process stops:
// below the 30s a kubelet or systemd waits by default, so the process still exits on its own.
const httpShutdownTimeout = 20 * time.Second

// startOps serves the admin endpoints of `worker`, `scheduler` and `serve` on admin.listen
// (default 127.0.0.1:9090): /healthz, /readyz (Redis answers PING, a provider is enabled, and
// ready(ctx) passes when it is not nil; a warning when Redis may evict keys), /metrics and, for
// operators only, the asynq dashboard (read-only) under /monitor/. The dashboard shows every queued
// target, error texts and Redis INFO, so it is served only behind the API's bearer tokens or the
// admin user and password (REAPER_ADMIN_USER, REAPER_ADMIN_PASSWORD), and not at all without them.
//
// It returns the process's metrics (a jobs.Observer: pass it to newWorker / Pipeline.NewWorker, and
// set the parked-task hook with SetParked) and stop, which shuts the server down; call it once,
// after the worker or scheduler has stopped, so /metrics is served until the end. With admin.listen
// empty nothing is served, but the metrics still work and stop does nothing. It fails only when the
// address cannot be listened on. ctx bounds the listen call, not the server's life.
//
//	m, stopAdmin, err := startOps(ctx, p.Config, p, log, nil)
//	if err != nil {
//		return err
//	}
//	defer stopAdmin()
//	w, err := newWorker(p, log, m)
func startOps(ctx context.Context, cfg *config.Config, p *app, log *slog.Logger, ready func(context.Context) error) (*metrics.Metrics, func(), error) {
	m := newMetrics(p)
	if cfg.Admin.Listen == "" {
		return m, func() {}, nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("admin.listen: %w", err)
	}
	eviction := &evictionCheck{rdb: p.Redis, log: log}
	o := httpapi.OpsOptions{Ready: readiness(p, ready), Warnings: eviction.warnings, Metrics: m.Handler(), Logger: log,
		Operators: httpapi.Operators{Tokens: cfg.API.Tokens, User: cfg.Admin.User, Password: cfg.Admin.Password}}
	var monitor *asynqmon.HTTPHandler
	if len(cfg.API.Tokens) > 0 || cfg.Admin.Password != "" {
		// Read-only: deleting or running a task from the dashboard would bypass the outcome store
		// and leave its batch waiting forever. Pause and resume go through `reaper pause|resume`.
		monitor = asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: wiring.RedisConnOpt{Config: cfg}, ReadOnly: true})
		o.Monitor = monitor
	}
	admin := httpapi.NewOps(o)
	mux := http.NewServeMux()
	admin.Register(mux)
	srv := newHTTPServer(mux, log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "error", err)
		}
	}()
	paths := "/healthz /readyz /metrics"
	if admin.MonitorServed() {
		paths += " /monitor/"
	} else {
		log.Info("dashboard off: set REAPER_ADMIN_USER and REAPER_ADMIN_PASSWORD, or API tokens, to serve /monitor/")
	}
	log.Info("admin listening", "addr", ln.Addr().String(), "paths", paths)
	// At start-up too, for processes nothing probes (the warning is logged once per policy).
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	eviction.warnings(wctx)
	cancel()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-done
		if monitor != nil {
			_ = monitor.Close()
		}
	}
	return m, stop, nil
}

// newMetrics is the process's Prometheus metrics: the enabled providers pre-declared with their rate
// limits, each provider's error codes from its classification table (with config overrides), and the
// queues, parked tasks and recent batches read from Redis at every scrape.
func newMetrics(p *app) *metrics.Metrics {
	m := metrics.New(metrics.Options{Providers: p.Config.Enabled(), Codes: codeTables(p.Config), Queues: p.Admin, Stream: p.Store,
		RateLimits: rateLimits(p.Config), Batches: p.Store})
	m.SetParked(p.Store.ParkedByProvider)
	return m
}

// rateLimits is each enabled provider's configured rate limit, for reaper_rate_limit.
func rateLimits(cfg *config.Config) map[providers.Name]float64 {
	out := map[providers.Name]float64{}
	for _, n := range cfg.Enabled() {
		out[n] = float64(cfg.Provider(n).RateLimit)
	}
	return out
}

func codeTables(cfg *config.Config) map[providers.Name]providers.Table {
	out := map[providers.Name]providers.Table{}
	for _, n := range providers.Names {
		out[n] = wiring.Codes(cfg, n)
	}
	return out
}

// readiness is /readyz's check: at least one provider enabled, Redis answering, then extra. Its
// reasons are fit for a probe's body; Redis's own error goes only to the log.
func readiness(p *app, extra func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if len(p.Config.Enabled()) == 0 {
			return &httpapi.NotReady{Reason: "no provider is enabled"}
		}
		if err := p.Redis.Ping(ctx).Err(); err != nil {
			return &httpapi.NotReady{Reason: "redis does not answer", Err: err}
		}
		if extra != nil {
			return extra(ctx)
		}
		return nil
	}
}

// newHTTPServer is how reaper serves HTTP: one log line per request, headers read within 10 s and
// at most 64 KiB of them, idle connections closed after 2 minutes. There is no whole-request read
// or write timeout: a submission's body has its own deadline that follows the bytes received
// (httpapi.Options.MinBodyRate), and reports stream for as long as a batch is large.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           httpapi.LogRequests(log, h),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// evictionCheck warns when Redis may evict keys: asynq needs maxmemory-policy noeviction, and every
// reaper key has a TTL, so a volatile-* policy evicts outcome records first (allkeys-* anything,
// queued tasks included). It is a warning on /readyz, not a failure: readiness gates traffic and
// rollouts, and failing it would take every worker and the API out of service over a setting that
// only bites once Redis reaches maxmemory, and that a managed Redis may not let the operator change
// at once. The warning is in /readyz's body and in the log, once per policy seen.
type evictionCheck struct {
	rdb  redis.UniversalClient
	log  *slog.Logger
	mu   sync.Mutex
	last string
}

func (e *evictionCheck) warnings(ctx context.Context) []string {
	res, err := e.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return nil // managed Redis often disables CONFIG: nothing to say then
	}
	policy := res["maxmemory-policy"]
	if policy == "noeviction" || policy == "" {
		e.note("")
		return nil
	}
	msg := fmt.Sprintf("redis maxmemory-policy is %s, not noeviction: once Redis reaches maxmemory it evicts queued tasks or outcome records (every reaper key has a TTL, so volatile-* policies evict records first); set maxmemory-policy noeviction", policy)
	if e.note(policy) {
		e.log.Warn(msg, "maxmemory_policy", policy)
	}
	return []string{msg}
}

// note records the policy last seen and reports whether it changed.
func (e *evictionCheck) note(policy string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	changed := e.last != policy
	e.last = policy
	return changed
}
