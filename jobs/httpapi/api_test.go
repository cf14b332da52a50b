package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
)

const token = "s3cret-token-for-tests-0123456789"

// env is a real redis-server, the provider fakes, a pipeline on them and the API served over loopback.
type env struct {
	redis *jobstest.Redis
	stack *fakestack.Stack
	cfg   *config.Config
	p     *jobs.Pipeline
	srv   *httptest.Server
	logs  *syncBuffer
}

func start(t *testing.T, tweak func(*httpapi.Options)) *env {
	t.Helper()
	return startWith(t, fakestack.Options{Seed: 11}, tweak)
}

// startWith is start with the fakes started with fo (e.g. SMH's recycle bin on).
func startWith(t *testing.T, fo fakestack.Options, tweak func(*httpapi.Options)) *env {
	t.Helper()
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fo)
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	p := wiring.Pipeline(cfg, r.Client())
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := httpapi.Options{Producer: p.Producer, Admin: p.Admin, Tokens: []string{"another-token", token}, Logger: log}
	if tweak != nil {
		tweak(&o)
	}
	api, err := httpapi.New(o)
	require.NoError(t, err)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(httpapi.LogRequests(log, mux))
	t.Cleanup(srv.Close)
	return &env{redis: r, stack: stack, cfg: cfg, p: p, srv: srv, logs: logs}
}

func (e *env) startWorker(t *testing.T) {
	t.Helper()
	deleters, err := wiring.Deleters(e.cfg)
	require.NoError(t, err)
	w := e.p.NewWorker(deleters, nil, nil)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)
}

// do sends a request with the test token (auth "" sends none) and returns status, headers and body.
func (e *env) do(t *testing.T, method, path, auth string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return e.send(t, req)
}

// send sends req and returns its status, headers and body.
func (e *env) send(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

func (e *env) status(t *testing.T, id string) jobs.BatchStatus {
	t.Helper()
	code, _, body := e.do(t, "GET", "/v1/batches/"+id, "Bearer "+token, nil)
	require.Equal(t, 200, code, string(body))
	var st jobs.BatchStatus
	require.NoError(t, json.Unmarshal(body, &st))
	return st
}

// waitDone polls the status route until the batch is done.
func (e *env) waitDone(t *testing.T, id string) jobs.BatchStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := e.status(t, id)
		if st.Done {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s not done: %+v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func manifest(ts ...providers.Target) string {
	var b strings.Builder
	for _, t := range ts {
		line, _ := json.Marshal(t)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

// The whole producer flow over HTTP: submit a manifest with some bad lines, let a worker run it, read
// its status and its report in both formats, and retry its failure as a new batch.
func TestSubmitRunReportRetry(t *testing.T) {
	e := start(t, nil)
	c := e.stack.Creds
	targets := append(e.stack.Targets(3, 0), // 9 targets at the fakes, and 2 that never were (already gone)
		providers.Target{Provider: providers.SMH, LibraryID: c.SMHLibrary, SpaceID: "-", Path: "never/was.mp4"},
		providers.Target{Provider: providers.VOD, FileID: "999999999", SubAppID: c.VODSubApp})
	body := manifest(targets[:4]...) +
		`{"provider":"smh","path":"a//b"}` + "\n" + // line 5: bad path
		"# a comment\n\n" +
		manifest(targets[4:]...) +
		`{"provider":"vod","fileid":"1"}` + "\n" + // line 15: unknown field
		`not json` + "\n" // line 16

	code, hdr, resp := e.do(t, "POST", "/v1/batches?submitted_by=ci&note=ticket-42", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 201, code, string(resp))
	res := decode[httpapi.SubmitResult](t, resp)
	require.NotEmpty(t, res.Batch)
	assert.Equal(t, "/v1/batches/"+res.Batch, hdr.Get("Location"))
	assert.Equal(t, 11, res.Accepted)
	assert.Equal(t, 11, res.Enqueued)
	assert.Zero(t, res.Duplicates)
	assert.Equal(t, map[providers.Name]int{providers.MSS: 3, providers.SMH: 4, providers.VOD: 4}, res.ByProvider)
	assert.Equal(t, 3, res.RejectedCount)
	assert.Equal(t, []httpapi.Rejection{
		{Line: 5, Field: "path", Error: "segment 2 is empty (leading, trailing or doubled '/')"},
		{Line: 15, Field: "fileid", Error: "unknown field"},
		{Line: 16, Error: "not a JSON object: invalid character 'o' in literal null (expecting 'u')"},
	}, res.Rejected)

	st := e.status(t, res.Batch)
	assert.Equal(t, "ci", st.SubmittedBy)
	assert.Equal(t, "api", st.Source)
	assert.Equal(t, "ticket-42", st.Note)
	assert.True(t, st.Sealed)
	assert.Equal(t, int64(11), st.Total)

	// The first MSS delete is refused for good: one failure to retry later.
	e.stack.Faults(providers.MSS).FailNext(1, faults.Fault{Status: 401, Code: "MSS.00000001", Message: "Unauthorized"})
	e.startWorker(t)
	st = e.waitDone(t, res.Batch)
	assert.Equal(t, int64(1), st.Outcomes["failed"])
	assert.Equal(t, int64(2), st.Outcomes["already_gone"])
	assert.Equal(t, int64(8), st.Outcomes["deleted"])
	assert.Zero(t, st.Pending)

	// JSONL: one record per target.
	code, hdr, rep := e.do(t, "GET", "/v1/batches/"+res.Batch+"/report", "Bearer "+token, nil)
	require.Equal(t, 200, code, string(rep))
	assert.Equal(t, "application/x-ndjson", hdr.Get("Content-Type"))
	assert.Contains(t, hdr.Get("Content-Disposition"), res.Batch+".jsonl")
	keys := map[string]jobs.Outcome{}
	for _, line := range strings.Split(strings.TrimSpace(string(rep)), "\n") {
		r := decode[jobs.Record](t, []byte(line))
		keys[r.Key] = r.Outcome
	}
	require.Len(t, keys, 11)
	for _, tg := range targets {
		assert.Contains(t, keys, tg.Key())
	}

	// CSV: a header and one row per target.
	code, hdr, rep = e.do(t, "GET", "/v1/batches/"+res.Batch+"/report?format=csv", "Bearer "+token, nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "text/csv; charset=utf-8", hdr.Get("Content-Type"))
	rows, err := csv.NewReader(bytes.NewReader(rep)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 12)
	assert.Equal(t, jobs.ReportColumns, rows[0])

	// only=failed: the one failure, with its code.
	code, _, rep = e.do(t, "GET", "/v1/batches/"+res.Batch+"/report?only=failed", "Bearer "+token, nil)
	require.Equal(t, 200, code)
	failed := decode[jobs.Record](t, rep)
	assert.Equal(t, providers.MSS, failed.Provider)
	assert.Equal(t, "MSS.00000001", failed.Code)

	// Retry: the failure becomes a new batch, which now succeeds.
	code, hdr, resp = e.do(t, "POST", "/v1/batches/"+res.Batch+"/retry", "Bearer "+token, nil)
	require.Equal(t, 201, code, string(resp))
	retry := decode[httpapi.SubmitResult](t, resp)
	assert.NotEqual(t, res.Batch, retry.Batch)
	assert.Equal(t, "/v1/batches/"+retry.Batch, hdr.Get("Location"))
	assert.Equal(t, 1, retry.Enqueued)
	assert.Equal(t, map[providers.Name]int{providers.MSS: 1}, retry.ByProvider)
	st = e.waitDone(t, retry.Batch)
	assert.Equal(t, int64(1), st.Outcomes["deleted"])
	assert.Equal(t, "retry:"+res.Batch, st.Source)
	assert.Equal(t, "api:"+httpapi.Fingerprint(token), st.SubmittedBy, "no submitted_by: the token's fingerprint")
	assert.False(t, e.stack.MSS.Exists(failed.Target))

	// The request log has one line per request with the batch id, and never the token.
	logs := e.logs.String()
	assert.NotContains(t, logs, token)
	lines := e.logLines(t)
	var submitLine map[string]any
	for _, l := range lines {
		if l["method"] == "POST" && l["path"] == "/v1/batches" {
			submitLine = l
		}
	}
	require.NotNil(t, submitLine)
	assert.Equal(t, res.Batch, submitLine["batch_id"])
	assert.Equal(t, float64(201), submitLine["status"])
	assert.Equal(t, httpapi.Fingerprint(token), submitLine["client"])
	assert.Contains(t, submitLine, "duration")
}

func TestAuth(t *testing.T) {
	e := start(t, nil)
	body := manifest(e.stack.Targets(1, 0)...)
	for _, tc := range []struct {
		name, auth, challenge string
	}{
		{"missing", "", `Bearer realm="reaper"`},
		{"wrong token", "Bearer not-the-token", `Bearer realm="reaper", error="invalid_token"`},
		{"token prefix", "Bearer " + token[:10], `Bearer realm="reaper", error="invalid_token"`},
		{"token with more", "Bearer " + token + "x", `Bearer realm="reaper", error="invalid_token"`},
		{"basic scheme", "Basic " + token, `Bearer realm="reaper"`},
		{"no token after scheme", "Bearer ", `Bearer realm="reaper"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{
				{"POST", "/v1/batches"}, {"GET", "/v1/batches/x"}, {"GET", "/v1/batches/x/report"}, {"POST", "/v1/batches/x/retry"},
			} {
				code, hdr, resp := e.do(t, req.method, req.path, tc.auth, strings.NewReader(body))
				assert.Equal(t, 401, code, "%s %s", req.method, req.path)
				assert.Equal(t, tc.challenge, hdr.Get("WWW-Authenticate"))
				assert.Equal(t, "application/json", hdr.Get("Content-Type"))
				assert.NotEmpty(t, decode[httpapi.ErrorBody](t, resp).Error)
				assert.NotContains(t, string(resp), token)
			}
		})
	}
	ids, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)
	assert.Empty(t, ids, "no unauthenticated request created a batch")

	// Either configured token works; the scheme is case-insensitive.
	code, _, resp := e.do(t, "POST", "/v1/batches", "bearer another-token", strings.NewReader(body))
	assert.Equal(t, 201, code, string(resp))
	assert.NotContains(t, e.logs.String(), token)
	assert.NotContains(t, e.logs.String(), "another-token")

	_, err = httpapi.New(httpapi.Options{Producer: e.p.Producer, Tokens: []string{" ", ""}})
	require.ErrorContains(t, err, "REAPER_API_TOKENS", "the API never runs without a token")
}

func TestBodyLimit(t *testing.T) {
	e := start(t, func(o *httpapi.Options) { o.MaxBodyBytes = 1024 })
	big := manifest(e.stack.Targets(20, 0)...) // well over 1 KiB
	require.Greater(t, len(big), 1024)

	// Announced by Content-Length: refused before reading.
	code, _, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(big))
	assert.Equal(t, 413, code)
	assert.Contains(t, decode[httpapi.ErrorBody](t, resp).Error, "api.max_body_bytes (1024 bytes)")

	// Chunked, no length: refused once the limit is crossed.
	code, _, resp = e.do(t, "POST", "/v1/batches", "Bearer "+token, io.MultiReader(strings.NewReader(big)))
	assert.Equal(t, 413, code, string(resp))

	ids, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)
	assert.Empty(t, ids, "an oversized body enqueues nothing")

	// Just under the limit is fine.
	small := manifest(e.stack.Targets(2, 0)...)
	code, _, resp = e.do(t, "POST", "/v1/batches", "Bearer "+token, io.MultiReader(strings.NewReader(small)))
	assert.Equal(t, 201, code, string(resp))
}

func TestNothingValidCreatesNoBatch(t *testing.T) {
	e := start(t, nil)
	for _, tc := range []struct{ name, body, want string }{
		{"all bad", `{"provider":"ftp","file_id":"x"}` + "\n" + `{"provider":"mss"}` + "\n", "all 2 lines were rejected"},
		{"empty", "", "holds no target"},
		{"comments only", "# nothing\n\n", "holds no target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(tc.body))
			require.Equal(t, 422, code, string(resp))
			eb := decode[httpapi.ErrorBody](t, resp)
			assert.Contains(t, eb.Error, tc.want)
			assert.Empty(t, eb.Batch)
		})
	}
	code, _, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(`{"provider":"ftp","file_id":"x"}`+"\n"+`{"provider":"mss"}`+"\n"))
	require.Equal(t, 422, code)
	eb := decode[httpapi.ErrorBody](t, resp)
	assert.Equal(t, 2, eb.RejectedCount)
	require.Len(t, eb.Rejected, 2)
	assert.Equal(t, 1, eb.Rejected[0].Line)
	assert.Equal(t, "provider", eb.Rejected[0].Field)
	assert.Equal(t, 2, eb.Rejected[1].Line)
	assert.Equal(t, "file_id", eb.Rejected[1].Field)

	ids, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)
	assert.Empty(t, ids)

	// A line too long to read is one rejected line, named; reading goes on.
	long := `{"provider":"mss","file_id":"` + strings.Repeat("x", jobs.MaxLineBytes) + `"}`
	code, _, resp = e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(long+"\n"+long+"\n"))
	require.Equal(t, 422, code, string(resp))
	eb = decode[httpapi.ErrorBody](t, resp)
	assert.Equal(t, 2, eb.RejectedCount)
	require.Len(t, eb.Rejected, 2)
	assert.Equal(t, 2, eb.Rejected[1].Line)
	assert.Contains(t, eb.Rejected[1].Error, "longer than")
}

func TestDryRunAndConfirm(t *testing.T) {
	e := start(t, func(o *httpapi.Options) { o.ConfirmAbove = 4 })
	body := manifest(e.stack.Targets(2, 0)...) + `{"provider":"vod"}` + "\n" // 6 good, 1 bad

	code, _, resp := e.do(t, "POST", "/v1/batches?dry_run=true", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 200, code, string(resp))
	res := decode[httpapi.SubmitResult](t, resp)
	assert.True(t, res.DryRun)
	assert.Empty(t, res.Batch)
	assert.Equal(t, 6, res.Accepted)
	assert.Zero(t, res.Enqueued)
	assert.Equal(t, map[providers.Name]int{providers.MSS: 2, providers.SMH: 2, providers.VOD: 2}, res.ByProvider)
	assert.Equal(t, 1, res.RejectedCount)

	code, _, resp = e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 422, code)
	eb := decode[httpapi.ErrorBody](t, resp)
	assert.Equal(t, "confirm", eb.Field)
	assert.Contains(t, eb.Error, "enqueue.confirm_above (4)")
	ids, err := e.p.Store.Batches(context.Background(), 10)
	require.NoError(t, err)
	assert.Empty(t, ids, "neither a dry run nor an unconfirmed submission creates a batch")

	code, _, resp = e.do(t, "POST", "/v1/batches?confirm=true", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 201, code, string(resp))
	assert.Equal(t, 6, decode[httpapi.SubmitResult](t, resp).Enqueued)

	code, _, resp = e.do(t, "POST", "/v1/batches?dry_run=maybe", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 400, code)
	assert.Equal(t, "dry_run", decode[httpapi.ErrorBody](t, resp).Field)
}

// Submitting the same targets twice: the second batch counts them as duplicates while they are queued.
func TestDuplicatesAcrossBatches(t *testing.T) {
	e := start(t, nil)
	body := manifest(e.stack.Targets(2, 0)...)
	code, _, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 201, code, string(resp))
	code, _, resp = e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(body))
	require.Equal(t, 201, code, string(resp))
	res := decode[httpapi.SubmitResult](t, resp)
	assert.Equal(t, 6, res.Accepted)
	assert.Equal(t, 6, res.Duplicates)
	assert.Zero(t, res.Enqueued)
}

func TestBatchRoutesErrors(t *testing.T) {
	e := start(t, nil)
	unknown := jobs.NewBatchID(time.Now())
	for _, path := range []string{"/v1/batches/" + unknown, "/v1/batches/" + unknown + "/report"} {
		code, _, resp := e.do(t, "GET", path, "Bearer "+token, nil)
		assert.Equal(t, 404, code, path)
		assert.Contains(t, decode[httpapi.ErrorBody](t, resp).Error, "no such batch: "+unknown)
	}
	code, _, resp := e.do(t, "POST", "/v1/batches/"+unknown+"/retry", "Bearer "+token, nil)
	assert.Equal(t, 404, code)
	assert.Contains(t, decode[httpapi.ErrorBody](t, resp).Error, "no such batch")
	code, _, resp = e.do(t, "GET", "/v1/batches/nope", "Bearer "+token, nil)
	assert.Equal(t, 404, code)
	assert.Contains(t, decode[httpapi.ErrorBody](t, resp).Error, `no such batch: "nope" is not a batch id`)

	code, _, resp = e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(manifest(e.stack.Targets(1, 0)...)))
	require.Equal(t, 201, code)
	id := decode[httpapi.SubmitResult](t, resp).Batch
	for q, field := range map[string]string{"format=xml": "format", "only=exploded": "only"} {
		code, _, resp := e.do(t, "GET", "/v1/batches/"+id+"/report?"+q, "Bearer "+token, nil)
		assert.Equal(t, 400, code, q)
		assert.Equal(t, field, decode[httpapi.ErrorBody](t, resp).Field, q)
	}
	code, _, resp = e.do(t, "POST", "/v1/batches?note="+strings.Repeat("n", 2000), "Bearer "+token, strings.NewReader("{}"))
	assert.Equal(t, 400, code)
	assert.Equal(t, "note", decode[httpapi.ErrorBody](t, resp).Field)

	code, hdr, _ := e.do(t, "DELETE", "/v1/batches", "Bearer "+token, nil)
	assert.Equal(t, 405, code)
	assert.Contains(t, hdr.Get("Allow"), "POST")
}

// Without Redis the API answers JSON errors (500) and creates nothing; the body is not echoed.
func TestRedisDown(t *testing.T) {
	e := start(t, nil)
	e.redis.Stop()
	code, hdr, resp := e.do(t, "POST", "/v1/batches", "Bearer "+token, strings.NewReader(manifest(e.stack.Targets(1, 0)...)))
	assert.Equal(t, 500, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	eb := decode[httpapi.ErrorBody](t, resp)
	assert.NotEmpty(t, eb.ErrorID)
	assert.Empty(t, eb.Batch, "no batch was created")
	assert.Contains(t, e.logs.String(), "create batch", "the cause is in the log")
	code, _, resp = e.do(t, "GET", "/v1/batches/"+jobs.NewBatchID(time.Now()), "Bearer "+token, nil)
	assert.Equal(t, 500, code)
	assert.NotEmpty(t, decode[httpapi.ErrorBody](t, resp).ErrorID)
}

// The OpenAPI document parses, is served without a token, and describes exactly the routes served.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := start(t, nil)
	code, hdr, body := e.do(t, "GET", "/v1/openapi.json", "", nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	assert.Equal(t, httpapi.OpenAPI(), body)

	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."), doc.OpenAPI)

	api, err := httpapi.New(httpapi.Options{Producer: e.p.Producer, Tokens: []string{token}})
	require.NoError(t, err)
	var served []string
	for _, p := range api.Patterns() {
		method, path, ok := strings.Cut(p, " ")
		require.True(t, ok, "pattern %q has a method", p)
		served = append(served, strings.ToLower(method)+" "+path)
		assert.Contains(t, doc.Paths[path], strings.ToLower(method), "openapi.json lacks %s", p)
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			assert.True(t, slices.Contains(served, method+" "+path), "openapi.json describes %s %s, which is not served", method, path)
		}
	}
	// Readiness and metrics describe Redis and the queues: they are served on admin.listen only.
	for _, p := range []string{"GET /readyz", "GET /metrics", "/monitor/"} {
		assert.NotContains(t, api.Patterns(), p)
	}
	// Every $ref resolves.
	var whole map[string]any
	require.NoError(t, json.Unmarshal(body, &whole))
	for _, ref := range refs(whole) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var node any = whole
		for _, p := range parts {
			m, ok := node.(map[string]any)
			require.True(t, ok, "ref %s", ref)
			node = m[p]
		}
		assert.NotNil(t, node, "unresolved $ref %s", ref)
	}
}

func refs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = append(out, refs(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, refs(c)...)
		}
	}
	return out
}

func (e *env) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if l == "" {
			continue
		}
		out = append(out, decode[map[string]any](t, []byte(l)))
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
