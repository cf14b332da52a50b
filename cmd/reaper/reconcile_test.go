package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// loseTask deletes a pending target's task, as a Redis that lost its last second of writes would.
func loseTask(t *testing.T, rdb redis.UniversalClient, tg providers.Target) {
	t.Helper()
	q, id := jobs.QueueName(tg.Provider), jobs.TaskID(tg)
	ctx := context.Background()
	require.NoError(t, rdb.LRem(ctx, "asynq:{"+q+"}:pending", 0, id).Err())
	require.NoError(t, rdb.Del(ctx, "asynq:{"+q+"}:t:"+id).Err())
}

// strandTask moves a pending target's task to active without a lease, as a dequeue cut off half way.
func strandTask(t *testing.T, rdb redis.UniversalClient, tg providers.Target) {
	t.Helper()
	q, id := jobs.QueueName(tg.Provider), jobs.TaskID(tg)
	ctx := context.Background()
	require.NoError(t, rdb.LRem(ctx, "asynq:{"+q+"}:pending", 0, id).Err())
	require.NoError(t, rdb.LPush(ctx, "asynq:{"+q+"}:active", id).Err())
	require.NoError(t, rdb.HSet(ctx, "asynq:{"+q+"}:t:"+id, "state", "active").Err())
}

// squash collapses runs of blanks, so assertions do not depend on tabwriter's column widths.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestReconcileCommand(t *testing.T) {
	c := newCLI(t, "")
	rdb := c.redis.Client()
	targets := c.stack.Targets(4, 0)
	dir := t.TempDir()
	file := filepath.Join(dir, "cleanup.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(manifest(targets)), 0o600))
	code, out, errOut := c.run(t, "", "enqueue", "--manifest", file)
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	for _, tg := range targets[:3] {
		loseTask(t, rdb, tg)
	}
	strandTask(t, rdb, targets[3])

	code, out, errOut = c.run(t, "", "reconcile", "--batch", batch)
	assert.Equal(t, 1, code)
	assert.Contains(t, squash(out), "stranded 1 active without a lease, 1 requeued")
	assert.Contains(t, squash(out), "missing 3 (total - terminal - (queued - re-runs))")
	assert.Contains(t, errOut, "3 tasks of batch "+batch+" are neither recorded nor queued: run reaper reconcile --batch "+batch+" --manifest FILE")

	code, out, errOut = c.run(t, "", "status", "--batch", batch)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, squash(out), "do not add up: 3 tasks are neither recorded nor queued; run reaper reconcile --batch "+batch+" --manifest FILE")

	// One bad line refuses the whole run, naming its line.
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(manifest(targets)+`{"provider":"smh","path":"a//b"}`+"\n"), 0o600))
	code, _, errOut = c.run(t, "", "reconcile", "--batch", batch, "--manifest", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "line 13: field path: segment 2 is empty")
	assert.Contains(t, errOut, "1 bad lines: nothing reconciled")

	// A dry run says what it would do and does nothing: the next one finds the same.
	for range 2 {
		code, out, errOut = c.run(t, "", "reconcile", "--batch", batch, "--manifest", file, "--dry-run")
		assert.Equal(t, 0, code, "the real run would add up: %s", errOut)
		assert.Contains(t, squash(out), "(dry run: nothing changed)")
		assert.Contains(t, squash(out), "re-enqueued would be 3 (0 added to the total)")
	}

	code, out, errOut = c.run(t, "", "reconcile", "--batch", batch, "--manifest", "-")
	assert.Equal(t, 1, code, "stdin was empty: its 0 targets leave 3 missing")
	assert.Contains(t, errOut, "is it the batch's whole manifest?")

	code, out, errOut = c.run(t, "", "reconcile", "--batch", batch, "--manifest", file)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, squash(out), "re-enqueued 3 (0 added to the total)")
	assert.Contains(t, squash(out), "after adds up")

	c.worker(t)
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "60s", "--quiet")
	require.Equal(t, 0, code, errOut)
	code, out, _ = c.run(t, "", "status", "--batch", batch)
	require.Equal(t, 0, code)
	assert.NotContains(t, out, "do not add up")
	require.NoError(t, c.stack.Verify(context.Background(), jobs.NewStore(rdb, jobs.StoreOptions{}), batch, targets))

	code, _, errOut = c.run(t, "", "reconcile", "--batch", "20260101T000000Z-00000000")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such batch")
}
