package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// runUndo is `reaper undo --batch ID [--dry-run] [--conflict ask|rename|overwrite] [--yes]`: restore
// every item the batch recycled, as a new batch of kind undo.
func runUndo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "undo", "--batch ID [--dry-run] [--conflict ask|rename|overwrite] [--yes] [--output text|json]")
	bc := batchFlags(fs, e, "whose recycled items to restore")
	dry := fs.Bool("dry-run", false, "count what would be restored and what cannot be; restore nothing")
	conflict := fs.String("conflict", "ask", "when a file exists again at an item's path: `ask` (restore nothing over it, record conflict), rename (restore beside it), overwrite")
	yes := fs.Bool("yes", false, "confirm restoring more items than enqueue.confirm_above")
	by := fs.String("submitted-by", defaultSubmitter(), "who submits the undo batch")
	note := fs.String("note", "", "free text recorded with the undo batch")
	out := outputFlag(fs).withJSONAlias(fs)
	var strategy providers.ConflictStrategy
	p, batch, closeFn, err := bc.open(ctx, e, fs, args, func() (err error) {
		strategy, err = providers.ParseConflictStrategy(*conflict)
		if err != nil {
			return fmt.Errorf("--conflict: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer closeFn()
	plan, err := p.Producer.Undo(ctx, batch, jobs.UndoOptions{Conflict: strategy, DryRun: *dry, SubmittedBy: *by, Note: *note,
		ConfirmAbove: p.Config.Enqueue.ConfirmAbove, Confirmed: *yes})
	if err != nil {
		if ce := (*jobs.ConfirmError)(nil); errors.As(err, &ce) {
			return fmt.Errorf("%w: check with reaper undo --batch %s --dry-run, then pass --yes", err, batch)
		}
		return err
	}
	if plan.DryRun {
		return out.print(e, plan, func(w io.Writer) {
			fmt.Fprintf(w, "batch %s: %d recycled items would be restored; %d deletions cannot be (deleted for good: MSS, VOD, permanent SMH deletes); %d targets were not deleted\n",
				batch, plan.Restorable, plan.NotRestorable, plan.Untouched)
		})
	}
	fmt.Fprintf(e.stderr, "undo batch %s of %s: %d restores enqueued (%d already queued); %d deletions cannot be restored; follow it with reaper wait --batch %s\n",
		plan.Batch, batch, plan.Enqueued, plan.Duplicates, plan.NotRestorable, plan.Batch)
	return out.print(e, plan, func(w io.Writer) { fmt.Fprintln(w, plan.Batch) })
}
