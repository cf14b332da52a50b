package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// BenchmarkMemory is issue 11's memory figure: what Redis holds per target, measured with used_memory
// (INFO memory, less the clients' buffers) on a real redis-server, so a change to the task payload or the
// record encoding can be compared before and after. b.N is the number of targets, a third each of MSS,
// SMH and VOD with production-shaped ids; run it as
//
//	go test -run '^$' -bench BenchmarkMemory -benchtime 1000000x -timeout 30m -v ./jobs/
//
// (a b.N under 1,000, as in -benchtime 1x or a -benchtime duration, measures memTargets targets
// instead). It reports
//
//   - B/task: queued, after Producer.Submit and before any worker runs (asynq's task hashes and
//     pending lists, the keys' entries in Redis's keyspace);
//   - B/record: once the batch is done and asynq has deleted its tasks, with the outcome stream off
//     (outcomes.stream_retention: 0): the batch's records and counters;
//   - B/stream-entry: MEMORY USAGE of reaper:outcomes over its length, after a second batch of up to
//     memStreamTargets targets run with the stream on.
//
// It prints the breakdown behind each (all of it with -v): one task hash, the pending lists, one
// record, the record hash.
func BenchmarkMemory(b *testing.B) {
	if b.N == 1 && benchtimeCount() > 1 {
		return // the testing package's first run, before the -benchtime Nx one: not worth a batch
	}
	n := b.N
	if n < 1000 {
		memLog(b, "b.N = %d is too few targets to measure per-target memory; measuring %d (-benchtime 1000000x for a million)", n, memTargets)
		n = memTargets
	}
	ctx := context.Background()
	l := startMemoryLive(b)
	rdb := l.redis.Client()
	deleters, err := wiring.Deleters(l.cfg)
	if err != nil {
		b.Fatal(err)
	}

	// Queued.
	base := readMemory(b, rdb)
	targets := memTargetsFrom(l.stack, 0, n)
	start := time.Now()
	sum, err := l.p.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: "bench"}, targets, nil)
	if err != nil {
		b.Fatal(err)
	}
	if sum.Enqueued != n {
		b.Fatalf("enqueued %d of %d (%d duplicates)", sum.Enqueued, n, sum.Duplicates)
	}
	memLog(b, "enqueued %d targets in %s (%.0f tasks/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	queued := readMemory(b, rdb)
	perTask := float64(queued.data()-base.data()) / float64(n)
	memLog(b, "queued: used_memory %s -> %s, clients %s, keys %d -> %d, keyspace table %s -> %s: %.1f B/task",
		mib(base.used), mib(queued.used), mib(queued.clients), base.keys, queued.keys, mib(base.keyspace), mib(queued.keyspace), perTask)
	logQueueBreakdown(b, rdb, l.stack, n, perTask)

	// Done, the stream off.
	start = time.Now()
	w := l.p.NewWorker(deleters, nil, nil)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	done := waitDoneWithin(b, l.p.Store, sum.Batch, 30*time.Minute)
	memLog(b, "completed %d tasks in %s (%.0f tasks/s); outcomes %v", n, time.Since(start).Round(time.Millisecond),
		float64(n)/time.Since(start).Seconds(), done.Counts)
	if ok := done.Counts[jobs.Deleted] + done.Counts[jobs.Recycled]; ok != int64(n) {
		b.Fatalf("%d of %d targets deleted: the records would not be the usual ones", ok, n)
	}
	waitAsynqEmpty(b, rdb)
	w.Shutdown()
	recorded := readMemory(b, rdb)
	perRecord := float64(recorded.data()-base.data()) / float64(n)
	memLog(b, "recorded: used_memory %s, clients %s, keys %d, asynq task keys left %d: %.1f B/record",
		mib(recorded.used), mib(recorded.clients), recorded.keys, countKeys(b, rdb, "asynq:*:t:*"), perRecord)
	logRecordBreakdown(b, rdb, sum.Batch, oneOfEach(l.stack))

	// A second batch with the stream on (outcomes.stream_retention as by default), on the same server.
	streamed := *l.cfg
	streamed.Outcomes.StreamRetention = config.Default().Outcomes.StreamRetention
	ps := wiring.Pipeline(&streamed, rdb)
	m := min(n, memStreamTargets)
	before := readMemory(b, rdb)
	sum, err = ps.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: "bench"}, memTargetsFrom(l.stack, n, m), nil)
	if err != nil {
		b.Fatal(err)
	}
	w = ps.NewWorker(deleters, nil, nil)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	waitDoneWithin(b, ps.Store, sum.Batch, 30*time.Minute)
	waitAsynqEmpty(b, rdb)
	w.Shutdown()
	after := readMemory(b, rdb)
	streamBytes := memoryUsage(b, rdb, jobs.StreamKey)
	entries, err := rdb.XLen(ctx, jobs.StreamKey).Result()
	if err != nil {
		b.Fatal(err)
	}
	perEntry := float64(streamBytes) / float64(entries)
	first, err := rdb.XRangeN(ctx, jobs.StreamKey, "-", "+", 1).Result()
	if err != nil || len(first) == 0 {
		b.Fatalf("read the stream's first entry: %v", err)
	}
	memLog(b, "stream: %d targets, %d entries, MEMORY USAGE %s: %.1f B/entry (one entry's record %d B); used_memory delta %.1f B/target = %.1f B/record + %.1f B",
		m, entries, mib(streamBytes), perEntry, len(fmt.Sprint(first[0].Values["r"])),
		float64(after.data()-before.data())/float64(m), perRecord, float64(after.data()-before.data())/float64(m)-perRecord)

	b.ReportMetric(perTask, "B/task")
	b.ReportMetric(perRecord, "B/record")
	b.ReportMetric(perEntry, "B/stream-entry")
}

// memLog prints a line of the breakdown: with -v to stdout, before the benchmark's result line, as the
// testing package keeps only a benchmark's first ten lines of b.Log; without -v through b.Log (printed
// after the result line, where it does not split it).
func memLog(b *testing.B, format string, args ...any) {
	b.Helper()
	if testing.Verbose() {
		fmt.Printf("    "+format+"\n", args...)
		return
	}
	b.Logf(format, args...)
}

// benchtimeCount is N of -benchtime Nx (0 for a duration). With N > 1 the testing package still runs
// the benchmark once with b.N = 1 first.
func benchtimeCount() int {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return 0
	}
	s, ok := strings.CutSuffix(f.Value.String(), "x")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(s)
	return n
}

const (
	// memTargets is BenchmarkMemory's batch when b.N is too small to be one.
	memTargets = 100_000
	// memStreamTargets caps the stream-on batch: a stream's cost per entry is steady long before.
	memStreamTargets = 100_000
	// memVODSubApp is a sub-application id of the length VOD hands out.
	memVODSubApp = 1500012345
)

// memListpack is the benchmark's Redis hash-max-listpack-value (0: Redis's default, 64). With 256, as
// deploy/ configures Redis, asynq's task hashes stay listpacks: pass -bench.listpack 256 after the package.
var memListpack = flag.Int("bench.listpack", 0, "BenchmarkMemory: Redis hash-max-listpack-value (0: Redis's default)")

// startMemoryLive is startLive with the VOD sub-application production ids have, the fakes and the
// rate limits unthrottled, a busy worker and the outcome stream off.
func startMemoryLive(b *testing.B) *live {
	b.Helper()
	r := jobstest.StartRedis(b)
	if *memListpack > 0 {
		if err := r.Client().ConfigSet(context.Background(), "hash-max-listpack-value", strconv.Itoa(*memListpack)).Err(); err != nil {
			b.Fatal(err)
		}
	}
	memLog(b, "redis hash-max-listpack-value: %s", r.Client().ConfigGet(context.Background(), "hash-max-listpack-value").Val()["hash-max-listpack-value"])
	creds := fakestack.DefaultCredentials()
	creds.VODSubApp = memVODSubApp
	return startLiveOn(b, r, fakestack.Options{Creds: creds, RecycleBin: true, Seed: 7}, func(cfg *config.Config) {
		cfg.Worker.Concurrency = 128
		cfg.Providers.MSS.RateLimit = 1_000_000
		cfg.Providers.SMH.RateLimit = 1_000_000
		cfg.Providers.VOD.RateLimit = 1_000_000
		cfg.Outcomes.StreamRetention = 0 // off
	})
}

// memTargetsFrom yields targets from..from+n-1 (memTarget), each added to its fake as it is yielded.
func memTargetsFrom(s *fakestack.Stack, from, n int) iter.Seq[providers.Target] {
	return func(yield func(providers.Target) bool) {
		for i := from; i < from+n; i++ {
			t := memTarget(s.Creds, i)
			s.Fake(t.Provider).Add(t)
			if !yield(t) {
				return
			}
		}
	}
}

// memTarget is the i-th target of a mixed batch, its ids shaped like production's: a 32-hex MSS file
// id in a 32-hex project, an SMH path under videos/<year>/<month>/, a 19-digit VOD FileId.
func memTarget(c fakestack.Credentials, i int) providers.Target {
	j := i / 3
	switch i % 3 {
	case 0:
		sum := sha256.Sum256([]byte(strconv.Itoa(j)))
		return providers.Target{Provider: providers.MSS, ProjectID: c.MSSProject, FileID: hex.EncodeToString(sum[:16])}
	case 1:
		return providers.Target{Provider: providers.SMH, LibraryID: c.SMHLibrary, SpaceID: "-",
			Path: fmt.Sprintf("videos/2026/%02d/clip-%06d.mp4", 1+j%12, j)}
	default:
		return providers.Target{Provider: providers.VOD, FileID: strconv.FormatUint(5285890780000000000+uint64(j)*7919, 10),
			SubAppID: c.VODSubApp}
	}
}

// redisMemory is the server's memory at one moment.
type redisMemory struct {
	used    int64 // INFO memory used_memory
	clients int64 // MEMORY STATS clients.normal: connections' buffers, not data
	keys    int64 // DBSIZE
	// keyspace is MEMORY STATS db.0 overhead.hashtable.main: the keyspace's buckets and entries.
	keyspace int64
}

// data is used_memory without the clients' buffers, which vary with what the connections last did.
func (m redisMemory) data() int64 { return m.used - m.clients }

func readMemory(b *testing.B, rdb *redis.Client) redisMemory {
	b.Helper()
	ctx := context.Background()
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	var m redisMemory
	v := jobstest.ParseInfo(info)["used_memory"]
	if m.used, err = strconv.ParseInt(v, 10, 64); err != nil {
		b.Fatalf("used_memory %q: %v", v, err)
	}
	stats, err := rdb.Do(ctx, "MEMORY", "STATS").Result()
	if err != nil {
		b.Fatal(err)
	}
	m.clients = memoryStatInt(stats, "clients.normal")
	m.keyspace = memoryStatInt(memoryStat(stats, "db.0"), "overhead.hashtable.main")
	if m.keys, err = rdb.DBSize(ctx).Result(); err != nil {
		b.Fatal(err)
	}
	return m
}

// memoryStat is one field of MEMORY STATS (or of a section of it, such as "db.0"): a map in RESP3,
// name-value pairs in RESP2.
func memoryStat(stats any, name string) any {
	switch s := stats.(type) {
	case map[any]any:
		return s[name]
	case []any:
		for i := 0; i+1 < len(s); i += 2 {
			if s[i] == name {
				return s[i+1]
			}
		}
	}
	return nil
}

func memoryStatInt(stats any, name string) int64 {
	n, _ := memoryStat(stats, name).(int64)
	return n
}

func memoryUsage(b *testing.B, rdb *redis.Client, key string) int64 {
	b.Helper()
	n, err := rdb.MemoryUsage(context.Background(), key, 0).Result() // SAMPLES 0: every element
	if err != nil {
		b.Fatalf("MEMORY USAGE %s: %v", key, err)
	}
	return n
}

// asynqKey names one of asynq's keys for queue q (asynq's internal/base layout).
func asynqKey(q, suffix string) string { return "asynq:{" + q + "}:" + suffix }

// logQueueBreakdown logs, per provider, one queued task's hash and the pending list, and what is left
// of B/task: the keyspace's own entries.
func logQueueBreakdown(b *testing.B, rdb *redis.Client, s *fakestack.Stack, n int, perTask float64) {
	ctx := context.Background()
	var hashes, lists int64
	for i, t := range oneOfEach(s) {
		q := jobs.QueueName(t.Provider)
		key := asynqKey(q, "t:"+jobs.TaskID(t))
		size := memoryUsage(b, rdb, key)
		enc, _ := rdb.ObjectEncoding(ctx, key).Result()
		msg, _ := rdb.HStrLen(ctx, key, "msg").Result()
		pending := asynqKey(q, "pending")
		listSize := memoryUsage(b, rdb, pending)
		length, _ := rdb.LLen(ctx, pending).Result()
		memLog(b, "  %s: task hash %s %d B (%s, msg %d B); %s %s for %d tasks, %.1f B each",
			t.Provider, key, size, enc, msg, pending, mib(listSize), length, float64(listSize)/float64(max(length, 1)))
		hashes += size * ((int64(n) + 2 - int64(i)) / 3) // the provider's share of n
		lists += listSize
	}
	inKeys := float64(hashes+lists) / float64(n)
	memLog(b, "  task hashes ~%s, pending lists %s: %.1f B/task in the keys, %.1f B/task the keyspace's entries and the rest",
		mib(hashes), mib(lists), inKeys, perTask-inKeys)
}

// logRecordBreakdown logs the done batch's keys: its record hash, one record per provider, its counters.
func logRecordBreakdown(b *testing.B, rdb *redis.Client, batch string, sample []providers.Target) {
	ctx := context.Background()
	out := "reaper:batch:" + batch + ":out"
	size := memoryUsage(b, rdb, out)
	enc, _ := rdb.ObjectEncoding(ctx, out).Result()
	fields, _ := rdb.HLen(ctx, out).Result()
	memLog(b, "  %s: %s (%s) for %d records, %.1f B each", out, mib(size), enc, fields, float64(size)/float64(max(fields, 1)))
	for _, t := range sample {
		v, _ := rdb.HStrLen(ctx, out, t.Key()).Result()
		memLog(b, "  %s record: field %d B (key %q), value %d B", t.Provider, len(t.Key()), t.Key(), v)
	}
	for _, suffix := range []string{"", ":try", ":audit", ":parked"} {
		key := "reaper:batch:" + batch + suffix
		if ok, _ := rdb.Exists(ctx, key).Result(); ok == 1 {
			memLog(b, "  %s: %d B", key, memoryUsage(b, rdb, key))
		}
	}
}

// oneOfEach is one target of each provider: the first three of a batch.
func oneOfEach(s *fakestack.Stack) []providers.Target {
	return []providers.Target{memTarget(s.Creds, 0), memTarget(s.Creds, 1), memTarget(s.Creds, 2)}
}

// waitAsynqEmpty waits until asynq holds no task of reaper's queues: a done task is deleted by asynq's
// done script after the handler has written its outcome, so the batch can be done a moment earlier.
func waitAsynqEmpty(b *testing.B, rdb *redis.Client) {
	b.Helper()
	in := asynq.NewInspectorFromRedisClient(rdb)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := 0
		for _, p := range providers.Names {
			info, err := in.GetQueueInfo(jobs.QueueName(p))
			if err != nil {
				b.Fatal(err)
			}
			left += info.Size + info.Completed
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("asynq still holds %d tasks", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countKeys counts the keys matching pattern (SCAN: call it when the keyspace is small).
func countKeys(b *testing.B, rdb *redis.Client, pattern string) int {
	b.Helper()
	var n int
	keys := rdb.Scan(context.Background(), 0, pattern, 1000).Iterator()
	for keys.Next(context.Background()) {
		n++
	}
	if err := keys.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
