package jobs_test

import (
	"testing"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// waitDone waits up to a minute for batch to be done and returns it (the test fails otherwise).
func waitDone(t testing.TB, s *jobs.Store, batch string) jobs.BatchInfo {
	t.Helper()
	return jobs.WaitDoneWithin(t, s, batch, 60*time.Second)
}

func waitDoneWithin(t testing.TB, s *jobs.Store, batch string, within time.Duration) jobs.BatchInfo {
	t.Helper()
	return jobs.WaitDoneWithin(t, s, batch, within)
}

func vodTarget(i int) providers.Target { return jobs.VODTarget(i) }
