package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

const (
	dashboardFile = "../../deploy/grafana/reaper-dashboard.json"
	alertsFile    = "../../deploy/prometheus/reaper-alerts.yaml"
)

// servedFamily is what one metric family of a scrape offers a query: its label names and the values
// each label takes.
type servedFamily map[string]map[string]bool

// The Grafana dashboard and the Prometheus alert rules query only what /metrics serves: every
// expression parses with Prometheus's own PromQL parser, every metric it names is a series name
// /metrics exposes (before any task ran: every family is declared up front), every label it matches
// or groups by is one of that metric's labels, and every value it matches exactly is one the metric
// takes. The rules file loads with Prometheus's own rule-file parser.
func TestDashboardsAndAlertsQueryServedMetrics(t *testing.T) {
	served := scrapeServedMetrics(t)
	pql := parser.NewParser(parser.Options{})

	var exprs []string
	dash := readDashboard(t)
	exprs = append(exprs, dash.exprs...)

	content, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, pql, slog.New(slog.DiscardHandler))
	require.Empty(t, errs, "the rules file loads in Prometheus")
	alerts := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r
			exprs = append(exprs, r.Expr)
		}
	}
	// The alerts the issue asks for, with their hold times.
	for name, hold := range map[string]time.Duration{"ReaperBreakerOpen": 5 * time.Minute, "ReaperBatchSuspended": 0,
		"ReaperQueueLatencyHigh": 10 * time.Minute, "ReaperNoDeletionsWhileTasksPending": 15 * time.Minute} {
		require.Contains(t, alerts, name)
		assert.Equal(t, hold, time.Duration(alerts[name].For), name)
	}

	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range checkExpr(t, pql, e, served) {
			used[name] = true
		}
	}
	for _, v := range dash.labelValues {
		for _, name := range checkExpr(t, pql, v.expr, served) {
			require.Contains(t, served[name], v.label, "label_values(%s, %s)", v.expr, v.label)
		}
	}
	// What the issue asks the dashboard and the alerts to show.
	for _, name := range []string{"reaper_provider_calls_total", "reaper_rate_limit", "reaper_outcomes_total",
		"reaper_breaker_state", "reaper_queue_tasks", "reaper_queue_latency_seconds", "reaper_parked_tasks",
		"reaper_batch_tasks", "reaper_batch_outcomes", "reaper_batches_suspended"} {
		assert.True(t, used[name], "nothing queries %s", name)
	}
}

// checkExpr parses a PromQL expression and checks every selector and grouping in it against what
// /metrics serves; it returns the metric names it selects.
func checkExpr(t *testing.T, pql parser.Parser, expr string, served map[string]servedFamily) []string {
	t.Helper()
	node, err := pql.ParseExpr(expr)
	require.NoError(t, err, "PromQL: %s", expr)
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			fam, ok := served[n.Name]
			if !assert.True(t, ok, "%s is not served by /metrics (in %s)", n.Name, expr) {
				return nil
			}
			names = append(names, n.Name)
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					continue
				}
				values, ok := fam[m.Name]
				if !assert.True(t, ok, "%s has no label %q (in %s)", n.Name, m.Name, expr) {
					continue
				}
				if m.Type.String() == "=" && m.Value != "" {
					assert.True(t, values[m.Value], "%s{%s} never takes the value %q (in %s)", n.Name, m.Name, m.Value, expr)
				}
			}
		case *parser.AggregateExpr:
			have := map[string]bool{}
			parser.Inspect(n.Expr, func(c parser.Node, _ []parser.Node) error {
				if vs, ok := c.(*parser.VectorSelector); ok {
					for l := range served[vs.Name] {
						have[l] = true
					}
				}
				return nil
			})
			for _, l := range n.Grouping {
				assert.True(t, have[l], "by/without (%s): no metric under it has that label (in %s)", l, expr)
			}
		}
		return nil
	})
	return names
}

// scrapeServedMetrics starts the admin server of a process (what serves /metrics in worker,
// scheduler and serve) on a real Redis with two open batches, one of them suspended, before any
// task ran, and returns every series name it serves with its labels.
func scrapeServedMetrics(t *testing.T) map[string]servedFamily {
	t.Helper()
	r, cfg := fakesConfig(t)
	ctx := context.Background()
	store := newApp(cfg, r.Client()).Store
	// Two open batches; the first suspends itself at its first outcome, a failure.
	ids := []string{jobs.NewBatchID(time.Now()), jobs.NewBatchID(time.Now())}
	ratio := 0.5
	for i, id := range ids {
		meta := jobs.BatchMeta{ID: id, SubmittedBy: "test"}
		if i == 0 {
			meta.MaxFailureRatio, meta.MinOutcomes = &ratio, 1
		}
		require.NoError(t, store.CreateBatch(ctx, meta))
		require.NoError(t, store.AddCounts(ctx, id, 3, 0))
	}
	_, err := store.Finish(ctx, jobs.Record{Batch: ids[0], Provider: providers.MSS, Key: "k", EnqueueID: "e", Outcome: jobs.Failed}, true)
	require.NoError(t, err)
	b, err := store.Batch(ctx, ids[0])
	require.NoError(t, err)
	require.True(t, b.Suspended)

	base, _ := startAdminFor(t, cfg, r.Client())
	code, text := get(t, base+"/metrics")
	require.Equal(t, 200, code)
	assert.Equal(t, "1", metricValue(text, "reaper_batches_suspended"), "the suspended batch is counted")
	assert.Equal(t, "2", metricValue(text, "reaper_batches_open"))
	assert.Equal(t, "3", metricValue(text, `reaper_batch_tasks{batch="`+ids[1]+`"}`))
	assert.Equal(t, strconv.Itoa(cfg.Provider(providers.MSS).RateLimit), metricValue(text, `reaper_rate_limit{provider="mss"}`))

	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	served := map[string]servedFamily{}
	for name, mf := range families {
		labels := servedFamily{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] == nil {
					labels[l.GetName()] = map[string]bool{}
				}
				labels[l.GetName()][l.GetValue()] = true
			}
		}
		served[name] = labels
		switch mf.GetType().String() {
		case "HISTOGRAM":
			bucket := servedFamily{"le": {}}
			for k, v := range labels {
				bucket[k] = v
			}
			served[name+"_bucket"], served[name+"_sum"], served[name+"_count"] = bucket, labels, labels
		case "SUMMARY":
			served[name+"_sum"], served[name+"_count"] = labels, labels
		}
	}
	return served
}

// fakesConfig is a real redis-server and the config of a process using it and the provider fakes.
func fakesConfig(t *testing.T) (*jobstest.Redis, *config.Config) {
	t.Helper()
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fakestack.Options{})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfg, err := wiring.FakesConfig(stack, r.URL())
	require.NoError(t, err)
	return r, cfg
}

// dashboard is what the test reads of the Grafana dashboard: its PromQL expressions, and the
// label_values(...) queries of its template variables.
type dashboard struct {
	exprs       []string
	labelValues []struct{ expr, label string }
}

// grafanaVars are the dashboard's variables as Grafana substitutes them before a query is sent.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "${provider}", ".*", "$provider", ".*")

// readDashboard reads the dashboard, checks its shape (a Grafana import with a Prometheus data-source
// input, a provider variable, every panel and query on that data source, unique panel ids) and
// returns its queries with Grafana's variables substituted.
func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	type ds struct{ Type, UID string }
	var d struct {
		Inputs []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		UID           string
		SchemaVersion int
		Templating    struct {
			List []struct {
				Name, Type string
				Datasource *ds
				Query      json.RawMessage
			}
		}
		Panels []struct {
			ID         int
			Type       string
			Title      string
			Datasource *ds
			GridPos    struct{ X, Y, W, H int }
			Targets    []struct {
				Datasource *ds
				Expr       string
			}
		}
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.UID)
	assert.GreaterOrEqual(t, d.SchemaVersion, 36, "Grafana 10's JSON model")
	require.Len(t, d.Inputs, 1)
	assert.Equal(t, "DS_PROMETHEUS", d.Inputs[0].Name)
	assert.Equal(t, "prometheus", d.Inputs[0].PluginID)
	promDS := ds{Type: "prometheus", UID: "${DS_PROMETHEUS}"}

	var out dashboard
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		if v.Type != "query" {
			continue
		}
		require.NotNil(t, v.Datasource, v.Name)
		assert.Equal(t, promDS, *v.Datasource, v.Name)
		var q struct{ Query string }
		require.NoError(t, json.Unmarshal(v.Query, &q))
		m := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`).FindStringSubmatch(q.Query)
		require.NotNil(t, m, "variable %s: a label_values(selector, label) query, got %q", v.Name, q.Query)
		out.labelValues = append(out.labelValues, struct{ expr, label string }{m[1], m[2]})
	}
	assert.Contains(t, vars, "provider")
	assert.Contains(t, vars, "DS_PROMETHEUS")

	ids := map[int]bool{}
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.Positive(t, p.GridPos.W*p.GridPos.H, "panel %q has a size", p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotNil(t, p.Datasource, p.Title)
		assert.Equal(t, promDS, *p.Datasource, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotNil(t, tg.Datasource, p.Title)
			assert.Equal(t, promDS, *tg.Datasource, p.Title)
			expr := grafanaVars.Replace(tg.Expr)
			require.NotContains(t, expr, "$", "panel %q uses a variable the test does not know: %s", p.Title, tg.Expr)
			out.exprs = append(out.exprs, expr)
		}
	}
	assert.True(t, slices.ContainsFunc(out.exprs, func(e string) bool { return strings.Contains(e, `provider=~".*"`) }),
		"panels filter on the provider variable")
	return out
}
