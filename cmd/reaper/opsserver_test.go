package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/httpapi"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// logWatch collects JSON log lines and hands out the "addr" of the first line with a given message,
// so a test can serve on port 0 and learn the port without polling.
type logWatch struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	lines   []map[string]any
	waiters map[string]chan string
}

func newLogWatch() *logWatch { return &logWatch{waiters: map[string]chan string{}} }

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var m map[string]any
		if json.Unmarshal(l.partial[:i], &m) == nil {
			l.lines = append(l.lines, m)
			if ch, ok := l.waiters[fmt.Sprint(m["msg"])]; ok {
				if addr, ok := m["addr"].(string); ok {
					ch <- addr
					delete(l.waiters, fmt.Sprint(m["msg"]))
				}
			}
		}
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// addr returns a channel that receives the addr of the first line logged with msg.
func (l *logWatch) addr(msg string) <-chan string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan string, 1)
	for _, m := range l.lines {
		if m["msg"] == msg {
			if a, ok := m["addr"].(string); ok {
				ch <- a
				return ch
			}
		}
	}
	l.waiters[msg] = ch
	return ch
}

func (l *logWatch) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logWatch) Lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func waitAddr(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case a := <-ch:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("the server never logged its address")
		return ""
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// metricValue finds one series in a scrape ("" when absent).
func metricValue(text, series string) string {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return m[1]
}

// The admin server of a worker: health, readiness that follows Redis, metrics that count what the
// worker did (outcomes, codes, breaker, queues), and the dashboard.
func TestAdminServer(t *testing.T) {
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fakestack.Options{Seed: 5})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Admin.User, cfg.Admin.Password = "ops", dashboardPassword
	cfg.Breaker.ConsecutiveFailures = 2
	cfg.Breaker.OpenTimeout = time.Hour // once open, it stays open for the test
	p := newApp(cfg, r.Client())
	logs := newLogWatch()
	log := slog.New(slog.NewJSONHandler(logs, nil))

	addrCh := logs.addr("admin listening")
	m, stop, err := startOps(context.Background(), cfg, p, log, nil)
	require.NoError(t, err)
	t.Cleanup(stop)
	base := waitAddr(t, addrCh)

	code, body := get(t, base+"/healthz")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok\n", body)
	code, body = get(t, base+"/readyz")
	assert.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"status":"ready"}`, body)

	// A batch through a worker observed by the metrics: 3 MSS files deleted, 1 already gone.
	w, err := newWorker(p, log, m)
	require.NoError(t, err)
	require.NoError(t, w.Start())
	workerStopped := false
	stopWorker := func() {
		if !workerStopped {
			workerStopped = true
			w.Shutdown()
		}
	}
	t.Cleanup(stopWorker)
	mssTarget := func(id string) providers.Target {
		return providers.Target{Provider: providers.MSS, ProjectID: stack.Creds.MSSProject, FileID: id}
	}
	var targets []providers.Target
	for i := range 4 {
		tg := mssTarget(fmt.Sprintf("admin-%d", i))
		if i < 3 {
			stack.MSS.Add(tg)
		}
		targets = append(targets, tg)
	}
	sum, err := p.Producer.Submit(context.Background(), jobs.BatchMeta{SubmittedBy: "test"}, slices.Values(targets), nil)
	require.NoError(t, err)
	waitBatchDone(t, p.Store, sum.Batch)

	_, text := get(t, base+"/metrics")
	assert.Equal(t, "3", metricValue(text, `reaper_outcomes_total{outcome="deleted",provider="mss"}`))
	assert.Equal(t, "1", metricValue(text, `reaper_outcomes_total{outcome="already_gone",provider="mss"}`))
	assert.Equal(t, "0", metricValue(text, `reaper_outcomes_total{outcome="failed",provider="vod"}`), "enabled providers are declared")
	assert.Equal(t, "3", metricValue(text, `reaper_provider_calls_total{class="ok",code="",provider="mss"}`))
	assert.Equal(t, "1", metricValue(text, `reaper_provider_calls_total{class="gone",code="MSS.10001004",provider="mss"}`))
	assert.Equal(t, "4", metricValue(text, `reaper_provider_call_duration_seconds_count{provider="mss"}`))
	assert.Equal(t, "0", metricValue(text, `reaper_breaker_state{provider="mss"}`))
	assert.Equal(t, "1", metricValue(text, `reaper_queue_up`))
	assert.Equal(t, "0", metricValue(text, `reaper_queue_tasks{provider="mss",queue="reaper-mss",state="pending"}`))
	assert.Equal(t, "0", metricValue(text, `reaper_queue_paused{provider="smh",queue="reaper-smh"}`))
	assert.NotEmpty(t, metricValue(text, `reaper_queue_latency_seconds{provider="vod",queue="reaper-vod"}`))
	assert.NotEmpty(t, metricValue(text, "go_goroutines"))

	// MetaStudio goes down: two failures in a row open the breaker, and the tasks wait: held in place
	// by the breaker (active) for up to worker.rate_limit_max_wait, or back in the queue.
	stack.Faults(providers.MSS).SetDown(true)
	var down []providers.Target
	for i := range 4 {
		tg := mssTarget(fmt.Sprintf("down-%d", i))
		stack.MSS.Add(tg)
		down = append(down, tg)
	}
	_, err = p.Producer.Submit(context.Background(), jobs.BatchMeta{SubmittedBy: "test"}, slices.Values(down), nil)
	require.NoError(t, err)
	waiting := func(text string) int {
		n := 0
		for _, state := range []string{"pending", "active", "scheduled", "retry"} {
			v, _ := strconv.Atoi(metricValue(text, `reaper_queue_tasks{provider="mss",queue="reaper-mss",state="`+state+`"}`))
			n += v
		}
		return n
	}
	text = eventually(t, base+"/metrics", func(text string) bool {
		return metricValue(text, `reaper_breaker_state{provider="mss"}`) == "2" && waiting(text) == 4
	})
	assert.Equal(t, 4, waiting(text), "the four tasks wait for MetaStudio")
	assert.Equal(t, "0", metricValue(text, `reaper_outcomes_total{outcome="failed",provider="mss"}`), "an outage fails nothing")
	require.NoError(t, p.Admin.Pause(providers.MSS))
	_, text = get(t, base+"/metrics")
	assert.Equal(t, "1", metricValue(text, `reaper_queue_paused{provider="mss",queue="reaper-mss"}`))

	// The dashboard: the UI, its API (our queues), and no way to change anything.
	code, body = getAs(t, base+"/monitor/", "ops", dashboardPassword)
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "<html")
	code, body = getAs(t, base+"/monitor/api/queues", "ops", dashboardPassword)
	assert.Equal(t, 200, code, body)
	assert.Contains(t, body, `"reaper-mss"`)
	req, err := http.NewRequest("POST", base+"/monitor/api/queues/reaper-mss:pause", nil)
	require.NoError(t, err)
	req.SetBasicAuth("ops", dashboardPassword)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "the dashboard is read-only")

	// Redis goes away: not ready (with the reason, not Redis's error), still alive, metrics still served.
	stopWorker()
	r.Stop()
	code, body = get(t, base+"/readyz")
	assert.Equal(t, 503, code)
	var ready struct{ Status, Error, ErrorID string }
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	assert.Equal(t, "unavailable", ready.Status)
	assert.Equal(t, "redis does not answer", ready.Error)
	for _, leak := range []string{r.Addr, "dial", "refused", "127.0.0.1"} {
		assert.NotContains(t, body, leak, "/readyz echoes no Redis error")
	}
	var causeLogged bool
	for _, l := range logs.Lines() {
		if l["msg"] == "not ready" && l["error_id"] != nil && strings.HasPrefix(fmt.Sprint(l["error"]), "redis does not answer: ") {
			causeLogged = true
		}
	}
	assert.True(t, causeLogged, "the cause is logged with an error id")
	code, _ = get(t, base+"/healthz")
	assert.Equal(t, 200, code)
	code, text = get(t, base+"/metrics")
	assert.Equal(t, 200, code)
	assert.Equal(t, "0", metricValue(text, "reaper_queue_up"))
	assert.Equal(t, "3", metricValue(text, `reaper_outcomes_total{outcome="deleted",provider="mss"}`))

	// Every request was logged; probes and scrapes only at debug level, failures always.
	var readyFailure bool
	for _, l := range logs.Lines() {
		if l["msg"] == "http request" && l["path"] == "/readyz" && l["status"] == float64(503) {
			readyFailure = true
		}
	}
	assert.True(t, readyFailure, "a failing probe is logged")
	assert.NotContains(t, logs.String(), dashboardPassword)
}

const dashboardPassword = "dashboard-password-0123456789"

// getAs is get with basic auth.
func getAs(t *testing.T, url, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// startAdminFor starts the admin server of cfg and returns its base URL and log.
func startAdminFor(t *testing.T, cfg *config.Config, rdb redis.UniversalClient) (string, *logWatch) {
	t.Helper()
	cfg.Admin.Listen = "127.0.0.1:0"
	logs := newLogWatch()
	addrCh := logs.addr("admin listening")
	_, stop, err := startOps(context.Background(), cfg, newApp(cfg, rdb), slog.New(slog.NewJSONHandler(logs, nil)), nil)
	require.NoError(t, err)
	t.Cleanup(stop)
	return waitAddr(t, addrCh), logs
}

// The dashboard (every queued target, error texts, Redis INFO) opens only with an API bearer token
// or the admin user and password, and is not served at all without either.
func TestDashboardNeedsCredentials(t *testing.T) {
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fakestack.Options{})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	newConfig := func(env map[string]string) *config.Config {
		cfg, err := wiring.FakesConfig(stack, r.URL())
		require.NoError(t, err)
		cfg.API.Tokens = nil
		if v := env["REAPER_API_TOKENS"]; v != "" {
			cfg.API.Tokens = strings.Split(v, ",")
		}
		cfg.Admin.User, cfg.Admin.Password = env["REAPER_ADMIN_USER"], env["REAPER_ADMIN_PASSWORD"]
		return cfg
	}

	// Neither: not mounted.
	base, logs := startAdminFor(t, newConfig(nil), r.Client())
	code, _ := get(t, base+"/monitor/")
	assert.Equal(t, 404, code)
	assert.Contains(t, logs.String(), "dashboard off")

	// Basic auth and bearer tokens.
	base, logs = startAdminFor(t, newConfig(map[string]string{"REAPER_API_TOKENS": "tok-a,tok-b",
		"REAPER_ADMIN_USER": "ops", "REAPER_ADMIN_PASSWORD": dashboardPassword}), r.Client())
	for _, path := range []string{"/monitor/", "/monitor/api/queues", "/monitor/api/redis_info"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode, path)
		assert.Contains(t, resp.Header.Values("WWW-Authenticate"), `Basic realm="reaper dashboard", charset="UTF-8"`, "a browser asks")
		for _, wrong := range [][2]string{{"ops", "nope"}, {"root", dashboardPassword}, {"ops", dashboardPassword + "x"}, {"", ""}} {
			code, body := getAs(t, base+path, wrong[0], wrong[1])
			assert.Equal(t, 401, code, "%s as %v", path, wrong)
			assert.NotContains(t, body, "reaper-mss")
		}
		code, _ := getAs(t, base+path, "ops", dashboardPassword)
		assert.Equal(t, 200, code, path)
		for tok, want := range map[string]int{"tok-b": 200, "tok-c": 401, "": 401} {
			code, _, _ := call(t, "GET", base+path, tok, nil)
			assert.Equal(t, want, code, "%s with token %q", path, tok)
		}
	}
	// Probes and scrapes need nothing.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		code, _ := get(t, base+path)
		assert.Equal(t, 200, code, path)
	}
	assert.NotContains(t, logs.String(), dashboardPassword)
	assert.NotContains(t, logs.String(), "tok-b")

	// Half a basic-auth pair is a config error, and the password is a secret to scrub.
	_, err = config.Load("", func(k string) string {
		return map[string]string{"REAPER_ADMIN_PASSWORD": dashboardPassword, "REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key"}[k]
	})
	require.ErrorContains(t, err, "REAPER_ADMIN_USER")
	assert.NotContains(t, err.Error(), dashboardPassword)
	cfg := newConfig(map[string]string{"REAPER_ADMIN_USER": "ops", "REAPER_ADMIN_PASSWORD": dashboardPassword})
	assert.Contains(t, cfg.Secrets(), dashboardPassword)
}

// admin.listen is loopback unless configured otherwise.
func TestAdminListensOnLoopbackByDefault(t *testing.T) {
	host, _, err := net.SplitHostPort(config.Default().Admin.Listen)
	require.NoError(t, err)
	assert.True(t, net.ParseIP(host).IsLoopback(), "admin.listen default %q", config.Default().Admin.Listen)
}

// failConfig is a go-redis hook failing CONFIG the way a managed Redis that disables it does.
type failConfig struct{}

func (failConfig) DialHook(next redis.DialHook) redis.DialHook { return next }
func (failConfig) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.EqualFold(cmd.Name(), "config") {
			err := errors.New("ERR unknown command 'CONFIG'")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (failConfig) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A Redis that may evict keys gets a warning on /readyz and in the log; readiness still passes
// (see evictionCheck for why). A Redis that refuses CONFIG gets neither.
func TestReadyzWarnsWhenRedisMayEvict(t *testing.T) {
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fakestack.Options{})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	base, logs := startAdminFor(t, cfg, r.Client())
	ready := func() httpapi.ReadyStatus {
		code, body := get(t, base+"/readyz")
		require.Equal(t, 200, code, body)
		var st httpapi.ReadyStatus
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		return st
	}
	assert.Empty(t, ready().Warnings, "noeviction, redis-server's default")

	require.NoError(t, r.Client().ConfigSet(context.Background(), "maxmemory-policy", "volatile-lru").Err())
	st := ready()
	require.Len(t, st.Warnings, 1)
	assert.Contains(t, st.Warnings[0], "maxmemory-policy is volatile-lru, not noeviction")
	ready()
	warned := 0
	for _, l := range logs.Lines() {
		if l["level"] == "WARN" && l["maxmemory_policy"] == "volatile-lru" {
			warned++
		}
	}
	assert.Equal(t, 1, warned, "logged once per policy, not on every probe")
	require.NoError(t, r.Client().ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err())
	assert.Empty(t, ready().Warnings)

	// CONFIG disabled (managed Redis): ready, no warning.
	require.NoError(t, r.Client().ConfigSet(context.Background(), "maxmemory-policy", "allkeys-lru").Err())
	noConfig := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = noConfig.Close() })
	noConfig.AddHook(failConfig{})
	cfg2, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	base, _ = startAdminFor(t, cfg2, noConfig)
	code, body := get(t, base+"/readyz")
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"status":"ready"}`, body)
}

func TestAdminOff(t *testing.T) {
	r, cfg := fakesConfig(t)
	cfg.Admin.Listen = ""
	logs := newLogWatch()
	m, stop, err := startOps(context.Background(), cfg, newApp(cfg, r.Client()), slog.New(slog.NewJSONHandler(logs, nil)), nil)
	require.NoError(t, err)
	require.NotNil(t, m, "metrics work without a server")
	stop()
	assert.NotContains(t, logs.String(), "admin listening")

	cfg.Admin.Listen = "127.0.0.1:-1"
	_, _, err = startOps(context.Background(), cfg, newApp(cfg, r.Client()), slog.New(slog.DiscardHandler), nil)
	require.ErrorContains(t, err, "admin.listen")
}

// The extra readiness check of a caller (the scheduler's, say) is part of /readyz.
func TestAdminExtraReadiness(t *testing.T) {
	r, cfg := fakesConfig(t)
	cfg.Admin.Listen = "127.0.0.1:0"
	logs := newLogWatch()
	addrCh := logs.addr("admin listening")
	var mu sync.Mutex
	problem := fmt.Errorf("lease store unreachable")
	_, stop, err := startOps(context.Background(), cfg, newApp(cfg, r.Client()), slog.New(slog.NewJSONHandler(logs, nil)),
		func(context.Context) error { mu.Lock(); defer mu.Unlock(); return problem })
	require.NoError(t, err)
	t.Cleanup(stop)
	base := waitAddr(t, addrCh)
	code, body := get(t, base+"/readyz")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, `"error": "not ready"`)
	assert.NotContains(t, body, "lease store unreachable", "a plain error is logged, not shown")
	assert.Contains(t, logs.String(), "lease store unreachable")
	mu.Lock()
	problem = nil
	mu.Unlock()
	code, _ = get(t, base+"/readyz")
	assert.Equal(t, 200, code)
}

// eventually scrapes url until ok holds (30s at most) and returns the last body.
func eventually(t *testing.T, url string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, url)
		if ok(body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition never held; last scrape:\n%s", grepReaper(body))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepReaper(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "reaper_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitBatchDone(t *testing.T, s *jobs.Store, id string) jobs.BatchInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := waitBatch(ctx, s, id, 20*time.Millisecond, nil)
	require.NoError(t, err, "batch %s: %+v", id, b)
	return b
}
