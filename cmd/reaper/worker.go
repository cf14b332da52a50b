package main

import (
	"context"
	"log/slog"

	"github.com/reaper-media/reaper/jobs"
)

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker", "[--config FILE]")
	cfgPath := configFlag(fs, e)
	debug := fs.Bool("debug", false, "log every outcome, not only failures")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, level)
	h, srv, err := p.workerParts(log, nil)
	if err != nil {
		return err
	}
	if err := srv.Start(jobs.Mux(h)); err != nil {
		return err
	}
	log.Info("worker started", "providers", p.cfg.Enabled(), "concurrency", p.cfg.Worker.Concurrency)
	<-ctx.Done()
	log.Info("worker stopping: in-flight deletes finish or go back to the queue", "timeout", p.cfg.Worker.ShutdownTimeout.String())
	srv.Shutdown()
	log.Info("worker stopped")
	return nil
}
