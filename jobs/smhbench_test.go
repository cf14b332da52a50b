package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/jobs"
)

// BenchmarkSMHBatch is issue 12's figure: SMH deletes per second at a fixed 50 requests/s (reaper's
// shared limit) with providers.smh.batch_size 1, 100 and 1,000, against the SMH fake through a real
// redis-server and one worker process; then the undo of the same batch (batch restore). Run it once:
//
//	go test -run '^$' -bench BenchmarkSMHBatch -benchtime 1x ./jobs/
//
// files/s counts from the submission's start to the batch's last outcome, enqueueing included;
// calls/s is what the fake saw over the same time (it must stay at or under 50).
func BenchmarkSMHBatch(b *testing.B) {
	for _, c := range []struct{ size, files int }{{1, 500}, {100, 20_000}, {1000, 100_000}} {
		b.Run(fmt.Sprintf("batch_size=%d", c.size), func(b *testing.B) {
			l := startLive(b, func(cfg *config.Config) {
				cfg.Providers.SMH.RateLimit = 50
				cfg.Providers.SMH.BatchSize = c.size
			})
			ctx := context.Background()
			l.startWorker(b)
			for b.Loop() {
				b.StopTimer()
				targets := l.smhFiles(c.files, 0, fmt.Sprintf("bench-%d", c.size))
				calls := l.stack.SMH.Requests()
				b.StartTimer()
				start := time.Now()
				batch := l.submit(b, targets...)
				done := jobs.WaitDoneWithin(b, l.p.Store, batch, 10*time.Minute)
				el := time.Since(start)
				require.Equal(b, int64(c.files), done.Counts[jobs.Recycled])
				reqs := l.stack.SMH.Requests() - calls
				b.ReportMetric(float64(c.files)/el.Seconds(), "files/s")
				b.ReportMetric(el.Seconds(), "delete_s")
				b.ReportMetric(float64(reqs)/el.Seconds(), "calls/s")

				calls = l.stack.SMH.Requests()
				start = time.Now()
				plan, err := l.p.Producer.Undo(ctx, batch, jobs.UndoOptions{Confirmed: true})
				require.NoError(b, err)
				undone := jobs.WaitDoneWithin(b, l.p.Store, plan.Batch, 10*time.Minute)
				el = time.Since(start)
				require.Equal(b, int64(c.files), undone.Counts[jobs.Restored])
				b.ReportMetric(float64(c.files)/el.Seconds(), "restores/s")
				b.ReportMetric(float64(l.stack.SMH.Requests()-calls)/el.Seconds(), "restore_calls/s")
			}
		})
	}
}
