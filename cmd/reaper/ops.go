package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

func runRetry(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "retry", "--batch ID [--now] [--yes] [--output text|json]")
	bc := batchFlags(fs, e, "whose failed targets to re-enqueue")
	out := outputFlag(fs)
	by := fs.String("submitted-by", defaultSubmitter(), "who submits the new batch")
	now := fs.Bool("now", false, "instead, run the batch's tasks parked for the overnight retry window now (they keep the nights they used)")
	yes := fs.Bool("yes", false, "confirm retrying more failed targets than enqueue.confirm_above (deletes are irreversible)")
	p, batch, closeFn, err := bc.open(ctx, e, fs, args, nil)
	if err != nil {
		return err
	}
	defer closeFn()
	if *now {
		n, err := p.Admin.RunParked(ctx, batch)
		if err != nil {
			return err
		}
		return out.print(e, map[string]any{"batch_id": batch, "brought_forward": n}, func(w io.Writer) {
			fmt.Fprintf(w, "batch %s: %d parked tasks brought forward to run now\n", batch, n)
		})
	}
	b, err := p.Store.Batch(ctx, batch)
	if err != nil {
		return err
	}
	if err := jobs.Confirm(p.Config.Enqueue.ConfirmAbove, int(b.Counts[jobs.Failed]), "failed targets", *yes); err != nil {
		return fmt.Errorf("%w: check them with reaper report --batch %s --only failed, then pass --yes", err, batch)
	}
	sum, err := p.Producer.RetryFailed(ctx, batch, jobs.BatchMeta{SubmittedBy: *by})
	if err != nil {
		return err
	}
	return out.summary(e, sum)
}

func runCancel(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "cancel", "--batch ID [--output text|json]")
	bc := batchFlags(fs, e, "to stop")
	by := byFlag(fs)
	out := outputFlag(fs)
	p, batch, closeFn, err := bc.open(ctx, e, fs, args, nil)
	if err != nil {
		return err
	}
	defer closeFn()
	n, err := p.Admin.CancelAs(ctx, batch, *by)
	if err != nil {
		return err
	}
	return out.print(e, map[string]any{"batch_id": batch, "cancelled": n}, func(w io.Writer) {
		fmt.Fprintf(w, "batch %s cancelled: %d queued tasks removed and recorded cancelled; in-flight deletes finish and are recorded as they end\n", batch, n)
	})
}

func runPause(ctx context.Context, e *env, args []string) error {
	return pauseResume(ctx, e, args, true)
}

func runResume(ctx context.Context, e *env, args []string) error {
	return pauseResume(ctx, e, args, false)
}

// byFlag registers --by: who changes a batch's state, for its audit trail.
func byFlag(fs *flag.FlagSet) *string {
	return fs.String("by", defaultSubmitter(), "who does this, recorded in the batch's audit trail")
}

// resumeBatch is `resume --batch ID`: a batch suspended by its failure threshold continues.
func resumeBatch(ctx context.Context, e *env, out *output, cfgPath, batch, by string) error {
	if err := checkBatchID(batch); err != nil {
		return err
	}
	p, closeFn, err := openPipeline(ctx, e, cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	n, err := p.Admin.ResumeBatch(ctx, batch, by)
	if err != nil {
		return err
	}
	return out.print(e, map[string]any{"batch_id": batch, "resumed": n}, func(w io.Writer) {
		fmt.Fprintf(w, "batch %s resumed: %d held tasks run now\n", batch, n)
	})
}

func pauseResume(ctx context.Context, e *env, args []string, pause bool) error {
	name := map[bool]string{true: "pause", false: "resume"}[pause]
	synopsis, help := "--provider P [--output text|json]", "mss, smh or vod (required)"
	var batch, by *string
	if !pause {
		synopsis, help = "--provider P | --batch ID [--output text|json]", "mss, smh or vod: the paused queue to release"
	}
	fs := newFlags(e, name, synopsis)
	cfgPath := configFlag(fs, e)
	provider := fs.String("provider", "", help)
	if !pause {
		batch = fs.String("batch", "", "batch `id` suspended by its failure threshold, to continue")
		by = byFlag(fs)
	}
	out := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if batch != nil && (*batch == "") == (*provider == "") {
		return errors.New("give either --provider P (a paused queue) or --batch ID (a suspended batch)")
	}
	if batch != nil && *batch != "" {
		return resumeBatch(ctx, e, out, *cfgPath, *batch, *by)
	}
	n, err := providers.ParseName(*provider)
	if err != nil {
		return fmt.Errorf("--provider: %w", err)
	}
	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	if pause {
		err = p.Admin.Pause(n)
	} else {
		err = p.Admin.Resume(n)
	}
	if err != nil {
		return err
	}
	return out.print(e, map[string]any{"provider": n, "paused": pause}, func(w io.Writer) {
		fmt.Fprintf(w, "%s queue %sd\n", n, name)
	})
}
