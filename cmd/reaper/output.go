package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// Output formats of --output.
const (
	outputText = "text" // for people: tables and sentences (the default)
	outputJSON = "json" // for scripts: one JSON document on stdout
)

// output is the --output flag of every command that reads: text (the default) or json. In json mode
// a command prints exactly one JSON document on stdout; messages for people stay on stderr, and exit
// codes do not change.
type output struct {
	format       string
	setByOutput  bool // --output was given
	setByJSONFlg bool // --json (the older spelling) was given
}

// outputFlag registers --output on fs.
func outputFlag(fs *flag.FlagSet) *output {
	o := &output{format: outputText}
	fs.Var(o, "output", "`format` of what is printed on stdout: text or json")
	return o
}

// withJSONAlias also registers --json, the older spelling of --output json, kept so scripts that
// use it go on working. Giving both, with --output text, is refused.
func (o *output) withJSONAlias(fs *flag.FlagSet) *output {
	fs.Var(jsonAlias{o}, "json", "print JSON (the same as --output json)")
	return o
}

// String implements flag.Value.
func (o *output) String() string {
	if o == nil || o.format == "" {
		return outputText
	}
	return o.format
}

// Set implements flag.Value.
func (o *output) Set(v string) error {
	if v != outputText && v != outputJSON {
		return fmt.Errorf("must be text or json, not %q", v)
	}
	if o.setByJSONFlg && v != outputJSON {
		return errors.New("--json and --output text contradict each other")
	}
	o.format, o.setByOutput = v, true
	return nil
}

// Choices lists the values --output takes (shell completion offers them).
func (o *output) Choices() []string { return []string{outputText, outputJSON} }

// JSON reports whether the command prints JSON.
func (o *output) JSON() bool { return o.format == outputJSON }

// print writes v as JSON in json mode, or calls text with stdout otherwise.
func (o *output) print(e *env, v any, text func(io.Writer)) error {
	if o.JSON() {
		return writeJSON(e.stdout, v)
	}
	text(e.stdout)
	return nil
}

// summary prints what an enqueue did: the batch id (and a sentence on stderr) as text, or
// summaryJSON.
func (o *output) summary(e *env, s jobs.Summary) error {
	if o.JSON() {
		return writeJSON(e.stdout, toSummaryJSON(s))
	}
	return printSummary(e, s)
}

// replay prints an enqueue that replayed an earlier one with the same idempotency key: printReplay's
// batch id and notes as text, or {"batch_id", "replayed": true} (the notes still on stderr).
func (o *output) replay(ctx context.Context, e *env, p *app, batch, key string) error {
	if !o.JSON() {
		return printReplay(ctx, e, p, batch, key)
	}
	notes := *e
	notes.stdout = io.Discard
	if err := printReplay(ctx, &notes, p, batch, key); err != nil {
		return err
	}
	return writeJSON(e.stdout, map[string]any{"batch_id": batch, "replayed": true})
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// jsonAlias is --json: a boolean flag setting --output json.
type jsonAlias struct{ o *output }

func (j jsonAlias) String() string {
	if j.o == nil {
		return "false"
	}
	return strconv.FormatBool(j.o.JSON())
}

func (j jsonAlias) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	if !on {
		return nil
	}
	if j.o.setByOutput && j.o.format != outputJSON {
		return errors.New("--json and --output text contradict each other")
	}
	j.o.format, j.o.setByJSONFlg = outputJSON, true
	return nil
}

func (jsonAlias) IsBoolFlag() bool { return true }

// flagGiven reports whether the flag name was set on the command line (not left at its default).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// summaryJSON is the JSON form of what enqueue and retry did.
type summaryJSON struct {
	BatchID    string                 `json:"batch_id"`
	Enqueued   int                    `json:"enqueued"`
	Duplicates int                    `json:"duplicates"`
	ByProvider map[providers.Name]int `json:"by_provider"`
}

func toSummaryJSON(s jobs.Summary) summaryJSON {
	by := map[providers.Name]int{}
	for n, c := range s.ByProvider {
		if c > 0 {
			by[n] = c
		}
	}
	return summaryJSON{BatchID: s.Batch, Enqueued: s.Enqueued, Duplicates: s.Duplicates, ByProvider: by}
}

// countsJSON is the JSON form of a count per provider that is not an enqueue: a dry run's valid
// targets, or the targets registered in the retention index.
type countsJSON struct {
	DryRun     bool                   `json:"dry_run,omitempty"`
	Action     string                 `json:"action"` // what was (or, in a dry run, would be) done: enqueued, registered, unregistered
	Total      int                    `json:"total"`
	ByProvider map[providers.Name]int `json:"by_provider,omitempty"`
	Due        string                 `json:"due,omitempty"`       // registrations: when they are due (RFC 3339)
	NotFound   *int                   `json:"not_found,omitempty"` // unregistering: targets that had no registration
}

// reconcileJSON is the JSON form of a reconcile's report.
type reconcileJSON struct {
	BatchID         string `json:"batch_id"`
	DryRun          bool   `json:"dry_run"`
	Sealed          bool   `json:"sealed"`
	Total           int64  `json:"total"`
	Terminal        int64  `json:"terminal"`
	Queued          int64  `json:"queued"`
	Pending         int64  `json:"queued_pending"`
	Active          int64  `json:"queued_active"`
	Scheduled       int64  `json:"queued_scheduled"`
	Retry           int64  `json:"queued_retry"`
	Stranded        int    `json:"stranded"`
	Requeued        int    `json:"requeued"`
	Missing         int64  `json:"missing"`
	Stable          bool   `json:"stable"`
	Checked         int    `json:"manifest_checked"`
	HadRecord       int    `json:"manifest_had_record"`
	HadTask         int    `json:"manifest_had_task"`
	ManifestRepeats int    `json:"manifest_repeats"`
	Orphans         int    `json:"orphans"`
	Reenqueued      int    `json:"reenqueued"`
	TotalAdded      int64  `json:"total_added"`
	MissingAfter    int64  `json:"missing_after"`
	AddsUp          bool   `json:"adds_up"`
}

func toReconcileJSON(r jobs.ReconcileReport) reconcileJSON {
	q := r.Queued
	return reconcileJSON{BatchID: r.Batch, DryRun: r.DryRun, Sealed: r.Sealed, Total: r.Total, Terminal: r.Terminal,
		Queued: q.Sum(), Pending: q.Pending, Active: q.Active, Scheduled: q.Scheduled, Retry: q.Retry,
		Stranded: r.Stranded, Requeued: r.Requeued, Missing: r.Missing, Stable: r.Stable, Checked: r.Checked,
		HadRecord: r.HadRecord, HadTask: r.HadTask, ManifestRepeats: r.ManifestRepeats, Orphans: r.Orphans,
		Reenqueued: r.Reenqueued, TotalAdded: r.TotalAdded, MissingAfter: r.MissingAfter, AddsUp: r.AddsUp()}
}
