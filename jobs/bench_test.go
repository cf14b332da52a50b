package jobs_test

import (
	"context"
	"iter"
	"testing"

	"github.com/hibiken/asynq"

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
