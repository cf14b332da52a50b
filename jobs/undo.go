package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// Undo puts back what a batch deleted into a recycle bin (SMH's, through batch restore): a new batch of
// kind undo, one restore task per recycled item, recorded restored, not_found (the bin no longer holds
// it), conflict (its path is taken again and the strategy is ask) or failed. status, wait and report
// work on it as on any batch.

// undoSourcePrefix starts an undo batch's Source: "undo:<original batch>".
const undoSourcePrefix = "undo:"

// UndoOptions configures Producer.Undo.
type UndoOptions struct {
	// Conflict is what a restore does when a file exists again at its path ("" is ask: it records
	// conflict and restores nothing over the file).
	Conflict providers.ConflictStrategy
	// DryRun counts what would be restored and enqueues nothing.
	DryRun bool
	// SubmittedBy and Note are recorded with the undo batch.
	SubmittedBy, Note string
	// ConfirmAbove is enqueue.confirm_above: more restores than this need Confirmed (0: no limit).
	ConfirmAbove int
	Confirmed    bool
	// ID is the undo batch's id (default a new one).
	ID string
}

// UndoPlan is what an undo restores and what it cannot.
type UndoPlan struct {
	// Of is the batch undone; Batch the undo batch (empty on a dry run).
	Of    string `json:"undo_of"`
	Batch string `json:"batch,omitempty"`
	// Restorable counts the recycled items the undo restores.
	Restorable int64 `json:"restorable"`
	// NotRestorable counts deletions no recycle bin holds: MSS and VOD deletes, permanent SMH deletes.
	NotRestorable int64 `json:"not_restorable"`
	// Untouched counts targets the batch did not delete (already gone, failed, cancelled, dry run):
	// nothing to put back.
	Untouched int64 `json:"untouched"`
	DryRun    bool  `json:"dry_run,omitempty"`
	// Enqueued and Duplicates are the restore tasks queued, and those already queued by another undo.
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
}

// ErrUndoOfUndo refuses to undo an undo batch: restoring is not a deletion to take back.
var ErrUndoOfUndo = errors.New("an undo batch cannot be undone")

// ErrNotDone refuses to undo a batch that still has tasks running: its recycled items are not all known.
var ErrNotDone = errors.New("batch is not done")

// restorable says what an undo does with a record: restore it, count it not restorable (deleted for
// good), or leave it (nothing was deleted).
func restorable(r Record) (restore, notRestorable bool) {
	switch r.Outcome {
	case Recycled:
		if r.RecycledItemID > 0 {
			return true, false
		}
		return false, true
	case Deleted:
		return false, true
	}
	return false, false
}

// Undo plans and, unless o.DryRun, enqueues the undo of batch of (see the package comment above).
// Records stream twice (count, then enqueue) so memory stays flat; the batch is done, so they do not
// change between the passes. More than o.ConfirmAbove restores without o.Confirmed returns a
// *ConfirmError and changes nothing.
func (p *Producer) Undo(ctx context.Context, of string, o UndoOptions) (UndoPlan, error) {
	plan := UndoPlan{Of: of, DryRun: o.DryRun}
	if _, err := providers.ParseConflictStrategy(string(o.Conflict)); err != nil {
		return plan, err
	}
	b, err := p.store.Batch(ctx, of)
	if err != nil {
		return plan, err
	}
	if b.UndoOf() != "" {
		return plan, fmt.Errorf("%w: %s is the undo of %s", ErrUndoOfUndo, of, b.UndoOf())
	}
	if !b.Done() {
		return plan, fmt.Errorf("%w: %s has %d tasks without an outcome; wait for it (or cancel it) first", ErrNotDone, of, b.Pending())
	}
	if err := p.store.Records(ctx, of, func(r Record) error {
		switch yes, no := restorable(r); {
		case yes:
			plan.Restorable++
		case no:
			plan.NotRestorable++
		default:
			plan.Untouched++
		}
		return nil
	}); err != nil {
		return plan, err
	}
	if o.DryRun {
		return plan, nil
	}
	if err := Confirm(o.ConfirmAbove, int(plan.Restorable), "restores", o.Confirmed); err != nil {
		return plan, err
	}

	meta := BatchMeta{ID: o.ID, SubmittedBy: o.SubmittedBy, Source: undoSourcePrefix + of, Note: o.Note}
	if meta.ID == "" {
		meta.ID = NewBatchID(time.Now())
	}
	plan.Batch = meta.ID
	if err := p.store.CreateBatch(ctx, meta); err != nil {
		return plan, err
	}
	if err := p.store.linkUndo(ctx, of, meta.ID, plan.NotRestorable); err != nil {
		return plan, err
	}
	if err := p.store.Audit(ctx, of, o.SubmittedBy, AuditUndone, "undone by "+meta.ID); err != nil {
		return plan, err
	}
	var readErr error
	tasks := func(yield func(Payload) bool) {
		readErr = p.store.Records(ctx, of, func(r Record) error {
			if yes, _ := restorable(r); yes && !yield(Payload{Batch: meta.ID, Target: r.Target, Op: OpRestore,
				RecycledItemID: r.RecycledItemID, Conflict: o.Conflict}) {
				return errStopRecords
			}
			return nil
		})
		if errors.Is(readErr, errStopRecords) {
			readErr = nil // addTasks stopped on an error of its own, which it returns
		}
	}
	sum, err := p.addTasks(ctx, meta.ID, tasks, nil)
	plan.Enqueued, plan.Duplicates = sum.Enqueued, sum.Duplicates
	if err == nil {
		err = readErr
	}
	if err != nil {
		return plan, err
	}
	if err := p.store.SealBatch(ctx, meta.ID); err != nil {
		return plan, fmt.Errorf("seal batch: %w", err)
	}
	return plan, nil
}

// UndoOf is the batch an undo batch undoes ("" for any other batch).
func (b BatchInfo) UndoOf() string {
	of, _ := strings.CutPrefix(b.Source, undoSourcePrefix)
	if of == b.Source {
		return ""
	}
	return of
}

// Kind is the batch's kind: KindUndo for an undo batch, else KindDelete.
func (b BatchInfo) Kind() string {
	if b.UndoOf() != "" {
		return KindUndo
	}
	return KindDelete
}

// linkUndo records the undo batch undo of batch of: its count of deletions it cannot restore, and on
// the original the newest undo's id.
func (s *Store) linkUndo(ctx context.Context, of, undo string, notRestorable int64) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, metaKey(undo), metaNotRestorable, notRestorable)
		p.HSet(ctx, metaKey(of), metaUndoneBy, undo)
		return nil
	})
	if err != nil {
		return fmt.Errorf("link undo %s to %s: %w", undo, of, err)
	}
	return nil
}
