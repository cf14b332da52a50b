package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/jobs/metrics"
	"github.com/reaper-media/reaper/providers"
)

type queues struct {
	stats []jobs.QueueStat
	err   error
}

func (q queues) Queues() ([]jobs.QueueStat, error) { return q.stats, q.err }

// batches is a metrics.BatchSource holding its batches, newest first.
type batches struct {
	infos []jobs.BatchInfo
	err   error
	limit int64
}

func (b *batches) Batches(ctx context.Context, limit int64) ([]string, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("the source gets a bounded context")
	}
	b.limit = limit
	var ids []string
	for _, i := range b.infos {
		ids = append(ids, i.ID)
	}
	return ids, b.err
}

func (b *batches) Batch(_ context.Context, id string) (jobs.BatchInfo, error) {
	for _, i := range b.infos {
		if i.ID == id {
			return i, nil
		}
	}
	return jobs.BatchInfo{}, jobs.ErrNoBatch
}

func TestObserverEvents(t *testing.T) {
	m := metrics.New(metrics.Options{Providers: []providers.Name{providers.MSS, providers.VOD}})
	reg := m.Registry()

	for range 3 {
		m.Outcome(providers.MSS, jobs.Deleted)
	}
	m.Outcome(providers.VOD, jobs.Failed)
	m.Call(providers.MSS, "", "", 20*time.Millisecond)
	m.Call(providers.MSS, providers.Retry, "NetworkError", 2*time.Second)
	m.RateLimited(providers.VOD, 300*time.Millisecond)
	m.BreakerState(providers.VOD, gobreaker.StateOpen)
	m.BreakerState(providers.MSS, gobreaker.StateHalfOpen)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP reaper_breaker_state This process's circuit breaker per provider: 0 closed, 1 half-open, 2 open.
# TYPE reaper_breaker_state gauge
reaper_breaker_state{provider="mss"} 1
reaper_breaker_state{provider="vod"} 2
`), "reaper_breaker_state"))

	count := func(name string) int {
		n, err := testutil.GatherAndCount(reg, name)
		require.NoError(t, err)
		return n
	}
	// Both providers' outcomes are declared at zero before any event.
	assert.Equal(t, 2*len(jobs.Outcomes), count("reaper_outcomes_total"))
	text := scrape(t, m)
	assert.Contains(t, text, `reaper_outcomes_total{outcome="deleted",provider="mss"} 3`)
	assert.Contains(t, text, `reaper_outcomes_total{outcome="failed",provider="vod"} 1`)
	assert.Contains(t, text, `reaper_outcomes_total{outcome="deleted",provider="vod"} 0`)
	assert.Contains(t, text, `reaper_provider_calls_total{class="ok",code="",provider="mss"} 1`)
	assert.Contains(t, text, `reaper_provider_calls_total{class="retry",code="NetworkError",provider="mss"} 1`)
	assert.Contains(t, text, `reaper_provider_call_duration_seconds_count{provider="mss"} 2`)
	assert.Contains(t, text, `reaper_provider_call_duration_seconds_bucket{provider="mss",le="0.025"} 1`)
	assert.Contains(t, text, `reaper_rate_limited_total{provider="vod"} 1`)
	assert.Contains(t, text, `reaper_rate_limit_wait_seconds_sum{provider="vod"} 0.3`)
	assert.Contains(t, text, "go_goroutines ")
	assert.Contains(t, text, "process_cpu_seconds_total ")
	assert.NotContains(t, text, "reaper_queue_", "no QueueSource, no queue metrics")
}

// Codes the provider's table names keep their own label; unknown ones get a budget, then "other".
func TestCodeLabelCardinalityIsBounded(t *testing.T) {
	table := providers.NewTable(map[string]providers.Class{"MSS.10001004": providers.Gone, "APIG.0308": providers.Throttled, "RequestLimit*": providers.Throttled})
	m := metrics.New(metrics.Options{Codes: map[providers.Name]providers.Table{providers.MSS: table}, MaxUnknownCodes: 3})
	m.Call(providers.MSS, providers.Gone, "MSS.10001004", time.Millisecond)
	m.Call(providers.MSS, providers.Throttled, "RequestLimit.PerSecond", time.Millisecond)
	m.Call(providers.MSS, providers.Retry, "Timeout", time.Millisecond)
	for i := range 10 {
		m.Call(providers.MSS, providers.Fatal, fmt.Sprintf("Surprise.%d", i), time.Millisecond)
	}
	m.Call(providers.MSS, providers.Fatal, "Surprise.1", time.Millisecond) // within the budget: still its own
	m.Call(providers.SMH, providers.Fatal, "Surprise.9", time.Millisecond) // the budget is per provider
	m.Call(providers.MSS, providers.Fatal, strings.Repeat("x", 100), time.Millisecond)

	text := scrape(t, m)
	for _, want := range []string{
		`reaper_provider_calls_total{class="gone",code="MSS.10001004",provider="mss"} 1`,
		`reaper_provider_calls_total{class="throttled",code="RequestLimit.PerSecond",provider="mss"} 1`,
		`reaper_provider_calls_total{class="retry",code="Timeout",provider="mss"} 1`,
		`reaper_provider_calls_total{class="fatal",code="Surprise.0",provider="mss"} 1`,
		`reaper_provider_calls_total{class="fatal",code="Surprise.1",provider="mss"} 2`,
		`reaper_provider_calls_total{class="fatal",code="Surprise.2",provider="mss"} 1`,
		`reaper_provider_calls_total{class="fatal",code="other",provider="mss"} 8`,
		`reaper_provider_calls_total{class="fatal",code="Surprise.9",provider="smh"} 1`,
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, `code="Surprise.3"`)
	n, err := testutil.GatherAndCount(m.Registry(), "reaper_provider_calls_total")
	require.NoError(t, err)
	assert.Equal(t, 8, n)
}

func TestQueuesAreReadAtScrapeTime(t *testing.T) {
	src := &queues{stats: []jobs.QueueStat{
		{Provider: providers.MSS, Pending: 7, Active: 2, Scheduled: 3, Retry: 1, Latency: 1500 * time.Millisecond},
		{Provider: providers.SMH, Paused: true},
	}}
	m := metrics.New(metrics.Options{Queues: src})
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP reaper_queue_up 1 when the last scrape read the queues from Redis, 0 when it could not (the reaper_queue_* series are then missing).
# TYPE reaper_queue_up gauge
reaper_queue_up 1
# HELP reaper_queue_paused 1 when the provider's queue is paused (reaper pause), 0 otherwise.
# TYPE reaper_queue_paused gauge
reaper_queue_paused{provider="mss",queue="reaper-mss"} 0
reaper_queue_paused{provider="smh",queue="reaper-smh"} 1
# HELP reaper_queue_latency_seconds Age of the oldest pending task in a provider's queue: how far behind the workers are.
# TYPE reaper_queue_latency_seconds gauge
reaper_queue_latency_seconds{provider="mss",queue="reaper-mss"} 1.5
reaper_queue_latency_seconds{provider="smh",queue="reaper-smh"} 0
`), "reaper_queue_up", "reaper_queue_paused", "reaper_queue_latency_seconds"))
	text := scrape(t, m)
	assert.Contains(t, text, `reaper_queue_tasks{provider="mss",queue="reaper-mss",state="pending"} 7`)
	assert.Contains(t, text, `reaper_queue_tasks{provider="mss",queue="reaper-mss",state="scheduled"} 3`)

	// The source changes between scrapes: nothing is cached.
	src.stats[0].Pending = 0
	assert.Contains(t, scrape(t, m), `reaper_queue_tasks{provider="mss",queue="reaper-mss",state="pending"} 0`)

	// Redis down: the scrape still succeeds, says so, and serves the rest.
	src.err = errors.New("dial tcp: connection refused")
	text = scrape(t, m)
	assert.Contains(t, text, "reaper_queue_up 0")
	assert.NotContains(t, text, "reaper_queue_tasks")
	assert.Contains(t, text, "go_goroutines")
}

func TestParkedHook(t *testing.T) {
	m := metrics.New(metrics.Options{})
	assert.NotContains(t, scrape(t, m), "reaper_parked_tasks")
	m.SetParked(func(ctx context.Context) (map[providers.Name]int, error) {
		_, hasDeadline := ctx.Deadline()
		require.True(t, hasDeadline, "the hook gets a bounded context")
		return map[providers.Name]int{providers.VOD: 12}, nil
	})
	assert.Contains(t, scrape(t, m), `reaper_parked_tasks{provider="vod"} 12`)
	m.SetParked(func(context.Context) (map[providers.Name]int, error) { return nil, errors.New("redis down") })
	text := scrape(t, m)
	assert.NotContains(t, text, "reaper_parked_tasks{")
	assert.Contains(t, text, "go_goroutines", "a failing hook does not fail the scrape")
	m.SetParked(nil)
	assert.NotContains(t, scrape(t, m), "reaper_parked_tasks")
}

// The metrics pass Prometheus' own lint (names, units, help).
func TestMetricsLint(t *testing.T) {
	m := metrics.New(metrics.Options{Providers: []providers.Name{providers.SMH}, Queues: queues{stats: []jobs.QueueStat{{Provider: providers.SMH}}},
		RateLimits: map[providers.Name]float64{providers.SMH: 50},
		Batches:    &batches{infos: []jobs.BatchInfo{{ID: "b", Total: 1, Suspended: true}}}})
	m.Call(providers.SMH, providers.Throttled, "RateLimitExceeded", time.Millisecond)
	m.RateLimited(providers.SMH, time.Millisecond)
	m.SetParked(func(context.Context) (map[providers.Name]int, error) {
		return map[providers.Name]int{providers.SMH: 1}, nil
	})
	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	var ours []string
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "reaper_") {
			ours = append(ours, p.Metric+": "+p.Text)
		}
	}
	assert.Empty(t, ours)
}

// Two Metrics never share state: there is no global registry.
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := metrics.New(metrics.Options{}), metrics.New(metrics.Options{})
	a.Outcome(providers.MSS, jobs.Deleted)
	assert.Contains(t, scrape(t, a), `reaper_outcomes_total{outcome="deleted",provider="mss"} 1`)
	assert.NotContains(t, scrape(t, b), `provider="mss"`)
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func BenchmarkCall(b *testing.B) {
	m := metrics.New(metrics.Options{Codes: map[providers.Name]providers.Table{providers.MSS: providers.NewTable(map[string]providers.Class{"MSS.00000004": providers.Retry})}})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Call(providers.MSS, providers.Retry, "MSS.00000004", time.Millisecond)
			m.Outcome(providers.MSS, jobs.Deleted)
		}
	})
}

// A consumer group's lag on the outcome stream is read from Redis at every scrape.
func TestOutcomeStreamLag(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	store := jobs.NewStore(rdb, jobs.StoreOptions{})
	m := metrics.New(metrics.Options{Stream: store})
	assert.NotContains(t, scrape(t, m), "reaper_outcome_stream_lag{", "no stream, no groups")

	ctx := context.Background()
	require.NoError(t, store.CreateBatch(ctx, jobs.BatchMeta{ID: "b"}))
	require.NoError(t, rdb.XGroupCreateMkStream(ctx, jobs.StreamKey, "audit", "0").Err())
	for i := range 5 {
		_, err := store.Finish(ctx, jobs.Record{Batch: "b", Provider: providers.VOD, Key: fmt.Sprint(i), EnqueueID: "e", Outcome: jobs.Deleted}, true)
		require.NoError(t, err)
	}
	assert.Contains(t, scrape(t, m), `reaper_outcome_stream_lag{group="audit"} 5`)
	_, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "audit", Consumer: "c", Streams: []string{jobs.StreamKey, ">"}, Count: 2}).Result()
	require.NoError(t, err)
	text := scrape(t, m)
	assert.Contains(t, text, `reaper_outcome_stream_lag{group="audit"} 3`)
	assert.Contains(t, text, `reaper_outcome_stream_pending{group="audit"} 2`)
}

// The configured rate limits are exported, and every per-provider series exists at zero before the
// first task, so a dashboard or an alert finds each family from the start.
func TestRateLimitsAndSeriesDeclaredUpFront(t *testing.T) {
	m := metrics.New(metrics.Options{Providers: []providers.Name{providers.SMH},
		RateLimits: map[providers.Name]float64{providers.SMH: 50, providers.VOD: 100}})
	m.SetParked(func(context.Context) (map[providers.Name]int, error) { return map[providers.Name]int{}, nil })
	text := scrape(t, m)
	for series, want := range map[string]string{
		`reaper_rate_limit{provider="smh"}`:                              "50",
		`reaper_rate_limit{provider="vod"}`:                              "100",
		`reaper_provider_calls_total{class="ok",code="",provider="smh"}`: "0",
		`reaper_provider_call_duration_seconds_count{provider="smh"}`:    "0",
		`reaper_rate_limited_total{provider="smh"}`:                      "0",
		`reaper_rate_limit_wait_seconds_count{provider="smh"}`:           "0",
		`reaper_breaker_state{provider="smh"}`:                           "0",
		`reaper_parked_tasks{provider="smh"}`:                            "0",
	} {
		assert.Contains(t, text, series+" "+want+"\n", series)
	}
	assert.NotContains(t, text, `provider="mss"`, "only the declared providers")
}

// Open batches get their total and outcomes; done ones get none; suspended ones are counted. A source
// that fails does not fail the scrape.
func TestBatchesAreReadAtScrapeTime(t *testing.T) {
	open := jobs.BatchInfo{ID: "b-open", Sealed: true, Total: 10, Terminal: 4,
		Counts: map[jobs.Outcome]int64{jobs.Deleted: 3, jobs.Failed: 1}}
	done := jobs.BatchInfo{ID: "b-done", Sealed: true, Total: 2, Terminal: 2, Counts: map[jobs.Outcome]int64{jobs.Deleted: 2}}
	held := jobs.BatchInfo{ID: "b-held", Sealed: true, Total: 5, Terminal: 3, Counts: map[jobs.Outcome]int64{jobs.Failed: 3}}
	held.Suspended = true
	src := &batches{infos: []jobs.BatchInfo{open, done, held}}
	m := metrics.New(metrics.Options{MaxBatches: 7, Batches: src})
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP reaper_batches_open Batches not done (tasks without an outcome, or not sealed), among the most recent ones read.
# TYPE reaper_batches_open gauge
reaper_batches_open 2
# HELP reaper_batches_suspended Batches suspended because too many of their outcomes failed (their tasks are held), among the most recent ones read.
# TYPE reaper_batches_suspended gauge
reaper_batches_suspended 1
# HELP reaper_batch_tasks An open batch's tasks (its total). Progress: sum by (batch) (reaper_batch_outcomes) / reaper_batch_tasks.
# TYPE reaper_batch_tasks gauge
reaper_batch_tasks{batch="b-held"} 5
reaper_batch_tasks{batch="b-open"} 10
`), "reaper_batches_open", "reaper_batches_suspended", "reaper_batch_tasks"))
	assert.Equal(t, int64(7), src.limit)
	text := scrape(t, m)
	assert.Contains(t, text, `reaper_batch_outcomes{batch="b-open",outcome="deleted"} 3`)
	assert.Contains(t, text, `reaper_batch_outcomes{batch="b-open",outcome="recycled"} 0`, "every outcome, zero or not")
	assert.Contains(t, text, `reaper_batch_outcomes{batch="b-held",outcome="failed"} 3`)
	assert.NotContains(t, text, `batch="b-done"`, "a done batch has no series")

	src.err = errors.New("redis down")
	text = scrape(t, m)
	assert.NotContains(t, text, "reaper_batches_open ")
	assert.Contains(t, text, "go_goroutines", "a failing source does not fail the scrape")
}
