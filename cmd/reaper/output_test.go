package main

import (
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// --output takes text or json; --json, where a command had it, is the same as --output json, and
// contradicting it is refused whichever comes first.
func TestOutputFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		json    bool
		wantErr string
	}{
		{nil, false, ""},
		{[]string{"--output", "json"}, true, ""},
		{[]string{"--output=text"}, false, ""},
		{[]string{"--json"}, true, ""},
		{[]string{"--json=false"}, false, ""},
		{[]string{"--json", "--output", "json"}, true, ""},
		{[]string{"--output", "yaml"}, false, `must be text or json, not "yaml"`},
		{[]string{"--json", "--output", "text"}, false, "contradict"},
		{[]string{"--output", "text", "--json"}, false, "contradict"},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := outputFlag(fs).withJSONAlias(fs)
		err := fs.Parse(tc.args)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, "%v", tc.args)
			continue
		}
		require.NoError(t, err, "%v", tc.args)
		assert.Equal(t, tc.json, out.JSON(), "%v", tc.args)
	}
}

// Every command that reads prints one JSON document on stdout with --output json, and its exit code
// does not change.
func TestOutputJSONOnEveryReadingCommand(t *testing.T) {
	c := newCLI(t, "")
	decode := func(out string, v any) {
		t.Helper()
		require.Equal(t, 1, strings.Count(out, "\n"), "one JSON document: %q", out)
		require.NoError(t, json.Unmarshal([]byte(out), v), out)
	}
	targets := c.stack.Targets(3, 3) // one per provider already gone
	locked := providers.Target{Provider: providers.VOD, FileID: "locked", SubAppID: 999}
	in := manifest(append(targets, locked))

	code, out, errOut := c.run(t, in, "enqueue", "--manifest", "-", "--dry-run", "--output", "json")
	require.Equal(t, 0, code, errOut)
	var counts countsJSON
	decode(out, &counts)
	assert.Equal(t, countsJSON{DryRun: true, Action: "enqueued", Total: 10,
		ByProvider: map[providers.Name]int{providers.MSS: 3, providers.SMH: 3, providers.VOD: 4}}, counts)

	code, out, errOut = c.run(t, "", "pause", "--provider", "vod", "--output", "json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, `{"provider":"vod","paused":true}`, out)

	code, out, errOut = c.run(t, in, "enqueue", "--manifest", "-", "--output", "json")
	require.Equal(t, 0, code, errOut)
	var sum summaryJSON
	decode(out, &sum)
	require.True(t, jobs.ValidBatchID(sum.BatchID), sum.BatchID)
	assert.Equal(t, summaryJSON{BatchID: sum.BatchID, Enqueued: 10, ByProvider: map[providers.Name]int{providers.MSS: 3, providers.SMH: 3, providers.VOD: 4}}, sum)
	batch := sum.BatchID

	c.worker(t)
	code, out, _ = c.run(t, "", "wait", "--batch", batch, "--timeout", "1s", "--output", "json")
	assert.Equal(t, 2, code, "the VOD queue is paused")
	var st jobs.BatchStatus
	decode(out, &st)
	assert.Equal(t, batch, st.Batch)
	assert.Equal(t, int64(4), st.Pending)

	code, out, errOut = c.run(t, "", "resume", "--provider", "vod", "--output", "json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, `{"provider":"vod","paused":false}`, out)
	code, out, _ = c.run(t, "", "wait", "--batch", batch, "--timeout", "60s", "--output", "json")
	assert.Equal(t, 1, code, "one target failed")
	decode(out, &st)
	assert.True(t, st.Done)
	assert.Equal(t, int64(1), st.Outcomes["failed"])
	assert.Equal(t, int64(3), st.Outcomes["already_gone"])

	code, out, errOut = c.run(t, "", "status", "--batch", batch, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var again jobs.BatchStatus
	decode(out, &again)
	assert.Equal(t, st.Outcomes, again.Outcomes)
	code, out, _ = c.run(t, "", "status", "--output", "json")
	require.Equal(t, 0, code)
	var all struct {
		Queues  []map[string]any   `json:"queues"`
		Batches []jobs.BatchStatus `json:"batches"`
	}
	decode(out, &all)
	assert.Len(t, all.Queues, len(providers.Names))
	require.Len(t, all.Batches, 1)

	// report: --output json is JSONL, one record per target; with --format csv it is refused.
	code, out, errOut = c.run(t, "", "report", "--batch", batch, "--output", "json")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 10)
	for _, l := range lines {
		var r jobs.Record
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		assert.Equal(t, batch, r.Batch)
	}
	code, out, errOut = c.run(t, "", "report", "--batch", batch, "--output", "json", "--format", "csv")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "--output json prints the report as JSONL: it contradicts --format csv")

	code, out, errOut = c.run(t, "", "reconcile", "--batch", batch, "--dry-run", "--output", "json")
	require.Equal(t, 0, code, errOut)
	var rec reconcileJSON
	decode(out, &rec)
	assert.Equal(t, reconcileJSON{BatchID: batch, DryRun: true, Sealed: true, Total: 10, Terminal: 10, Stable: true, AddsUp: true}, rec)

	code, out, errOut = c.run(t, "", "retry", "--batch", batch, "--now", "--output", "json")
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, `{"batch_id":"`+batch+`","brought_forward":0}`, out)
	c.stack.VOD.Add(locked)
	code, out, errOut = c.run(t, "", "retry", "--batch", batch, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var retried summaryJSON
	decode(out, &retried)
	assert.NotEqual(t, batch, retried.BatchID)
	assert.Equal(t, 1, retried.Enqueued)

	code, out, errOut = c.run(t, "", "cancel", "--batch", retried.BatchID, "--output", "json")
	require.Equal(t, 0, code, errOut)
	var cancelled struct {
		BatchID   string `json:"batch_id"`
		Cancelled *int   `json:"cancelled"`
	}
	decode(out, &cancelled)
	assert.Equal(t, retried.BatchID, cancelled.BatchID)
	require.NotNil(t, cancelled.Cancelled)

	// An enqueue replayed by its idempotency key names the first batch.
	one := []string{"enqueue", "--provider", "vod", "--file-id", "once", "--idempotency-key", "k-1", "--output", "json"}
	code, out, errOut = c.run(t, "", one...)
	require.Equal(t, 0, code, errOut)
	var first summaryJSON
	decode(out, &first)
	code, out, errOut = c.run(t, "", one...)
	require.Equal(t, 0, code, errOut)
	assert.JSONEq(t, `{"batch_id":"`+first.BatchID+`","replayed":true}`, out)
	assert.Contains(t, errOut, "nothing enqueued this time")

	for _, args := range [][]string{{"policies", "--output", "json"}, {"policies", "--json"}} {
		code, out, errOut = c.run(t, "", args...)
		require.Equal(t, 0, code, errOut)
		assert.JSONEq(t, `{"leader":"","policies":[]}`, out, "%v", args)
	}
}
