package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

func TestIndexRegistrationsComeDueAndCanBeCancelled(t *testing.T) {
	for _, shift := range testclock.Shifts {
		t.Run(fmt.Sprintf("clock%+dd", int(shift.Hours()/24)), func(t *testing.T) {
			indexComesDue(t, time.Now().Add(shift).Truncate(time.Hour))
		})
	}
}

func indexComesDue(t *testing.T, now time.Time) {
	r := jobstest.StartRedis(t)
	fill := func(tg *providers.Target) {
		if tg.ProjectID == "" {
			tg.ProjectID = "proj"
		}
	}
	x := jobs.NewIndex(r.Client(), fill)
	ctx := context.Background()
	mss := func(id string) providers.Target { return providers.Target{Provider: providers.MSS, FileID: id} }
	require.NoError(t, x.Register(ctx, mss("a"), now.Add(-time.Hour)))
	require.NoError(t, x.Register(ctx, mss("b"), now.Add(time.Hour)))
	require.NoError(t, x.Register(ctx, mss("c"), now.Add(-2*time.Hour)))
	require.Error(t, x.Register(ctx, providers.Target{Provider: providers.MSS}, now), "invalid targets are refused")

	due := func(at time.Time) (ids []string) {
		require.NoError(t, x.Due(ctx, providers.MSS, at, func(tg providers.Target, _ time.Time) error {
			assert.Equal(t, "proj", tg.ProjectID, "defaults applied at registration")
			ids = append(ids, tg.FileID)
			return nil
		}))
		return ids
	}
	assert.Equal(t, []string{"c", "a"}, due(now), "oldest first, not before they are due")
	assert.Equal(t, []string{"c", "a", "b"}, due(now.Add(time.Hour)))

	ok, err := x.Unregister(ctx, mss("a"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []string{"c"}, due(now))

	// c is enqueued; meanwhile b is re-registered later: Remove drops c only.
	require.NoError(t, x.Register(ctx, mss("b"), now.Add(48*time.Hour)))
	require.NoError(t, x.Remove(ctx, now, mss("c"), mss("b")))
	n, err := x.Count(ctx, providers.MSS)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Empty(t, due(now.Add(24*time.Hour)))
}
