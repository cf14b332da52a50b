// Package scheduler runs reaper's retention policies: on each policy's cron schedule, it selects what
// is older than the policy's minimum age (VOD SearchMedia, SMH directory listing, or the retention
// index) and deletes it as a batch, so `status`, `wait`, `report` and `retry` work on every run.
//
// Any number of replicas may run; they elect a leader through a Redis lease (Lease), and only the
// leader fires. Every run has a deterministic id, the policy name and the fire time it is for
// ("vod-old@20261121T023000Z"), claimed in Redis before the run starts: a failover, a restart or a
// replica with a stale view never runs the same tick twice. Fire times missed while no leader was
// alive collapse into one run of the latest, run late with a log line saying so, unless older than
// scheduler.max_catch_up.
//
// Every run is bounded by its policy's max_deletions: a selection that finds more deletes nothing and
// is recorded refused with the count found. A dry run records what it would delete, as dry_run
// outcomes of its batch, and deletes nothing.
//
// Redis keys:
//
//	reaper:scheduler:leader          STRING the leader's replica id, PX scheduler.lease_ttl
//	reaper:scheduler:run:<run id>    STRING who claimed the run, expiring after max(30 days, max_catch_up + 1 day)
//	reaper:scheduler:policy:<name>   HASH checked_until (unix ms), last_run (RunRecord JSON)
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reaper-media/reaper/jobs"
)

// minClaimTTL is how long a run id stays claimed, at least: far past any fire time a scheduler could
// still consider due.
const minClaimTTL = 30 * 24 * time.Hour

// Options configures a Scheduler; zero values are the documented defaults.
type Options struct {
	// ID names this replica in the lease, in logs, and as the submitter of its batches. Default:
	// hostname-pid-random, unique per process.
	ID string
	// Now is the clock fire times are computed on (default time.Now). The lease's expiry is Redis's
	// own clock, never this one.
	Now func() time.Time
	// Logger receives leadership changes, runs, late and skipped ticks (default: discard).
	Logger *slog.Logger
	// Policies are the retention policies, in the order `reaper policies` lists them.
	Policies []RetentionPolicy
	// Sources maps source names ("search", "list", "index") to sources (NewSources). A policy whose
	// source is missing fails its runs; nil is for tools that only read policies' status.
	Sources map[string]Source
	// LeaseTTL is the leader lease (default 15s); Tick how often the leader looks for due runs
	// (default 1s); MaxCatchUp how late a missed tick may still run (default 24h);
	// ReconcileInterval how often the leader sweeps open batches (default 1m).
	LeaseTTL, Tick, MaxCatchUp, ReconcileInterval time.Duration
}

// Scheduler fires retention-policy runs. Run it with Run; Tick does one round, for tests and tools.
type Scheduler struct {
	id         string
	tick       time.Duration
	maxCatchUp time.Duration
	claimTTL   time.Duration
	policies   []*scheduled
	lease      *Lease
	state      stateStore
	runner     *runner
	sweep      *sweeper
	now        func() time.Time
	log        *slog.Logger
	leader     atomic.Bool
}

// scheduled is one policy with its parsed schedule.
type scheduled struct {
	policy RetentionPolicy
	sched  Schedule
	busy   atomic.Bool // a check or run of this policy is in progress
}

// New returns the scheduler of o.Policies, submitting its runs through p.Producer.
func New(p *jobs.Pipeline, o Options) (*Scheduler, error) {
	if o.ID == "" {
		o.ID = replicaID()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&o.LeaseTTL, 15 * time.Second}, {&o.Tick, time.Second}, {&o.MaxCatchUp, 24 * time.Hour}, {&o.ReconcileInterval, time.Minute}}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	sc := o
	s := &Scheduler{
		id: o.ID, tick: sc.Tick, maxCatchUp: sc.MaxCatchUp, claimTTL: max(minClaimTTL, sc.MaxCatchUp+24*time.Hour),
		lease: NewLease(p.Redis, LeaderKey, o.ID, sc.LeaseTTL), state: stateStore{rdb: p.Redis},
		now: o.Now, log: o.Logger.With("replica", o.ID),
	}
	s.runner = &runner{producer: p.Producer, sources: o.Sources, state: s.state, now: o.Now, log: s.log}
	s.sweep = newSweeper(p.Admin, sc.ReconcileInterval, s.log)
	for _, pol := range sc.Policies {
		sched, err := NewSchedule(pol)
		if err != nil {
			return nil, err
		}
		if _, ok := o.Sources[pol.Source]; !ok && o.Sources != nil {
			return nil, fmt.Errorf("policy %s: source %q is not available: is providers.%s enabled?", pol.Name, pol.Source, pol.Provider)
		}
		s.policies = append(s.policies, &scheduled{policy: pol, sched: sched})
	}
	return s, nil
}

// replicaID is hostname-pid-random: readable in logs, and unique even for a restarted container
// that gets the same hostname and pid.
func replicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "reaper"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// ID is this replica's id.
func (s *Scheduler) ID() string { return s.id }

// IsLeader reports whether this replica held the lease at its last round.
func (s *Scheduler) IsLeader() bool { return s.leader.Load() }

// Leader returns the id of the replica holding the lease ("" when none does, e.g. no scheduler runs).
func (s *Scheduler) Leader(ctx context.Context) (string, error) { return s.lease.Holder(ctx) }

// Run fires policy runs until ctx ends: every tick it keeps or takes the lease and, as leader, starts
// what is due. A policy's run may outlast ticks; the policy is looked at again once it ends, while
// the other policies keep their schedules. On return (ctx ended) the runs in progress have ended (their
// context ends too, so they record failed) and the lease is released, so a successor takes over at
// once. It returns nil when ctx ends: losing Redis or the lease is logged and retried, never fatal.
func (s *Scheduler) Run(ctx context.Context) error {
	var inflight sync.WaitGroup
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	s.log.Info("scheduler started", "policies", len(s.policies), "tick", s.tick.String(), "lease_ttl", s.lease.ttl.String())
	for {
		s.round(ctx, &inflight)
		select {
		case <-ctx.Done():
			inflight.Wait()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
			defer cancel()
			if err := s.Resign(rctx); err != nil {
				s.log.Warn("could not release the leader lease; a successor takes over when it expires", "err", err)
			}
			s.log.Info("scheduler stopped")
			return nil
		case <-ticker.C:
		}
	}
}

// Resign gives the lease up if this replica holds it, so another replica leads from its next tick
// instead of after lease_ttl. Run resigns on return; a replica that is killed never does, and its
// successor waits for the lease to expire.
func (s *Scheduler) Resign(ctx context.Context) error {
	held, err := s.lease.Release(ctx)
	if err != nil {
		return err
	}
	s.leader.Store(false)
	if held {
		s.log.Info("released the leader lease")
	}
	return nil
}

// Tick does one round and waits for the runs it started: keep or take the lease and, as leader, run
// every policy's due tick. Tests drive the scheduler with it and a clock they move.
func (s *Scheduler) Tick(ctx context.Context) {
	var wg sync.WaitGroup
	s.round(ctx, &wg)
	wg.Wait()
}

// round holds the lease and, as leader, checks every policy not already busy, each on its own goroutine
// tracked by inflight.
func (s *Scheduler) round(ctx context.Context, inflight *sync.WaitGroup) {
	if ctx.Err() != nil {
		return
	}
	held, err := s.lease.Hold(ctx)
	if err != nil {
		s.log.Warn("leader lease unreachable: not firing", "err", err)
		held = false
	}
	switch was := s.leader.Swap(held); {
	case held && !was:
		s.log.Info("became leader")
	case !held && was:
		s.log.Warn("lost leadership")
	}
	if !held {
		return
	}
	now := s.now()
	s.sweep.maybe(ctx, now, inflight)
	for _, ps := range s.policies {
		if !ps.busy.CompareAndSwap(false, true) {
			continue // its run is still going: looked at again when it ends
		}
		inflight.Go(func() {
			defer ps.busy.Store(false)
			s.check(ctx, ps, now)
		})
	}
}

// check handles one policy's fire times in (checked_until, now]: the latest of them runs, once, unless
// it is older than max_catch_up (a burst of missed ticks collapses into one run).
func (s *Scheduler) check(ctx context.Context, ps *scheduled, now time.Time) {
	name := ps.policy.Name
	log := s.log.With("policy", name)
	st, err := s.state.policy(ctx, name)
	if err != nil {
		log.Warn("could not read policy state", "err", err)
		return
	}
	if st.CheckedUntil.IsZero() {
		// First look ever: start from now, never run the past.
		if err := s.state.advance(ctx, name, now); err != nil {
			log.Warn("could not record policy state", "err", err)
			return
		}
		log.Info("policy scheduled", "next_run", formatTime(ps.sched.Next(now)))
		return
	}
	if !now.After(st.CheckedUntil) {
		return
	}

	// Fire times older than the catch-up window are skipped; one tick of lateness is on time.
	window := max(s.maxCatchUp, s.tick)
	from := st.CheckedUntil
	if horizon := now.Add(-window); from.Before(horizon) {
		if first := ps.sched.Next(from); !first.IsZero() && first.Before(horizon) {
			log.Warn("skipping missed ticks older than scheduler.max_catch_up", "first_missed", formatTime(first),
				"checked_until", formatTime(from), "max_catch_up", s.maxCatchUp.String())
		}
		from = horizon.Add(-time.Nanosecond) // a fire time exactly max_catch_up old still runs
	}
	latest, n := ps.sched.due(from, now)
	if n == 0 {
		if err := s.state.advance(ctx, name, now); err != nil {
			log.Warn("could not record policy state", "err", err)
		}
		return
	}

	id := RunID(name, latest)
	log = log.With("run", id)
	if late := now.Sub(latest); late > s.tick {
		log.Warn("running missed tick late", "scheduled", formatTime(latest), "late", late.String(), "collapsed", n-1)
	} else if n > 1 {
		log.Warn("collapsing missed ticks into one run", "scheduled", formatTime(latest), "collapsed", n-1)
	}
	claimed, err := s.state.claim(ctx, id, s.id, s.claimTTL)
	if err != nil {
		log.Warn("could not claim the run: trying again next tick", "err", err)
		return
	}
	if err := s.state.advance(ctx, name, now); err != nil {
		log.Warn("could not record policy state", "err", err)
	}
	if !claimed {
		log.Info("tick already run: not running it again", "scheduled", formatTime(latest))
		return
	}
	_, _ = s.runner.do(ctx, ps.policy, run{id: id, scheduled: latest, dryRun: ps.policy.DryRun, by: "scheduler:" + s.id})
}

// RunNow runs policy name at once, whoever leads, through the same code as a scheduled run, with run
// id ManualRunID(name, now). dryRun forces a dry run (a dry_run policy always is one). It returns the
// run's record, and an error when the policy is unknown or the run failed; a refused run is not an
// error (its record says refused).
func (s *Scheduler) RunNow(ctx context.Context, name string, dryRun bool) (RunRecord, error) {
	ps := s.find(name)
	if ps == nil {
		return RunRecord{}, fmt.Errorf("no policy named %q in scheduler.policies", name)
	}
	now := s.now()
	id := ManualRunID(name, now)
	claimed, err := s.state.claim(ctx, id, s.id, s.claimTTL)
	if err != nil {
		return RunRecord{}, err
	}
	if !claimed {
		return RunRecord{}, fmt.Errorf("run %s was already started; try again", id)
	}
	return s.runner.do(ctx, ps.policy, run{id: id, scheduled: now, dryRun: dryRun || ps.policy.DryRun, by: s.id})
}

func (s *Scheduler) find(name string) *scheduled {
	for _, ps := range s.policies {
		if ps.policy.Name == name {
			return ps
		}
	}
	return nil
}

// PolicyStatus is a policy with its last and next runs, as `reaper policies` shows it.
type PolicyStatus struct {
	Policy RetentionPolicy
	// CheckedUntil is how far the scheduler has handled the policy's fire times (zero: never looked).
	CheckedUntil time.Time
	// LastRun is the latest run, scheduled or manual (nil: none yet).
	LastRun *RunRecord
	// NextRun is the next fire time after now.
	NextRun time.Time
}

// Status returns every policy's status, in config order.
func (s *Scheduler) Status(ctx context.Context) ([]PolicyStatus, error) {
	now := s.now()
	out := make([]PolicyStatus, 0, len(s.policies))
	for _, ps := range s.policies {
		st, err := s.state.policy(ctx, ps.policy.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, PolicyStatus{Policy: ps.policy, CheckedUntil: st.CheckedUntil, LastRun: st.Last, NextRun: ps.sched.Next(now)})
	}
	return out, nil
}

// formatTime is how times appear in logs: RFC 3339 in UTC.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
