package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// smhFiles adds n files to the SMH fake (every goneEvery-th one left out, 0: none) and returns their targets.
func (l *live) smhFiles(n, goneEvery int, dir string) []providers.Target {
	ts := make([]providers.Target, n)
	for i := range ts {
		ts[i] = providers.Target{Provider: providers.SMH, LibraryID: l.stack.Creds.SMHLibrary, SpaceID: "-",
			Path: fmt.Sprintf("%s/file %05d.mp4", dir, i)}
		if goneEvery == 0 || i%goneEvery != 0 {
			l.stack.SMH.Add(ts[i])
		}
	}
	return ts
}

// smhBatching is a config whose SMH limit makes tasks queue behind the rate limiter, so the worker's
// groups fill.
func smhBatching(c *config.Config) {
	c.Providers.SMH.RateLimit = 10
}

// At the rate limit, concurrent SMH deletes share batch calls, yet every target ends with its own
// outcome and its own classes: a file not there is already_gone, a 5xx or throttled item is retried
// alone (its neighbours are not called again), a permission error fails just that item.
func TestSMHBatchDeleteKeepsOneOutcomePerItem(t *testing.T) {
	l := startLive(t, smhBatching)
	targets := l.smhFiles(400, 10, "batch")
	flaky, throttled, forbidden := targets[1], targets[2], targets[3]
	l.stack.SMH.FailItem(flaky, 1, faults.Fault{Status: 500, Code: "InternalServerError"})
	l.stack.SMH.FailItem(throttled, 1, faults.Fault{Status: 429, Code: "RateLimitExceeded"})
	l.stack.SMH.FailItem(forbidden, 1, faults.Fault{Status: 403, Code: "NoPermission"})
	l.startWorker(t)
	batch := l.submit(t, targets...)
	b := waitDone(t, l.p.Store, batch)

	assert.Equal(t, int64(400), b.Terminal)
	assert.Equal(t, int64(40), b.Counts[jobs.AlreadyGone])
	assert.Equal(t, int64(359), b.Counts[jobs.Recycled])
	assert.Equal(t, int64(1), b.Counts[jobs.Failed])
	calls := l.stack.SMH.BatchCalls()
	assert.Less(t, calls, 40, "400 deletes at 10 calls/s share calls")
	t.Logf("%d batch calls for 400 targets", calls)

	for _, tg := range []providers.Target{flaky, throttled} {
		r := l.record(t, batch, tg)
		assert.Equal(t, jobs.Recycled, r.Outcome, "%s", tg)
		assert.Positive(t, r.RecycledItemID)
		assert.Equal(t, 2, l.stack.SMH.Calls(tg), "%s: retried once", tg)
	}
	assert.Equal(t, 2, l.record(t, batch, flaky).Attempts)
	r := l.record(t, batch, forbidden)
	assert.Equal(t, jobs.Failed, r.Outcome)
	assert.Equal(t, "NoPermission", r.Code)
	neighbour := targets[4]
	assert.Equal(t, 1, l.stack.SMH.Calls(neighbour), "a neighbour of the failed items is called once")
	assert.Equal(t, 1, l.record(t, batch, neighbour).Attempts)
	assert.Equal(t, 1, l.record(t, batch, targets[0]).Attempts, "already gone costs one item")

	var ids = map[int64]bool{}
	require.NoError(t, l.p.Store.Records(context.Background(), batch, func(r jobs.Record) error {
		if r.Outcome == jobs.Recycled {
			assert.False(t, ids[r.RecycledItemID], "recycled item id %d given twice", r.RecycledItemID)
			ids[r.RecycledItemID] = true
		}
		return nil
	}))
	assert.Len(t, ids, 359)
}

// SMH answers a large batch 202 with a task: the worker polls it to completion and records each item.
func TestSMHBatchDeletePollsAsyncTasks(t *testing.T) {
	l := startLive(t, smhBatching)
	l.stack.SMH.SetAsync(2, 2)
	targets := l.smhFiles(60, 0, "async")
	l.startWorker(t)
	batch := l.submit(t, targets...)
	b := waitDone(t, l.p.Store, batch)
	assert.Equal(t, int64(60), b.Counts[jobs.Recycled])
	assert.Positive(t, l.stack.SMH.TaskCalls(), "some batch ran as a task")
	for _, tg := range targets {
		assert.False(t, l.stack.SMH.Exists(tg))
	}
}

// Undo restores every recycled item of a batch through batch restore, as a batch of kind undo; a path
// taken again is a conflict under ask; permanent deletes and other providers count as not restorable;
// an undo cannot be undone; a second undo finds the items gone from the bin.
func TestUndoRestoresRecycledItems(t *testing.T) {
	l := startLive(t, func(c *config.Config) {
		smhBatching(c)
		c.Enqueue.ConfirmAbove = 50
	})
	ctx := context.Background()
	targets := l.smhFiles(120, 0, "undo")
	permanent := providers.Target{Provider: providers.SMH, LibraryID: l.stack.Creds.SMHLibrary, SpaceID: "-", Path: "undo/permanent.mp4", Permanent: true}
	l.stack.SMH.Add(permanent)
	vod := vodTarget(1)
	l.stack.VOD.Add(vod)
	gone := providers.Target{Provider: providers.SMH, LibraryID: l.stack.Creds.SMHLibrary, SpaceID: "-", Path: "undo/never-there.mp4"}
	l.startWorker(t)
	batch := l.submit(t, append(targets, permanent, vod, gone)...)
	b := waitDone(t, l.p.Store, batch)
	require.Equal(t, int64(120), b.Counts[jobs.Recycled])

	// A new file at one path since the delete: ask leaves it alone.
	taken := targets[7]
	l.stack.SMH.Add(taken)

	dry, err := l.p.Producer.Undo(ctx, batch, jobs.UndoOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, jobs.UndoPlan{Of: batch, Restorable: 120, NotRestorable: 2, Untouched: 1, DryRun: true}, dry)

	_, err = l.p.Producer.Undo(ctx, batch, jobs.UndoOptions{ConfirmAbove: 50})
	var ce *jobs.ConfirmError
	require.ErrorAs(t, err, &ce, "120 restores are above confirm_above")
	ids, err := l.p.Store.Batches(ctx, 10)
	require.NoError(t, err)
	assert.Len(t, ids, 1, "an unconfirmed undo creates nothing")

	plan, err := l.p.Producer.Undo(ctx, batch, jobs.UndoOptions{ConfirmAbove: 50, Confirmed: true, SubmittedBy: "test"})
	require.NoError(t, err)
	assert.Equal(t, 120, plan.Enqueued)
	u := waitDone(t, l.p.Store, plan.Batch)
	st := jobs.StatusOf(u)
	assert.Equal(t, jobs.KindUndo, st.Kind)
	assert.Equal(t, batch, st.UndoOf)
	assert.Equal(t, int64(2), st.NotRestorable)
	assert.Equal(t, map[string]int64{"restored": 119, "conflict": 1, "not_found": 0, "failed": 0, "cancelled": 0}, st.Outcomes)
	for _, tg := range targets {
		assert.True(t, l.stack.SMH.Exists(tg), "%s is back", tg)
	}
	assert.Equal(t, jobs.Conflict, l.record(t, plan.Batch, taken).Outcome)
	assert.Less(t, l.stack.SMH.RestoreCalls(), 30, "restores share batch calls")
	orig, err := l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, plan.Batch, orig.UndoneBy)
	trail, err := l.p.Store.AuditTrail(ctx, batch)
	require.NoError(t, err)
	require.NotEmpty(t, trail)
	last := trail[len(trail)-1]
	assert.Equal(t, [3]string{jobs.AuditUndone, "test", "undone by " + plan.Batch}, [3]string{last.Action, last.Who, last.Detail})

	_, err = l.p.Producer.Undo(ctx, plan.Batch, jobs.UndoOptions{})
	assert.True(t, errors.Is(err, jobs.ErrUndoOfUndo), "%v", err)

	again, err := l.p.Producer.Undo(ctx, batch, jobs.UndoOptions{Confirmed: true})
	require.NoError(t, err)
	u2 := waitDone(t, l.p.Store, again.Batch)
	assert.Equal(t, int64(119), u2.Counts[jobs.NotFound], "restored items are no longer in the bin")
	assert.Equal(t, int64(1), u2.Counts[jobs.Conflict])
}

// A batch still running cannot be undone: its recycled items are not all known yet.
func TestUndoRefusesABatchNotDone(t *testing.T) {
	l := startLive(t, nil)
	batch := l.submit(t, l.smhFiles(3, 0, "running")...) // no worker: nothing runs
	_, err := l.p.Producer.Undo(context.Background(), batch, jobs.UndoOptions{DryRun: true})
	assert.True(t, errors.Is(err, jobs.ErrNotDone), "%v", err)
}
