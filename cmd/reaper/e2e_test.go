package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// TestStackEndToEnd runs the deployment the manifests describe, as separate processes: a real
// redis-server, two `reaper worker`s and a `reaper scheduler` (each with its admin port), and
// `reaper serve`, all from the Kubernetes ConfigMap's reaper.yaml with the environment overrides a pod
// would get. A batch goes in through the HTTP API, is deleted at the provider fakes, its report comes
// back through the API, and the workers' /metrics count what the batch recorded.
func TestStackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	var configMapYAML string
	for _, d := range yamlDocs(t, filepath.Join(deployDir, "kubernetes", "configmap.yaml")) {
		configMapYAML = dig(d, "data", "reaper.yaml").(string)
	}
	require.NotEmpty(t, configMapYAML)
	r := jobstest.StartRedis(t)
	stack, err := fakestack.Start(fakestack.Options{Seed: 11})
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	cfgPath := filepath.Join(t.TempDir(), "reaper.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(configMapYAML), 0o600))

	const token = "e2e-token-0123456789"
	c := &cli{redis: r, stack: stack, config: cfgPath, envs: stack.Creds.Env()}
	c.envs["REAPER_REDIS_URL"] = r.URL()
	c.envs["REAPER_MSS_ENDPOINT"] = stack.URL[providers.MSS]
	c.envs["REAPER_SMH_ENDPOINT"] = stack.URL[providers.SMH]
	c.envs["REAPER_VOD_ENDPOINT"] = stack.URL[providers.VOD]
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", jobstest.FreePort(t)) }
	workers := []string{addr(), addr()}
	for _, a := range workers {
		c.startProcess(t, map[string]string{"REAPER_ADMIN_LISTEN": a, "REAPER_API_TOKENS": token}, "worker")
	}
	sched := addr()
	c.startProcess(t, map[string]string{"REAPER_ADMIN_LISTEN": sched}, "scheduler")
	api, apiAdmin := addr(), addr()
	c.startProcess(t, map[string]string{"REAPER_API_LISTEN": api, "REAPER_ADMIN_LISTEN": apiAdmin, "REAPER_API_TOKENS": token}, "serve")
	for _, a := range append(workers, sched, apiAdmin) {
		waitHTTP(t, "http://"+a+"/readyz", http.StatusOK)
	}
	waitHTTP(t, "http://"+api+"/healthz", http.StatusOK)

	// 20 files per provider, every tenth already gone.
	targets := stack.Targets(20, 10)
	var body strings.Builder
	for _, tg := range targets {
		line, _ := json.Marshal(tg)
		body.Write(line)
		body.WriteByte('\n')
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+api+"/v1/batches?submitted_by=e2e", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var sub struct {
		Batch    string `json:"batch"`
		Enqueued int    `json:"enqueued"`
	}
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sub))
	resp.Body.Close()
	require.Equal(t, 60, sub.Enqueued)

	unauth, err := http.Post("http://"+api+"/v1/batches", "application/x-ndjson", strings.NewReader(body.String()))
	require.NoError(t, err)
	unauth.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, unauth.StatusCode, "no token, no batch")

	var st struct {
		Done     bool             `json:"done"`
		Outcomes map[string]int64 `json:"outcomes"`
	}
	deadline := time.Now().Add(90 * time.Second)
	for !st.Done {
		require.True(t, time.Now().Before(deadline), "batch not done: %+v", st)
		time.Sleep(200 * time.Millisecond)
		getJSON(t, "http://"+api+"/v1/batches/"+sub.Batch, token, &st)
	}
	assert.Equal(t, int64(54), st.Outcomes["deleted"])
	assert.Equal(t, int64(6), st.Outcomes["already_gone"])

	rep := httpGet(t, "http://"+api+"/v1/batches/"+sub.Batch+"/report?format=jsonl", token)
	assert.Equal(t, 60, strings.Count(rep, "\n"), "one report row per target")
	require.NoError(t, stack.Verify(context.Background(), jobsStore(r), sub.Batch, targets))

	// The two workers' counters add up to the batch.
	sum := map[string]float64{}
	for _, a := range workers {
		for k, v := range scrape(t, "http://"+a+"/metrics", "reaper_outcomes_total") {
			sum[k] += v
		}
	}
	assert.Equal(t, 54.0, sum[`outcome="deleted"`], "%v", sum)
	assert.Equal(t, 6.0, sum[`outcome="already_gone"`], "%v", sum)
	assert.Contains(t, httpGet(t, "http://"+workers[0]+"/metrics", ""), "reaper_queue_tasks")
	assert.Contains(t, httpGet(t, "http://"+workers[0]+"/monitor/", token), "<html")
}

func waitHTTP(t *testing.T, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "%s never answered %d (last: %v)", url, status, err)
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	return string(b)
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(httpGet(t, url, token)), v))
}

// scrape returns a metric's samples keyed by their label pairs minus provider, summed over providers.
func scrape(t *testing.T, url, metric string) map[string]float64 {
	out := map[string]float64{}
	line := regexp.MustCompile(`^` + metric + `\{(.*)\} (\S+)$`)
	sc := bufio.NewScanner(strings.NewReader(httpGet(t, url, "")))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err)
		var labels []string
		for _, l := range strings.Split(m[1], ",") {
			if !strings.HasPrefix(l, "provider=") {
				labels = append(labels, l)
			}
		}
		out[strings.Join(labels, ",")] += v
	}
	return out
}

func jobsStore(r *jobstest.Redis) *jobs.Store { return jobs.NewStore(r.Client(), jobs.StoreOptions{}) }
