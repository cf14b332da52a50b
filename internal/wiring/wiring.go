// Package wiring is the one place that turns reaper's configuration (package config: YAML and
// environment) into the Options of the packages that do the work: the provider clients (it is the one
// place that knows every provider package, so callers never branch on a provider's name) and the jobs
// pipeline. jobs and the providers know nothing of the config file; cmd/reaper and the tests build
// through here.
package wiring

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// Pipeline wires the jobs pipeline on rdb from cfg (the caller owns and closes rdb). cfg must have
// passed config.Validate.
func Pipeline(cfg *config.Config, rdb redis.UniversalClient) *jobs.Pipeline {
	return jobs.New(rdb, Options(cfg))
}

// Options are cfg's jobs.Options.
func Options(cfg *config.Config) jobs.Options {
	streamRetention := cfg.Outcomes.StreamRetention
	if streamRetention == 0 {
		streamRetention = -1 // outcomes.stream_retention: 0 turns the stream off
	}
	r := cfg.Retry
	b := cfg.Breaker
	o := jobs.Options{
		Store: jobs.StoreOptions{Retention: cfg.Outcomes.Retention, StreamRetention: streamRetention,
			StreamMaxLen: cfg.Outcomes.StreamMaxLen},
		Producer: jobs.ProducerOptions{Parallel: cfg.Enqueue.Parallel, TaskTimeout: cfg.Worker.TaskTimeout,
			Fill: cfg.FillTarget, Enabled: cfg.Enabled()},
		Retry: jobs.RetryPolicy{MaxAttempts: r.MaxAttempts, BaseDelay: r.BaseDelay, MaxDelay: r.MaxDelay,
			ThrottleDelay: r.ThrottleDelay, MaxOutageAttempts: r.MaxOutageAttempts, MaxThrottles: r.MaxThrottles},
		Breaker: jobs.BreakerSettings{ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio,
			MinRequests: b.MinRequests, Interval: b.Interval, OpenTimeout: b.OpenTimeout, HalfOpenRequests: b.HalfOpenRequests},
		Worker: jobs.WorkerSettings{Concurrency: cfg.Worker.Concurrency, ShutdownTimeout: cfg.Worker.ShutdownTimeout,
			MaxWait: cfg.Worker.RateLimitMaxWait},
		Providers: map[providers.Name]jobs.ProviderSettings{},
	}
	for _, n := range providers.Names {
		o.Providers[n] = jobs.ProviderSettings{RateLimit: cfg.Provider(n).RateLimit, Weight: cfg.Worker.Queues[string(n)]}
	}
	if w := r.Overnight; w.Nights > 0 {
		// config.Validate has checked the clock times and the zone.
		start, _ := config.ParseClock(w.Start)
		end, _ := config.ParseClock(w.End)
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		o.Overnight = &jobs.OvernightOptions{Nights: w.Nights, Window: jobs.Window{Start: start, End: end, Loc: loc}}
	}
	return o
}
