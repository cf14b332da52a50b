package scheduler

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reaper-media/reaper/jobs"
)

// sweeper is the leader's periodic reconcile of open batches (jobs.Admin.Sweep): every
// scheduler.reconcile_interval it requeues tasks stranded in asynq's active list without a lease,
// keeps open batches from expiring, and records for `reaper status` whether each batch's counts add
// up. One sweep runs at a time; a new leader sweeps at its first round.
type sweeper struct {
	admin *jobs.Admin
	every time.Duration
	log   *slog.Logger
	busy  atomic.Bool
	mu    sync.Mutex
	last  time.Time // when the last sweep started, on the scheduler's clock; zero: never on this replica
}

func newSweeper(admin *jobs.Admin, every time.Duration, log *slog.Logger) *sweeper {
	if every <= 0 {
		every = time.Minute // config's default, for a config built in code
	}
	return &sweeper{admin: admin, every: every, log: log}
}

// due reports whether a sweep should start at now, and if so marks it started.
func (w *sweeper) due(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < w.every && !now.Before(w.last) {
		return false
	}
	w.last = now
	return true
}

// maybe starts a sweep on its own goroutine, tracked by inflight, when one is due and none is running.
func (w *sweeper) maybe(ctx context.Context, now time.Time, inflight *sync.WaitGroup) {
	if w.busy.Load() || !w.due(now) || !w.busy.CompareAndSwap(false, true) {
		return
	}
	inflight.Go(func() {
		defer w.busy.Store(false)
		w.sweep(ctx)
	})
}

// sweep runs one sweep and logs what needs an operator.
func (w *sweeper) sweep(ctx context.Context) {
	rep, err := w.admin.Sweep(ctx, jobs.SweepOptions{})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("batch sweep failed: trying again at the next reconcile_interval", "err", err)
		}
		return
	}
	if rep.Stranded > 0 {
		w.log.Warn("requeued tasks stranded in active without a lease", "stranded", rep.Stranded, "requeued", rep.Requeued)
	}
	for id, n := range rep.Missing {
		if n > 0 {
			w.log.Warn("batch counts do not add up: tasks missing from Redis; run reaper reconcile --batch ID --manifest FILE",
				"batch_id", id, "missing", n)
		} else {
			w.log.Warn("batch counts do not add up: more tasks than its total counts; run reaper reconcile --batch ID --manifest FILE",
				"batch_id", id, "uncounted", -n)
		}
	}
	w.log.Debug("batch sweep", "open", rep.Open, "kept_open", rep.Kept, "counted", rep.Counted)
}
