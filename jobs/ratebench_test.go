package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// BenchmarkRateFidelity measures how well a fleet holds VOD's configured rate while the other
// providers' queues are busy too, at 10/s and 100/s, with 1, 3 and 10 worker processes of
// concurrency 20 and 100. Each "process" is a worker of its own (asynq servers, limiter, breakers,
// Redis client) on the shared Redis. It reports achieved/limit from the batch's first VOD call to its
// last, the busiest second (counted from the first call) against the limit, and the throttle answers of
// the VOD fake throttling at the limit; it logs the calls per second.
//
//	go test -run '^$' -bench RateFidelity -benchtime 1x ./jobs/
func BenchmarkRateFidelity(b *testing.B) {
	// About 12 s of VOD work at each limit; MSS and SMH stay busy for longer.
	const seconds = 12
	for _, limit := range []int{10, 100} {
		for _, procs := range []int{1, 3, 10} {
			for _, conc := range []int{20, 100} {
				b.Run(fmt.Sprintf("vod-%d-per-s/procs-%d/conc-%d", limit, procs, conc), func(b *testing.B) {
					for range b.N {
						benchRate(b, limit, limit*seconds, procs, conc)
					}
				})
			}
		}
	}
}

func benchRate(b *testing.B, limit, files, procs, conc int) {
	const otherRate, otherFiles = 50, 1000
	l := startLive(b, func(c *config.Config) {
		c.Worker.Concurrency = conc
		c.Providers.VOD.RateLimit = limit
		c.Providers.MSS.RateLimit, c.Providers.SMH.RateLimit = otherRate, otherRate
	})
	l.stack.Faults(providers.VOD).SetThrottle(float64(limit))
	for _, n := range providers.Names {
		l.stack.Faults(n).SetLatency(20*time.Millisecond, 10*time.Millisecond)
	}
	var vod, other []providers.Target
	for _, t := range l.stack.Targets(max(files, otherFiles), 0) {
		switch {
		case t.Provider == providers.VOD:
			if len(vod) < files {
				vod = append(vod, t)
			}
		case len(other) < 2*otherFiles:
			other = append(other, t)
		}
	}
	deleters, err := wiring.Deleters(l.cfg)
	if err != nil {
		b.Fatal(err)
	}
	calls := &callStarts{}
	deleters[providers.VOD] = startTimedDeleter{deleters[providers.VOD], calls}
	for range procs {
		// A process of its own: its own Redis client, pipeline and worker.
		w := wiring.Pipeline(l.cfg, l.redis.Client()).NewWorker(deleters, nil, nil)
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
	// The other providers must still be busy when VOD's batch ends, or VOD did not share the workers.
	if bi, err := l.p.Store.Batch(ctx, busy.Batch); err != nil || bi.Done() {
		b.Errorf("the other providers' batch ended before VOD's (%v): not a busy run", err)
	}

	times := calls.sorted()
	first, last := times[0], times[len(times)-1]
	achieved := float64(len(times)-1) / last.Sub(first).Seconds()
	hist := make([]int, int(last.Sub(first)/time.Second)+1)
	for _, t := range times {
		hist[int(t.Sub(first)/time.Second)]++
	}
	var sb strings.Builder
	for _, h := range hist {
		fmt.Fprintf(&sb, "%d ", h)
	}
	b.Logf("VOD calls per second: %s", sb.String())
	b.ReportMetric(achieved/float64(limit), "achieved/limit")
	b.ReportMetric(float64(slices.Max(hist))/float64(limit), "max-second/limit")
	b.ReportMetric(float64(l.stack.Faults(providers.VOD).Stats().Throttled), "throttles")
}

// callStarts records when each call started: what the provider counts against its limit.
type callStarts struct {
	mu    sync.Mutex
	times []time.Time
}

func (c *callStarts) add(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.times = append(c.times, t)
}

func (c *callStarts) sorted() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	slices.SortFunc(c.times, func(a, b time.Time) int { return a.Compare(b) })
	return c.times
}

// startTimedDeleter is a single-call Deleter that records each call's start.
type startTimedDeleter struct {
	providers.Deleter
	calls *callStarts
}

func (d startTimedDeleter) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	d.calls.add(time.Now())
	return d.Deleter.Delete(ctx, t)
}
