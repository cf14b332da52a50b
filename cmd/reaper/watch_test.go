package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// `status --watch` follows a batch to its end with each provider's part, one line per interval off a
// terminal: exit 2 when it stops before the end, 1 when the batch ends with failures, as `wait`.
func TestStatusWatch(t *testing.T) {
	c := newCLI(t, "")
	code, _, errOut := c.run(t, "", "status", "--watch")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--watch needs --batch ID")

	code, _, _ = c.run(t, "", "pause", "--provider", "vod")
	require.Equal(t, 0, code)
	locked := providers.Target{Provider: providers.VOD, FileID: "locked", SubAppID: 999} // fails: unknown sub-application
	code, out, errOut := c.run(t, manifest(append(c.stack.Targets(3, 3), locked)), "enqueue", "--manifest", "-")
	require.Equal(t, 0, code, errOut)
	batch := strings.TrimSpace(out)
	c.worker(t)

	// VOD is paused: MSS and SMH finish, VOD's four tasks wait in its queue, and the watch gives up.
	code, out, errOut = c.run(t, "", "status", "--batch", batch, "--watch", "--interval", "100ms", "--timeout", "3s")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, errOut, "stopped watching: 4 of 10 tasks still pending")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 2, "a line per interval")
	last := lines[len(lines)-1]
	assert.Contains(t, last, batch+" running: 6/10 done, 0 failed; mss 3/3 (0 failed); smh 3/3 (0 failed); vod 0/4 (0 failed)")

	code, _, _ = c.run(t, "", "resume", "--provider", "vod")
	require.Equal(t, 0, code)
	code, out, errOut = c.run(t, "", "status", "--batch", batch, "--watch", "--interval", "100ms", "--output", "json")
	assert.Equal(t, 1, code, "one target failed")
	assert.Contains(t, errOut, "1 targets failed")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	var f watchFrame
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &f), "JSON lines")
	assert.True(t, f.Status.Done)
	assert.Equal(t, []providerProgress{{providers.MSS, 3, 3, 0}, {providers.SMH, 3, 3, 0}, {providers.VOD, 4, 4, 1}}, f.Providers)
}

// On a terminal the frame is redrawn in place: each frame goes back over the last one's lines.
func TestWatchRedrawsOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	w := &watcher{w: &buf, tty: true}
	f := watchFrame{Status: jobs.BatchStatus{Batch: "b", Sealed: true, Total: 10, Pending: 5, Outcomes: map[string]int64{"failed": 1}},
		Providers: []providerProgress{{providers.MSS, 6, 3, 1}, {providers.VOD, 4, 2, 0}}}
	require.NoError(t, w.draw(f))
	first := buf.String()
	assert.NotContains(t, first, "\x1b[3A", "nothing to go back over yet")
	assert.Contains(t, first, "b  running  [##########..........]  50%  5/10 done, 1 failed")
	assert.Contains(t, first, "  mss  [##########..........]  50%  3/6, 1 failed")
	assert.Contains(t, first, "  vod  [##########..........]  50%  2/4, 0 failed")
	buf.Reset()
	f.Status.Pending, f.Status.Done, f.Providers[0].Done, f.Providers[1].Done = 0, true, 6, 4
	require.NoError(t, w.draw(f))
	assert.True(t, strings.HasPrefix(buf.String(), "\x1b[3A\x1b[2K"), "back up three lines, each cleared: %q", buf.String())
	assert.Contains(t, buf.String(), "b  done  [####################] 100%  10/10 done")
	assert.Equal(t, 3, strings.Count(buf.String(), "\n"))
}
