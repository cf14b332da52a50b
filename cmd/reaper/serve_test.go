package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
)

const apiToken = "serve-test-token-0123456789abcdef"

// serve runs `reaper serve` in-process until the test ends and returns its base URL and its log.
func (c *cli) serve(t *testing.T) (string, *logWatch) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := newLogWatch()
	addrCh := logs.addr("serving")
	done := make(chan int, 1)
	go func() {
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: logs, getenv: func(k string) string {
			if k == "REAPER_CONFIG" {
				return c.config
			}
			return c.envs[k]
		}}
		done <- run(ctx, e, []string{"serve"})
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("reaper serve exited %d before serving:\n%s", code, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("reaper serve never logged its address:\n%s", logs.String())
	}
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done, "serve stops cleanly on SIGTERM:\n%s", logs.String())
	})
	return base, logs
}

func call(t *testing.T, method, url, token string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// `reaper serve` end to end with a worker: a batch submitted over HTTP is deleted, its status and
// report read over HTTP; readiness and metrics are on the admin port, not the API's; bad tokens and
// oversized bodies are refused; the token never reaches the log.
func TestServe(t *testing.T) {
	c := newCLI(t, "api: {listen: \"127.0.0.1:0\", max_body_bytes: 4096}\nadmin: {listen: \"127.0.0.1:0\"}\n")
	c.envs["REAPER_API_TOKENS"] = "other-token, " + apiToken
	base, logs := c.serve(t)
	c.worker(t)

	targets := c.stack.Targets(2, 2) // 6 targets, the second of each provider already gone
	code, _, body := call(t, "POST", base+"/v1/batches?submitted_by=serve-test", apiToken,
		strings.NewReader(manifest(targets)+`{"provider":"vod","file_id":""}`+"\n"))
	require.Equal(t, 201, code, string(body))
	var res httpapi.SubmitResult
	require.NoError(t, json.Unmarshal(body, &res))
	assert.Equal(t, 6, res.Enqueued)
	require.Len(t, res.Rejected, 1)
	assert.Equal(t, httpapi.Rejection{Line: 7, Field: "file_id", Error: res.Rejected[0].Error}, res.Rejected[0])

	var st jobs.BatchStatus
	deadline := time.Now().Add(60 * time.Second)
	for !st.Done {
		require.True(t, time.Now().Before(deadline), "batch not done: %+v", st)
		code, _, body = call(t, "GET", base+"/v1/batches/"+res.Batch, apiToken, nil)
		require.Equal(t, 200, code, string(body))
		require.NoError(t, json.Unmarshal(body, &st))
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, int64(3), st.Outcomes["deleted"])
	assert.Equal(t, int64(3), st.Outcomes["already_gone"])
	assert.Equal(t, "serve-test", st.SubmittedBy)
	for _, tg := range targets {
		assert.False(t, c.stack.Fake(tg.Provider).Exists(tg))
	}

	code, hdr, body := call(t, "GET", base+"/v1/batches/"+res.Batch+"/report?format=csv", apiToken, nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "text/csv; charset=utf-8", hdr.Get("Content-Type"))
	assert.Len(t, strings.Split(strings.TrimSpace(string(body)), "\n"), 7, "a header and one row per target")

	// Refusals.
	code, hdr, _ = call(t, "POST", base+"/v1/batches", "", strings.NewReader(manifest(targets)))
	assert.Equal(t, 401, code)
	assert.NotEmpty(t, hdr.Get("WWW-Authenticate"))
	code, _, _ = call(t, "GET", base+"/v1/batches/"+res.Batch, "wrong-token", nil)
	assert.Equal(t, 401, code)
	code, _, body = call(t, "POST", base+"/v1/batches", apiToken, strings.NewReader(manifest(c.stack.Targets(40, 0))))
	assert.Equal(t, 413, code, string(body))

	// The API's port faces clients: liveness only. Readiness, metrics and the dashboard are on admin.listen.
	code, _, _ = call(t, "GET", base+"/healthz", "", nil)
	assert.Equal(t, 200, code)
	for _, path := range []string{"/readyz", "/metrics", "/monitor/"} {
		code, _, _ = call(t, "GET", base+path, "", nil)
		assert.Equal(t, 404, code, path)
		code, _, _ = call(t, "GET", base+path, apiToken, nil)
		assert.Equal(t, 404, code, path)
	}
	admin := waitAddr(t, logs.addr("admin listening"))
	code, _, body = call(t, "GET", admin+"/readyz", "", nil)
	assert.Equal(t, 200, code, string(body))
	code, _, body = call(t, "GET", admin+"/metrics", "", nil)
	assert.Equal(t, 200, code)
	assert.Equal(t, "1", metricValue(string(body), "reaper_queue_up"))
	code, _, _ = call(t, "GET", admin+"/monitor/", "", nil)
	assert.Equal(t, 401, code, "the dashboard needs a token")
	code, _, _ = call(t, "GET", admin+"/monitor/", apiToken, nil)
	assert.Equal(t, 200, code)
	code, _, body = call(t, "GET", base+"/v1/openapi.json", "", nil)
	assert.Equal(t, 200, code)
	assert.True(t, json.Valid(body))

	// One JSON line per request, with the batch id; never a token.
	out := logs.String()
	assert.NotContains(t, out, apiToken)
	assert.NotContains(t, out, "other-token")
	var seen bool
	for _, l := range logs.Lines() {
		if l["msg"] == "http request" && l["method"] == "POST" && l["path"] == "/v1/batches" && l["status"] == float64(201) {
			seen = true
			assert.Equal(t, res.Batch, l["batch_id"])
			assert.Contains(t, l, "duration")
		}
	}
	assert.True(t, seen, "the submission was logged:\n%s", out)
}

func TestServeNeedsATokenAndAPort(t *testing.T) {
	c := newCLI(t, "api: {listen: \"127.0.0.1:0\"}\n")
	code, _, errOut := c.run(t, "", "serve")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "REAPER_API_TOKENS")

	c = newCLI(t, "api: {listen: \"127.0.0.1:-1\"}\n")
	c.envs["REAPER_API_TOKENS"] = apiToken
	code, _, errOut = c.run(t, "", "serve")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "api.listen")
	assert.NotContains(t, errOut, apiToken)
}

// Every reaper HTTP server bounds what a client may hold: headers within 10 s and 64 KiB, idle
// connections closed. (A submission's body has its own rate-following deadline, tested in
// jobs/httpapi with a trickling client.)
func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	assert.Positive(t, srv.ReadHeaderTimeout)
	assert.LessOrEqual(t, srv.ReadHeaderTimeout, 30*time.Second)
	assert.Equal(t, 64<<10, srv.MaxHeaderBytes)
	assert.Positive(t, srv.IdleTimeout)
}
