package main

import (
	"context"
	"log/slog"
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
	m, stopAdmin, err := startAdmin(ctx, p.Config, p, log, nil)
	if err != nil {
		return err
	}
	defer stopAdmin() // after the worker has stopped, so /metrics lasts to the end
	w, err := newWorker(p, log, m)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	log.Info("worker started", "providers", p.Config.Enabled(), "concurrency", p.Config.Worker.Concurrency)
	<-ctx.Done()
	log.Info("worker stopping: in-flight deletes finish or go back to the queue", "timeout", p.Config.Worker.ShutdownTimeout.String())
	w.Shutdown()
	log.Info("worker stopped")
	return nil
}
