package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
)

// configFlag registers --config (default $REAPER_CONFIG).
func configFlag(fs *flag.FlagSet, e *env) *string {
	return fs.String("config", e.getenv("REAPER_CONFIG"), "YAML config `file` (env REAPER_CONFIG); built-in defaults when empty")
}

func loadConfig(e *env, path string) (*config.Config, error) {
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		return nil, err
	}
	if err := wiring.Check(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
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

// openRedis connects to cfg's Redis (standalone or through its sentinels) and checks it answers.
func openRedis(ctx context.Context, cfg *config.Config) (redis.UniversalClient, error) {
	rdb, err := wiring.Redis(cfg)
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", wiring.RedisAddr(cfg), err)
	}
	return rdb, nil
}

// app is a command's pipeline with the config it was wired from (jobs knows nothing of the config).
type app struct {
	*jobs.Pipeline
	Config *config.Config
}

// newApp wires the pipeline from cfg on rdb (internal/wiring does the translation).
func newApp(cfg *config.Config, rdb redis.UniversalClient) *app {
	return &app{Pipeline: wiring.Pipeline(cfg, rdb), Config: cfg}
}

// openPipeline loads config, connects to Redis and wires the pipeline; close releases it.
func openPipeline(ctx context.Context, e *env, configPath string) (*app, func(), error) {
	cfg, err := loadConfig(e, configPath)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := openRedis(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return newApp(cfg, rdb), func() { _ = rdb.Close() }, nil
}

// newWorker builds the worker for the enabled providers.
func newWorker(p *app, log *slog.Logger, obs jobs.Observer) (*jobs.Worker, error) {
	deleters, err := wiring.Deleters(p.Config)
	if err != nil {
		return nil, err
	}
	return p.NewWorker(deleters, log, obs), nil
}

// daemon is what the long-running commands (worker, scheduler, serve) share: --config and --debug,
// the pipeline and a logger.
type daemon struct {
	config *string
	debug  *bool
}

// daemonFlags registers --config and --debug (debugHelp says what --debug adds).
func daemonFlags(fs *flag.FlagSet, e *env, debugHelp string) daemon {
	return daemon{config: configFlag(fs, e), debug: fs.Bool("debug", false, debugHelp)}
}

// open parses args, wires the pipeline and builds the logger (JSON off a terminal). close releases
// the pipeline's Redis connection.
func (d daemon) open(ctx context.Context, e *env, fs *flag.FlagSet, args []string) (*app, *slog.Logger, func(), error) {
	if err := parse(fs, args); err != nil {
		return nil, nil, nil, err
	}
	p, closeFn, err := openPipeline(ctx, e, *d.config)
	if err != nil {
		return nil, nil, nil, err
	}
	level := slog.LevelInfo
	if *d.debug {
		level = slog.LevelDebug
	}
	return p, newLogger(e.stderr, level), closeFn, nil
}

// batchCmd is what the commands acting on one batch share: --config and a required --batch.
type batchCmd struct {
	config, batch *string
}

// checkBatchID refuses a --batch value that is not in the format jobs.NewBatchID makes, before
// anything connects: batch ids become parts of Redis key names.
func checkBatchID(id string) error {
	if !jobs.ValidBatchID(id) {
		return errors.New("--batch: " + httpapi.InvalidBatchID(id))
	}
	return nil
}

// batchFlags registers --config and --batch (help says what the batch is for).
func batchFlags(fs *flag.FlagSet, e *env, help string) batchCmd {
	return batchCmd{config: configFlag(fs, e), batch: fs.String("batch", "", "batch `id` "+help+" (required)")}
}

// open parses args, requires --batch and wires the pipeline. check, when set, validates the other
// flags before anything connects.
func (b batchCmd) open(ctx context.Context, e *env, fs *flag.FlagSet, args []string, check func() error) (*app, string, func(), error) {
	if err := parse(fs, args); err != nil {
		return nil, "", nil, err
	}
	if *b.batch == "" {
		return nil, "", nil, errors.New("--batch is required")
	}
	if err := checkBatchID(*b.batch); err != nil {
		return nil, "", nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, "", nil, err
		}
	}
	p, closeFn, err := openPipeline(ctx, e, *b.config)
	if err != nil {
		return nil, "", nil, err
	}
	return p, *b.batch, closeFn, nil
}
