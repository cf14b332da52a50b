package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/reaper-media/reaper/jobs/httpapi"
)

// runServe is `reaper serve`: the HTTP producer API on api.listen, with /healthz for a load
// balancer. That port faces client services, so /readyz and /metrics (Redis state, queue sizes) and
// the dashboard are served on admin.listen, like the worker's and the scheduler's: on a host running
// several reaper processes give each its own REAPER_ADMIN_LISTEN.
func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[--config FILE]")
	d := daemonFlags(fs, e, "also log probes and scrapes (/healthz, /readyz, /metrics)")
	p, log, closeFn, err := d.open(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer closeFn()
	cfg := p.Config

	api, err := httpapi.New(httpapi.Options{Producer: p.Producer, Admin: p.Admin, CheckNotify: cfg.CheckNotify, Tokens: cfg.API.Tokens, MaxBodyBytes: cfg.API.MaxBodyBytes,
		ConfirmAbove: cfg.Enqueue.ConfirmAbove, Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Register(mux)
	// The API's port first: /readyz on the admin port must not answer before the API accepts.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen: %w", err)
	}
	_, stopAdmin, err := startOps(ctx, cfg, p, log, nil)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopAdmin()
	srv := newHTTPServer(mux, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "providers", cfg.Enabled(), "tokens", len(cfg.API.Tokens),
		"max_body_bytes", cfg.API.MaxBodyBytes)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping: requests in flight finish", "timeout", httpShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
