package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/mss"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/vod"
)

// configFlag registers --config (default $REAPER_CONFIG).
func configFlag(fs *flag.FlagSet, e *env) *string {
	return fs.String("config", e.getenv("REAPER_CONFIG"), "YAML config `file` (env REAPER_CONFIG); built-in defaults when empty")
}

func loadConfig(e *env, path string) (*config.Config, error) {
	return config.Load(path, e.getenv)
}

// newLogger logs JSON when w is not a terminal (a collector reads it) and text when it is.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openRedis connects to cfg.Redis.URL and checks it answers.
func openRedis(ctx context.Context, cfg *config.Config) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}
	return rdb, nil
}

// newDeleter builds the client for one enabled provider from config.
func newDeleter(cfg *config.Config, n providers.Name) (providers.Deleter, error) {
	p := cfg.Providers
	switch n {
	case providers.MSS:
		return mss.New(mss.Config{Endpoint: p.MSS.Endpoint, Region: p.MSS.Region, ProjectID: p.MSS.ProjectID,
			AK: p.MSS.AK, SK: p.MSS.SK, Token: p.MSS.Token, Timeout: p.MSS.Timeout, Codes: cfg.Codes(n)})
	case providers.SMH:
		return smh.New(smh.Config{Endpoint: p.SMH.Endpoint, LibraryID: p.SMH.LibraryID, SpaceID: p.SMH.SpaceID,
			AccessToken: p.SMH.AccessToken, LibrarySecret: p.SMH.LibrarySecret, TokenUserID: p.SMH.TokenUserID,
			Timeout: p.SMH.Timeout, Codes: cfg.Codes(n)})
	case providers.VOD:
		return vod.New(vod.Config{Endpoint: p.VOD.Endpoint, Region: p.VOD.Region, SecretID: p.VOD.SecretID,
			SecretKey: p.VOD.SecretKey, SubAppID: p.VOD.SubAppID, Timeout: p.VOD.Timeout, Codes: cfg.Codes(n)})
	}
	return nil, fmt.Errorf("unknown provider %q", n)
}

// pipeline is the wired deletion pipeline of one process.
type pipeline struct {
	cfg      *config.Config
	rdb      redis.UniversalClient
	store    *jobs.Store
	producer *jobs.Producer
	admin    *jobs.Admin
	client   *asynq.Client
}

func newPipeline(cfg *config.Config, rdb redis.UniversalClient) *pipeline {
	store := jobs.NewStore(rdb, jobs.StoreOptions{Retention: cfg.Outcomes.Retention, StreamMaxLen: cfg.Outcomes.StreamMaxLen})
	client := asynq.NewClientFromRedisClient(rdb)
	return &pipeline{
		cfg: cfg, rdb: rdb, store: store, client: client, admin: jobs.NewAdmin(rdb, store),
		producer: jobs.NewProducer(client, store, jobs.ProducerOptions{
			Parallel: cfg.Enqueue.Parallel, TaskTimeout: cfg.Worker.TaskTimeout,
			Fill: cfg.FillTarget, Enabled: cfg.Enabled(),
		}),
	}
}

// openPipeline loads config, connects to Redis and wires the pipeline; close releases it.
func openPipeline(ctx context.Context, e *env, configPath string) (*pipeline, func(), error) {
	cfg, err := loadConfig(e, configPath)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := openRedis(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return newPipeline(cfg, rdb), func() { _ = rdb.Close() }, nil
}

func (p *pipeline) policy() jobs.RetryPolicy {
	r := p.cfg.Retry
	return jobs.RetryPolicy{MaxAttempts: r.MaxAttempts, BaseDelay: r.BaseDelay, MaxDelay: r.MaxDelay, ThrottleDelay: r.ThrottleDelay}
}

// workerParts builds the handler and server for the enabled providers.
func (p *pipeline) workerParts(log *slog.Logger, observer jobs.Observer) (*jobs.Handler, *asynq.Server, error) {
	cfg := p.cfg
	lanes := map[providers.Name]jobs.Lane{}
	queues := map[providers.Name]int{}
	b := cfg.Breaker
	for _, n := range cfg.Enabled() {
		d, err := newDeleter(cfg, n)
		if err != nil {
			return nil, nil, fmt.Errorf("providers.%s: %w", n, err)
		}
		lanes[n] = jobs.Lane{Deleter: d, RateLimit: cfg.Provider(n).RateLimit, Breaker: jobs.NewBreaker(n, jobs.BreakerSettings{
			ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio, MinRequests: b.MinRequests,
			Interval: b.Interval, OpenTimeout: b.OpenTimeout, HalfOpenRequests: b.HalfOpenRequests,
			OnStateChange: func(n providers.Name, from, to gobreaker.State) {
				log.Warn("circuit breaker", "provider", string(n), "from", from.String(), "to", to.String())
			},
		})}
		queues[n] = max(1, cfg.Worker.Queues[string(n)])
	}
	h := jobs.NewHandler(jobs.HandlerOptions{Lanes: lanes, Store: p.store, Limiter: redis_rate.NewLimiter(p.rdb),
		Policy: p.policy(), MaxWait: cfg.Worker.RateLimitMaxWait, Logger: log, Observer: observer})
	srv := jobs.NewServer(p.rdb, jobs.WorkerOptions{Concurrency: cfg.Worker.Concurrency, Queues: queues,
		ShutdownTimeout: cfg.Worker.ShutdownTimeout, Policy: p.policy(), Logger: log})
	return h, srv, nil
}
