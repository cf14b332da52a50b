package jobs_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// BenchmarkEnqueue measures Producer.Submit into a local redis-server: tasks/s is b.N over the time.
func BenchmarkEnqueue(b *testing.B) {
	r := jobstest.StartRedis(b)
	rdb := r.Client()
	store := jobs.NewStore(rdb, jobs.StoreOptions{})
	p := jobs.NewProducer(asynq.NewClientFromRedisClient(rdb), store, jobs.ProducerOptions{Parallel: 32})
	targets := func(n int) iter.Seq[providers.Target] {
		return func(yield func(providers.Target) bool) {
			for i := range n {
				if !yield(vodTarget(i)) {
					return
				}
			}
		}
	}
	b.ResetTimer()
	sum, err := p.Submit(context.Background(), jobs.BatchMeta{}, targets(b.N), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if sum.Enqueued != b.N {
		b.Fatalf("enqueued %d of %d", sum.Enqueued, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkWorker compares the full reaper handler (cancel check, shared rate limiter, breaker, outcome
// record) with a bare asynq handler making the same HTTP call, at the same concurrency, against an
// unthrottled MSS fake on loopback. Each iteration is one task; compare the tasks/s of the two.
func BenchmarkWorker(b *testing.B) {
	for _, mode := range []string{"bare-asynq", "reaper"} {
		b.Run(mode, func(b *testing.B) {
			l := startLiveB(b)
			targets := make([]providers.Target, b.N)
			for i := range targets {
				targets[i] = providers.Target{Provider: providers.MSS, ProjectID: l.stack.Creds.MSSProject, FileID: fmt.Sprintf("bench-%08d", i)}
				l.stack.MSS.Add(targets[i])
			}
			sum, err := l.p.Producer.Submit(context.Background(), jobs.BatchMeta{}, slices.Values(targets), nil)
			if err != nil {
				b.Fatal(err)
			}
			deleters, err := wiring.Deleters(l.cfg)
			if err != nil {
				b.Fatal(err)
			}
			var done atomic.Int64
			var stop func()
			if mode == "reaper" {
				w := l.p.NewWorker(map[providers.Name]providers.Deleter{providers.MSS: deleters[providers.MSS]}, nil, nil)
				b.ResetTimer()
				if err := w.Start(); err != nil {
					b.Fatal(err)
				}
				stop = w.Shutdown
				waitDone(b, l.p.Store, sum.Batch)
			} else {
				srv := asynq.NewServerFromRedisClient(l.redis.Client(), asynq.Config{Concurrency: l.cfg.Worker.Concurrency,
					Queues: map[string]int{jobs.QueueName(providers.MSS): 1}, ShutdownTimeout: time.Second,
					LogLevel: asynq.ErrorLevel})
				d := deleters[providers.MSS]
				b.ResetTimer()
				if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
					p, err := jobs.DecodePayload(t.Payload())
					if err != nil {
						return err
					}
					_, err = d.Delete(ctx, p.Target)
					if err == nil {
						done.Add(1)
					}
					return err
				})); err != nil {
					b.Fatal(err)
				}
				stop = srv.Shutdown
				for done.Load() < int64(b.N) {
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
			stop()
		})
	}
}

// BenchmarkFinish is the outcome write alone: concurrent Finish calls (group-committed) against a real
// redis-server, one new target each.
func BenchmarkFinish(b *testing.B) {
	rdb := jobstest.StartRedis(b).Client()
	store := jobs.NewStore(rdb, jobs.StoreOptions{})
	ctx := context.Background()
	if err := store.CreateBatch(ctx, jobs.BatchMeta{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			tg := providers.Target{Provider: providers.MSS, ProjectID: "p", FileID: fmt.Sprintf("f-%09d", i)}
			if _, err := store.Finish(ctx, jobs.Record{Batch: "bench", Provider: tg.Provider, Key: tg.Key(), EnqueueID: "e",
				Target: tg, Outcome: jobs.Deleted}, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
}
