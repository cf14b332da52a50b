package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status", "[--batch ID [--watch [--interval D] [--timeout D]]] [--output text|json] [--recent N]")
	cfgPath := configFlag(fs, e)
	batch := fs.String("batch", "", "batch `id`; without it, the queues and the most recent batches")
	out := outputFlag(fs).withJSONAlias(fs)
	recent := fs.Int("recent", 10, "how many recent batches to list without --batch")
	watch := fs.Bool("watch", false, "with --batch: redraw the batch, a progress bar per provider, until it is done (exit 0, or 1 when some failed, as wait); one line per interval when stdout is not a terminal")
	interval := fs.Duration("interval", 2*time.Second, "with --watch: how often to redraw")
	timeout := fs.Duration("timeout", 0, "with --watch: stop after this long and exit 2, as wait (0: until the batch is done or Ctrl-C)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *batch != "" {
		if err := checkBatchID(*batch); err != nil {
			return err
		}
	}
	if *watch && *batch == "" {
		return errors.New("--watch needs --batch ID")
	}
	if *interval <= 0 {
		return fmt.Errorf("--interval must be positive, got %s", *interval)
	}
	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()

	if *watch {
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		return watchBatch(ctx, e, p, *batch, *interval, out)
	}
	if *batch != "" {
		b, err := p.Store.Batch(ctx, *batch)
		if err != nil {
			return err
		}
		st, parked, err := jobs.Describe(ctx, p.Store, b)
		if err != nil {
			return err
		}
		if out.JSON() {
			return writeJSON(e.stdout, st)
		}
		writeBatch(e.stdout, b, parked)
		writeAudit(e.stdout, st.Audit)
		return writeDiscrepancy(ctx, e.stdout, p.Admin, b)
	}

	queues, err := p.Admin.Queues()
	if err != nil {
		return err
	}
	ids, err := p.Store.Batches(ctx, int64(*recent))
	if err != nil {
		return err
	}
	var batches []jobs.BatchStatus
	for _, id := range ids {
		if b, err := p.Store.Batch(ctx, id); err == nil {
			st, _, err := jobs.AddParked(ctx, p.Store, jobs.StatusOf(b))
			if err != nil {
				return err
			}
			batches = append(batches, st)
		}
	}
	if out.JSON() {
		type queue struct {
			Provider  providers.Name `json:"provider"`
			Pending   int            `json:"pending"`
			Active    int            `json:"active"`
			Scheduled int            `json:"scheduled"`
			Retry     int            `json:"retry"`
			Paused    bool           `json:"paused"`
			LatencyS  float64        `json:"latency_seconds"`
		}
		var qs []queue
		for _, q := range queues {
			qs = append(qs, queue{q.Provider, q.Pending, q.Active, q.Scheduled, q.Retry, q.Paused, q.Latency.Seconds()})
		}
		return writeJSON(e.stdout, map[string]any{"queues": qs, "batches": batches})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tPAUSED\tLATENCY")
	for _, q := range queues {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\t%s\n", q.Provider, q.Pending, q.Active, q.Scheduled, q.Retry, q.Paused, q.Latency.Round(time.Second))
	}
	fmt.Fprintln(tw, "\nBATCH\tCREATED\tTOTAL\tPENDING\tDELETED\tRECYCLED\tGONE\tFAILED\tCANCELLED\tDRY RUN\tDONE\tPARKED\tNEXT ATTEMPT")
	for _, b := range batches {
		o := b.Outcomes
		next := "-"
		if b.NextAttempt != nil {
			next = b.NextAttempt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%d\t%s\n", b.Batch, b.CreatedAt.Local().Format(time.DateTime), b.Total, b.Pending,
			o["deleted"], o["recycled"], o["already_gone"], o["failed"], o["cancelled"], o["dry_run"], b.Done, b.Parked, next)
	}
	return tw.Flush()
}

func printBatch(e *env, b jobs.BatchInfo) { writeBatch(e.stdout, b, jobs.Parked{}) }

// writeBatch prints a batch's state, with its parked tasks when it has some.
func writeBatch(w io.Writer, b jobs.BatchInfo, parked jobs.Parked) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "batch\t%s\n", b.ID)
	fmt.Fprintf(tw, "submitted\t%s by %s (%s)\n", b.CreatedAt.Local().Format(time.DateTime), b.SubmittedBy, b.Source)
	if b.Note != "" {
		fmt.Fprintf(tw, "note\t%s\n", b.Note)
	}
	state := "running"
	switch {
	case b.Done():
		state = "done"
	case !b.Sealed:
		state = "enqueueing (or the enqueue stopped early)"
	}
	if b.Cancelled {
		state += ", cancelled"
	} else if b.Suspended {
		state += fmt.Sprintf(", suspended: %s (reaper resume --batch %s continues it, reaper cancel --batch %s ends it)", b.SuspendReason, b.ID, b.ID)
	}
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "total\t%d (%d duplicates not enqueued)\n", b.Total, b.Duplicates)
	if of := b.UndoOf(); of != "" {
		fmt.Fprintf(tw, "undo of\t%s (%d of its deletions cannot be restored: deleted for good)\n", of, b.NotRestorable)
	}
	if b.UndoneBy != "" {
		fmt.Fprintf(tw, "undone by\t%s\n", b.UndoneBy)
	}
	for _, o := range jobs.OutcomesOf(b.Kind()) {
		fmt.Fprintf(tw, "%s\t%d\n", o, b.Counts[o])
	}
	fmt.Fprintf(tw, "pending\t%d\n", b.Pending())
	if parked.Count > 0 {
		fmt.Fprintf(tw, "parked\t%d for the overnight retry window, next attempt %s (reaper retry --batch %s --now runs them now)\n",
			parked.Count, parked.Next.Local().Format(time.DateTime+" MST"), b.ID)
	}
	if r := b.Rate(); r > 0 {
		fmt.Fprintf(tw, "rate\t%.1f/s\n", r)
		if eta := b.ETA(); eta > 0 {
			fmt.Fprintf(tw, "eta\t%s\n", eta.Round(time.Second))
		}
	}
	_ = tw.Flush()
}

func runWait(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "wait", "--batch ID [--timeout D] [--output text|json]")
	bc := batchFlags(fs, e, "to wait for")
	out := outputFlag(fs)
	timeout := fs.Duration("timeout", 0, "give up after this long and exit 2 (0 waits forever)")
	interval := fs.Duration("interval", 500*time.Millisecond, "how often to poll")
	quiet := fs.Bool("quiet", false, "no progress line")
	p, batch, closeFn, err := bc.open(ctx, e, fs, args, nil)
	if err != nil {
		return err
	}
	defer closeFn()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	b, err := waitBatch(ctx, p.Store, batch, *interval, func(b jobs.BatchInfo) {
		if !*quiet && isTerminal(e.stderr) {
			fmt.Fprintf(e.stderr, "\r%s: %d/%d done, %d failed", b.ID, b.Terminal, b.Total, b.Counts[jobs.Failed])
		}
	})
	if !*quiet && isTerminal(e.stderr) {
		fmt.Fprintln(e.stderr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		msg := fmt.Sprintf("timed out: %d of %d tasks still pending", b.Pending(), b.Total)
		st, pk, perr := jobs.AddParked(context.WithoutCancel(ctx), p.Store, jobs.StatusOf(b))
		if perr == nil && pk.Count > 0 {
			msg += fmt.Sprintf(", %d of them parked for the overnight retry window (next attempt %s; reaper retry --batch %s --now runs them now)",
				pk.Count, pk.Next.Local().Format(time.DateTime+" MST"), b.ID)
		}
		if out.JSON() {
			if err := writeJSON(e.stdout, st); err != nil {
				return err
			}
		}
		return &exitError{code: 2, msg: msg}
	}
	if err != nil {
		return err
	}
	if out.JSON() {
		if err := writeJSON(e.stdout, jobs.StatusOf(b)); err != nil {
			return err
		}
	} else {
		printBatch(e, b)
	}
	return failedExit(b)
}

// waitBatch polls until the batch is done or ctx ends, returning the last state seen.
func waitBatch(ctx context.Context, s *jobs.Store, id string, every time.Duration, tick func(jobs.BatchInfo)) (jobs.BatchInfo, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last jobs.BatchInfo
	for {
		b, err := s.Batch(context.WithoutCancel(ctx), id)
		if err != nil {
			return last, err
		}
		last = b
		if tick != nil {
			tick(b)
		}
		if b.Done() {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "report", "--batch ID [--format jsonl|csv | --output json] [--only OUTCOME]")
	bc := batchFlags(fs, e, "to report on")
	format := fs.String("format", "jsonl", "jsonl or csv")
	out := outputFlag(fs)
	only := fs.String("only", "", "only rows with this outcome (failed, deleted, recycled, already_gone, cancelled, dry_run)")
	p, batch, closeFn, err := bc.open(ctx, e, fs, args, func() error {
		if out.JSON() {
			// A report is one JSON object per target: --output json is --format jsonl.
			if flagGiven(fs, "format") && *format != jobs.JSONL {
				return fmt.Errorf("--output json prints the report as JSONL: it contradicts --format %s", *format)
			}
			*format = jobs.JSONL
		}
		if *format != "jsonl" && *format != "csv" {
			return fmt.Errorf("--format must be jsonl or csv, got %q", *format)
		}
		if *only != "" && !validOutcome(*only) {
			return fmt.Errorf("--only: unknown outcome %q", *only)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := p.Store.Batch(ctx, batch); err != nil {
		return err
	}
	return jobs.WriteReport(ctx, p.Store, batch, *format, jobs.Outcome(*only), e.stdout)
}

func validOutcome(s string) bool {
	for _, o := range jobs.Outcomes {
		if string(o) == s {
			return true
		}
	}
	return false
}
