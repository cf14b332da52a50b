// Package httpapi is reaper's HTTP face: the producer API (`reaper serve`: submit a JSONL manifest,
// read a batch's status and report, retry its failures), the admin endpoints every process serves
// (/healthz, /readyz, /metrics, the dashboard), the request log, and the JSON views of batches that
// the CLI prints too.
//
// Routes use Go's method-and-wildcard ServeMux patterns; Register adds them to a mux the caller owns.
// The API's port faces client services, so it carries the API and /healthz only; /readyz, /metrics
// and the dashboard are the Admin's, served on admin.listen. The API is described by the OpenAPI 3
// document served at /v1/openapi.json.
package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// Options configures New.
type Options struct {
	// Producer validates and enqueues; its Store serves status and reports. Required.
	Producer *jobs.Producer
	// Admin resumes suspended batches (POST /v1/batches/{id}/resume).
	Admin *jobs.Admin
	// CheckNotify checks a submission's webhook URL (config.Config.CheckNotify: a URL, and a secret
	// to sign with); default: webhook.CheckURL.
	CheckNotify func(url string) error
	// Tokens are the accepted bearer tokens (config api.tokens_file and REAPER_API_TOKENS). At least
	// one is required: the API never runs open.
	Tokens []string
	// MaxBodyBytes caps one request body (default 64 MiB, config api.max_body_bytes). A submission's
	// body is held in memory while it is validated and enqueued, so memory is bounded by
	// MaxBodyBytes * MaxConcurrentSubmits.
	MaxBodyBytes int64
	// MaxConcurrentSubmits is how many POST /v1/batches are read and enqueued at once (default 4);
	// more wait for a slot.
	MaxConcurrentSubmits int
	// ConfirmAbove, when positive, is the number of targets above which a submission or a retry needs
	// confirm=true (config enqueue.confirm_above, as `reaper enqueue --yes`).
	ConfirmAbove int
	// MinBodyRate and BodyGrace bound how long a submission's body may take to arrive: BodyGrace plus
	// one second per MinBodyRate bytes received (defaults 64 KiB/s and 10s; a 64 MiB body gets 17
	// minutes at most). A client slower than that gets 408 and frees its submission slot, so a few
	// slow or stalled uploads cannot hold every slot.
	MinBodyRate int64
	BodyGrace   time.Duration
	// Logger receives what cannot go into a response (a report that broke off mid-stream).
	Logger *slog.Logger
}

// MaxRejected is how many rejected lines a response lists; rejected_count has them all.
const MaxRejected = 1000

// API is the producer API's handlers.
type API struct {
	o      Options
	tokens tokenSet
	slots  chan struct{}
}

// New checks o and builds the API.
func New(o Options) (*API, error) {
	if o.Producer == nil {
		return nil, errors.New("httpapi: a producer is required")
	}
	tokens, err := newTokenSet(o.Tokens)
	if err != nil {
		return nil, err
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 20
	}
	if o.MaxConcurrentSubmits <= 0 {
		o.MaxConcurrentSubmits = 4
	}
	if o.MinBodyRate <= 0 {
		o.MinBodyRate = 64 << 10
	}
	if o.BodyGrace <= 0 {
		o.BodyGrace = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{o: o, tokens: tokens, slots: make(chan struct{}, o.MaxConcurrentSubmits)}, nil
}

// routes are the API's patterns and handlers; auth marks those that need a bearer token.
func (a *API) routes() []route {
	return []route{
		{"POST /v1/batches", true, a.submit},
		{"GET /v1/batches/{id}", true, a.status},
		{"POST /v1/batches/{id}/resume", true, a.resume},
		{"GET /v1/batches/{id}/report", true, a.report},
		{"POST /v1/batches/{id}/retry", true, a.retry},
		{"POST /v1/batches/{id}/undo", true, a.undo},
		{"GET /v1/openapi.json", false, serveOpenAPI},
		// Liveness only: readiness and metrics (Redis state, queue sizes) stay on admin.listen.
		{"GET /healthz", false, Healthz},
	}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, r := range a.routes() {
		h := http.Handler(r.handler)
		if r.auth {
			h = a.tokens.require(h)
		}
		mux.Handle(r.pattern, h)
	}
}

// Patterns lists the ServeMux patterns Register adds, e.g. "POST /v1/batches".
func (a *API) Patterns() []string { return patterns(a.routes()) }

type route struct {
	pattern string
	auth    bool
	handler http.HandlerFunc
}

func patterns(rs []route) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.pattern
	}
	return out
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI 3 description of the routes this package serves.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// Rejection is one manifest line that was not accepted.
type Rejection struct {
	Line  int    `json:"line"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

// SubmitResult is the response to POST /v1/batches and POST /v1/batches/{id}/retry.
type SubmitResult struct {
	// Batch is the new batch's id ("" for a dry run).
	Batch string `json:"batch"`
	// Accepted is how many targets were valid: Enqueued + Duplicates, or what a dry run would submit.
	Accepted   int `json:"accepted"`
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
	// ByProvider counts tasks enqueued per provider (for a dry run: valid targets per provider).
	ByProvider map[providers.Name]int `json:"by_provider"`
	// RejectedCount is every rejected line; Rejected lists the first MaxRejected of them.
	RejectedCount int         `json:"rejected_count"`
	Rejected      []Rejection `json:"rejected"`
	DryRun        bool        `json:"dry_run,omitempty"`
}

// ErrorBody is every error response's JSON.
type ErrorBody struct {
	Error string `json:"error"`
	// ErrorID names an internal error (500) in the server's log, where its cause is.
	ErrorID string `json:"error_id,omitempty"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	// Batch names a batch the failed request created anyway (an enqueue that stopped part way).
	Batch string `json:"batch,omitempty"`
	// Rejected lists bad lines when none was good (422).
	RejectedCount int         `json:"rejected_count,omitempty"`
	Rejected      []Rejection `json:"rejected,omitempty"`
}

// submit is POST /v1/batches: the body is a JSONL manifest. Every line is validated first; bad lines
// are rejected with their line number and field, good ones are enqueued as one new batch. A body with
// no good line creates no batch (422). The body is read whole before anything is enqueued, so a body
// over the size limit (413) or cut short enqueues nothing.
func (a *API) submit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dryRun, err := boolParam(q.Get("dry_run"))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Error: err.Error(), Field: "dry_run"})
		return
	}
	confirm, err := boolParam(q.Get("confirm"))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Error: err.Error(), Field: "confirm"})
		return
	}
	meta, ok := a.batchMeta(w, r)
	if !ok || !a.batchSettings(w, r, &meta) {
		return
	}
	if r.ContentLength > a.o.MaxBodyBytes {
		a.tooLarge(w)
		return
	}

	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-r.Context().Done():
		writeError(w, http.StatusServiceUnavailable, ErrorBody{Error: "gave up waiting for a submission slot"})
		return
	}
	var body bytes.Buffer
	if r.ContentLength > 0 {
		body.Grow(int(r.ContentLength))
	}
	if err := a.readBody(w, r, &body); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			a.tooLarge(w)
		case errors.Is(err, os.ErrDeadlineExceeded):
			writeError(w, http.StatusRequestTimeout, ErrorBody{Error: fmt.Sprintf(
				"the body arrived slower than %d bytes/s: nothing enqueued", a.o.MinBodyRate)})
		default:
			writeError(w, http.StatusBadRequest, ErrorBody{Error: "reading the body: " + err.Error()})
		}
		return
	}

	// Pass 1: validate every line, count the good ones.
	res := SubmitResult{ByProvider: map[providers.Name]int{}, Rejected: []Rejection{}, DryRun: dryRun}
	check, err := a.o.Producer.CheckManifest(bytes.NewReader(body.Bytes()), MaxRejected)
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Error: err.Error()})
		return
	}
	res.Accepted, res.RejectedCount = check.Accepted, check.Bad
	for _, le := range check.Rejected {
		res.Rejected = append(res.Rejected, rejection(le))
	}
	valid := check.Valid
	if res.Accepted == 0 {
		msg := "the body holds no target: nothing enqueued"
		if res.RejectedCount > 0 {
			msg = fmt.Sprintf("all %d lines were rejected: nothing enqueued", res.RejectedCount)
		}
		writeError(w, http.StatusUnprocessableEntity, ErrorBody{Error: msg, RejectedCount: res.RejectedCount, Rejected: res.Rejected})
		return
	}
	if dryRun {
		res.ByProvider = valid
		writeJSON(w, http.StatusOK, res)
		return
	}
	if a.unconfirmed(w, res.Accepted, confirm, "targets", "check the manifest with dry_run=true") {
		return
	}

	// Pass 2: enqueue the good lines. The lines are the same and Prepare is deterministic, so exactly
	// the lines pass 1 accepted are enqueued. A client hanging up does not stop a submission half way.
	var readErr error
	targets := a.o.Producer.ManifestTargets(bytes.NewReader(body.Bytes()), true, &readErr)
	meta.Source = "api"
	meta.IdempotencyKey.Request = jobs.RequestDigest(body.Bytes())
	a.finishSubmit(w, r, res, func(ctx context.Context) (jobs.Summary, error) {
		sum, replayed, err := a.o.Producer.SubmitIdempotent(ctx, meta, targets, nil)
		if err == nil {
			err = readErr // the body is in memory: a second read cannot fail, but never ignore it
		}
		if replayed {
			err = errReplayed
		}
		return sum, err
	})
}

// readBody reads the request body into buf, at most MaxBodyBytes, under a read deadline that moves
// with what has arrived (BodyGrace + received/MinBodyRate from now on): a stalled or trickling
// client fails with os.ErrDeadlineExceeded instead of holding its submission slot.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) error {
	rc := http.NewResponseController(w)
	start := time.Now()
	body := &deadlineReader{r: http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes), set: func(n int64) error {
		return rc.SetReadDeadline(start.Add(a.o.BodyGrace + time.Duration(n)*time.Second/time.Duration(a.o.MinBodyRate)))
	}}
	if _, err := buf.ReadFrom(body); err != nil {
		// The rest of the body is not worth waiting for: close the connection after the answer
		// instead of letting net/http read on to keep it alive.
		w.Header().Set("Connection", "close")
		return err
	}
	// The body is in; the connection goes back to the server's own deadlines (and its check for a
	// client hanging up while the batch is enqueued must not trip on ours).
	_ = rc.SetReadDeadline(time.Time{})
	return nil
}

// deadlineReader calls set with the bytes received before every read.
type deadlineReader struct {
	r   io.Reader
	n   int64
	set func(n int64) error
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.set(d.n); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	n, err := d.r.Read(p)
	d.n += int64(n)
	return n, err
}

// unconfirmed answers 422 and returns true when n targets (what: "targets", "failed targets") are
// more than ConfirmAbove and the request lacks confirm=true. Submission and retry share it, so the
// API asks for the same confirmation as `reaper enqueue --yes` whichever way a batch is made.
func (a *API) unconfirmed(w http.ResponseWriter, n int, confirm bool, what, check string) bool {
	err := jobs.Confirm(a.o.ConfirmAbove, n, what, confirm)
	if err == nil {
		return false
	}
	writeError(w, http.StatusUnprocessableEntity, ErrorBody{Field: "confirm", Error: fmt.Sprintf(
		"%v: %s, then send it again with confirm=true", err, check)})
	return true
}

// errReplayed is what a submission's enqueue returns when its idempotency key named an earlier batch.
var errReplayed = errors.New("replayed")

// finishSubmit runs an enqueue detached from the client's connection and answers 201 with its
// summary, or, when the enqueue replayed an earlier submission (errReplayed), 200 with that batch.
func (a *API) finishSubmit(w http.ResponseWriter, r *http.Request, res SubmitResult, enqueue func(context.Context) (jobs.Summary, error)) {
	sum, err := enqueue(context.WithoutCancel(r.Context()))
	noteBatch(r.Context(), sum.Batch)
	if errors.Is(err, errReplayed) {
		a.replayed(w, r, sum.Batch)
		return
	}
	if errors.Is(err, jobs.ErrIdempotencyConflict) {
		writeError(w, http.StatusUnprocessableEntity, ErrorBody{Field: IdempotencyKeyHeader, Error: err.Error()})
		return
	}
	if err != nil {
		if errors.Is(err, jobs.ErrNoBatch) {
			writeError(w, http.StatusNotFound, ErrorBody{Error: err.Error()})
			return
		}
		body := ErrorBody{}
		if sum.Batch != "" && a.exists(r, sum.Batch) {
			body.Batch = sum.Batch
			body.Error = fmt.Sprintf("batch %s stopped after %d tasks (cancel it with reaper cancel --batch %s)", sum.Batch, sum.Enqueued, sum.Batch)
		}
		serverError(a.o.Logger, w, r, err, body)
		return
	}
	res.Batch, res.Enqueued, res.Duplicates, res.ByProvider = sum.Batch, sum.Enqueued, sum.Duplicates, sum.ByProvider
	res.Accepted = sum.Enqueued + sum.Duplicates
	if res.Rejected == nil {
		res.Rejected = []Rejection{}
	}
	w.Header().Set("Location", "/v1/batches/"+sum.Batch)
	writeJSON(w, http.StatusCreated, res)
}

// exists reports whether the store holds batch id (an enqueue that failed may or may not have created it).
func (a *API) exists(r *http.Request, id string) bool {
	_, err := a.o.Producer.Store().Batch(context.WithoutCancel(r.Context()), id)
	return err == nil
}

// batchMeta reads who submits and why: query submitted_by / note, or headers X-Reaper-Submitted-By /
// X-Reaper-Note. Without a submitter the batch records the token's fingerprint.
func (a *API) batchMeta(w http.ResponseWriter, r *http.Request) (jobs.BatchMeta, bool) {
	get := func(param, header string) string {
		if v := r.URL.Query().Get(param); v != "" {
			return v
		}
		return r.Header.Get(header)
	}
	m := jobs.BatchMeta{SubmittedBy: get("submitted_by", "X-Reaper-Submitted-By"), Note: get("note", "X-Reaper-Note")}
	for field, v := range map[string]string{"submitted_by": m.SubmittedBy, "note": m.Note} {
		if len(v) > 1024 || strings.ContainsAny(v, "\r\n") {
			writeError(w, http.StatusBadRequest, ErrorBody{Field: field, Error: "must be one line of at most 1024 bytes"})
			return m, false
		}
	}
	if m.SubmittedBy == "" {
		m.SubmittedBy = "api:" + clientOf(r.Context())
	}
	return m, true
}

func (a *API) tooLarge(w http.ResponseWriter) {
	writeError(w, http.StatusRequestEntityTooLarge, ErrorBody{
		Error: fmt.Sprintf("the body is larger than api.max_body_bytes (%d bytes): split the manifest into several batches", a.o.MaxBodyBytes)})
}

// status is GET /v1/batches/{id}.
func (a *API) status(w http.ResponseWriter, r *http.Request) {
	b, ok := a.batch(w, r)
	if !ok {
		return
	}
	st, _, err := jobs.Describe(r.Context(), a.o.Producer.Store(), b)
	if err != nil {
		serverError(a.o.Logger, w, r, err, ErrorBody{})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// report is GET /v1/batches/{id}/report?format=jsonl|csv&only=OUTCOME, streamed from the store.
func (a *API) report(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = jobs.JSONL
	}
	if format != jobs.JSONL && format != jobs.CSV {
		writeError(w, http.StatusBadRequest, ErrorBody{Field: "format", Error: fmt.Sprintf("must be jsonl or csv, got %q", format)})
		return
	}
	only, err := jobs.ParseOutcome(q.Get("only"))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Field: "only", Error: err.Error()})
		return
	}
	b, ok := a.batch(w, r)
	if !ok {
		return
	}
	ctype := "application/x-ndjson"
	if format == jobs.CSV {
		ctype = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": b.ID + "." + format}))
	cw := &countingWriter{w: w}
	if err := jobs.WriteReport(r.Context(), a.o.Producer.Store(), b.ID, format, only, cw); err != nil {
		if cw.n == 0 && r.Context().Err() == nil {
			w.Header().Del("Content-Disposition")
			serverError(a.o.Logger, w, r, err, ErrorBody{})
			return
		}
		// Rows are already out: cut the connection so the client sees a broken transfer, never a
		// report that looks complete.
		a.o.Logger.Warn("report broke off", "batch_id", b.ID, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// retry is POST /v1/batches/{id}/retry?confirm=: the batch's failed targets become a new batch. More
// than ConfirmAbove of them need confirm=true, as a submission does.
func (a *API) retry(w http.ResponseWriter, r *http.Request) {
	confirm, err := boolParam(r.URL.Query().Get("confirm"))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Error: err.Error(), Field: "confirm"})
		return
	}
	b, meta, ok := a.batchAndMeta(w, r)
	if !ok {
		return
	}
	// The failed counter is final for the targets it counts (a target's first outcome is the one kept).
	if a.unconfirmed(w, int(b.Counts[jobs.Failed]), confirm, "failed targets", "check them with GET /v1/batches/"+b.ID+"/report?only=failed") {
		return
	}
	a.finishSubmit(w, r, SubmitResult{}, func(ctx context.Context) (jobs.Summary, error) {
		return a.o.Producer.RetryFailed(ctx, b.ID, meta)
	})
}

// undo is POST /v1/batches/{id}/undo?conflict=ask|rename|overwrite&dry_run=&confirm=: every item the
// batch recycled is restored by a new batch of kind undo (201, its plan). dry_run=true answers 200
// with the plan and enqueues nothing. More restores than ConfirmAbove need confirm=true.
func (a *API) undo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var flags [2]bool
	for i, name := range []string{"dry_run", "confirm"} {
		v, err := boolParam(q.Get(name))
		if err != nil {
			writeError(w, http.StatusBadRequest, ErrorBody{Error: err.Error(), Field: name})
			return
		}
		flags[i] = v
	}
	conflict, err := providers.ParseConflictStrategy(q.Get("conflict"))
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody{Error: err.Error(), Field: "conflict"})
		return
	}
	b, meta, ok := a.batchAndMeta(w, r)
	if !ok {
		return
	}
	plan, err := a.o.Producer.Undo(context.WithoutCancel(r.Context()), b.ID, jobs.UndoOptions{Conflict: conflict, DryRun: flags[0],
		SubmittedBy: meta.SubmittedBy, Note: meta.Note, ConfirmAbove: a.o.ConfirmAbove, Confirmed: flags[1]})
	noteBatch(r.Context(), plan.Batch)
	var ce *jobs.ConfirmError
	switch {
	case errors.As(err, &ce):
		writeError(w, http.StatusUnprocessableEntity, ErrorBody{Field: "confirm", Error: fmt.Sprintf(
			"%v: check them with dry_run=true, then send it again with confirm=true", err)})
	case errors.Is(err, jobs.ErrUndoOfUndo), errors.Is(err, jobs.ErrNotDone):
		writeError(w, http.StatusConflict, ErrorBody{Error: err.Error()})
	case err != nil:
		body := ErrorBody{}
		if plan.Batch != "" && a.exists(r, plan.Batch) {
			body.Batch = plan.Batch
			body.Error = fmt.Sprintf("undo batch %s stopped after %d restores (cancel it with reaper cancel --batch %s)", plan.Batch, plan.Enqueued, plan.Batch)
		}
		serverError(a.o.Logger, w, r, err, body)
	case plan.DryRun:
		writeJSON(w, http.StatusOK, plan)
	default:
		w.Header().Set("Location", "/v1/batches/"+plan.Batch)
		writeJSON(w, http.StatusCreated, plan)
	}
}

// batchAndMeta is batch, then batchMeta: the batch a request acts on and who asks (for a batch the
// request creates from it, or its audit trail).
func (a *API) batchAndMeta(w http.ResponseWriter, r *http.Request) (jobs.BatchInfo, jobs.BatchMeta, bool) {
	b, ok := a.batch(w, r)
	if !ok {
		return b, jobs.BatchMeta{}, false
	}
	meta, ok := a.batchMeta(w, r)
	return b, meta, ok
}

// batch reads the batch named by the {id} wildcard, answering 404 when the store does not know it.
// An id not in the format jobs.NewBatchID makes is answered 404 without asking Redis: ids become
// parts of key names, and "<id>:out" would name another key of the batch.
func (a *API) batch(w http.ResponseWriter, r *http.Request) (jobs.BatchInfo, bool) {
	id := r.PathValue("id")
	if !jobs.ValidBatchID(id) {
		writeError(w, http.StatusNotFound, ErrorBody{Error: InvalidBatchID(id)})
		return jobs.BatchInfo{}, false
	}
	noteBatch(r.Context(), id)
	b, err := a.o.Producer.Store().Batch(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrNoBatch):
		writeError(w, http.StatusNotFound, ErrorBody{Error: "no such batch: " + id + " (never created, or past outcomes.retention)"})
		return b, false
	case err != nil:
		serverError(a.o.Logger, w, r, err, ErrorBody{})
		return b, false
	}
	return b, true
}

// InvalidBatchID is the message for an id not in the format jobs.NewBatchID makes (the API's 404, the
// CLI's --batch error). It quotes at most 64 bytes of the id.
func InvalidBatchID(id string) string {
	if len(id) > 64 {
		id = id[:64] + "..."
	}
	return fmt.Sprintf("no such batch: %q is not a batch id (batch ids look like %s)", id, jobs.BatchIDExample)
}

// rejection turns a bad line into its JSON, naming the field when the error does.
func rejection(le *jobs.LineError) Rejection {
	rj := Rejection{Line: le.Line, Error: le.Err.Error()}
	var fe *providers.FieldError
	if errors.As(le.Err, &fe) {
		rj.Field = fe.Field
		if rj.Error == fe.Error() { // the field's error alone: say it without repeating the field
			rj.Error = fe.Problem
		}
	}
	return rj
}

func boolParam(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", s)
	}
	return v, nil
}

// countingWriter remembers whether anything reached the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
