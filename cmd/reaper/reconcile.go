package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"text/tabwriter"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

func runReconcile(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "reconcile", "--batch ID [--manifest FILE|-] [--dry-run] [--output text|json]")
	bc := batchFlags(fs, e, "to reconcile")
	out := outputFlag(fs)
	manifest := fs.String("manifest", "", "the batch's JSONL manifest `file` (- reads stdin): its targets with neither a record nor a queued task are enqueued again into the batch")
	dryRun := fs.Bool("dry-run", false, "report what reconcile would do; change nothing")
	p, batch, closeFn, err := bc.open(ctx, e, fs, args, nil)
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := p.Store.Batch(ctx, batch); err != nil {
		return err
	}
	o := jobs.ReconcileOptions{DryRun: *dryRun}
	if *manifest != "" {
		// Like enqueue: every line is validated first, and one bad line refuses the whole run.
		src, cleanup, err := openManifest(e, *manifest)
		if err != nil {
			return err
		}
		defer cleanup()
		if _, err := validateManifest(e, p.Producer, src, "reconciled"); err != nil {
			return err
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return err
		}
		o.Manifest, o.Producer = manifestTargets(src, p.Producer), p.Producer
	}
	rep, err := p.Admin.Reconcile(ctx, batch, o)
	if err != nil {
		return err
	}
	if err := out.print(e, toReconcileJSON(rep), func(w io.Writer) { writeReconcile(w, rep) }); err != nil {
		return err
	}
	switch {
	case rep.AddsUp():
		return nil
	case !rep.Stable:
		return &exitError{code: 1, msg: fmt.Sprintf("batch %s kept moving while it was counted: run reaper reconcile --batch %s again", batch, batch)}
	case rep.MissingAfter > 0 && *manifest == "":
		return &exitError{code: 1, msg: fmt.Sprintf("%d tasks of batch %s are neither recorded nor queued: run reaper reconcile --batch %s --manifest FILE", rep.MissingAfter, batch, batch)}
	case rep.MissingAfter > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("batch %s counts %d tasks that are neither recorded, queued, nor in the manifest: is it the batch's whole manifest?", batch, rep.MissingAfter)}
	default:
		return &exitError{code: 1, msg: fmt.Sprintf("batch %s holds %d more tasks than its total counts: run reaper reconcile --batch %s --manifest FILE", batch, -rep.MissingAfter, batch)}
	}
}

// manifestTargets is the second pass over a validated manifest for reconcile: every target, Prepared,
// and an error (stopping reconcile before it changes counts) for a line that no longer validates.
func manifestTargets(src io.Reader, prod *jobs.Producer) iter.Seq2[providers.Target, error] {
	return func(yield func(providers.Target, error) bool) {
		var readErr error
		for t := range prod.ManifestTargets(src, false, &readErr) {
			if !yield(t, nil) {
				return
			}
		}
		if readErr != nil {
			yield(providers.Target{}, readErr)
		}
	}
}

// writeReconcile prints a reconcile's report.
func writeReconcile(w io.Writer, r jobs.ReconcileReport) {
	would := func(done, dry string) string {
		if r.DryRun {
			return dry
		}
		return done
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "batch\t%s%s\n", r.Batch, would("", " (dry run: nothing changed)"))
	fmt.Fprintf(tw, "total\t%d tasks counted\n", r.Total)
	fmt.Fprintf(tw, "terminal\t%d with their outcome\n", r.Terminal)
	q := r.Queued
	fmt.Fprintf(tw, "queued\t%d (pending %d, active %d, scheduled %d, retry %d)\n", q.Sum(), q.Pending, q.Active, q.Scheduled, q.Retry)
	if r.Stranded > 0 {
		fmt.Fprintf(tw, "stranded\t%d active without a lease, %s\n", r.Stranded, would(fmt.Sprintf("%d requeued", r.Requeued), "would be requeued"))
	}
	if r.Reruns > 0 {
		fmt.Fprintf(tw, "re-runs\t%d queued again though recorded (they end without a second outcome)\n", r.Reruns)
	}
	fmt.Fprintf(tw, "missing\t%d (total - terminal - (queued - re-runs))\n", r.Missing)
	if !r.Stable {
		fmt.Fprintf(tw, "moving\tthe batch's counters changed while its queues were read: the counts are approximate\n")
	}
	if r.Checked > 0 || r.Reenqueued > 0 {
		fmt.Fprintf(tw, "manifest\t%d targets: %d recorded, %d queued, %d repeated lines\n", r.Checked, r.HadRecord, r.HadTask, r.ManifestRepeats)
		if r.Orphans > 0 {
			fmt.Fprintf(tw, "orphaned\t%d tasks in no queue list, %s\n", r.Orphans, would("put back to pending", "would be put back to pending"))
		}
		fmt.Fprintf(tw, "re-enqueued\t%s%d (%d added to the total)\n", would("", "would be "), r.Reenqueued, r.TotalAdded)
	}
	state := "adds up"
	switch {
	case !r.Stable:
		state = "unknown (the batch was moving)"
	case r.MissingAfter > 0:
		state = fmt.Sprintf("%d missing", r.MissingAfter)
	case r.MissingAfter < 0:
		state = fmt.Sprintf("%d tasks more than the total counts", -r.MissingAfter)
	}
	fmt.Fprintf(tw, "after\t%s\n", would(state, state+" (if run without --dry-run)"))
	_ = tw.Flush()
}

// writeDiscrepancy adds to `status --batch` a line saying when the batch's counts do not add up (see
// jobs.Admin.Discrepancy), with the command that repairs it.
func writeDiscrepancy(ctx context.Context, w io.Writer, p *jobs.Admin, b jobs.BatchInfo) error {
	missing, f, err := p.Discrepancy(ctx, b)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !f.At.IsZero() {
		fmt.Fprintf(tw, "reconciled\t%s\n", f.At.Local().Format(time.DateTime))
	}
	if missing > 0 {
		fmt.Fprintf(tw, "counts\tdo not add up: %d tasks are neither recorded nor queued; run reaper reconcile --batch %s --manifest FILE\n", missing, b.ID)
	}
	return tw.Flush()
}
