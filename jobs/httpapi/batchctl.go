package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/webhook"
)

// IdempotencyKeyHeader names a submission (Stripe's header): sent again with the same key and body
// by the same token, POST /v1/batches answers 200 with the first batch's status and ReplayedHeader
// instead of creating a second batch.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	ReplayedHeader       = "Idempotent-Replayed"
)

// batchSettings reads a submission's per-batch settings into m: max_failure_ratio, min_outcomes and
// notify (query parameters) and the Idempotency-Key header, scoped to the token. It answers 400
// naming the field and returns false when one is wrong.
func (a *API) batchSettings(w http.ResponseWriter, r *http.Request, m *jobs.BatchMeta) bool {
	q := r.URL.Query()
	if v := q.Get("max_failure_ratio"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			writeError(w, http.StatusBadRequest, ErrorBody{Field: "max_failure_ratio", Error: "must be a number between 0 (off) and 1"})
			return false
		}
		m.MaxFailureRatio = &f
	}
	if v := q.Get("min_outcomes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, ErrorBody{Field: "min_outcomes", Error: "must be a whole number of at least 1"})
			return false
		}
		m.MinOutcomes = n
	}
	if v := q.Get("notify"); v != "" {
		check := a.o.CheckNotify
		if check == nil {
			check = webhook.CheckURL
		}
		if err := check(v); err != nil {
			writeError(w, http.StatusBadRequest, ErrorBody{Field: "notify", Error: err.Error()})
			return false
		}
		m.Notify = v
	}
	key := r.Header.Get(IdempotencyKeyHeader)
	if err := jobs.CheckIdempotencyKey(key); err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Field: IdempotencyKeyHeader, Error: err.Error()})
		return false
	}
	m.IdempotencyKey = jobs.IdempotencyKey{Scope: "api:" + clientOf(r.Context()), Key: key}
	return true
}

// replayed answers a submission that repeated an earlier one's idempotency key: 200 with the first
// batch's status document (GET /v1/batches/{id}), ReplayedHeader and its Location.
func (a *API) replayed(w http.ResponseWriter, r *http.Request, batch string) {
	ctx := context.WithoutCancel(r.Context())
	b, err := a.o.Producer.Store().Batch(ctx, batch)
	if err != nil {
		serverError(a.o.Logger, w, r, err, ErrorBody{Batch: batch})
		return
	}
	st, _, err := jobs.Describe(ctx, a.o.Producer.Store(), b)
	if err != nil {
		serverError(a.o.Logger, w, r, err, ErrorBody{Batch: batch})
		return
	}
	w.Header().Set(ReplayedHeader, "true")
	w.Header().Set("Location", "/v1/batches/"+batch)
	writeJSON(w, http.StatusOK, st)
}

// resume is POST /v1/batches/{id}/resume: a batch suspended by its failure threshold continues (its
// held tasks run now); who resumed it (submitted_by, else the token's fingerprint) goes into its
// audit trail. 200 with the batch's status; 409 when it is not suspended or is cancelled.
func (a *API) resume(w http.ResponseWriter, r *http.Request) {
	b, ok := a.batch(w, r)
	if !ok {
		return
	}
	meta, ok := a.batchMeta(w, r)
	if !ok {
		return
	}
	if a.o.Admin == nil {
		serverError(a.o.Logger, w, r, errors.New("httpapi: resume needs Options.Admin"), ErrorBody{})
		return
	}
	ctx := context.WithoutCancel(r.Context())
	_, err := a.o.Admin.ResumeBatch(ctx, b.ID, meta.SubmittedBy)
	switch {
	case errors.Is(err, jobs.ErrNotSuspended), errors.Is(err, jobs.ErrCancelled):
		writeError(w, http.StatusConflict, ErrorBody{Error: err.Error()})
		return
	case err != nil:
		serverError(a.o.Logger, w, r, err, ErrorBody{})
		return
	}
	if b, err = a.o.Producer.Store().Batch(ctx, b.ID); err == nil {
		var st jobs.BatchStatus
		if st, _, err = jobs.Describe(ctx, a.o.Producer.Store(), b); err == nil {
			writeJSON(w, http.StatusOK, st)
			return
		}
	}
	serverError(a.o.Logger, w, r, err, ErrorBody{})
}
