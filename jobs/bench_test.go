package jobs_test

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

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
// unthrottled MSS fake on loopback. Each iteration is one task of each mode: both run in every count,
// their order alternating, so a change in the machine's load meets both. It reports each mode's
// tasks/s, reaper's as a fraction of bare asynq's (ratio), and per task what each cost: Redis's
// commands (those scripts run included) and CPU time, and this process's CPU time (the worker, the
// fakes and the test's own polling: the fakes cost both modes the same).
func BenchmarkWorker(b *testing.B) {
	modes := []string{"bare-asynq", "reaper"}
	if b.N > 1 {
		workerBenchRuns++
	}
	if workerBenchRuns%2 == 0 {
		slices.Reverse(modes)
	}
	rates := map[string]float64{}
	for _, mode := range modes {
		rate, st := runWorkerBench(b, mode, b.N, 0)
		rates[mode] = rate
		b.ReportMetric(rate, mode+"-tasks/s")
		b.ReportMetric(st.calls/float64(b.N), mode+"-redis-cmds/task")
		b.ReportMetric(st.cpu.Seconds()*1e6/float64(b.N), mode+"-redis-µs/task")
		b.ReportMetric(st.selfCPU.Seconds()*1e6/float64(b.N), mode+"-go-µs/task")
		b.Logf("%s: %.0f tasks/s, Redis commands per task: %s", mode, rate, st.perTask(b.N))
	}
	b.ReportMetric(rates["reaper"]/rates["bare-asynq"], "ratio")
}

// BenchmarkWorkerAtLatency is BenchmarkWorker against a provider that takes 20 ms to answer, as a
// real one does (tens to hundreds of ms): what the worker's own cost is worth once the provider, not
// the worker's CPU, bounds the rate (concurrency 32: at most 1,600 tasks/s either way).
func BenchmarkWorkerAtLatency(b *testing.B) {
	rates := map[string]float64{}
	for _, mode := range []string{"bare-asynq", "reaper"} {
		rate, st := runWorkerBench(b, mode, b.N, 20*time.Millisecond)
		rates[mode] = rate
		b.ReportMetric(rate, mode+"-tasks/s")
		b.ReportMetric(st.selfCPU.Seconds()*1e6/float64(b.N), mode+"-go-µs/task")
	}
	b.ReportMetric(rates["reaper"]/rates["bare-asynq"], "ratio")
}

// workerBenchRuns counts BenchmarkWorker's timed runs (-count; not the first run of one task), to
// alternate which mode goes first.
var workerBenchRuns int

// runWorkerBench runs n MSS deletes through mode's worker on a fresh Redis and fakes; it returns
// tasks/s and what the run cost Redis. The MSS fake answers after latency.
func runWorkerBench(b *testing.B, mode string, n int, latency time.Duration) (float64, redisStats) {
	l := startLiveB(b)
	l.stack.MSS.Faults().SetLatency(latency, 0)
	targets := make([]providers.Target, n)
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
	rdb := l.redis.Client()
	before := readRedisStats(b, rdb)
	var done atomic.Int64
	var stop func()
	start := time.Now()
	if mode == "reaper" {
		w := l.p.NewWorker(map[providers.Name]providers.Deleter{providers.MSS: deleters[providers.MSS]}, nil, nil)
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		stop = w.Shutdown
		waitDone(b, l.p.Store, sum.Batch)
	} else {
		srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: l.cfg.Worker.Concurrency,
			Queues: map[string]int{jobs.QueueName(providers.MSS): 1}, ShutdownTimeout: time.Second,
			LogLevel: asynq.ErrorLevel})
		d := deleters[providers.MSS]
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
		for done.Load() < int64(n) {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	st := readRedisStats(b, rdb).minus(before)
	stop()
	return float64(n) / elapsed.Seconds(), st
}

// redisStats is what a redis-server has done: commands run (by name, those scripts run included) and
// its CPU time.
type redisStats struct {
	calls float64
	cmds  map[string]float64 // calls
	usec  map[string]float64 // time spent in them (a script's includes the commands it ran)
	cpu   time.Duration
	// selfCPU is this process's CPU time.
	selfCPU time.Duration
}

// readRedisStats reads INFO commandstats and cpu.
func readRedisStats(b *testing.B, rdb *redis.Client) redisStats {
	info, err := rdb.Info(context.Background(), "commandstats", "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	st := redisStats{cmds: map[string]float64{}, usec: map[string]float64{},
		selfCPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for name, c := range jobstest.CommandStats(info) {
		st.cmds[name], st.usec[name] = c.Calls, c.Usec
		st.calls += c.Calls
	}
	fields := jobstest.ParseInfo(info)
	for _, name := range []string{"used_cpu_sys", "used_cpu_user"} {
		s, _ := strconv.ParseFloat(fields[name], 64)
		st.cpu += time.Duration(s * float64(time.Second))
	}
	return st
}

func (s redisStats) minus(o redisStats) redisStats {
	d := redisStats{calls: s.calls - o.calls, cpu: s.cpu - o.cpu, selfCPU: s.selfCPU - o.selfCPU, cmds: map[string]float64{}, usec: map[string]float64{}}
	for k, v := range s.cmds {
		if v -= o.cmds[k]; v > 0 {
			d.cmds[k], d.usec[k] = v, s.usec[k]-o.usec[k]
		}
	}
	return d
}

// perTask lists the commands per task, most frequent first, each with its Redis time per task.
func (s redisStats) perTask(n int) string {
	names := slices.Collect(maps.Keys(s.cmds))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(s.cmds[b], s.cmds[a]) })
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %.3f (%.1f µs)", k, s.cmds[k]/float64(n), s.usec[k]/float64(n)))
	}
	return strings.Join(parts, ", ")
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
