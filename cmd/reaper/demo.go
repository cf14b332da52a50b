package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// callCounter is the demo's observer: provider calls by class.
type callCounter struct {
	mu    sync.Mutex
	calls map[providers.Name]map[providers.Class]int
}

func (c *callCounter) Outcome(providers.Name, jobs.Outcome)         {}
func (c *callCounter) RateLimited(providers.Name, time.Duration)    {}
func (c *callCounter) BreakerState(providers.Name, gobreaker.State) {}
func (c *callCounter) Call(p providers.Name, cl providers.Class, _ string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls[p] == nil {
		c.calls[p] = map[providers.Class]int{}
	}
	c.calls[p][cl]++
}

// total is p's calls of every class; the caller holds mu.
func (c *callCounter) total(p providers.Name) int {
	n := 0
	for _, v := range c.calls[p] {
		n += v
	}
	return n
}

// Demo rate limits: each provider runs at its limit for most of the demo (1,000 files each take about
// 10 s at MSS and VOD, and 50 batch calls of 20 files at SMH), where FakesConfig's 5,000/s would never
// be reached.
const (
	demoMSSRate, demoVODRate      = 100, 100
	demoSMHRate, demoSMHBatchSize = 5, 20
)

// demoLimits sets the demo's rate limits and SMH batch size on cfg.
func demoLimits(cfg *config.Config) {
	cfg.Providers.MSS.RateLimit, cfg.Providers.VOD.RateLimit = demoMSSRate, demoVODRate
	cfg.Providers.SMH.RateLimit, cfg.Providers.SMH.BatchSize = demoSMHRate, demoSMHBatchSize
}

// callRates turns the demo's call counts into each provider's calls over the last second, against its
// limit: what "running at its limit" means (SMH's calls are batch calls).
type callRates struct {
	counter *callCounter
	limits  map[providers.Name]int
	samples []callSample // the last second's, oldest first
}

type callSample struct {
	at    time.Time
	calls map[providers.Name]int
}

// line samples the counts at now and renders "mss 99/100  smh 5.0/5  vod 100/100 per s".
func (r *callRates) line(now time.Time) string {
	s := callSample{at: now, calls: map[providers.Name]int{}}
	r.counter.mu.Lock()
	for _, n := range providers.Names {
		s.calls[n] = r.counter.total(n)
	}
	r.counter.mu.Unlock()
	r.samples = append(r.samples, s)
	for len(r.samples) > 2 && now.Sub(r.samples[1].at) >= time.Second {
		r.samples = r.samples[1:]
	}
	from := r.samples[0]
	var b strings.Builder
	for _, n := range providers.Names {
		rate := 0.0
		if el := now.Sub(from.at).Seconds(); el > 0 {
			rate = float64(s.calls[n]-from.calls[n]) / el
		}
		format := "%s %.0f/%d  "
		if r.limits[n] < 20 {
			format = "%s %.1f/%d  "
		}
		fmt.Fprintf(&b, format, n, rate, r.limits[n])
	}
	b.WriteString("per s")
	return b.String()
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[--files N] [--outage D]")
	files := fs.Int("files", 1000, "files per provider (3 providers)")
	outage := fs.Duration("outage", 3*time.Second, "MetaStudio outage at the start")
	timeout := fs.Duration("timeout", 55*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	defer mr.Close()
	// TTLs run down with the wall clock, as in a real Redis (miniredis expires keys only when told to):
	// the breaker's fleet hint, leases and claims are relative TTLs that must run out. A tick every
	// 100 ms, not miniredis's ClockTTL, which walks every key's TTL on every command.
	ttls := time.NewTicker(100 * time.Millisecond)
	defer ttls.Stop()
	go func() {
		for range ttls.C {
			mr.FastForward(100 * time.Millisecond)
		}
	}()
	stack, err := fakestack.Start(fakestack.Options{RecycleBin: true, Seed: 42})
	if err != nil {
		return err
	}
	defer stack.Close()
	cfg, err := wiring.FakesConfig(stack, "redis://"+mr.Addr()+"/0")
	if err != nil {
		return err
	}
	demoLimits(cfg)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	p := newApp(cfg, rdb)

	fmt.Fprintf(e.stdout, "reaper demo: embedded Redis at %s; fakes: mss %s, smh %s, vod %s\n", mr.Addr(),
		stack.URL[providers.MSS], stack.URL[providers.SMH], stack.URL[providers.VOD])
	fmt.Fprintf(e.stdout, "rate limits: mss %d/s, smh %d batch calls/s of %d files, vod %d/s\n", cfg.Providers.MSS.RateLimit,
		cfg.Providers.SMH.RateLimit, cfg.Providers.SMH.BatchSize, cfg.Providers.VOD.RateLimit)
	fmt.Fprintf(e.stdout, "fault mix: mss 5%% MSS.00000004 and a %s outage now; smh throttled at 100/s and 2%% 503; vod 4%% InternalError/RequestLimitExceeded; 5%% of files already gone\n", *outage)
	targets := stack.Targets(*files, 20)
	stack.RealisticFaults(*outage)

	counter := &callCounter{calls: map[providers.Name]map[providers.Class]int{}}
	log := newLogger(e.stderr, slog.LevelError)
	w, err := newWorker(p, log, counter)
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := p.Producer.Submit(ctx, jobs.BatchMeta{SubmittedBy: defaultSubmitter(), Source: "demo"}, slices.Values(targets), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "enqueued %d deletions as batch %s in %s\n", sum.Enqueued, sum.Batch, time.Since(start).Round(time.Millisecond))
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Shutdown()

	// A live line on a terminal; a line a second when the output is a file or pipe.
	live, lastLine := isTerminal(e.stderr), time.Time{}
	rates := &callRates{counter: counter, limits: map[providers.Name]int{providers.MSS: cfg.Providers.MSS.RateLimit,
		providers.SMH: cfg.Providers.SMH.RateLimit, providers.VOD: cfg.Providers.VOD.RateLimit}}
	b, err := waitBatch(ctx, p.Store, sum.Batch, 200*time.Millisecond, func(b jobs.BatchInfo) {
		line := fmt.Sprintf("%5.1fs  %d/%d done  deleted %d  recycled %d  already gone %d  failed %d  %s",
			time.Since(start).Seconds(), b.Terminal, b.Total, b.Counts[jobs.Deleted], b.Counts[jobs.Recycled],
			b.Counts[jobs.AlreadyGone], b.Counts[jobs.Failed], rates.line(time.Now()))
		switch {
		case live:
			fmt.Fprintf(e.stderr, "\r%s   ", line)
		case time.Since(lastLine) >= time.Second || b.Done():
			fmt.Fprintln(e.stderr, line)
			lastLine = time.Now()
		}
	})
	if live {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
		return fmt.Errorf("batch not finished: %w (%d of %d done)", err, b.Terminal, b.Total)
	}
	elapsed := time.Since(start)

	// Outcomes per provider, from the records.
	table := map[providers.Name]map[jobs.Outcome]int{}
	if err := p.Store.Records(ctx, sum.Batch, func(r jobs.Record) error {
		if table[r.Provider] == nil {
			table[r.Provider] = map[jobs.Outcome]int{}
		}
		table[r.Provider][r.Outcome]++
		return nil
	}); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nprovider\tdeleted\trecycled\talready_gone\tfailed\tcancelled\tcalls\tretried\tthrottled\t")
	counter.mu.Lock()
	for _, n := range providers.Names {
		o, c := table[n], counter.calls[n]
		total := counter.total(n)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", n, o[jobs.Deleted], o[jobs.Recycled], o[jobs.AlreadyGone],
			o[jobs.Failed], o[jobs.Cancelled], total, c[providers.Retry], c[providers.Throttled])
	}
	counter.mu.Unlock()
	_ = tw.Flush()
	fmt.Fprintf(e.stdout, "\n%d files in %s (%.0f/s); checking every file against the fakes...\n", len(targets),
		elapsed.Round(time.Millisecond), float64(len(targets))/elapsed.Seconds())
	if err := stack.Verify(ctx, p.Store, sum.Batch, targets); err != nil {
		return fmt.Errorf("discrepancies:\n%w", err)
	}
	fmt.Fprintf(e.stdout, "ok: every file is gone at its fake and has exactly one recorded outcome (reaper report --batch %s would list them)\n", sum.Batch)
	counter.mu.Lock()
	smhCalls := counter.total(providers.SMH)
	counter.mu.Unlock()
	smhFiles := 0
	for _, v := range table[providers.SMH] {
		smhFiles += v
	}
	fmt.Fprintf(e.stdout, "smh went through batch delete (providers.smh.batch_size): %d files in %d calls\n", smhFiles, smhCalls)
	return demoUndo(ctx, e, p, stack, sum.Batch, counter)
}

// demoUndo restores everything the demo's batch moved to SMH's recycle bin, with one command's worth
// of API (reaper undo --batch ID), and checks every file is back at the fake.
func demoUndo(ctx context.Context, e *env, p *app, stack *fakestack.Stack, batch string, counter *callCounter) error {
	counter.mu.Lock()
	before := counter.total(providers.SMH)
	counter.mu.Unlock()
	start := time.Now()
	plan, err := p.Producer.Undo(ctx, batch, jobs.UndoOptions{Confirmed: true, SubmittedBy: defaultSubmitter()})
	if err != nil {
		return fmt.Errorf("undo: %w", err)
	}
	u, err := waitBatch(ctx, p.Store, plan.Batch, 200*time.Millisecond, func(jobs.BatchInfo) {})
	if err != nil {
		return fmt.Errorf("undo batch not finished: %w (%d of %d done)", err, u.Terminal, u.Total)
	}
	counter.mu.Lock()
	calls := counter.total(providers.SMH) - before
	counter.mu.Unlock()
	fmt.Fprintf(e.stdout, "\nundo (reaper undo --batch %s): batch %s restored %d smh files in %s with %d batch-restore calls; %d deletions (mss, vod) cannot be restored\n",
		batch, plan.Batch, u.Counts[jobs.Restored], time.Since(start).Round(time.Millisecond), calls, plan.NotRestorable)
	missing := 0
	if err := p.Store.Records(ctx, plan.Batch, func(r jobs.Record) error {
		if r.Outcome == jobs.Restored && !stack.SMH.Exists(r.Target) {
			missing++
		}
		return nil
	}); err != nil {
		return err
	}
	if missing > 0 || u.Counts[jobs.Restored] != int64(plan.Restorable) {
		return fmt.Errorf("undo: %d of %d restored files are not back at the fake (%d restorable)", missing, u.Counts[jobs.Restored], plan.Restorable)
	}
	fmt.Fprintln(e.stdout, "ok: every recycled file is back at the smh fake")
	return nil
}
