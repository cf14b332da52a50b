package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/reaper-media/reaper/internal/wiring"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/reaper-media/reaper/scheduler"
)

// runScheduler is `reaper scheduler`: it runs the policies until SIGINT/SIGTERM, then releases the
// leader lease so another replica takes over at once.
func runScheduler(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "scheduler", "[--config FILE] [--id ID]")
	d := daemonFlags(fs, e, "debug logging")
	id := fs.String("id", "", "this replica's `id` in the leader lease and logs (default hostname-pid-random)")
	p, log, closeFn, err := d.open(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer closeFn()
	s, err := wiring.Scheduler(p.Config, p.Pipeline, scheduler.Options{ID: *id, Logger: log})
	if err != nil {
		return err
	}
	// /healthz, /readyz and /metrics; readiness does not depend on leading: a standby replica is
	// healthy and ready to take over.
	_, stopAdmin, err := startOps(ctx, p.Config, p, log, nil)
	if err != nil {
		return err
	}
	defer stopAdmin()
	return s.Run(ctx)
}

// runPolicies is `reaper policies` (list) and `reaper policies run NAME` (run one now).
func runPolicies(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "run" {
		return runPolicyNow(ctx, e, args[1:])
	}
	fs := newFlags(e, "policies", "[--output text|json] | run NAME [--dry-run]")
	cfgPath := configFlag(fs, e)
	out := outputFlag(fs).withJSONAlias(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	// Listing needs the policies and their state, not provider clients.
	so, err := wiring.SchedulerOptions(p.Config, p.Pipeline, false)
	if err != nil {
		return err
	}
	s, err := scheduler.New(p.Pipeline, so)
	if err != nil {
		return err
	}
	statuses, err := s.Status(ctx)
	if err != nil {
		return err
	}
	leader, err := s.Leader(ctx)
	if err != nil {
		return err
	}
	if out.JSON() {
		list := policiesJSON{Leader: leader, Policies: []policyJSON{}}
		for _, st := range statuses {
			list.Policies = append(list.Policies, toPolicyJSON(st))
		}
		return writeJSON(e.stdout, list)
	}
	if leader == "" {
		leader = "none (no scheduler replica holds the lease)"
	}
	fmt.Fprintf(e.stdout, "leader: %s\n\n", leader)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tPROVIDER\tSOURCE\tSCHEDULE\tLAST RUN\tSTATUS\tFOUND\tBATCH\tNEXT RUN")
	for _, st := range statuses {
		pol := st.Policy
		schedule := pol.Schedule
		if pol.TimeZone != "" {
			schedule += " (" + pol.TimeZone + ")"
		}
		if pol.DryRun {
			schedule += " dry_run"
		}
		last, status, found, batch := "-", "-", "-", "-"
		if r := st.LastRun; r != nil {
			last, status, found = r.Started.Local().Format(time.DateTime), string(r.Status), strconv.Itoa(r.Found)
			if r.FoundAtLeast {
				found = ">=" + found
			}
			if r.Batch != "" {
				batch = r.Batch
			}
		}
		next := "never"
		if !st.NextRun.IsZero() {
			next = st.NextRun.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pol.Name, pol.Provider, pol.Source, schedule,
			last, status, found, batch, next)
	}
	return tw.Flush()
}

// policiesJSON is the JSON form of `reaper policies`.
type policiesJSON struct {
	Leader   string       `json:"leader"`
	Policies []policyJSON `json:"policies"`
}

// policyJSON is one policy in `reaper policies --json`.
type policyJSON struct {
	Name         string               `json:"name"`
	Provider     string               `json:"provider"`
	Source       string               `json:"source"`
	Schedule     string               `json:"schedule"`
	TimeZone     string               `json:"timezone"`
	MinAge       string               `json:"min_age"`
	MaxDeletions int                  `json:"max_deletions"`
	DryRun       bool                 `json:"dry_run"`
	CheckedUntil *time.Time           `json:"checked_until"`
	NextRun      *time.Time           `json:"next_run"`
	LastRun      *scheduler.RunRecord `json:"last_run"`
}

func toPolicyJSON(st scheduler.PolicyStatus) policyJSON {
	pol := st.Policy
	tz := pol.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return policyJSON{Name: pol.Name, Provider: pol.Provider, Source: pol.Source, Schedule: pol.Schedule,
		TimeZone: tz, MinAge: pol.MinAge.String(), MaxDeletions: pol.MaxDeletions, DryRun: pol.DryRun,
		CheckedUntil: opt(st.CheckedUntil), NextRun: opt(st.NextRun), LastRun: st.LastRun}
}

// runPolicyNow is `reaper policies run NAME [--dry-run]`: it prints the run's batch id on stdout (so
// `reaper wait --batch $(reaper policies run NAME)` works) and a summary on stderr. A refused or
// failed run exits 1.
func runPolicyNow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "policies", "run NAME [--dry-run] [--output text|json]")
	cfgPath := configFlag(fs, e)
	out := outputFlag(fs)
	dryRun := fs.Bool("dry-run", false, "record what the run would delete; delete nothing")
	by := fs.String("submitted-by", defaultSubmitter(), "who runs it, recorded with the run and its batch")
	// Flags may come before or after NAME.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("run: the policy NAME is required (reaper policies run NAME [--dry-run])")
	}
	name := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:]); err != nil {
		return err
	}
	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	s, err := wiring.Scheduler(p.Config, p.Pipeline, scheduler.Options{ID: *by})
	if err != nil {
		return err
	}
	rec, err := s.RunNow(ctx, name, *dryRun)
	switch {
	case out.JSON() && rec.ID != "":
		if werr := writeJSON(e.stdout, map[string]any{"batch_id": rec.Batch, "run": rec}); werr != nil && err == nil {
			err = werr
		}
	case rec.Batch != "" && !out.JSON():
		fmt.Fprintln(e.stdout, rec.Batch)
	}
	if err != nil {
		return err
	}
	found := strconv.Itoa(rec.Found)
	if rec.FoundAtLeast {
		found = "at least " + found
	}
	summary := fmt.Sprintf("run %s: %s, found %s", rec.ID, rec.Status, found)
	switch {
	case rec.Batch == "":
		summary += ", nothing to delete (no batch)"
	case rec.Status == scheduler.StatusRan:
		summary += fmt.Sprintf(", %d enqueued, %d duplicates already queued (batch %s)", rec.Enqueued, rec.Duplicates, rec.Batch)
	default:
		summary += " (batch " + rec.Batch + ")"
	}
	if rec.Error != "" {
		summary += "; " + rec.Error
	}
	fmt.Fprintln(e.stderr, summary)
	if rec.Status == scheduler.StatusRefused {
		return &exitError{code: 1, msg: "refused: the selection is larger than the policy's max_deletions; nothing was deleted"}
	}
	return nil
}
