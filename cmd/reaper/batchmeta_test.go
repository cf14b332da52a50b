package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// A batch behind wrong MSS credentials is suspended after --min-outcomes with more than
// --max-failure-ratio failed; status says why and shows the audit trail; cancel ends it, every target
// with one outcome.
func TestCLISuspendStatusAndCancel(t *testing.T) {
	c := newCLI(t, "")
	var ts []providers.Target
	for _, tg := range c.stack.Targets(200, 0) {
		if tg.Provider == providers.MSS {
			ts = append(ts, tg)
		}
	}
	c.stack.Faults(providers.MSS).SetLatency(200*time.Millisecond, 0) // so the rest is still queued when the workers see the flag
	c.stack.Faults(providers.MSS).FailNext(1000, faults.Fault{Status: 401, Code: "APIG.0301", Message: "Incorrect IAM authentication information"})
	code, out, errOut := c.run(t, manifest(ts), "enqueue", "--manifest", "-", "--max-failure-ratio", "0.5", "--min-outcomes", "3", "--submitted-by", "alice")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	c.worker(t)
	var st jobs.BatchStatus
	require.Eventually(t, func() bool {
		_, out, _ := c.run(t, "", "status", "--batch", batch, "--json")
		return json.Unmarshal([]byte(out), &st) == nil && st.Suspended
	}, 30*time.Second, 100*time.Millisecond)
	assert.GreaterOrEqual(t, st.Outcomes["failed"], int64(3))

	code, out, _ = c.run(t, "", "status", "--batch", batch)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "suspended: ")
	assert.Contains(t, out, "reaper resume --batch "+batch)
	assert.Contains(t, out, "submitted by alice")
	assert.Contains(t, out, "suspended by reaper")

	code, _, errOut = c.run(t, "", "cancel", "--batch", batch, "--by", "carol")
	require.Equal(t, 0, code, errOut)
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "20s")
	assert.Equal(t, 1, code, "some failed: %s", errOut)
	_, out, _ = c.run(t, "", "status", "--batch", batch, "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, int64(len(ts)), st.Outcomes["failed"]+st.Outcomes["cancelled"], "every target one outcome")
	assert.Positive(t, st.Outcomes["cancelled"], "the held tasks")
	require.NotEmpty(t, st.Audit)
	last := st.Audit[len(st.Audit)-1]
	assert.Equal(t, "cancelled", last.Action)
	assert.Equal(t, "carol", last.Who)

	code, _, errOut = c.run(t, "", "resume", "--batch", batch)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cancelled")
}

func TestCLIIdempotencyKeyAndFlagChecks(t *testing.T) {
	c := newCLI(t, "")
	m := manifest(c.stack.Targets(2, 0))
	code, first, errOut := c.run(t, m, "enqueue", "--manifest", "-", "--idempotency-key", "ticket-7")
	require.Equal(t, 0, code, errOut)
	code, again, errOut := c.run(t, m, "enqueue", "--manifest", "-", "--idempotency-key", "ticket-7")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, first, again, "the first batch's id")
	assert.Contains(t, errOut, "submitted before with idempotency key")
	code, _, errOut = c.run(t, manifest(c.stack.Targets(3, 0)), "enqueue", "--manifest", "-", "--idempotency-key", "ticket-7")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "idempotency key already used")

	for _, bad := range [][]string{
		{"enqueue", "--manifest", "-", "--max-failure-ratio", "1.5"},
		{"enqueue", "--manifest", "-", "--notify", "https://hooks.example.com/x"},
		{"enqueue", "--manifest", "-", "--notify", "ftp://x/y"},
		{"resume"},
		{"resume", "--provider", "vod", "--batch", strings.TrimSpace(first)},
	} {
		code, _, errOut := c.run(t, m, bad...)
		assert.NotEqual(t, 0, code, "%v: %s", bad, errOut)
	}
	_, _, errOut = c.run(t, m, "enqueue", "--manifest", "-", "--notify", "https://hooks.example.com/x")
	assert.Contains(t, errOut, "--notify needs REAPER_WEBHOOK_SECRET")
	code, _, errOut = c.run(t, "", "resume", "--batch", strings.TrimSpace(first))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not suspended")
}
