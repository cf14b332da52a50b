package jobs_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

// A batch counts each provider's part as it goes (what status --watch draws at any size): totals at
// enqueue, outcomes and failures as they are recorded, a duplicate taken off its provider's total.
// Once a count is added without a provider (reconcile's), the split no longer adds up and is withheld.
func TestBatchCountsEachProvidersPart(t *testing.T) {
	ctx := context.Background()
	l := startLive(t, nil)
	// 60 targets, every fifth of each provider already gone, and one MSS target that fails for good.
	targets := l.stack.Targets(20, 5)
	l.stack.MSS.Faults().FailNext(1, faults.Fault{Status: 401, Code: "MSS.00000001", Message: "Unauthorized"})
	batch := l.submit(t, targets...)
	l.startWorker(t)
	b := waitDone(t, l.p.Store, batch)

	require.NotNil(t, b.ByProvider)
	want := map[providers.Name]jobs.ProviderCounts{}
	for _, tg := range targets {
		c := want[tg.Provider]
		c.Total++
		c.Terminal++
		if l.record(t, batch, tg).Outcome == jobs.Failed {
			c.Failed++
		}
		want[tg.Provider] = c
	}
	assert.Equal(t, want, b.ByProvider)
	assert.Equal(t, int64(1), b.ByProvider[providers.MSS].Failed)

	// A second enqueue of a recorded target ends as a duplicate: its provider's total goes down too.
	again := targets[1]
	sum, err := l.p.Producer.Add(ctx, batch, func(yield func(providers.Target) bool) { yield(again) }, nil)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Enqueued)
	b = waitDone(t, l.p.Store, batch)
	require.NotNil(t, b.ByProvider)
	assert.Equal(t, want, b.ByProvider)
	assert.Equal(t, int64(1), b.Duplicates)

	// Reconcile's additions to the total have no provider: the split is withheld, not wrong.
	require.NoError(t, l.redis.Client().HIncrBy(ctx, "reaper:batch:"+batch, "total", 1).Err())
	b, err = l.p.Store.Batch(ctx, batch)
	require.NoError(t, err)
	assert.Nil(t, b.ByProvider)
}
