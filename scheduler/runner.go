package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// countCeiling is how far past max_deletions a refused run keeps counting (as a multiple of it):
// enough to tell "a few more than expected" from "something is badly wrong", without listing a
// runaway selection to its end.
const countCeiling = 10

// bookkeepingTimeout bounds the writes that record a run's end, which go ahead after the run's context
// ended (a shutdown), so the run is not left recorded as running.
const bookkeepingTimeout = 10 * time.Second

// dryRunParallel is how many dry-run outcomes are written at once (the store group-commits them).
const dryRunParallel = 16

// runner does policy runs: it selects, applies the blast-radius cap, and submits, records a dry run,
// or refuses, always as a batch.
type runner struct {
	producer *jobs.Producer
	sources  map[string]Source
	state    stateStore
	now      func() time.Time
	log      *slog.Logger
}

// run is one run to do.
type run struct {
	id        string
	scheduled time.Time
	dryRun    bool
	by        string // replica id, recorded as the batch's submitter
}

// selection is what a source found for a run.
type selection struct {
	targets []providers.Target // prepared, deduplicated, at most max_deletions
	found   int                // targets found, counted past the cap
	atLeast bool               // counting stopped at the ceiling
	skipped int                // entries the source passed over as unusable (SkipFunc)
}

// errEnough stops a source once a refused run has counted far enough.
var errEnough = errors.New("counted enough")

// do runs policy p once. It returns the run's record, and an error when the run failed.
func (r *runner) do(ctx context.Context, p RetentionPolicy, rn run) (RunRecord, error) {
	started := r.now()
	rec := RunRecord{ID: rn.id, Policy: p.Name, Scheduled: rn.scheduled.UTC(), Started: started.UTC(),
		Status: StatusRunning, DryRun: rn.dryRun, Replica: rn.by}
	log := r.log.With("policy", p.Name, "run", rn.id)
	if err := r.state.saveRun(ctx, rec); err != nil {
		log.Warn("could not record the run's start", "err", err)
	}
	log.Info("policy run started", "dry_run", rn.dryRun, "source", p.Source)

	cutoff := started.Add(-p.MinAge)
	note := rn.id
	if rn.dryRun {
		note += " dry run"
	}
	meta := jobs.BatchMeta{ID: jobs.NewBatchID(started), SubmittedBy: rn.by, Source: "policy:" + p.Name, Note: note}

	sel, err := r.collect(ctx, log, p, cutoff)
	rec.Found, rec.FoundAtLeast, rec.Skipped = sel.found, sel.atLeast, sel.skipped
	switch {
	case err != nil && !errors.Is(err, ErrIncomplete):
		// A selection cut short by an error is not what the policy selects: enqueue none of it. The
		// next tick selects again from scratch.
		rec.Error = "select: " + err.Error()
		return r.end(ctx, log, rec, StatusFailed, meta, "failed: "+rec.Error), fmt.Errorf("policy %s: %s", p.Name, rec.Error)
	case sel.found > p.MaxDeletions:
		found := fmt.Sprintf("found %d", sel.found)
		if sel.atLeast {
			found = fmt.Sprintf("found at least %d (counting stopped)", sel.found)
		}
		return r.end(ctx, log, rec, StatusRefused, meta,
			fmt.Sprintf("refused: %s, more than max_deletions %d", found, p.MaxDeletions)), nil
	case err != nil:
		rec.Error = err.Error()
		log.Warn("selection incomplete: running with what was found; the next run reaches the rest", "err", err)
	}
	if len(sel.targets) == 0 {
		// Nothing to delete: no batch, so a frequent policy does not bury real batches in empty ones.
		status := StatusRan
		if rn.dryRun {
			status = StatusDryRun
		}
		return r.end(ctx, log, rec, status, jobs.BatchMeta{}, ""), nil
	}

	if rn.dryRun {
		rec.Batch = meta.ID
		if err := r.recordDryRun(ctx, meta, sel.targets); err != nil {
			rec.Error = "record dry run: " + err.Error()
			return r.end(ctx, log, rec, StatusFailed, jobs.BatchMeta{}, ""), fmt.Errorf("policy %s: %s", p.Name, rec.Error)
		}
		return r.end(ctx, log, rec, StatusDryRun, jobs.BatchMeta{}, ""), nil
	}

	sum, err := r.producer.Submit(ctx, meta, slices.Values(sel.targets), nil)
	rec.Batch, rec.Enqueued, rec.Duplicates = meta.ID, sum.Enqueued, sum.Duplicates
	if err != nil {
		// The batch stays unsealed with what was enqueued; `status` shows it, `cancel` stops it.
		rec.Error = "enqueue: " + err.Error()
		return r.end(ctx, log, rec, StatusFailed, jobs.BatchMeta{}, ""), fmt.Errorf("policy %s: %s", p.Name, rec.Error)
	}
	if c, ok := r.sources[p.Source].(Committer); ok {
		if err := c.Commit(ctx, p, cutoff, sel.targets); err != nil {
			// The targets are queued; the registrations left behind are enqueued again by a later run
			// and recorded as duplicates or already gone.
			if rec.Error != "" {
				rec.Error += "; "
			}
			rec.Error += "after enqueueing: " + err.Error()
			log.Warn("could not commit the selection to its source", "err", err)
		}
	}
	return r.end(ctx, log, rec, StatusRan, jobs.BatchMeta{}, ""), nil
}

// collect runs p's source, keeping at most max_deletions prepared, distinct targets and counting on
// past the cap up to countCeiling times it.
func (r *runner) collect(ctx context.Context, log *slog.Logger, p RetentionPolicy, cutoff time.Time) (selection, error) {
	src, ok := r.sources[p.Source]
	if !ok {
		return selection{}, fmt.Errorf("source %q is not available: is its provider enabled?", p.Source)
	}
	ceiling := max(p.MaxDeletions, 1) * countCeiling
	seen := map[string]bool{}
	var sel selection
	ctx = WithSkip(ctx, func(entry string, reason error) {
		sel.skipped++
		log.Warn("skipped an entry the source cannot use", "entry", entry, "reason", reason.Error())
	})
	err := src.Select(ctx, p, cutoff, func(t providers.Target) error {
		if sel.found >= p.MaxDeletions {
			sel.found++
			if sel.found >= ceiling {
				sel.atLeast = true
				return errEnough
			}
			return nil
		}
		if err := r.producer.Prepare(&t); err != nil {
			return fmt.Errorf("selected target %s: %w", t, err)
		}
		if p.Permanent {
			t.Permanent = true
		}
		if k := t.Key(); !seen[k] {
			seen[k] = true
			sel.found++
			sel.targets = append(sel.targets, t)
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return sel, err
}

// recordDryRun records what a dry run would delete: a batch holding one dry_run outcome per target,
// so `report --batch` lists exactly that and `status` shows it done.
func (r *runner) recordDryRun(ctx context.Context, meta jobs.BatchMeta, targets []providers.Target) error {
	store := r.producer.Store()
	if err := store.CreateBatch(ctx, meta); err != nil {
		return err
	}
	if err := store.AddCounts(ctx, meta.ID, len(targets), 0); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for range dryRunParallel {
		wg.Go(func() {
			for i := range work {
				t := targets[i]
				rec := jobs.Record{Batch: meta.ID, Provider: t.Provider, Key: t.Key(), EnqueueID: fmt.Sprintf("dry-run-%d", i),
					Target: t, Outcome: jobs.DryRun, Message: "dry run: not deleted"}
				if _, err := store.Finish(ctx, rec, false); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range targets {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return store.SealBatch(ctx, meta.ID)
}

// end records the run's outcome. A non-empty note creates the run's batch sealed empty with that note
// (refused and failed runs), so `status` lists them with the reason.
func (r *runner) end(ctx context.Context, log *slog.Logger, rec RunRecord, status RunStatus, meta jobs.BatchMeta, note string) RunRecord {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	rec.Status = status
	if note != "" {
		meta.Note += ": " + note
		store := r.producer.Store()
		if err := store.CreateBatch(ctx, meta); err != nil {
			log.Warn("could not record the run's batch", "err", err)
		} else if err := store.SealBatch(ctx, meta.ID); err != nil {
			log.Warn("could not seal the run's batch", "err", err)
		} else {
			rec.Batch = meta.ID
		}
	}
	rec.Finished = r.now().UTC()
	if err := r.state.saveRun(ctx, rec); err != nil {
		log.Warn("could not record the run's end", "err", err)
	}
	attrs := []any{"status", string(status), "found", rec.Found, "batch", rec.Batch}
	if rec.Skipped > 0 {
		attrs = append(attrs, "skipped", rec.Skipped)
	}
	switch status {
	case StatusFailed:
		log.Error("policy run failed", append(attrs, "err", rec.Error)...)
	case StatusRefused:
		log.Warn("policy run refused: "+note, attrs...)
	default:
		log.Info("policy run finished", append(attrs, "enqueued", rec.Enqueued, "duplicates", rec.Duplicates)...)
	}
	return rec
}
