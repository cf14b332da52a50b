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
	"github.com/reaper-media/reaper/jobs/webhook"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/scheduler"
)

// Pipeline wires the jobs pipeline on rdb from cfg (the caller owns and closes rdb). cfg must have
// passed config.Validate.
func Pipeline(cfg *config.Config, rdb redis.UniversalClient) *jobs.Pipeline {
	return jobs.New(rdb, Options(cfg))
}

// Options are cfg's jobs.Options.
func Options(cfg *config.Config) jobs.Options {
	streamRetention := cfg.Outcomes.StreamRetention
	if streamRetention == 0 || !cfg.Outcomes.Stream {
		streamRetention = -1 // outcomes.stream: false, or outcomes.stream_retention: 0, turns the stream off
	}
	r := cfg.Retry
	b := cfg.Breaker
	o := jobs.Options{
		Store: jobs.StoreOptions{Retention: cfg.Outcomes.Retention, StreamRetention: streamRetention,
			StreamMaxLen: cfg.Outcomes.StreamMaxLen},
		Producer: jobs.ProducerOptions{Parallel: cfg.Enqueue.Parallel, TaskTimeout: cfg.Worker.TaskTimeout,
			Fill: cfg.FillTarget, Enabled: cfg.Enabled(),
			Batch: jobs.BatchDefaults{MaxFailureRatio: cfg.Batch.MaxFailureRatio, MinOutcomes: cfg.Batch.MinOutcomes,
				Notify: cfg.Batch.NotifyURL}},
		Retry: jobs.RetryPolicy{MaxAttempts: r.MaxAttempts, BaseDelay: r.BaseDelay, MaxDelay: r.MaxDelay,
			ThrottleDelay: r.ThrottleDelay, MaxOutageAttempts: r.MaxOutageAttempts, MaxThrottles: r.MaxThrottles},
		Breaker: jobs.BreakerSettings{ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio,
			MinRequests: b.MinRequests, Interval: b.Interval, ProbeInterval: b.ProbeInterval, OpenTimeout: b.OpenTimeout,
			HalfOpenRequests: b.HalfOpenRequests},
		Worker: jobs.WorkerSettings{Concurrency: cfg.Worker.Concurrency, ShutdownTimeout: cfg.Worker.ShutdownTimeout,
			MaxWait: cfg.Worker.RateLimitMaxWait},
		Providers: map[providers.Name]jobs.ProviderSettings{},
	}
	for _, n := range providers.Names {
		o.Providers[n] = jobs.ProviderSettings{RateLimit: cfg.Provider(n).RateLimit, Concurrency: cfg.Provider(n).Concurrency}
	}
	if sender, err := webhook.NewSender(cfg.Batch.WebhookSecret); err == nil {
		o.Notify.Sender = sender // without REAPER_WEBHOOK_SECRET batch events reach the stream only
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

// SchedulerOptions are cfg's scheduler.Options (policies, lease, tick, catch-up, sweep interval), with
// the sources its runs select from when withSources is set: those build provider clients, which a tool
// that only lists policies does not need.
func SchedulerOptions(cfg *config.Config, p *jobs.Pipeline, withSources bool) (scheduler.Options, error) {
	sc := cfg.Scheduler
	o := scheduler.Options{LeaseTTL: sc.LeaseTTL, Tick: sc.Tick, MaxCatchUp: sc.MaxCatchUp, ReconcileInterval: sc.ReconcileInterval}
	for _, pol := range sc.Policies {
		o.Policies = append(o.Policies, scheduler.RetentionPolicy{Name: pol.Name, Schedule: pol.Schedule,
			TimeZone: pol.TimeZone, Location: pol.Location(), Provider: pol.Provider, Source: pol.SourceOrDefault(), MinAge: pol.MinAge,
			MaxDeletions: pol.MaxDeletions, DryRun: pol.DryRun, Permanent: pol.Permanent,
			VOD: scheduler.VODSelection{SubAppID: pol.VOD.SubAppID, ClassIDs: pol.VOD.ClassIDs, Categories: pol.VOD.Categories,
				SourceTypes: pol.VOD.SourceTypes, StorageRegions: pol.VOD.StorageRegions},
			SMH: scheduler.SMHSelection{LibraryID: pol.SMH.LibraryID, SpaceID: pol.SMH.SpaceID, Prefixes: pol.SMH.Prefixes,
				Recursive: pol.SMH.Recursive}})
	}
	if withSources {
		clients, err := Deleters(cfg)
		if err != nil {
			return o, err
		}
		list := make([]providers.Deleter, 0, len(clients))
		for _, n := range providers.Names {
			if c, ok := clients[n]; ok {
				list = append(list, c)
			}
		}
		o.Sources = scheduler.NewSources(jobs.NewIndex(p.Redis, cfg.FillTarget), list)
	}
	return o, nil
}

// Scheduler builds the scheduler of cfg on p, with o's replica settings (ID, Now, Logger) and, unless
// o.Sources is set, sources on real provider clients.
func Scheduler(cfg *config.Config, p *jobs.Pipeline, o scheduler.Options) (*scheduler.Scheduler, error) {
	so, err := SchedulerOptions(cfg, p, o.Sources == nil)
	if err != nil {
		return nil, err
	}
	so.ID, so.Now, so.Logger = o.ID, o.Now, o.Logger
	if o.Sources != nil {
		so.Sources = o.Sources
	}
	return scheduler.New(p, so)
}
