package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/scheduler"
)

// An SMH listing entry the client cannot use (here a control character in a file's and in a
// directory's name) is skipped with a warning and counted on the run; the run goes on and deletes the
// rest, instead of failing every run for good.
func TestListPolicySkipsUnusableEntriesAndCountsThem(t *testing.T) {
	forEachShift(t, time.UTC, func(t *testing.T, at func(days, h, m int) time.Time) {
		pol := config.Policy{Name: "smh-odd", Schedule: "0 3 * * *", Provider: "smh", MinAge: 7 * day, MaxDeletions: 100,
			SMH: config.PolicySMH{Prefixes: []string{"tmp"}, Recursive: true}}
		h := newHarness(t, at(0, 0, 0), nil, pol)
		oldTime := at(-19, 0, 0)
		file := func(path string) providers.Target {
			tg := providers.Target{Provider: providers.SMH, LibraryID: h.stack.Creds.SMHLibrary, SpaceID: "-", Path: path}
			h.stack.SMH.AddAt(tg, oldTime)
			return tg
		}
		good := []providers.Target{file("tmp/a.mp4"), file("tmp/sub/b.mp4")}
		odd := []providers.Target{file("tmp/bell\a.mp4"), file("tmp/tab\tdir/c.mp4")}
		s := h.replica("a")

		rec, err := s.RunNow(context.Background(), "smh-odd", false)
		require.NoError(t, err)
		assert.Equal(t, scheduler.StatusRan, rec.Status, rec.Error)
		assert.Equal(t, 2, rec.Found)
		assert.Equal(t, 2, rec.Skipped, "the file and the directory with a control character")
		assert.Equal(t, 2, rec.Enqueued)
		assert.Equal(t, 2, h.logs.count("skipped an entry the source cannot use", "policy=smh-odd", "control characters"))
		assert.Equal(t, 1, h.logs.count("policy run finished", "skipped=2"))
		last := h.last(s, "smh-odd")
		require.NotNil(t, last)
		assert.Equal(t, 2, last.Skipped, "kept with the run record")

		h.worker()
		h.waitDone(rec.Batch)
		require.NoError(t, h.stack.Verify(context.Background(), h.p.Store, rec.Batch, good))
		for _, tg := range odd {
			assert.True(t, h.stack.SMH.Exists(tg), "%q is never a target", tg.Path)
		}
	})
}
