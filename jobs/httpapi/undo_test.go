package httpapi_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
	"github.com/reaper-media/reaper/providers"
)

// POST /v1/batches/{id}/undo: a dry run's plan, a 422 above confirm_above, the undo batch (201 and its
// Location), 409 for an undo of an undo, 400 for a bad conflict strategy.
func TestUndoRoute(t *testing.T) {
	e := startWith(t, fakestack.Options{Seed: 11, RecycleBin: true}, func(o *httpapi.Options) { o.ConfirmAbove = 3 })
	e.startWorker(t)
	var targets []providers.Target
	for i := range 5 {
		tg := providers.Target{Provider: providers.SMH, LibraryID: e.stack.Creds.SMHLibrary, SpaceID: "-", Path: fmt.Sprintf("api-undo/%d.mp4", i)}
		e.stack.SMH.Add(tg)
		targets = append(targets, tg)
	}
	sum, err := e.p.Producer.Submit(t.Context(), jobs.BatchMeta{SubmittedBy: "test"}, slices.Values(targets), nil)
	require.NoError(t, err)
	e.waitDone(t, sum.Batch)
	auth := "Bearer " + token
	path := "/v1/batches/" + sum.Batch + "/undo"

	code, _, body := e.do(t, "POST", path+"?conflict=sideways", auth, nil)
	assert.Equal(t, 400, code, string(body))
	assert.Equal(t, "conflict", decode[httpapi.ErrorBody](t, body).Field)

	code, _, body = e.do(t, "POST", path+"?dry_run=true", auth, nil)
	require.Equal(t, 200, code, string(body))
	assert.Equal(t, jobs.UndoPlan{Of: sum.Batch, Restorable: 5, DryRun: true}, decode[jobs.UndoPlan](t, body))

	code, _, body = e.do(t, "POST", path, auth, nil)
	require.Equal(t, 422, code, string(body))
	assert.Equal(t, "confirm", decode[httpapi.ErrorBody](t, body).Field)

	code, hdr, body := e.do(t, "POST", path+"?confirm=true&conflict=overwrite", auth, nil)
	require.Equal(t, 201, code, string(body))
	plan := decode[jobs.UndoPlan](t, body)
	assert.Equal(t, "/v1/batches/"+plan.Batch, hdr.Get("Location"))
	st := e.waitDone(t, plan.Batch)
	assert.Equal(t, int64(5), st.Outcomes["restored"])
	assert.Equal(t, jobs.KindUndo, st.Kind)
	for _, tg := range targets {
		assert.True(t, e.stack.SMH.Exists(tg))
	}

	code, _, body = e.do(t, "POST", "/v1/batches/"+plan.Batch+"/undo?confirm=true", auth, nil)
	assert.Equal(t, 409, code, string(body))
	code, _, _ = e.do(t, "POST", path, "", nil)
	assert.Equal(t, 401, code)
}
