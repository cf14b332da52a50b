package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// perProviderLimit bounds the per-provider progress of `status --watch` for a batch whose
// per-provider counters do not add up (BatchInfo.ByProvider is nil): each provider's share is then
// counted from the batch's records and the tasks its queues hold, every interval. Above this many
// records or queued tasks that costs Redis too much, and only the batch's own bar is drawn.
const perProviderLimit = 50_000

// providerProgress is one provider's part of a batch.
type providerProgress struct {
	Provider providers.Name `json:"provider"`
	Total    int64          `json:"total"` // tasks with an outcome plus tasks its queue holds
	Done     int64          `json:"done"`
	Failed   int64          `json:"failed"`
}

// watchFrame is what one interval of `status --watch` shows.
type watchFrame struct {
	Status    jobs.BatchStatus   `json:"status"`
	Providers []providerProgress `json:"providers,omitempty"`
}

// watchBatch is `status --batch ID --watch`: it shows the batch every interval, a bar per provider,
// until the batch is done (exit 0, or 1 when some targets failed, as `wait`) or ctx ends (exit 2). On
// a terminal it redraws in place; elsewhere it prints one line per interval (JSON lines with
// --output json).
func watchBatch(ctx context.Context, e *env, p *app, id string, every time.Duration, out *output) error {
	w := &watcher{w: e.stdout, tty: isTerminal(e.stdout), json: out.JSON()}
	var drawErr error
	b, err := waitBatch(ctx, p.Store, id, every, func(b jobs.BatchInfo) {
		if drawErr != nil {
			return
		}
		f := watchFrame{Status: jobs.StatusOf(b)}
		f.Providers, drawErr = batchByProvider(context.WithoutCancel(ctx), p, b)
		if drawErr == nil {
			drawErr = w.draw(f)
		}
	})
	if drawErr != nil {
		return drawErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &exitError{code: 2, msg: fmt.Sprintf("stopped watching: %d of %d tasks still pending", b.Pending(), b.Total)}
	}
	if err != nil {
		return err
	}
	return failedExit(b)
}

// failedExit is how `wait` and `status --watch` end for a done batch: exit 1 when some targets failed.
func failedExit(b jobs.BatchInfo) error {
	if n := b.Counts[jobs.Failed]; n > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d targets failed (reaper report --batch %s --only failed)", n, b.ID)}
	}
	return nil
}

// batchByProvider is each provider's part of a batch: its per-provider counters when they add up
// (any size), else counted from its records and its provider queue's tasks, or nil when the batch or
// the queues are above perProviderLimit. A task that ends while it is counted may be seen in both or
// neither for one interval.
func batchByProvider(ctx context.Context, p *app, b jobs.BatchInfo) ([]providerProgress, error) {
	if b.ByProvider != nil {
		var out []providerProgress
		for _, n := range providers.Names {
			if c, ok := b.ByProvider[n]; ok && c.Total > 0 {
				out = append(out, providerProgress{Provider: n, Total: c.Total, Done: c.Terminal, Failed: c.Failed})
			}
		}
		return out, nil
	}
	if b.Terminal > perProviderLimit {
		return nil, nil
	}
	qs, err := p.Admin.Queues()
	if err != nil {
		return nil, err
	}
	queued := 0
	for _, q := range qs {
		queued += q.Pending + q.Active + q.Scheduled + q.Retry
	}
	if queued > perProviderLimit {
		return nil, nil
	}
	by := map[providers.Name]*providerProgress{}
	get := func(n providers.Name) *providerProgress {
		if by[n] == nil {
			by[n] = &providerProgress{Provider: n}
		}
		return by[n]
	}
	if err := p.Store.Records(ctx, b.ID, func(r jobs.Record) error {
		pp := get(r.Provider)
		pp.Done++
		if r.Outcome == jobs.Failed {
			pp.Failed++
		}
		return nil
	}); err != nil {
		return nil, err
	}
	insp := p.Admin.Inspector()
	const page = 1000
	for _, n := range providers.Names {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			insp.ListPendingTasks, insp.ListActiveTasks, insp.ListScheduledTasks, insp.ListRetryTasks} {
			for i := 1; ; i++ {
				tasks, err := list(jobs.QueueName(n), asynq.PageSize(page), asynq.Page(i))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("queue %s: %w", jobs.QueueName(n), err)
				}
				for _, t := range tasks {
					if pl, err := jobs.DecodePayload(t.Payload); err == nil && pl.Batch == b.ID {
						get(n).Total++
					}
				}
				if len(tasks) < page {
					break
				}
			}
		}
	}
	var out []providerProgress
	for _, n := range providers.Names {
		if pp := by[n]; pp != nil {
			pp.Total += pp.Done
			out = append(out, *pp)
		}
	}
	return out, nil
}

// watcher draws the frames of `status --watch`.
type watcher struct {
	w         io.Writer
	tty, json bool
	lines     int // lines of the last frame drawn on the terminal
}

func (w *watcher) draw(f watchFrame) error {
	switch {
	case w.json:
		return writeJSON(w.w, f)
	case !w.tty:
		_, err := fmt.Fprintln(w.w, watchLine(f))
		return err
	}
	var b strings.Builder
	if w.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", w.lines) // back to the frame's first line
	}
	lines := watchLines(f)
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n") // each line cleared before it is drawn again
	}
	w.lines = len(lines)
	_, err := io.WriteString(w.w, b.String())
	return err
}

// watchLines is a frame for a terminal: the batch's state, then a bar per provider.
func watchLines(f watchFrame) []string {
	s := f.Status
	head := fmt.Sprintf("%s  %s  %s  %d/%d done, %d failed", s.Batch, batchState(s), bar(s.Total-s.Pending, s.Total),
		s.Total-s.Pending, s.Total, s.Outcomes[string(jobs.Failed)])
	if s.RatePerSec > 0 {
		head += fmt.Sprintf(", %.1f/s", s.RatePerSec)
		if s.ETASeconds > 0 {
			head += ", eta " + (time.Duration(s.ETASeconds) * time.Second).String()
		}
	}
	lines := []string{head}
	for _, pp := range f.Providers {
		lines = append(lines, fmt.Sprintf("  %-4s %s  %d/%d, %d failed", pp.Provider, bar(pp.Done, pp.Total), pp.Done, pp.Total, pp.Failed))
	}
	return lines
}

// watchLine is a frame as one line, for a log or a pipe.
func watchLine(f watchFrame) string {
	s := f.Status
	line := fmt.Sprintf("%s %s %s: %d/%d done, %d failed", time.Now().Format(time.TimeOnly), s.Batch, batchState(s),
		s.Total-s.Pending, s.Total, s.Outcomes[string(jobs.Failed)])
	for _, pp := range f.Providers {
		line += fmt.Sprintf("; %s %d/%d (%d failed)", pp.Provider, pp.Done, pp.Total, pp.Failed)
	}
	return line
}

func batchState(s jobs.BatchStatus) string {
	switch {
	case s.Done:
		return "done"
	case s.Suspended:
		return "suspended (reaper resume --batch " + s.Batch + ")"
	case s.Cancelled:
		return "cancelling"
	case !s.Sealed:
		return "enqueueing"
	}
	return "running"
}

// bar is a 20-cell progress bar with its percentage.
func bar(done, total int64) string {
	const width = 20
	frac := 1.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	n := int(frac * width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + fmt.Sprintf("] %3.0f%%", 100*frac)
}
