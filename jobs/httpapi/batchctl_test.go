package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
)

func (e *env) post(t *testing.T, path, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return e.send(t, req)
}

// A submission sent again with its Idempotency-Key gets 200, the first batch's status and
// Idempotent-Replayed instead of a second batch; the same key with another body is refused.
func TestIdempotencyKeyReplaysTheFirstBatch(t *testing.T) {
	e := start(t, nil)
	m := manifest(e.stack.Targets(2, 0)...)
	key := map[string]string{httpapi.IdempotencyKeyHeader: "deploy-42"}
	code, hdr, body := e.post(t, "/v1/batches?max_failure_ratio=0.2&min_outcomes=50", m, key)
	require.Equal(t, http.StatusCreated, code, string(body))
	var res httpapi.SubmitResult
	require.NoError(t, json.Unmarshal(body, &res))
	assert.Empty(t, hdr.Get(httpapi.ReplayedHeader))

	code, hdr, body = e.post(t, "/v1/batches?max_failure_ratio=0.2&min_outcomes=50", m, key)
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Equal(t, "true", hdr.Get(httpapi.ReplayedHeader))
	assert.Equal(t, "/v1/batches/"+res.Batch, hdr.Get("Location"))
	var st jobs.BatchStatus
	require.NoError(t, json.Unmarshal(body, &st))
	assert.Equal(t, res.Batch, st.Batch)
	assert.Equal(t, int64(res.Enqueued), st.Total, "nothing enqueued twice")
	require.NotEmpty(t, st.Audit)
	assert.Equal(t, "submitted", st.Audit[0].Action)

	code, _, body = e.post(t, "/v1/batches", manifest(e.stack.Targets(3, 0)...), key)
	assert.Equal(t, http.StatusUnprocessableEntity, code, string(body))
	assert.Contains(t, string(body), httpapi.IdempotencyKeyHeader)

	b, err := e.p.Store.Batch(t.Context(), res.Batch)
	require.NoError(t, err)
	assert.Equal(t, 0.2, b.MaxFailureRatio)
	assert.Equal(t, int64(50), b.MinOutcomes)
}

func TestSubmissionSettingsAreChecked(t *testing.T) {
	e := start(t, func(o *httpapi.Options) {
		o.CheckNotify = func(string) error { return assertErr("needs REAPER_WEBHOOK_SECRET") }
	})
	m := manifest(e.stack.Targets(1, 0)...)
	for q, field := range map[string]string{"max_failure_ratio=2": "max_failure_ratio", "min_outcomes=0": "min_outcomes",
		"notify=https://h.example.com/x": "notify"} {
		code, _, body := e.post(t, "/v1/batches?"+q, m, nil)
		assert.Equal(t, http.StatusBadRequest, code, q)
		var eb httpapi.ErrorBody
		require.NoError(t, json.Unmarshal(body, &eb))
		assert.Equal(t, field, eb.Field, q)
	}
	code, _, body := e.post(t, "/v1/batches", m, map[string]string{httpapi.IdempotencyKeyHeader: strings.Repeat("k", 300)})
	assert.Equal(t, http.StatusBadRequest, code, string(body))
}

// POST /v1/batches/{id}/resume continues a suspended batch, recording the token's client in its
// audit trail; a batch not suspended is 409; the route needs a token.
func TestResumeRoute(t *testing.T) {
	e := start(t, nil)
	ctx := t.Context()
	id := jobs.NewBatchID(time.Now())
	half := 0.5
	require.NoError(t, e.p.Store.CreateBatch(ctx, jobs.BatchMeta{ID: id, MaxFailureRatio: &half, MinOutcomes: 1}))
	tg := e.stack.Targets(1, 0)[0]
	_, err := e.p.Store.Finish(ctx, jobs.Record{Batch: id, Provider: tg.Provider, Key: tg.Key(), EnqueueID: "e", Target: tg, Outcome: jobs.Failed}, true)
	require.NoError(t, err)
	require.True(t, e.status(t, id).Suspended)

	code, _, body := e.do(t, "POST", "/v1/batches/"+id+"/resume", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code, string(body))
	code, _, body = e.post(t, "/v1/batches/"+id+"/resume", "", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var st jobs.BatchStatus
	require.NoError(t, json.Unmarshal(body, &st))
	assert.False(t, st.Suspended)
	require.Len(t, st.Audit, 3)
	assert.Equal(t, "resumed", st.Audit[2].Action)
	assert.Equal(t, "api:"+httpapi.Fingerprint(token), st.Audit[2].Who)
	code, _, body = e.post(t, "/v1/batches/"+id+"/resume", "", nil)
	assert.Equal(t, http.StatusConflict, code, string(body))
}

type assertErr string

func (e assertErr) Error() string { return string(e) }
