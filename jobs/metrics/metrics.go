// Package metrics exposes the pipeline to Prometheus: what the handler observes (outcomes, provider
// calls and their latency, breaker states, rate-limiter waits), the configured rate limits, and, read
// at scrape time, what Redis holds (queue depth, latency and pause state per provider queue, parked
// tasks, the open batches' progress and the suspended ones).
//
// deploy/grafana/reaper-dashboard.json and deploy/prometheus/reaper-alerts.yaml query these metrics;
// cmd/reaper's dashboards test fails when they name one /metrics does not serve.
//
// Everything lives in one private registry per Metrics, never in prometheus.DefaultRegisterer, so two
// pipelines in one process (tests, the demo) never share counters. Serve it with Handler.
//
// Every name starts with reaper_. Labels are bounded: provider is one of three names, outcome and
// class come from fixed lists, and code is a provider error code from the provider's classification
// table, a handful of codes the table does not know, then "other".
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// QueueSource reports the provider queues; *jobs.Admin is one.
type QueueSource interface {
	Queues() ([]jobs.QueueStat, error)
}

// ParkedFunc counts the tasks parked for the overnight retry window, per provider. It runs at scrape
// time and must answer within ctx.
type ParkedFunc func(ctx context.Context) (map[providers.Name]int, error)

// Options configures New. The zero value is a working Metrics without queue metrics.
type Options struct {
	// Providers are pre-declared (their outcome counters at 0, their breakers closed), so rate() and
	// alerts work before the first task. Usually config.Config.Enabled().
	Providers []providers.Name
	// Codes is each provider's classification table: the codes it names (exactly or by "Prefix*")
	// get their own label value on reaper_provider_calls_total.
	Codes map[providers.Name]providers.Table
	// MaxUnknownCodes is how many distinct codes a provider's table does not know get their own label
	// value before the rest are counted as "other" (default 20).
	MaxUnknownCodes int
	// Queues, when set, is read at every scrape for the reaper_queue_* metrics (usually the pipeline's
	// *jobs.Admin).
	Queues QueueSource
	// Stream, when set, is read at every scrape for the outcome stream's consumer groups
	// (reaper_outcome_stream_lag, reaper_outcome_stream_pending; usually the pipeline's *jobs.Store).
	Stream StreamSource
	// RateLimits is each provider's configured rate limit (requests/second shared by every worker),
	// exported as reaper_rate_limit so a dashboard draws the achieved rate against it.
	RateLimits map[providers.Name]float64
	// Batches, when set, is read at every scrape for the reaper_batch* metrics: the open batches among
	// the most recent MaxBatches, their totals and outcomes, and how many are suspended (usually the
	// pipeline's *jobs.Store).
	Batches BatchSource
	// MaxBatches is how many of the most recent batches a scrape reads (default 100). Only open
	// (not done) batches get per-batch series, so their number stays bounded.
	MaxBatches int
	// ScrapeTimeout bounds the scrape-time reads of Redis (default 5s).
	ScrapeTimeout time.Duration
}

// BatchSource lists the most recent batches (newest first) and reads each one's state; *jobs.Store
// is one. It is read at scrape time, within ScrapeTimeout.
type BatchSource interface {
	Batches(ctx context.Context, limit int64) ([]string, error)
	Batch(ctx context.Context, id string) (jobs.BatchInfo, error)
}

// OtherCode is the code label value for codes past the MaxUnknownCodes budget.
const OtherCode = "other"

// transportCodes are the codes providers.TransportError and the clients' target validation produce
// for every provider, outside any table.
var transportCodes = []string{"NetworkError", "Timeout", "Canceled", "InvalidTarget"}

// Metrics is the pipeline's Prometheus instrumentation. It implements jobs.Observer: pass it to
// Pipeline.NewWorker. Its methods are safe for concurrent use and never block.
type Metrics struct {
	reg *prometheus.Registry
	o   Options

	outcomes     *prometheus.CounterVec
	calls        *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	breaker      *prometheus.GaugeVec
	limited      *prometheus.CounterVec
	limitWait    *prometheus.HistogramVec
	rateLimit    *prometheus.GaugeVec

	mu      sync.Mutex
	unknown map[providers.Name]map[string]bool

	parked atomic.Pointer[ParkedFunc]
}

var _ jobs.Observer = (*Metrics)(nil)

// New builds the metrics and their registry, with the Go runtime and process collectors.
func New(o Options) *Metrics {
	if o.MaxUnknownCodes <= 0 {
		o.MaxUnknownCodes = 20
	}
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = 5 * time.Second
	}
	if o.MaxBatches <= 0 {
		o.MaxBatches = 100
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		o:   o,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reaper_outcomes_total",
			Help: "Tasks ended, by provider and outcome (deleted, recycled, already_gone, failed, cancelled, dry_run). Counted by the worker that recorded the outcome.",
		}, []string{"provider", "outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reaper_provider_calls_total",
			Help: `Provider delete calls, by provider, error class ("ok" on success; retry, throttled, gone, auth, fatal) and provider error code ("" on success, "other" past the unknown-code budget).`,
		}, []string{"provider", "class", "code"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reaper_provider_call_duration_seconds",
			Help:    "Duration of provider delete calls, success or not, by provider.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reaper_breaker_state",
			Help: "This process's circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reaper_rate_limited_total",
			Help: "Tasks the shared rate limiter made wait (in place, or rescheduled when the wait was longer than worker.rate_limit_max_wait), by provider.",
		}, []string{"provider"}),
		limitWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reaper_rate_limit_wait_seconds",
			Help:    "How long the shared rate limiter made a task wait, by provider.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		rateLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reaper_rate_limit",
			Help: "The provider's configured rate limit: requests/second shared by every worker (providers.<p>.rate_limit).",
		}, []string{"provider"}),
		unknown: map[providers.Name]map[string]bool{},
	}
	m.reg.MustRegister(m.outcomes, m.calls, m.callDuration, m.breaker, m.limited, m.limitWait, m.rateLimit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scrapeCollector{m: m})
	// Every series a dashboard or an alert reads exists from the start, at zero, for each provider:
	// rate() and absent-data checks then work before the first task.
	for _, p := range o.Providers {
		for _, out := range jobs.Outcomes {
			m.outcomes.WithLabelValues(string(p), string(out))
		}
		m.calls.WithLabelValues(string(p), "ok", "")
		m.callDuration.WithLabelValues(string(p))
		m.limited.WithLabelValues(string(p))
		m.limitWait.WithLabelValues(string(p))
		m.breaker.WithLabelValues(string(p)).Set(0)
	}
	for p, r := range o.RateLimits {
		m.rateLimit.WithLabelValues(string(p)).Set(r)
	}
	return m
}

// Registry is the private registry, for registering more collectors (an HTTP server's request
// counters) and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format. A collector that fails (Redis
// down) does not fail the scrape: the other metrics are still served and reaper_queue_up says 0.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// SetParked installs the parked-task counter read at each scrape (reaper_parked_tasks); nil removes
// it. The scheduler or the overnight-window code sets it once it exists.
func (m *Metrics) SetParked(fn ParkedFunc) {
	if fn == nil {
		m.parked.Store(nil)
		return
	}
	m.parked.Store(&fn)
}

// Outcome implements jobs.Observer.
func (m *Metrics) Outcome(p providers.Name, o jobs.Outcome) {
	m.outcomes.WithLabelValues(string(p), string(o)).Inc()
}

// Call implements jobs.Observer.
func (m *Metrics) Call(p providers.Name, class providers.Class, code string, d time.Duration) {
	c := string(class)
	if c == "" {
		c = "ok"
	}
	m.calls.WithLabelValues(string(p), c, m.codeLabel(p, code)).Inc()
	m.callDuration.WithLabelValues(string(p)).Observe(d.Seconds())
}

// RateLimited implements jobs.Observer.
func (m *Metrics) RateLimited(p providers.Name, wait time.Duration) {
	m.limited.WithLabelValues(string(p)).Inc()
	m.limitWait.WithLabelValues(string(p)).Observe(wait.Seconds())
}

// BreakerState implements jobs.Observer.
func (m *Metrics) BreakerState(p providers.Name, s gobreaker.State) {
	v := 0.0
	switch s {
	case gobreaker.StateHalfOpen:
		v = 1
	case gobreaker.StateOpen:
		v = 2
	}
	m.breaker.WithLabelValues(string(p)).Set(v)
}

// codeLabel bounds the code label: a code the provider's table knows, or one of the shared transport
// codes, is its own value; the first MaxUnknownCodes others per provider are too; later ones are "other".
func (m *Metrics) codeLabel(p providers.Name, code string) string {
	if code == "" {
		return ""
	}
	if t, ok := m.o.Codes[p]; ok {
		if _, known := t.Lookup(code); known {
			return code
		}
	}
	for _, c := range transportCodes {
		if c == code {
			return code
		}
	}
	// Label values are free text, but a code longer than this is not a code.
	if len(code) > 64 || strings.ContainsAny(code, "\n\r") {
		return OtherCode
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := m.unknown[p]
	if seen == nil {
		seen = map[string]bool{}
		m.unknown[p] = seen
	}
	if seen[code] {
		return code
	}
	if len(seen) >= m.o.MaxUnknownCodes {
		return OtherCode
	}
	seen[code] = true
	return code
}

// scrapeCollector reads the queues and the parked tasks from Redis when Prometheus scrapes.
type scrapeCollector struct{ m *Metrics }

var (
	queueUpDesc = prometheus.NewDesc("reaper_queue_up",
		"1 when the last scrape read the queues from Redis, 0 when it could not (the reaper_queue_* series are then missing).", nil, nil)
	queueTasksDesc = prometheus.NewDesc("reaper_queue_tasks",
		"Tasks in a provider's asynq queue, by state: pending (ready to run), active (running), scheduled (waiting for a retry, a throttle or a breaker), retry.",
		[]string{"provider", "queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc("reaper_queue_latency_seconds",
		"Age of the oldest pending task in a provider's queue: how far behind the workers are.",
		[]string{"provider", "queue"}, nil)
	queuePausedDesc = prometheus.NewDesc("reaper_queue_paused",
		"1 when the provider's queue is paused (reaper pause), 0 otherwise.",
		[]string{"provider", "queue"}, nil)
	parkedDesc = prometheus.NewDesc("reaper_parked_tasks",
		"Tasks parked for the overnight retry window, by provider.", []string{"provider"}, nil)
	streamLagDesc = prometheus.NewDesc("reaper_outcome_stream_lag",
		"Outcome stream entries not yet delivered to a consumer group (-1: Redis cannot tell). Entries older than outcomes.stream_retention are trimmed whether read or not.",
		[]string{"group"}, nil)
	streamPendingDesc = prometheus.NewDesc("reaper_outcome_stream_pending",
		"Outcome stream entries delivered to a consumer group and not acknowledged.", []string{"group"}, nil)
	batchesOpenDesc = prometheus.NewDesc("reaper_batches_open",
		"Batches not done (tasks without an outcome, or not sealed), among the most recent ones read.", nil, nil)
	batchesSuspendedDesc = prometheus.NewDesc("reaper_batches_suspended",
		"Batches suspended because too many of their outcomes failed (their tasks are held), among the most recent ones read.", nil, nil)
	batchTasksDesc = prometheus.NewDesc("reaper_batch_tasks",
		"An open batch's tasks (its total). Progress: sum by (batch) (reaper_batch_outcomes) / reaper_batch_tasks.",
		[]string{"batch"}, nil)
	batchOutcomesDesc = prometheus.NewDesc("reaper_batch_outcomes",
		"An open batch's tasks ended, by outcome.", []string{"batch", "outcome"}, nil)
)

// StreamSource reports the outcome stream's consumer groups (*jobs.Store implements it).
type StreamSource interface {
	StreamGroups(ctx context.Context) ([]jobs.StreamGroup, error)
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueUpDesc
	ch <- queueTasksDesc
	ch <- queueLatencyDesc
	ch <- queuePausedDesc
	ch <- parkedDesc
	ch <- streamLagDesc
	ch <- streamPendingDesc
	ch <- batchesOpenDesc
	ch <- batchesSuspendedDesc
	ch <- batchTasksDesc
	ch <- batchOutcomesDesc
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if src := c.m.o.Queues; src != nil {
		c.collectQueues(ch, src)
	}
	if src := c.m.o.Stream; src != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.m.o.ScrapeTimeout)
		groups, err := src.StreamGroups(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(streamLagDesc, err)
		}
		for _, g := range groups {
			ch <- prometheus.MustNewConstMetric(streamLagDesc, prometheus.GaugeValue, float64(g.Lag), g.Name)
			ch <- prometheus.MustNewConstMetric(streamPendingDesc, prometheus.GaugeValue, float64(g.Pending), g.Name)
		}
	}
	if src := c.m.o.Batches; src != nil {
		c.collectBatches(ch, src)
	}
	if fn := c.m.parked.Load(); fn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.m.o.ScrapeTimeout)
		defer cancel()
		counts, err := (*fn)(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(parkedDesc, err)
			return
		}
		for _, p := range c.m.o.Providers {
			if _, ok := counts[p]; !ok {
				counts[p] = 0
			}
		}
		for p, n := range counts {
			ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(n), string(p))
		}
	}
}

// collectBatches exports the open batches among the most recent ones: their totals and outcomes, and
// how many are open and suspended. Done batches get no series, so the batch label stays bounded.
func (c *scrapeCollector) collectBatches(ch chan<- prometheus.Metric, src BatchSource) {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.o.ScrapeTimeout)
	defer cancel()
	ids, err := src.Batches(ctx, int64(c.m.o.MaxBatches))
	if err != nil {
		ch <- prometheus.NewInvalidMetric(batchesOpenDesc, err)
		return
	}
	open, suspended := 0, 0
	for _, id := range ids {
		b, err := src.Batch(ctx, id)
		if errors.Is(err, jobs.ErrNoBatch) {
			continue // past retention since the list was read
		}
		if err != nil {
			ch <- prometheus.NewInvalidMetric(batchesOpenDesc, err)
			return
		}
		if b.Suspended {
			suspended++
		}
		if b.Done() {
			continue
		}
		open++
		ch <- prometheus.MustNewConstMetric(batchTasksDesc, prometheus.GaugeValue, float64(b.Total), b.ID)
		for _, o := range jobs.Outcomes {
			ch <- prometheus.MustNewConstMetric(batchOutcomesDesc, prometheus.GaugeValue, float64(b.Counts[o]), b.ID, string(o))
		}
	}
	ch <- prometheus.MustNewConstMetric(batchesOpenDesc, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(batchesSuspendedDesc, prometheus.GaugeValue, float64(suspended))
}

func (c *scrapeCollector) collectQueues(ch chan<- prometheus.Metric, src QueueSource) {
	// The inspector takes no context: run it aside so a hung Redis cannot hold the scrape.
	type result struct {
		qs  []jobs.QueueStat
		err error
	}
	done := make(chan result, 1)
	go func() {
		qs, err := src.Queues()
		done <- result{qs, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(c.m.o.ScrapeTimeout):
		res.err = context.DeadlineExceeded
	}
	if res.err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
	for _, q := range res.qs {
		p, name := string(q.Provider), jobs.QueueName(q.Provider)
		for state, n := range map[string]int{"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled, "retry": q.Retry} {
			ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(n), p, name, state)
		}
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, q.Latency.Seconds(), p, name)
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(queuePausedDesc, prometheus.GaugeValue, paused, p, name)
	}
}
