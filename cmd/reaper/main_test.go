package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// TestMain lets tests run the reaper binary as a separate process: the test binary re-executes itself
// with REAPER_TEST_MAIN=1 and the command line, and main's run takes over.
func TestMain(m *testing.M) {
	if os.Getenv("REAPER_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// cli is a real redis-server, the fakes, and a config file pointing at both.
type cli struct {
	redis  *jobstest.Redis
	stack  *fakestack.Stack
	config string
	envs   map[string]string
}

func newCLI(t *testing.T, extraYAML string) *cli {
	t.Helper()
	return newCLIWith(t, extraYAML, fakestack.Options{Seed: 3})
}

// newCLIWith is newCLI with the fakes started with o (e.g. SMH's recycle bin on).
func newCLIWith(t *testing.T, extraYAML string, o fakestack.Options) *cli {
	t.Helper()
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(o)
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	yaml := fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 16, shutdown_timeout: 5s}
retry: {max_attempts: 3, base_delay: 50ms, max_delay: 200ms, throttle_delay: 100ms}
breaker: {open_timeout: 1s}
providers:
  mss: {enabled: true, endpoint: %q, rate_limit: 1000}
  smh: {enabled: true, endpoint: %q, rate_limit: 1000}
  vod: {enabled: true, endpoint: %q, rate_limit: 1000}
%s`, r.URL(), stack.URL[providers.MSS], stack.URL[providers.SMH], stack.URL[providers.VOD], extraYAML)
	path := filepath.Join(t.TempDir(), "reaper.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	envs := stack.Creds.Env()
	// admin.listen defaults to 127.0.0.1:9090: a free port per process, so tests never collide.
	envs["REAPER_ADMIN_LISTEN"] = "127.0.0.1:0"
	return &cli{redis: r, stack: stack, config: path, envs: envs}
}

// run runs one reaper command in-process and returns exit code, stdout and stderr.
func (c *cli) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "REAPER_CONFIG" {
			return c.config
		}
		return c.envs[k]
	}}
	code := run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

// worker runs `reaper worker` in-process until the test ends.
func (c *cli) worker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		var sink bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &sink, stderr: &sink, getenv: func(k string) string {
			if k == "REAPER_CONFIG" {
				return c.config
			}
			return c.envs[k]
		}}
		done <- run(ctx, e, []string{"worker"})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func manifest(ts []providers.Target) string {
	var b strings.Builder
	for _, t := range ts {
		line, _ := json.Marshal(t)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestHelpOnEverySubcommand(t *testing.T) {
	var out bytes.Buffer
	e := &env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	require.Equal(t, 0, run(context.Background(), e, []string{"--help"}))
	for _, c := range commands() {
		out.Reset()
		assert.Equal(t, 0, run(context.Background(), e, []string{c.name, "--help"}), c.name)
		assert.Contains(t, out.String(), "Usage: reaper "+c.name, c.name)
	}
	assert.Equal(t, 2, run(context.Background(), e, []string{"explode"}))
}

func TestEnqueueRejectsBadManifestWhole(t *testing.T) {
	c := newCLI(t, "")
	good := c.stack.Targets(2, 0)
	in := manifest(good) + `{"provider":"smh","path":"a//b"}` + "\n" + `{"provider":"vod","fileid":"1"}` + "\n"
	code, out, errOut := c.run(t, in, "enqueue", "--manifest", "-")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "line 7: field path: segment 2 is empty")
	assert.Contains(t, errOut, "line 8: field fileid: unknown field")
	assert.Contains(t, errOut, "2 bad lines: nothing enqueued")
	code, out, errOut = c.run(t, "", "status", "--json")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, `"batches":null`, "no batch was created")

	code, out, _ = c.run(t, manifest(good), "enqueue", "--manifest", "-", "--dry-run")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "mss\t2\nsmh\t2\nvod\t2\ntotal\t6\n")
}

func TestEnqueueNeedsYesAboveTheCap(t *testing.T) {
	c := newCLI(t, "enqueue: {confirm_above: 3}\n")
	in := manifest(c.stack.Targets(2, 0))
	code, _, errOut := c.run(t, in, "enqueue", "--manifest", "-")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "more than enqueue.confirm_above (3)")
	code, out, _ := c.run(t, in, "enqueue", "--manifest", "-", "--yes", "--submitted-by", "alice")
	require.Equal(t, 0, code)
	batch := strings.TrimSpace(out)
	code, out, _ = c.run(t, "", "status", "--batch", batch, "--json")
	require.Equal(t, 0, code)
	var st jobs.BatchStatus
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, int64(6), st.Total)
	assert.Equal(t, "alice", st.SubmittedBy)
	assert.Equal(t, "manifest:-", st.Source)
}

func TestBatchLifecycle(t *testing.T) {
	c := newCLI(t, "")
	targets := c.stack.Targets(20, 10) // two per provider already gone
	// A sub-application the fake does not know: InvalidParameterValue.SubAppId, fatal.
	locked := providers.Target{Provider: providers.VOD, FileID: "locked", SubAppID: 999}
	code, out, errOut := c.run(t, manifest(append([]providers.Target{locked}, targets...)), "enqueue", "--manifest", "-")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	c.worker(t)

	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "60s")
	assert.Equal(t, 1, code, "one target failed: %s", errOut)
	assert.Contains(t, errOut, "1 targets failed")

	code, out, _ = c.run(t, "", "report", "--batch", batch, "--format", "csv")
	require.Equal(t, 0, code)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 62, "header plus one row per target")
	assert.Equal(t, jobs.ReportColumns, rows[0])

	code, out, _ = c.run(t, "", "report", "--batch", batch, "--only", "failed")
	require.Equal(t, 0, code)
	var rec jobs.Record
	require.NoError(t, json.Unmarshal([]byte(out), &rec))
	assert.Equal(t, "InvalidParameterValue.SubAppId", rec.Code)
	assert.Equal(t, locked.Key(), rec.Key)
	assert.Equal(t, 1, strings.Count(out, "\n"))

	// The sub-application is created; retrying the failed target now succeeds.
	c.stack.VOD.Add(locked)
	code, out, _ = c.run(t, "", "retry", "--batch", batch)
	require.Equal(t, 0, code)
	retryBatch := strings.TrimSpace(out)
	assert.NotEqual(t, batch, retryBatch)
	code, _, errOut = c.run(t, "", "wait", "--batch", retryBatch, "--timeout", "60s")
	assert.Equal(t, 0, code, errOut)
	assert.False(t, c.stack.VOD.Exists(locked))

	code, out, _ = c.run(t, "", "status")
	require.Equal(t, 0, code)
	assert.Contains(t, out, retryBatch)
	assert.Contains(t, out, "QUEUE")
}

func TestWaitTimesOutAndCancelStops(t *testing.T) {
	c := newCLI(t, "")
	code, _, _ := c.run(t, "", "pause", "--provider", "vod")
	require.Equal(t, 0, code)
	var ts []providers.Target
	for _, tg := range c.stack.Targets(5, 0) {
		if tg.Provider == providers.VOD {
			ts = append(ts, tg)
		}
	}
	code, out, _ := c.run(t, manifest(ts), "enqueue", "--manifest", "-")
	require.Equal(t, 0, code)
	batch := strings.TrimSpace(out)
	c.worker(t)
	code, _, errOut := c.run(t, "", "wait", "--batch", batch, "--timeout", "1500ms")
	assert.Equal(t, 2, code, "paused queue: nothing finishes: %s", errOut)
	assert.Contains(t, errOut, "timed out: 5 of 5 tasks still pending")

	code, out, _ = c.run(t, "", "cancel", "--batch", batch)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "5 queued tasks removed")
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "10s")
	assert.Equal(t, 0, code, errOut)
	for _, tg := range ts {
		assert.True(t, c.stack.VOD.Exists(tg), "a cancelled batch deletes nothing")
		assert.Zero(t, c.stack.VOD.Calls(tg))
	}
	code, _, _ = c.run(t, "", "resume", "--provider", "vod")
	assert.Equal(t, 0, code)
}

func TestSingleTargetEnqueue(t *testing.T) {
	c := newCLI(t, "")
	tg := providers.Target{Provider: providers.VOD, FileID: "single", SubAppID: c.stack.Creds.VODSubApp}
	c.stack.VOD.Add(tg)
	code, out, errOut := c.run(t, "", "enqueue", "--provider", "vod", "--file-id", "single", "--delete-parts", "TranscodeFiles:230,Bogus")
	assert.Equal(t, 1, code)
	assert.Empty(t, out, "no batch id for a rejected target")
	assert.Contains(t, errOut, "delete_parts[1].type")
	code, out, errOut = c.run(t, "", "enqueue", "--provider", "vod", "--file-id", "single")
	require.Equal(t, 0, code, errOut)
	c.worker(t)
	code, _, errOut = c.run(t, "", "wait", "--batch", strings.TrimSpace(out), "--timeout", "30s")
	assert.Equal(t, 0, code, errOut)
	assert.False(t, c.stack.VOD.Exists(tg))
}

func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("demo takes a few seconds")
	}
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, []string{"demo", "--files", "200", "--outage", "1s"})
	require.Equal(t, 0, code, "%s\n%s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "ok: every file is gone at its fake and has exactly one recorded outcome")
}

// `retry` asks for --yes above enqueue.confirm_above, as enqueue does: a retry deletes as much.
func TestRetryNeedsYesAboveTheCap(t *testing.T) {
	c := newCLI(t, "enqueue: {confirm_above: 3}\n")
	var locked []providers.Target
	for i := range 4 {
		locked = append(locked, providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("locked-%d", i), SubAppID: 999})
	}
	code, out, errOut := c.run(t, manifest(locked), "enqueue", "--manifest", "-", "--yes")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	c.worker(t)
	code, _, _ = c.run(t, "", "wait", "--batch", batch, "--timeout", "60s")
	require.Equal(t, 1, code, "all four failed")

	code, _, errOut = c.run(t, "", "retry", "--batch", batch)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "4 failed targets is more than enqueue.confirm_above (3)")
	assert.Contains(t, errOut, "--yes")
	code, out, errOut = c.run(t, "", "retry", "--batch", batch, "--yes")
	require.Equal(t, 0, code, errOut)
	assert.NotEqual(t, batch, strings.TrimSpace(out))
}
