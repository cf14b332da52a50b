package main

import (
	"context"
)

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker", "[--config FILE]")
	d := daemonFlags(fs, e, "log every outcome, not only failures")
	p, log, closeFn, err := d.open(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer closeFn()
	m, stopAdmin, err := startOps(ctx, p.Config, p, log, nil)
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
