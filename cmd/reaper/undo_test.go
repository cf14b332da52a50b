package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// `reaper undo` restores what a batch recycled, as a batch that status, wait and report follow; it
// asks for --yes above enqueue.confirm_above, counts what it cannot restore, and refuses an undo of
// an undo.
func TestUndoCommand(t *testing.T) {
	c := newCLIWith(t, "enqueue: {confirm_above: 5}\n", fakestack.Options{Seed: 3, RecycleBin: true})
	var targets []providers.Target
	for i := range 8 {
		tg := providers.Target{Provider: providers.SMH, LibraryID: c.stack.Creds.SMHLibrary, SpaceID: "-", Path: fmt.Sprintf("undo/%d.mp4", i)}
		c.stack.SMH.Add(tg)
		targets = append(targets, tg)
	}
	vod := providers.Target{Provider: providers.VOD, FileID: "5285890000000000001", SubAppID: c.stack.Creds.VODSubApp}
	c.stack.VOD.Add(vod)
	code, out, errOut := c.run(t, manifest(append(targets, vod)), "enqueue", "--manifest", "-", "--yes")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	c.worker(t)
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "60s")
	require.Equal(t, 0, code, errOut)

	code, out, errOut = c.run(t, "", "undo", "--batch", batch, "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "8 recycled items would be restored; 1 deletions cannot be")
	code, out, errOut = c.run(t, "", "undo", "--batch", batch, "--dry-run", "--output", "json")
	require.Equal(t, 0, code, errOut)
	var plan jobs.UndoPlan
	require.NoError(t, json.Unmarshal([]byte(out), &plan))
	assert.Equal(t, jobs.UndoPlan{Of: batch, Restorable: 8, NotRestorable: 1, DryRun: true}, plan)

	code, _, errOut = c.run(t, "", "undo", "--batch", batch, "--conflict", "sideways")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--conflict")

	code, _, errOut = c.run(t, "", "undo", "--batch", batch)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "8 restores is more than enqueue.confirm_above (5)")

	code, out, errOut = c.run(t, "", "undo", "--batch", batch, "--yes", "--conflict", "rename")
	require.Equal(t, 0, code, errOut)
	undo := strings.TrimSpace(out)
	code, _, errOut = c.run(t, "", "wait", "--batch", undo, "--timeout", "60s")
	require.Equal(t, 0, code, errOut)
	for _, tg := range targets {
		assert.True(t, c.stack.SMH.Exists(tg), "%s restored", tg)
	}

	code, out, errOut = c.run(t, "", "status", "--batch", undo, "--json")
	require.Equal(t, 0, code, errOut)
	var st jobs.BatchStatus
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, jobs.KindUndo, st.Kind)
	assert.Equal(t, batch, st.UndoOf)
	assert.Equal(t, int64(8), st.Outcomes["restored"])
	assert.Equal(t, int64(1), st.NotRestorable)

	code, out, _ = c.run(t, "", "report", "--batch", undo, "--only", "restored")
	require.Equal(t, 0, code)
	assert.Equal(t, 8, strings.Count(out, "\n"))

	code, _, errOut = c.run(t, "", "undo", "--batch", undo, "--yes")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "an undo batch cannot be undone")
}
