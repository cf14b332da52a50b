package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// startProcess runs `reaper ARGS...` as a separate OS process (the test binary re-executed) with the
// cli's config and credentials plus extra environment; its output goes to the test log on failure.
func (c *cli) startProcess(t *testing.T, extraEnv map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "REAPER_TEST_MAIN=1", "REAPER_CONFIG="+c.config)
	for k, v := range c.envs {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range extraEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("reaper %s output:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return cmd
}

// A worker killed with SIGKILL mid-batch loses nothing: another worker takes over (asynq recovers the
// dead worker's leases after they expire, about a minute) and no target gets two outcome records.
func TestWorkerKilledMidBatchLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery (about a minute)")
	}
	c := newCLI(t, "")
	targets := c.stack.Targets(400, 25)
	for _, n := range providers.Names {
		c.stack.Faults(n).SetLatency(20*time.Millisecond, 10*time.Millisecond)
	}
	code, out, errOut := c.run(t, manifest(targets), "enqueue", "--manifest", "-")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	store := jobs.NewStore(c.redis.Client(), jobs.StoreOptions{})

	first := c.startProcess(t, nil, "worker")
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := store.Batch(context.Background(), batch)
		require.NoError(t, err)
		if b.Terminal >= 300 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the first worker made no progress: %+v", b)
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, first.Process.Kill()) // SIGKILL: no graceful shutdown, leases left behind
	_ = first.Wait()
	mid, err := store.Batch(context.Background(), batch)
	require.NoError(t, err)
	require.Less(t, mid.Terminal, mid.Total, "the kill must land mid-batch")

	c.startProcess(t, nil, "worker")
	code, _, errOut = c.run(t, "", "wait", "--batch", batch, "--timeout", "4m")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, c.stack.Verify(context.Background(), store, batch, targets))
}
