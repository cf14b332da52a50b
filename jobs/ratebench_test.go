package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// BenchmarkRateFidelity measures how well a fleet holds VOD's configured rate while the other
// providers' queues are busy too: achieved/limit from the batch's first VOD call to its last, the
// busiest second against the limit, and the throttle answers of a fake that throttles above the limit.
// Each "process" is a worker of its own (asynq server, limiter, breakers) on the shared Redis.
//
//	go test -run '^$' -bench RateFidelity -benchtime 1x ./jobs/
func BenchmarkRateFidelity(b *testing.B) {
	const limit, files = 100, 1000
	for _, procs := range []int{1, 3} {
		b.Run(fmt.Sprintf("vod-%d-per-s/procs-%d", limit, procs), func(b *testing.B) {
			for range b.N {
				l := startLive(b, func(c *config.Config) {
					c.Worker.Concurrency = 40
					c.Providers.VOD.RateLimit = limit
					c.Providers.MSS.RateLimit, c.Providers.SMH.RateLimit = 50, 50
				})
				l.stack.Faults(providers.VOD).SetThrottle(limit)
				for _, n := range providers.Names {
					l.stack.Faults(n).SetLatency(20*time.Millisecond, 10*time.Millisecond)
				}
				var vod, other []providers.Target
				for _, t := range l.stack.Targets(files, 0) {
					if t.Provider == providers.VOD {
						vod = append(vod, t)
					} else if len(other) < files {
						other = append(other, t)
					}
				}
				deleters, err := wiring.Deleters(l.cfg)
				if err != nil {
					b.Fatal(err)
				}
				for range procs {
					w := l.p.NewWorker(deleters, nil, nil)
					if err := w.Start(); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(w.Shutdown)
				}
				ctx := context.Background()
				busy, err := l.p.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: "bench"}, slices.Values(other), nil)
				if err != nil {
					b.Fatal(err)
				}
				sum, err := l.p.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: "bench"}, slices.Values(vod), nil)
				if err != nil {
					b.Fatal(err)
				}
				waitDoneWithin(b, l.p.Store, sum.Batch, 5*time.Minute)
				waitDoneWithin(b, l.p.Store, busy.Batch, 5*time.Minute)

				var times []time.Time
				if err := l.p.Store.Records(ctx, sum.Batch, func(r jobs.Record) error {
					times = append(times, r.LastAttempt)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				slices.SortFunc(times, func(a, c time.Time) int { return a.Compare(c) })
				first, last := times[0], times[len(times)-1]
				achieved := float64(len(times)-1) / last.Sub(first).Seconds()
				hist := make([]int, int(last.Sub(first)/time.Second)+1)
				for _, t := range times {
					hist[int(t.Sub(first)/time.Second)]++
				}
				peak := slices.Max(hist)
				var sb strings.Builder
				for _, h := range hist {
					fmt.Fprintf(&sb, "%d ", h)
				}
				b.Logf("VOD outcomes per second: %s", sb.String())
				b.ReportMetric(achieved/limit, "achieved/limit")
				b.ReportMetric(float64(peak)/limit, "peak-second/limit")
				b.ReportMetric(float64(l.stack.Faults(providers.VOD).Stats().Throttled), "throttles")
			}
		})
	}
}
