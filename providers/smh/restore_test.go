package smh_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
)

// recycle deletes ts in one batch into the recycle bin and returns the requests that restore them.
func recycle(t *testing.T, c *smh.Client, ts []providers.Target) []providers.RestoreRequest {
	t.Helper()
	items, err := c.DeleteBatch(context.Background(), ts)
	require.NoError(t, err)
	reqs := make([]providers.RestoreRequest, len(items))
	for i, it := range items {
		require.NoError(t, it.Err)
		require.True(t, it.Result.Recycled)
		reqs[i] = providers.RestoreRequest{Target: it.Target, RecycledItemID: it.Result.RecycledItemID}
	}
	return reqs
}

func outcomes(items []providers.RestoreItem) []providers.RestoreOutcome {
	out := make([]providers.RestoreOutcome, len(items))
	for i, it := range items {
		out[i] = it.Outcome
	}
	return out
}

func TestRestoreRoundTrip(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	ts := added(e, target("clips/a.mp4"), target("clips/b.mp4"), target("c.mp4"))
	reqs := recycle(t, c, ts)
	for _, tg := range ts {
		require.False(t, e.fake.Exists(tg))
	}

	permanent := providers.RestoreRequest{Target: target("p.mp4")} // a permanent delete: no item id
	items, err := c.Restore(context.Background(), append(reqs, reqs[0], permanent), "")
	require.NoError(t, err)
	assert.Equal(t, []providers.RestoreOutcome{providers.Restored, providers.Restored, providers.Restored, providers.Restored,
		providers.RestoreFailed}, outcomes(items))
	for i, tg := range ts {
		assert.True(t, e.fake.Exists(tg), "restored %s", tg)
		assert.Equal(t, tg.Path, items[i].Path)
		assert.Equal(t, reqs[i], items[i].Request)
		assert.NoError(t, items[i].Err)
	}
	assert.Equal(t, "InvalidRecycledItemId", code(items[4].Err))
	assert.Equal(t, providers.Fatal, providers.ClassOf(items[4].Err))
	assert.Empty(t, e.fake.Recycled(libRecycle))
	assert.Equal(t, 1, e.fake.RestoreCalls(), "three items, one request")

	// The restore token asked for restore_recycled alone; the delete token never carries it.
	var grants []string
	for _, u := range e.urls() {
		if u.Path == "/api/v1/token" {
			grants = append(grants, u.Query().Get("grant"))
		}
	}
	assert.Equal(t, []string{smh.Grants, smh.RestoreGrants}, grants)

	again, err := c.Restore(context.Background(), reqs[:1], providers.ConflictAsk)
	require.NoError(t, err)
	assert.Equal(t, []providers.RestoreOutcome{providers.RestoreNotFound}, outcomes(again))
	assert.Equal(t, "RecycledItemNotFound", code(again[0].Err))
	assert.Equal(t, providers.Fatal, providers.ClassOf(again[0].Err))
	var _ providers.Restorer = c
}

func TestRestoreConflicts(t *testing.T) {
	for _, tc := range []struct {
		strategy providers.ConflictStrategy
		want     providers.RestoreOutcome
		path     string
		calls    int
	}{
		{"", providers.RestoreConflict, "", 1},
		{providers.ConflictAsk, providers.RestoreConflict, "", 1},
		{providers.ConflictRename, providers.Restored, "v/clip (1).mp4", 2},
		{providers.ConflictOverwrite, providers.Restored, "v/clip.mp4", 2},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			e := newEnv(t, smhtest.Options{})
			c := batchClient(t, e, smh.Config{})
			tg, free := target("v/clip.mp4"), target("v/free.mp4")
			reqs := recycle(t, c, added(e, tg, free))
			e.fake.Add(tg) // someone put a new file where the recycled one was

			items, err := c.Restore(context.Background(), reqs, tc.strategy)
			require.NoError(t, err)
			assert.Equal(t, []providers.RestoreOutcome{tc.want, providers.Restored}, outcomes(items))
			assert.Equal(t, tc.path, items[0].Path)
			if tc.want == providers.RestoreConflict {
				assert.Equal(t, "SameNameDirectoryOrFileExists", code(items[0].Err))
				assert.Equal(t, http.StatusConflict, items[0].Err.(*providers.Error).HTTPStatus)
				assert.Len(t, e.fake.Recycled(libRecycle), 1, "a conflict restores nothing")
			} else {
				assert.Empty(t, e.fake.Recycled(libRecycle))
			}
			assert.True(t, e.fake.Exists(free))
			assert.Equal(t, tc.calls, e.fake.RestoreCalls(), "one batch, plus one single restore per conflict")
		})
	}
	_, err := providers.ParseConflictStrategy("merge")
	assert.Error(t, err)
}

func TestRestoreItemFailures(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	reqs := recycle(t, c, added(e, target("a.mp4"), target("b.mp4"), target("c.mp4")))
	e.fake.FailRestoreItem(libRecycle, reqs[0].RecycledItemID, 1, faults.Fault{Status: 503, Code: "ServerOverloaded"})
	e.fake.FailRestoreItem(libRecycle, reqs[1].RecycledItemID, 1, faults.Fault{Status: 404, Code: "DirectoryNotFound"})
	items, err := c.Restore(context.Background(), reqs, "")
	require.NoError(t, err)
	assert.Equal(t, []providers.RestoreOutcome{providers.RestoreFailed, providers.RestoreFailed, providers.Restored}, outcomes(items))
	assert.Equal(t, providers.Retry, providers.ClassOf(items[0].Err))
	assert.Equal(t, providers.Fatal, providers.ClassOf(items[1].Err), "a missing parent directory is no success")
}

func TestRestoreAsync(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	reqs := recycle(t, c, added(e, target("a.mp4"), target("b.mp4")))
	e.fake.SetAsync(1, 2)
	items, err := c.Restore(context.Background(), append(reqs, providers.RestoreRequest{Target: target("x"), RecycledItemID: 999}), "")
	require.NoError(t, err)
	assert.Equal(t, []providers.RestoreOutcome{providers.Restored, providers.Restored, providers.RestoreNotFound}, outcomes(items))
	assert.Equal(t, 3, e.fake.TaskCalls())
}

func TestRestoreCallLevel(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	deleter := batchClient(t, e, smh.Config{})
	reqs := recycle(t, deleter, added(e, target("a.mp4")))

	t.Run("a token without restore_recycled", func(t *testing.T) {
		c := batchClient(t, e, smh.Config{AccessToken: e.fake.IssueToken(libRecycle, nil, "delete_file")})
		items, err := c.Restore(context.Background(), reqs, "")
		assert.Nil(t, items)
		assert.Equal(t, providers.Fatal, providers.ClassOf(err))
		assert.Equal(t, "NoPermission", code(err))
		one := c.RestoreOne(context.Background(), reqs[0], "")
		assert.Equal(t, providers.RestoreFailed, one.Outcome)
		assert.Equal(t, "NoPermission", code(one.Err))
	})
	t.Run("outage", func(t *testing.T) {
		e.fake.Faults().SetDown(true)
		defer e.fake.Faults().SetDown(false)
		_, err := deleter.Restore(context.Background(), reqs, "")
		assert.Equal(t, providers.Retry, providers.ClassOf(err))
	})
	t.Run("refused before any request", func(t *testing.T) {
		before := e.fake.RestoreCalls()
		many := make([]providers.RestoreRequest, deleter.MaxRestore()+1)
		_, err := deleter.Restore(context.Background(), many, "")
		assert.Equal(t, "InvalidBatch", code(err))
		other := reqs[0]
		other.Target.LibraryID = libPlain
		_, err = deleter.Restore(context.Background(), append(reqs, other), "")
		assert.Equal(t, "InvalidBatch", code(err))
		_, err = deleter.Restore(context.Background(), reqs, "merge")
		assert.Equal(t, providers.Fatal, providers.ClassOf(err))
		bad := reqs[0]
		bad.Target.SpaceID = ".."
		_, err = deleter.Restore(context.Background(), []providers.RestoreRequest{bad}, "")
		assert.Equal(t, "InvalidTarget", code(err))
		assert.Equal(t, before, e.fake.RestoreCalls())
	})
	t.Run("token renewal", func(t *testing.T) {
		e.fake.ExpireTokens()
		items, err := deleter.Restore(context.Background(), reqs, "")
		require.NoError(t, err)
		assert.Equal(t, []providers.RestoreOutcome{providers.Restored}, outcomes(items))
	})
}

func TestRestoreOne(t *testing.T) {
	e := newEnv(t, smhtest.Options{})
	c := batchClient(t, e, smh.Config{})
	tg := target("dir/x.mp4")
	reqs := recycle(t, c, added(e, tg))
	e.fake.Add(tg)
	assert.Equal(t, providers.RestoreConflict, c.RestoreOne(context.Background(), reqs[0], "").Outcome, "default ask")
	got := c.RestoreOne(context.Background(), reqs[0], providers.ConflictRename)
	assert.Equal(t, providers.Restored, got.Outcome)
	assert.Equal(t, "dir/x (1).mp4", got.Path)
	assert.Equal(t, providers.RestoreNotFound, c.RestoreOne(context.Background(), reqs[0], "").Outcome)
	var single []string
	for _, u := range e.urls() {
		if strings.HasPrefix(u.Path, "/api/v1/recycled/") {
			single = append(single, u.Path+" "+u.Query().Get("conflict_resolution_strategy"))
		}
	}
	assert.Equal(t, []string{
		"/api/v1/recycled/smhrecycle/-/1 ask", "/api/v1/recycled/smhrecycle/-/1 rename", "/api/v1/recycled/smhrecycle/-/1 ask",
	}, single)
}
