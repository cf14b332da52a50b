package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/scheduler"
)

// policiesYAML is a scheduler section with a VOD search policy, a capped copy of it, and an MSS index
// policy firing every second.
const policiesYAML = `scheduler:
  lease_ttl: 2s
  tick: 200ms
  policies:
    - {name: vod-old, schedule: "30 2 * * *", timezone: Asia/Shanghai, provider: vod, min_age: 720h, max_deletions: 100}
    - {name: vod-capped, schedule: "30 2 * * *", provider: vod, min_age: 720h, max_deletions: 2}
    - {name: mss-due, schedule: "@every 1s", provider: mss, source: index, min_age: 1ms, max_deletions: 100}
`

// policiesOut is `reaper policies --json` as a test reads it.
type policiesOut struct {
	Leader   string `json:"leader"`
	Policies []struct {
		Name     string               `json:"name"`
		Source   string               `json:"source"`
		TimeZone string               `json:"timezone"`
		NextRun  *time.Time           `json:"next_run"`
		LastRun  *scheduler.RunRecord `json:"last_run"`
	} `json:"policies"`
}

func (c *cli) policies(t *testing.T) policiesOut {
	t.Helper()
	code, out, errOut := c.run(t, "", "policies", "--json")
	require.Equal(t, 0, code, errOut)
	var p policiesOut
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	return p
}

func TestPoliciesListAndRunNow(t *testing.T) {
	c := newCLI(t, policiesYAML)
	var old []providers.Target
	for i := range 4 {
		tg := providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("old%d", i), SubAppID: c.stack.Creds.VODSubApp}
		c.stack.VOD.AddAt(tg, time.Now().Add(-60*24*time.Hour))
		old = append(old, tg)
	}
	young := providers.Target{Provider: providers.VOD, FileID: "young", SubAppID: c.stack.Creds.VODSubApp}
	c.stack.VOD.Add(young)

	p := c.policies(t)
	assert.Empty(t, p.Leader)
	require.Len(t, p.Policies, 3)
	assert.Equal(t, "vod-old", p.Policies[0].Name)
	assert.Equal(t, "search", p.Policies[0].Source)
	assert.Equal(t, "Asia/Shanghai", p.Policies[0].TimeZone)
	assert.Nil(t, p.Policies[0].LastRun)
	require.NotNil(t, p.Policies[0].NextRun)
	assert.Equal(t, 18, p.Policies[0].NextRun.UTC().Hour(), "02:30 in Shanghai")
	assert.Equal(t, 30, p.Policies[0].NextRun.UTC().Minute())

	// A dry run prints its batch id; the report lists what it would delete.
	code, out, errOut := c.run(t, "", "policies", "run", "vod-old", "--dry-run")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	assert.Contains(t, errOut, "dry_run, found 4")
	code, out, _ = c.run(t, "", "report", "--batch", batch)
	require.Equal(t, 0, code)
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r jobs.Record
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		assert.Equal(t, jobs.DryRun, r.Outcome)
		keys = append(keys, r.Key)
	}
	assert.ElementsMatch(t, []string{old[0].Key(), old[1].Key(), old[2].Key(), old[3].Key()}, keys)
	last := c.policies(t).Policies[0].LastRun
	require.NotNil(t, last)
	assert.Equal(t, scheduler.StatusDryRun, last.Status)
	assert.Equal(t, batch, last.Batch)
	assert.True(t, strings.HasPrefix(last.ID, "vod-old@manual-"), last.ID)

	code, out, _ = c.run(t, "", "policies")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "leader: none")
	assert.Contains(t, out, "POLICY")
	assert.Regexp(t, `vod-old\s+vod\s+search\s+30 2 \* \* \* \(Asia/Shanghai\)\s+\S+ \S+\s+dry_run\s+4\s+`+batch, out)

	// Over the cap: refused, exit 1, nothing enqueued.
	code, out, errOut = c.run(t, "", "policies", "run", "--dry-run=false", "vod-capped")
	assert.Equal(t, 1, code)
	assert.NotEmpty(t, strings.TrimSpace(out), "the refused run's batch")
	assert.Contains(t, errOut, "refused, found 4")
	code, out, _ = c.run(t, "", "status", "--batch", strings.TrimSpace(out), "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `refused: found 4, more than max_deletions 2`)
	assert.Contains(t, out, `"total":0`)

	code, _, errOut = c.run(t, "", "policies", "run", "nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no policy named "nope"`)
	code, _, errOut = c.run(t, "", "policies", "run")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "NAME is required")
	code, _, _ = c.run(t, "", "policies", "run", "vod-old", "extra")
	assert.Equal(t, 1, code)
	code, _, errOut = c.run(t, "", "policies", "run", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "Usage: reaper policies run NAME [--dry-run]")

	// For real: `reaper wait --batch $(reaper policies run vod-old)`.
	code, out, errOut = c.run(t, "", "policies", "run", "vod-old")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "4 enqueued")
	c.worker(t)
	code, _, errOut = c.run(t, "", "wait", "--batch", strings.TrimSpace(out), "--timeout", "30s")
	require.Equal(t, 0, code, errOut)
	for _, tg := range old {
		assert.False(t, c.stack.VOD.Exists(tg))
	}
	assert.True(t, c.stack.VOD.Exists(young))
}

// lockedBuffer is a bytes.Buffer several goroutines may write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `reaper scheduler` leads, runs a due index policy on its schedule as a batch the worker deletes, and
// releases the lease when stopped.
func TestSchedulerCommandRunsPoliciesAndReleasesTheLease(t *testing.T) {
	c := newCLI(t, policiesYAML)
	ctx := context.Background()
	tg := providers.Target{Provider: providers.MSS, ProjectID: c.stack.Creds.MSSProject, FileID: "expired"}
	c.stack.MSS.Add(tg)
	index := jobs.NewIndex(c.redis.Client(), nil)
	require.NoError(t, index.Register(ctx, tg, time.Now().Add(-time.Minute)))
	c.worker(t)

	runCtx, stop := context.WithCancel(ctx)
	var logs lockedBuffer
	done := make(chan int, 1)
	exited := false
	go func() {
		e := &env{stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, getenv: func(k string) string {
			if k == "REAPER_CONFIG" {
				return c.config
			}
			return c.envs[k]
		}}
		done <- run(runCtx, e, []string{"scheduler", "--id", "replica-1"})
	}()
	t.Cleanup(func() {
		stop()
		if !exited {
			<-done
		}
	})

	var last *scheduler.RunRecord
	require.Eventually(t, func() bool {
		p := c.policies(t)
		last = p.Policies[2].LastRun
		return p.Leader == "replica-1" && last != nil && last.Status == scheduler.StatusRan && last.Found == 1
	}, 20*time.Second, 100*time.Millisecond, "logs:\n%s", logs.String())
	assert.Regexp(t, `^mss-due@\d{8}T\d{6}Z$`, last.ID)
	code, _, errOut := c.run(t, "", "wait", "--batch", last.Batch, "--timeout", "30s")
	require.Equal(t, 0, code, errOut)
	assert.False(t, c.stack.MSS.Exists(tg))

	stop()
	exited = true
	require.Equal(t, 0, <-done)
	_, err := c.redis.Client().Get(ctx, scheduler.LeaderKey).Result()
	assert.ErrorIs(t, err, redis.Nil, "the lease is released on a graceful stop")
	out := logs.String()
	assert.Contains(t, out, `"msg":"became leader"`)
	assert.Contains(t, out, `"msg":"policy run finished"`)
	assert.Contains(t, out, `"msg":"released the leader lease"`)
}
