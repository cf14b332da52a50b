package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

func TestEnqueueRegistersInTheRetentionIndex(t *testing.T) {
	c := newCLI(t, "")
	ctx := context.Background()
	x := jobs.NewIndex(c.redis.Client(), nil)
	registered := func(n providers.Name, at time.Time) []providers.Target {
		var out []providers.Target
		require.NoError(t, x.Due(ctx, n, at, func(tg providers.Target, _ time.Time) error {
			out = append(out, tg)
			return nil
		}))
		return out
	}
	total := func() (n int64) {
		for _, p := range providers.Names {
			k, err := x.Count(ctx, p)
			require.NoError(t, err)
			n += k
		}
		return n
	}
	forever := time.Now().AddDate(100, 0, 0)

	ts := c.stack.Targets(2, 0)
	code, out, errOut := c.run(t, manifest(ts), "enqueue", "--manifest", "-", "--after", "720h")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "registered 6 targets (mss 2, smh 2, vod 2), due ")
	assert.Empty(t, registered(providers.MSS, time.Now().Add(719*time.Hour)), "not due before 720h")
	assert.Len(t, registered(providers.MSS, time.Now().Add(721*time.Hour)), 2)
	assert.Equal(t, int64(6), total())
	code, out, _ = c.run(t, "", "status", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"batches":null`, "registering creates no batch")
	for _, tg := range ts {
		assert.True(t, c.stack.Fake(tg.Provider).Exists(tg), "and deletes nothing")
	}

	// One target, due at a fixed time, with the config's defaults filled as enqueue does.
	code, out, errOut = c.run(t, "", "enqueue", "--provider", "mss", "--file-id", "later", "--at", "2026-12-31T00:00:00Z")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "registered 1 targets (mss 1), due 2026-12-31T00:00:00Z\n", out)
	var later *providers.Target
	for _, tg := range registered(providers.MSS, forever) {
		if tg.FileID == "later" {
			later = &tg
		}
	}
	require.NotNil(t, later)
	assert.Equal(t, c.stack.Creds.MSSProject, later.ProjectID)
	for _, tg := range registered(providers.MSS, time.Date(2026, 12, 30, 23, 59, 0, 0, time.UTC)) {
		assert.NotEqual(t, "later", tg.FileID, "due at --at, not before")
	}

	// A bad line registers nothing, and names the line.
	more := c.stack.Targets(3, 0)[6:]
	code, out, errOut = c.run(t, manifest(more)+`{"provider":"vod","fileid":"1"}`+"\n", "enqueue", "--manifest", "-", "--after", "24h")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "line 4: field fileid: unknown field")
	assert.Contains(t, errOut, "1 bad lines: nothing registered")
	assert.Equal(t, int64(7), total())

	// --unregister cancels registrations (the same inputs) and says how many existed.
	code, out, errOut = c.run(t, manifest(append(ts[:3:3], more[0])), "enqueue", "--manifest", "-", "--unregister")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "unregistered 3 of 4 targets (1 had no registration)\n", out)
	assert.Equal(t, int64(4), total())
	code, out, errOut = c.run(t, "", "enqueue", "--provider", "mss", "--file-id", "later", "--unregister")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "unregistered 1 of 1 targets (0 had no registration)\n", out)
	assert.Equal(t, int64(3), total())

	for _, bad := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--after", "1h", "--at", "2026-12-31T00:00:00Z"}, "not both"},
		{[]string{"--unregister", "--after", "1h"}, "takes no --after or --at"},
		{[]string{"--at", "tomorrow"}, "not an RFC 3339 time"},
		{[]string{"--after", "-1h"}, "must be positive"},
	} {
		code, _, errOut = c.run(t, "", append([]string{"enqueue", "--provider", "mss", "--file-id", "x"}, bad.args...)...)
		assert.Equal(t, 1, code, bad.args)
		assert.Contains(t, errOut, bad.msg, bad.args)
	}
	assert.Equal(t, int64(3), total())
}

// overnightCLI is the CLI rig with parking on: two daytime attempts, one night in 01:00-05:00
// Asia/Shanghai, breakers that never open (the failures are per file, not an outage).
func overnightCLI(t *testing.T) *cli {
	t.Helper()
	c := newCLI(t, "")
	yaml := fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 8, shutdown_timeout: 5s}
retry:
  max_attempts: 2
  base_delay: 50ms
  max_delay: 200ms
  throttle_delay: 100ms
  overnight: {nights: 1, start: "01:00", end: "05:00", timezone: Asia/Shanghai}
breaker: {consecutive_failures: 1000000, failure_ratio: 0, open_timeout: 1s}
providers:
  mss: {enabled: true, endpoint: %q, rate_limit: 1000}
  smh: {enabled: true, endpoint: %q, rate_limit: 1000}
  vod: {enabled: true, endpoint: %q, rate_limit: 1000}
`, c.redis.URL(), c.stack.URL[providers.MSS], c.stack.URL[providers.SMH], c.stack.URL[providers.VOD])
	require.NoError(t, os.WriteFile(c.config, []byte(yaml), 0o600))
	return c
}

// clockedWorker runs the worker `reaper worker` runs, in-process, with its overnight window on clk.
func (c *cli) clockedWorker(t *testing.T, clk *testclock.Clock) {
	t.Helper()
	e := &env{stdin: strings.NewReader(""), stdout: os.Stderr, stderr: os.Stderr, getenv: func(k string) string {
		if k == "REAPER_CONFIG" {
			return c.config
		}
		return c.envs[k]
	}}
	p, closeFn, err := openPipeline(context.Background(), e, c.config)
	require.NoError(t, err)
	w, err := newWorker(p, nil, nil)
	require.NoError(t, err)
	require.NotNil(t, w.Overnight)
	w.Overnight.Now = clk.Now
	require.NoError(t, w.Start())
	t.Cleanup(func() { w.Shutdown(); closeFn() })
}

func TestStatusShowsParkedTasksAndRetryNowRunsThem(t *testing.T) {
	// The clock the overnight window reads stands 30 days behind, at, and 30 days ahead of the real
	// one: nothing reaper sends Redis may depend on where it stands.
	for _, shift := range []time.Duration{-30 * 24 * time.Hour, 0, 30 * 24 * time.Hour} {
		t.Run(fmt.Sprintf("clock%+dd", int(shift.Hours()/24)), func(t *testing.T) { statusShowsParkedTasks(t, shift) })
	}
}

func statusShowsParkedTasks(t *testing.T, shift time.Duration) {
	c := overnightCLI(t)
	sh, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	y, m, d := time.Now().Add(shift).In(sh).Date()
	day := time.Date(y, m, d, 9, 0, 0, 0, sh)
	night := time.Date(y, m, d+1, 1, 0, 0, 0, sh)
	clk := testclock.New(day)
	in := c.stack.Faults(providers.MSS)
	in.SetClock(clk.Now)
	in.SetOutage(day, night) // 500 MSS.00000004 all day
	c.clockedWorker(t, clk)

	var ts []providers.Target
	for i := range 5 {
		tg := providers.Target{Provider: providers.MSS, ProjectID: c.stack.Creds.MSSProject, FileID: fmt.Sprintf("night-%d", i)}
		c.stack.MSS.Add(tg)
		ts = append(ts, tg)
	}
	code, out, errOut := c.run(t, manifest(ts), "enqueue", "--manifest", "-")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)

	type queue struct {
		Provider providers.Name `json:"provider"`
		Retry    int            `json:"retry"`
	}
	var all struct {
		Queues  []queue            `json:"queues"`
		Batches []jobs.BatchStatus `json:"batches"`
	}
	require.Eventually(t, func() bool {
		code, out, _ := c.run(t, "", "status", "--json")
		require.Equal(t, 0, code)
		require.NoError(t, json.Unmarshal([]byte(out), &all))
		require.Len(t, all.Batches, 1)
		return all.Batches[0].Parked == 5 && all.Queues[0].Provider == providers.MSS && all.Queues[0].Retry == 5
	}, 60*time.Second, 50*time.Millisecond, "every task parked")

	code, out, _ = c.run(t, "", "status", "--batch", batch, "--json")
	require.Equal(t, 0, code)
	var st jobs.BatchStatus
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, int64(5), st.Parked)
	assert.Equal(t, int64(5), st.Pending)
	assert.Zero(t, st.Outcomes["failed"], "parked, not failed")
	require.NotNil(t, st.NextAttempt)
	assert.False(t, st.NextAttempt.Before(night), "next attempt %s", st.NextAttempt.In(sh))
	assert.True(t, st.NextAttempt.Before(night.Add(4*time.Hour)), "next attempt %s", st.NextAttempt.In(sh))

	code, out, _ = c.run(t, "", "status", "--batch", batch)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "5 for the overnight retry window, next attempt "+st.NextAttempt.Local().Format(time.DateTime))
	code, out, _ = c.run(t, "", "status")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "PARKED")
	assert.Contains(t, out, st.NextAttempt.Local().Format(time.DateTime))
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "300ms")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "5 of them parked for the overnight retry window")

	// Night: the provider answers again; `retry --now` runs the parked tasks without waiting for
	// asynq's wall-clock schedule.
	clk.Set(night.Add(time.Hour))
	code, out, errOut = c.run(t, "", "retry", "--batch", batch, "--now")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, fmt.Sprintf("batch %s: 5 parked tasks brought forward to run now\n", batch), out)
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "60s")
	require.Equal(t, 0, code, errOut)
	code, out, _ = c.run(t, "", "report", "--batch", batch)
	require.Equal(t, 0, code)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r jobs.Record
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		assert.Equal(t, jobs.Deleted, r.Outcome)
		assert.Equal(t, 3, r.Attempts, "two by day, one at night")
	}
	for _, tg := range ts {
		assert.False(t, c.stack.MSS.Exists(tg))
	}
	code, out, _ = c.run(t, "", "status", "--batch", batch, "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"parked":0`)
	assert.NotContains(t, out, "next_attempt")

	code, _, errOut = c.run(t, "", "retry", "--batch", "no-such-batch", "--now")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such batch")
}
