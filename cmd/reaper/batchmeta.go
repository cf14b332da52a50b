package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// metaFlags are enqueue's per-batch settings: the failure threshold, the webhook, the idempotency key.
type metaFlags struct {
	fs          *flag.FlagSet
	ratio       *float64
	minOutcomes *int
	notify      *string
	key         *string
}

func batchMetaFlags(fs *flag.FlagSet) metaFlags {
	return metaFlags{fs: fs,
		ratio:       fs.Float64("max-failure-ratio", 0, "suspend the batch once --min-outcomes outcomes are recorded and more than this share failed; 0 turns it off (default batch.max_failure_ratio)"),
		minOutcomes: fs.Int("min-outcomes", 0, "outcomes recorded before --max-failure-ratio applies (default batch.min_outcomes)"),
		notify:      fs.String("notify", "", "webhook `URL` POSTed the batch's status when it is done or suspended (default batch.notify_url)"),
		key:         fs.String("idempotency-key", "", "a `key` naming this submission: sent again with the same key and manifest, it prints the first batch instead of creating a second"),
	}
}

// set reports whether the flag was given.
func (m metaFlags) set(name string) bool {
	found := false
	m.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// check validates the flags that need no config.
func (m metaFlags) check() error {
	if *m.ratio < 0 || *m.ratio > 1 {
		return fmt.Errorf("--max-failure-ratio must be between 0 (off) and 1, got %g", *m.ratio)
	}
	if *m.minOutcomes < 0 {
		return fmt.Errorf("--min-outcomes must not be negative, got %d", *m.minOutcomes)
	}
	if err := jobs.CheckIdempotencyKey(*m.key); err != nil {
		return fmt.Errorf("--idempotency-key %w", err)
	}
	return nil
}

// meta adds the flags to m (the idempotency key scoped to the submitter).
func (m metaFlags) meta(p *app, meta jobs.BatchMeta) (jobs.BatchMeta, error) {
	if m.set("max-failure-ratio") {
		r := *m.ratio
		meta.MaxFailureRatio = &r
	}
	meta.MinOutcomes = *m.minOutcomes
	if *m.notify != "" {
		if err := p.Config.CheckNotify(*m.notify); err != nil {
			return meta, fmt.Errorf("--notify %w", err)
		}
		meta.Notify = *m.notify
	}
	meta.IdempotencyKey = jobs.IdempotencyKey{Scope: "cli:" + meta.SubmittedBy, Key: *m.key}
	return meta, nil
}

// readerDigest is the digest of what r holds (an idempotent submission's request), read from its
// start; r is left at its start.
func readerDigest(r io.ReadSeeker) (string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// targetDigest is the digest of a single target submitted by flags.
func targetDigest(t providers.Target) string {
	b, _ := json.Marshal(t)
	return jobs.RequestDigest(b)
}

// printReplay says that a submission was a replay of an earlier one: its batch id on stdout, as a
// submission prints it, and what happened on stderr.
func printReplay(ctx context.Context, e *env, p *app, batch, key string) error {
	fmt.Fprintln(e.stdout, batch)
	fmt.Fprintf(e.stderr, "batch %s: submitted before with idempotency key %q; nothing enqueued this time\n", batch, key)
	if b, err := p.Store.Batch(ctx, batch); err == nil && !b.Sealed {
		fmt.Fprintf(e.stderr, "batch %s is not sealed: its first submission is still enqueueing, or stopped (reaper status --batch %s; reaper reconcile --batch %s --manifest FILE completes it)\n", batch, batch, batch)
	}
	return nil
}

// writeAudit prints a batch's audit trail, oldest first.
func writeAudit(w io.Writer, trail []jobs.AuditEntry) {
	if len(trail) == 0 {
		return
	}
	fmt.Fprintln(w, "audit")
	for _, a := range trail {
		line := "  " + a.At.Local().Format(time.DateTime) + "  " + a.Action + " by " + a.Who
		if a.Detail != "" {
			line += ": " + a.Detail
		}
		fmt.Fprintln(w, line)
	}
}
