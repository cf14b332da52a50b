package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
	"github.com/reaper-media/reaper/jobs/metrics"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/registry"
)

// httpShutdownTimeout is how long an HTTP server waits for requests in flight when the process stops:
// below the 30s a kubelet or systemd waits by default, so the process still exits on its own.
const httpShutdownTimeout = 20 * time.Second

// startAdmin serves the admin endpoints of `worker` and `scheduler` on admin.listen: /healthz,
// /readyz (Redis answers PING, a provider is enabled, and ready(ctx) passes when it is not nil),
// /metrics and the asynq dashboard (read-only) under /monitor/.
//
// It returns the process's metrics (a jobs.Observer: pass it to newWorker / Pipeline.NewWorker, and
// set the parked-task hook with SetParked) and stop, which shuts the server down; call it once,
// after the worker or scheduler has stopped, so /metrics is served until the end. With admin.listen
// empty nothing is served, but the metrics still work and stop does nothing. It fails only when the
// address cannot be listened on. ctx bounds the listen call, not the server's life.
//
//	m, stopAdmin, err := startAdmin(ctx, p.Config, p, log, nil)
//	if err != nil {
//		return err
//	}
//	defer stopAdmin()
//	w, err := newWorker(p, log, m)
func startAdmin(ctx context.Context, cfg *config.Config, p *jobs.Pipeline, log *slog.Logger, ready func(context.Context) error) (*metrics.Metrics, func(), error) {
	m := newMetrics(p)
	if cfg.Admin.Listen == "" {
		return m, func() {}, nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("admin.listen: %w", err)
	}
	o := httpapi.AdminOptions{Ready: readiness(p, ready), Metrics: m.Handler()}
	var monitor *asynqmon.HTTPHandler
	if opt, err := redis.ParseURL(cfg.Redis.URL); err == nil {
		// Read-only: deleting or running a task from the dashboard would bypass the outcome store
		// and leave its batch waiting forever. Pause and resume go through `reaper pause|resume`.
		monitor = asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: redisConnOpt{opt}, ReadOnly: true})
		o.Monitor = monitor
	}
	mux := http.NewServeMux()
	httpapi.NewAdmin(o).Register(mux)
	srv := newHTTPServer(mux, log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "error", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String(), "paths", "/healthz /readyz /metrics /monitor/")
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

// newMetrics is the process's Prometheus metrics: the enabled providers pre-declared, each
// provider's error codes from its classification table (with config overrides), and the queues
// read from Redis at every scrape.
func newMetrics(p *jobs.Pipeline) *metrics.Metrics {
	m := metrics.New(metrics.Options{Providers: p.Config.Enabled(), Codes: codeTables(p.Config), Queues: p.Admin})
	m.SetParked(p.Store.ParkedByProvider)
	return m
}

func codeTables(cfg *config.Config) map[providers.Name]providers.Table {
	out := map[providers.Name]providers.Table{}
	for _, n := range providers.Names {
		out[n] = registry.Codes(cfg, n)
	}
	return out
}

// readiness is /readyz's check: at least one provider enabled, Redis answering, then extra.
func readiness(p *jobs.Pipeline, extra func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if len(p.Config.Enabled()) == 0 {
			return errors.New("no provider is enabled")
		}
		if err := p.Redis.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		if extra != nil {
			return extra(ctx)
		}
		return nil
	}
}

// newHTTPServer is how reaper serves HTTP: one log line per request, bounded header reads, no write
// timeout (reports stream for as long as a batch is large).
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           httpapi.LogRequests(log, h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// redisConnOpt gives asynqmon connections made from our parsed redis.url, so the dashboard reaches
// Redis exactly as the rest of the process does (asynq's own URL parser knows fewer forms).
type redisConnOpt struct{ opt *redis.Options }

// MakeRedisClient implements asynq.RedisConnOpt: a new client on each call, which asynqmon closes.
func (c redisConnOpt) MakeRedisClient() any {
	o := *c.opt
	return redis.NewClient(&o)
}
