package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// BenchmarkOutage measures what a fleet spends on an outage and how fast it is back: 1,000 VOD
// deletions (one in ten already gone) at VOD's 100/s, the VOD fake down (HTTP 502 gateway page) for the
// first 20 s, three worker processes (each a Pipeline and Worker of its own on its own Redis client;
// and one, for comparison) with the production breaker, retry and worker defaults. It reports:
//
//   - outage-calls: calls the fake answered with the outage, the whole fleet's;
//   - steady/limit: the median answers per second (answers that were not the outage) from 5 s after
//     the recovery to the batch's last second, against the limit: the rate the fleet holds anyway;
//   - s-to-full-rate: from the recovery to the start of the first one-second window (sliding by 10 ms)
//     holding at least 95% of that steady rate: when the fleet is back at the speed it runs at;
//   - s-late: the batch's last outcome minus the ideal, 20 s of outage plus 1,000 calls at 100/s.
//
// bare-asynq is three plain asynq servers (concurrency 20, asynq's default retry delay) calling the
// same client with no breaker or limiter, for the outage-calls figure only (its retries take minutes).
//
//	go test -run '^$' -bench Outage -benchtime 1x ./jobs/
func BenchmarkOutage(b *testing.B) {
	const (
		files  = 1000
		limit  = 100
		outage = 20 * time.Second
	)
	for _, run := range []struct {
		mode  string
		procs int
	}{{"reaper", 3}, {"reaper", 1}, {"bare-asynq", 3}} {
		mode, procs := run.mode, run.procs
		b.Run(fmt.Sprintf("%s/procs-%d", mode, procs), func(b *testing.B) {
			for range b.N {
				l := startLive(b, func(c *config.Config) {
					d := config.Default()
					c.Worker.Concurrency, c.Worker.RateLimitMaxWait = d.Worker.Concurrency, d.Worker.RateLimitMaxWait
					c.Retry, c.Breaker = d.Retry, d.Breaker
					c.Providers.VOD.RateLimit = limit
				})
				in := l.stack.Faults(providers.VOD)
				in.SetThrottle(limit)
				in.SetLatency(20*time.Millisecond, 10*time.Millisecond)
				var vod []providers.Target
				for _, t := range l.stack.Targets(files, 10) {
					if t.Provider == providers.VOD {
						vod = append(vod, t)
					}
				}
				ctx := context.Background()
				sum, err := l.p.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: "bench"}, slices.Values(vod), nil)
				if err != nil {
					b.Fatal(err)
				}
				calls := &callTimes{}
				start := time.Now()
				recovery := start.Add(outage)
				in.SetOutage(start, recovery)
				for range procs {
					deleters, err := wiring.Deleters(l.cfg)
					if err != nil {
						b.Fatal(err)
					}
					d := calls.wrap(deleters[providers.VOD])
					rdb := l.redis.Client()
					if mode == "bare-asynq" {
						srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: l.cfg.Worker.Concurrency,
							Queues: map[string]int{jobs.QueueName(providers.VOD): 1}, ShutdownTimeout: time.Second,
							LogLevel: asynq.FatalLevel})
						if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
							p, err := jobs.DecodePayload(t.Payload())
							if err != nil {
								return err
							}
							_, err = d.Delete(ctx, p.Target)
							return err
						})); err != nil {
							b.Fatal(err)
						}
						b.Cleanup(srv.Shutdown)
						continue
					}
					w := wiring.Pipeline(l.cfg, rdb).NewWorker(map[providers.Name]providers.Deleter{providers.VOD: d}, nil, nil)
					if err := w.Start(); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(w.Shutdown)
				}
				if mode == "bare-asynq" {
					time.Sleep(time.Until(recovery))
					b.ReportMetric(float64(in.Stats().Outages), "outage-calls")
					continue
				}
				waitDoneWithin(b, l.p.Store, sum.Batch, 5*time.Minute)
				b.ReportMetric(float64(in.Stats().Outages), "outage-calls")
				steady := calls.steadyRate(recovery.Add(5 * time.Second))
				b.ReportMetric(steady/limit, "steady/limit")
				b.ReportMetric(calls.fullRateAfter(recovery, 0.95*steady).Seconds(), "s-to-full-rate")

				var last time.Time
				if err := l.p.Store.Records(ctx, sum.Batch, func(r jobs.Record) error {
					if r.LastAttempt.After(last) {
						last = r.LastAttempt
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				ideal := start.Add(outage + files*time.Second/limit)
				b.ReportMetric(last.Sub(ideal).Seconds(), "s-late")
				b.ReportMetric(float64(in.Stats().Throttled), "throttles")
				b.Logf("provider answers per second after the recovery: %s", calls.histogram(recovery, 12))
				b.Logf("outage answers, seconds from its start: %s", calls.downAt(start))
			}
		})
	}
}

// callTimes records when each provider call a deleter made returned, and whether the provider was
// up for it (any answer but a retry-class failure).
type callTimes struct {
	mu   sync.Mutex
	up   []time.Time
	down []time.Time // the retry-class failures: the outage's answers
}

func (c *callTimes) wrap(d providers.Deleter) providers.Deleter { return timedDeleter{d, c} }

type timedDeleter struct {
	providers.Deleter
	c *callTimes
}

func (d timedDeleter) Delete(ctx context.Context, t providers.Target) (providers.Result, error) {
	res, err := d.Deleter.Delete(ctx, t)
	d.c.mu.Lock()
	if providers.ClassOf(err) != providers.Retry {
		d.c.up = append(d.c.up, time.Now())
	} else {
		d.c.down = append(d.c.down, time.Now())
	}
	d.c.mu.Unlock()
	return res, err
}

// steadyRate is the median answers per second in the whole seconds from from to the second before
// the last answer: the rate the fleet holds once recovered (a limiter below the limit included).
func (c *callTimes) steadyRate(from time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := slices.MaxFunc(c.up, func(a, b time.Time) int { return a.Compare(b) }).Add(-time.Second)
	n := int(end.Sub(from) / time.Second)
	if n < 1 {
		return 0
	}
	h := make([]float64, n)
	for _, t := range c.up {
		if s := int(t.Sub(from) / time.Second); t.After(from) && s < n {
			h[s]++
		}
	}
	slices.Sort(h)
	return h[n/2]
}

// fullRateAfter is how long after from the first one-second window (sliding by 10 ms) with at least
// perSecond answers begins; -1 s if there is none.
func (c *callTimes) fullRateAfter(from time.Time, perSecond float64) time.Duration {
	c.mu.Lock()
	ts := slices.Clone(c.up)
	c.mu.Unlock()
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	for off := time.Duration(0); off < time.Minute; off += 10 * time.Millisecond {
		lo, hi := from.Add(off), from.Add(off+time.Second)
		i, _ := slices.BinarySearchFunc(ts, lo, func(t, x time.Time) int { return t.Compare(x) })
		j, _ := slices.BinarySearchFunc(ts, hi, func(t, x time.Time) int { return t.Compare(x) })
		if float64(j-i) >= perSecond {
			return off
		}
	}
	return -time.Second
}

// downAt lists when the outage's answers came, in seconds from start: the calls that tripped the
// breakers, then the probes.
func (c *callTimes) downAt(start time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sb strings.Builder
	for _, t := range c.down {
		fmt.Fprintf(&sb, "%.2f ", t.Sub(start).Seconds())
	}
	return strings.TrimSpace(sb.String())
}

// histogram is the answers in each of the n seconds from from.
func (c *callTimes) histogram(from time.Time, n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := make([]int, n)
	for _, t := range c.up {
		if s := int(t.Sub(from) / time.Second); t.After(from) && s < n {
			h[s]++
		}
	}
	var sb strings.Builder
	for _, v := range h {
		fmt.Fprintf(&sb, "%d ", v)
	}
	return strings.TrimSpace(sb.String())
}
