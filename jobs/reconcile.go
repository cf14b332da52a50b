package jobs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// Reconciling a batch answers "do its counts add up?": every task counted in its total either has its
// record (terminal) or is still held by asynq (pending, active, scheduled or retry); a task held again
// after its record was written (a re-run: asynq runs a task at least once) is counted once. Two things
// break that, and reconcile repairs both:
//
//   - asynq v0.26 never recovers a task left in its active list without a lease (hibiken/asynq #1144,
//     #1051): the batch waits forever. Reconcile moves such a task back to pending, atomically, only
//     while it is still active and still has no lease.
//   - A Redis that crashes with appendfsync everysec can lose the last second of writes: enqueued tasks
//     and the total's increments. Given the batch's manifest, reconcile re-enqueues into the same batch
//     exactly the targets that have neither a record nor a task, and corrects the total so nothing is
//     counted twice.
//
// It reads asynq's keys (asynq:{<queue>}:pending, :active, :lease, :scheduled, :retry, :t:<task id>)
// and pages through them with asynq's Inspector, one page in memory at a time.

// asynq's key names (internal/base of asynq v0.26.0); reconcile reads them, the stranded-task script
// writes a queue's active and pending lists and its task hashes, and a lost queue registration is
// written again.
func asynqKey(queue, suffix string) string     { return "asynq:{" + queue + "}:" + suffix }
func asynqTaskKey(queue, taskID string) string { return asynqKey(queue, "t:"+taskID) }

// asynqQueuesKey is asynq's set of known queue names.
const asynqQueuesKey = "asynq:queues"

// ManifestOf turns a list of targets into a ReconcileOptions.Manifest.
func ManifestOf(ts []providers.Target) iter.Seq2[providers.Target, error] {
	return func(yield func(providers.Target, error) bool) {
		for _, t := range ts {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// ReconcileOptions configures Admin.Reconcile.
type ReconcileOptions struct {
	// Manifest, when set, is every target of the batch (Prepared, as Producer.Submit takes them).
	// Targets with neither a record in the batch nor a queued task are re-enqueued into the batch, and
	// the batch is sealed. It must be the whole batch: a target left out is not looked for. An error
	// it yields (a manifest that cannot be read) stops the reconcile before it corrects the total or
	// seals the batch; targets re-enqueued by then stay queued, and a second run counts them.
	Manifest iter.Seq2[providers.Target, error]
	// Producer re-enqueues the missing targets; required with Manifest.
	Producer *Producer
	// DryRun changes nothing in Redis and reports what reconcile would do.
	DryRun bool
}

// QueuedCounts counts a batch's tasks asynq holds, by state.
type QueuedCounts struct {
	Pending, Active, Scheduled, Retry int64
}

// Sum is every queued task.
func (q QueuedCounts) Sum() int64 { return q.Pending + q.Active + q.Scheduled + q.Retry }

// ReconcileReport is what a reconcile found and did.
type ReconcileReport struct {
	Batch  string
	DryRun bool
	Sealed bool  // the batch is sealed (after the run: a reconcile with a manifest seals it)
	Total  int64 // the batch's total before the run
	// Terminal counts the batch's records.
	Terminal int64
	// Queued counts the batch's tasks in its provider's queue, by state.
	Queued QueuedCounts
	// Stranded counts the batch's tasks found active without a lease; Requeued how many of them were
	// moved back to pending (0 in a dry run).
	Stranded, Requeued int
	// Reruns counts the batch's queued tasks that run again an enqueue already recorded (asynq runs a
	// task at least once: its done lost to a Redis restart, its lease lapsed after Finish). Such a task
	// is in Terminal and in Queued, and in the total once; its re-run ends without a new record.
	Reruns int64
	// Missing is Total - Terminal - (Queued - Reruns) before the run: tasks counted that neither ended
	// nor are queued (lost), or, when negative, tasks queued or ended beyond the total (their count was
	// lost).
	Missing int64
	// Stable reports that the batch's counters did not move while its queues were scanned, so Missing
	// is exact. A batch that keeps moving is reported unstable; its total is then never adjusted.
	Stable bool

	// With a manifest: targets checked, and what each had.
	Checked         int
	HadRecord       int // recorded in this batch
	HadTask         int // queued (by this batch, or by another that holds the target)
	ManifestRepeats int // a line repeating a target already handled in this run
	// Orphans counts the batch's tasks found orphaned and put back to pending (in a dry run: that would
	// be): a task hash that says active while the task is in no list, which asynq's done and retry
	// scripts leave when they fail half way (they stop at a missing lease after removing the task from
	// active). No worker would ever run it, and its task id would refuse a new enqueue of the target.
	Orphans int
	// Reenqueued counts the targets enqueued again into the batch (in a dry run: that would be).
	Reenqueued int
	// TotalAdded is what the run added to the batch's total: the re-enqueued targets the total did not
	// count already.
	TotalAdded int64
	// MissingAfter is Missing after the run: 0 when the counts add up. Positive with a manifest means
	// the total counts targets that are neither recorded, queued, nor in the manifest.
	MissingAfter int64
}

// AddsUp reports whether the batch's counts add up after the run.
func (r ReconcileReport) AddsUp() bool { return r.Stable && r.MissingAfter == 0 }

// reconcileAttempts is how many scans Reconcile makes looking for one during which the batch's counters
// stood still.
const reconcileAttempts = 3

// scanPage is how many queued tasks reconcile reads at a time.
const scanPage = 1000

// checkChunk is how many manifest targets are checked per pipeline.
const checkChunk = 500

// Reconcile compares batch's total with its records and with the tasks asynq holds for it, requeues
// its tasks stranded in active without a lease, and with o.Manifest re-enqueues the targets that have
// neither a record nor a task (see the package notes above). It records its finding in the batch's
// metadata for status (ReconcileFinding), except in a dry run, which changes nothing.
//
// A run that fails part way can be repeated: it recounts from what Redis holds, so a target enqueued
// again by the failed run is found queued and the total is corrected once. Do not reconcile with a
// manifest while the batch's own enqueue is still running: its counts are still being written.
func (a *Admin) Reconcile(ctx context.Context, batch string, o ReconcileOptions) (ReconcileReport, error) {
	if o.Manifest != nil && o.Producer == nil {
		return ReconcileReport{}, errors.New("reconcile: a manifest needs a producer to re-enqueue with")
	}
	rep := ReconcileReport{Batch: batch, DryRun: o.DryRun}
	var c batchCounters
	var unended int64
	for range reconcileAttempts {
		before, err := a.store.counters(ctx, []string{batch})
		if err != nil {
			return rep, err
		}
		if !before[0].exists {
			return rep, fmt.Errorf("%w: %s", ErrNoBatch, batch)
		}
		tally := map[string]*batchTally{batch: {}}
		if _, err := a.scanQueues(ctx, tally, scanOptions{move: !o.DryRun, count: true}); err != nil {
			return rep, err
		}
		after, err := a.store.counters(ctx, []string{batch})
		if err != nil {
			return rep, err
		}
		c = after[0]
		t := tally[batch]
		rep.Queued, rep.Reruns, unended = t.queued, t.reruns, t.unended()
		if o.DryRun {
			rep.Stranded = t.stranded // the same ones, found again
		} else {
			rep.Stranded += t.stranded // requeued by this scan: the next one finds them pending
			rep.Requeued += t.requeued
		}
		rep.Stable = before[0] == after[0]
		if rep.Stable {
			break
		}
	}
	rep.Total, rep.Terminal, rep.Sealed = c.total, c.terminal, c.sealed
	rep.Missing = rep.Total - rep.Terminal - unended
	rep.MissingAfter = rep.Missing

	seal := false
	if o.Manifest != nil {
		if err := a.reenqueueMissing(ctx, batch, o, &rep); err != nil {
			return rep, err
		}
		// Each target lost after it was counted is missing once and back in the queue once (re-enqueued,
		// or its orphaned task put back); every one beyond those was never counted (its count was lost
		// too, or never sent).
		back := int64(rep.Reenqueued + rep.Orphans)
		if rep.Stable {
			rep.TotalAdded = max(0, back-rep.Missing)
		}
		rep.MissingAfter = rep.Missing + rep.TotalAdded - back
		seal = !rep.Sealed
		rep.Sealed = true
	}
	if o.DryRun {
		return rep, nil
	}
	err := a.store.recordReconcile(ctx, batch, reconcileWrite{
		at: a.store.now(), missing: rep.MissingAfter, stable: rep.Stable, addTotal: rep.TotalAdded, seal: seal})
	return rep, err
}

// reenqueueMissing checks every manifest target (a pipeline per chunk: its task, then its record, so
// a task that ends between the two is still seen) and enqueues again those with neither.
func (a *Admin) reenqueueMissing(ctx context.Context, batch string, o ReconcileOptions, rep *ReconcileReport) error {
	handled := map[string]bool{} // targets re-enqueued by this run: a repeated manifest line is not missing twice
	chunk := make([]providers.Target, 0, checkChunk)
	check := func() error {
		states := make([]*redis.StringCmd, len(chunk))
		records := make([]*redis.BoolCmd, len(chunk))
		_, err := a.store.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, t := range chunk {
				states[i] = p.HGet(ctx, asynqTaskKey(QueueName(t.Provider), TaskID(t)), "state")
				records[i] = p.HExists(ctx, outKey(batch), t.Key())
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) { // redis.Nil: a target without a task
			return fmt.Errorf("reconcile %s: check targets: %w", batch, err)
		}
		for i, t := range chunk {
			rep.Checked++
			if err := records[i].Err(); err != nil {
				return fmt.Errorf("reconcile %s: check targets: %w", batch, err)
			}
			state, err := states[i].Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("reconcile %s: check targets: %w", batch, err)
			}
			switch key := t.Key(); {
			case records[i].Val():
				rep.HadRecord++
			case handled[key]:
				rep.ManifestRepeats++
			case state != "":
				if state == "active" {
					orphan, err := a.rescueOrphan(ctx, batch, t, !o.DryRun)
					if err != nil {
						return err
					}
					if orphan {
						handled[key] = true
						rep.Orphans++
						continue
					}
				}
				rep.HadTask++
			default:
				handled[key] = true
				if o.DryRun {
					rep.Reenqueued++
					continue
				}
				dup, err := o.Producer.enqueue(ctx, Payload{Batch: batch, Target: t})
				if err != nil {
					return fmt.Errorf("reconcile %s: enqueue %s: %w", batch, t, err)
				}
				if dup {
					rep.HadTask++ // enqueued meanwhile (by another batch)
				} else {
					rep.Reenqueued++
				}
			}
		}
		chunk = chunk[:0]
		return nil
	}
	for t, err := range o.Manifest {
		if err != nil {
			return fmt.Errorf("reconcile %s: manifest: %w", batch, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk = append(chunk, t)
		if len(chunk) == checkChunk {
			if err := check(); err != nil {
				return err
			}
		}
	}
	if len(chunk) > 0 {
		return check()
	}
	return nil
}

// batchTally is what a scan of the queues found for one batch.
type batchTally struct {
	queued QueuedCounts
	// reruns counts the queued tasks that are re-runs of an enqueue recorded already (see
	// ReconcileReport.Reruns): counted in terminal too.
	reruns             int64
	stranded, requeued int
}

// unended is how many of the batch's counted tasks the scan found queued and not yet ended.
func (t *batchTally) unended() int64 { return t.queued.Sum() - t.reruns }

// scanOptions says what scanQueues does.
type scanOptions struct {
	move  bool // requeue stranded tasks (false: only count them)
	count bool // page through pending, scheduled and retry too (false: active only)
	// anyBatch requeues stranded tasks of every batch, not only of those tallied.
	anyBatch bool
}

// scanResult is what scanQueues did beyond the batches it tallied.
type scanResult struct {
	strandedOther, requeuedOther int // stranded tasks of batches not tallied (with anyBatch)
}

// scanQueues pages through every provider queue and adds each task of a batch in tally to that
// batch's counts (with o.count, the re-runs among them too). Active tasks without a lease are requeued
// (o.move) or counted.
func (a *Admin) scanQueues(ctx context.Context, tally map[string]*batchTally, o scanOptions) (scanResult, error) {
	var res scanResult
	known, err := a.insp.Queues()
	if err != nil {
		return res, fmt.Errorf("reconcile: list queues: %w", err)
	}
	for _, n := range providers.Names {
		q := QueueName(n)
		sizes, err := a.queueSizes(ctx, q)
		if err != nil {
			return res, err
		}
		if sizes.Sum() == 0 {
			continue
		}
		if !slices.Contains(known, q) {
			// asynq's client registers a queue once per process, so a Redis that lost its last second
			// of writes can hold a queue's tasks without the registration, and the Inspector then
			// cannot list them. Registering it again is what the client does on enqueue.
			if !o.move {
				return res, fmt.Errorf("reconcile: queue %s holds tasks but is not registered in %s (its registration was lost); a run without dry-run registers it", q, asynqQueuesKey)
			}
			if err := a.store.rdb.SAdd(ctx, asynqQueuesKey, q).Err(); err != nil {
				return res, fmt.Errorf("reconcile: register queue %s: %w", q, err)
			}
		}
		states := []struct {
			name string
			size int64
			list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
			add  func(*QueuedCounts)
		}{
			// Active first, and a task found there is not counted again elsewhere: a task moves out of
			// active without an outcome (to retry or scheduled, back to pending) while the scan runs, and
			// a scan must never count a task twice: reconcile would add it to the total, which no run
			// takes back. A task dequeued after active was read and before its pending page is missed
			// instead; a miss only makes the batch look short, and the next reconcile counts it.
			{"active", sizes.Active, a.insp.ListActiveTasks, func(c *QueuedCounts) { c.Active++ }},
			{"pending", sizes.Pending, a.insp.ListPendingTasks, func(c *QueuedCounts) { c.Pending++ }},
			{"scheduled", sizes.Scheduled, a.insp.ListScheduledTasks, func(c *QueuedCounts) { c.Scheduled++ }},
			{"retry", sizes.Retry, a.insp.ListRetryTasks, func(c *QueuedCounts) { c.Retry++ }},
		}
		active := map[string]bool{} // the ids of tallied tasks found active
		for _, st := range states {
			if st.name != "active" && !o.count {
				continue
			}
			for page := 1; int64(page-1)*scanPage < st.size; page++ {
				if err := ctx.Err(); err != nil {
					return res, err
				}
				tasks, err := st.list(q, asynq.PageSize(scanPage), asynq.Page(page))
				if isQueueNotFound(err) {
					break
				}
				if err != nil {
					return res, fmt.Errorf("reconcile: list %s %s: %w", st.name, q, err)
				}
				if len(tasks) == 0 {
					break
				}
				var tallied []Payload
				for _, ti := range tasks {
					p, err := DecodePayload(ti.Payload)
					if err != nil {
						continue // the worker records it failed/invalid when it runs it
					}
					t := tally[p.Batch]
					if t != nil {
						if active[ti.ID] {
							continue // counted in active: it moved since, or dequeues shifted the list
						}
						if st.name == "active" {
							active[ti.ID] = true
						}
						st.add(&t.queued)
						tallied = append(tallied, p)
					}
					if st.name != "active" || (t == nil && !o.anyBatch) {
						continue
					}
					stranded, moved, err := a.requeueStranded(ctx, q, ti.ID, o.move)
					if err != nil {
						return res, err
					}
					switch {
					case !stranded:
					case t != nil:
						t.stranded++
						if moved {
							t.requeued++
						}
					default:
						res.strandedOther++
						if moved {
							res.requeuedOther++
						}
					}
				}
				if o.count {
					if err := a.countReruns(ctx, tally, tallied); err != nil {
						return res, err
					}
				}
			}
		}
	}
	return res, nil
}

// countReruns adds to tally the tasks among queued that re-run an enqueue whose record is written:
// their record, of their batch and target, has their enqueue id. One with a record of another
// enqueue id is a second enqueue of its target into the batch, which the total counts too (it
// lowers the total when it ends). A task that is not a re-run now cannot become one during the scan
// without a new record, which moves the batch's terminal count and makes the scan unstable.
//
// It reads the queued tasks' records in one pipeline: queued tasks with a record are few, and a
// record is a few dozen bytes.
func (a *Admin) countReruns(ctx context.Context, tally map[string]*batchTally, queued []Payload) error {
	if len(queued) == 0 {
		return nil
	}
	records := make([]*redis.StringCmd, len(queued))
	if _, err := a.store.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, task := range queued {
			records[i] = p.HGet(ctx, outKey(task.Batch), task.Target.Key())
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reconcile: look for re-runs: %w", err)
	}
	for i, task := range queued {
		v, err := records[i].Result()
		if errors.Is(err, redis.Nil) {
			continue // no record: not a re-run
		}
		if err != nil {
			return fmt.Errorf("reconcile: look for re-runs: %w", err)
		}
		r, err := decodeRecord(task.Batch, task.Target.Key(), v)
		if err != nil {
			return fmt.Errorf("reconcile: look for re-runs: record %s/%s: %w", task.Batch, task.Target.Key(), err)
		}
		if r.EnqueueID == task.EnqueueID {
			tally[task.Batch].reruns++
		}
	}
	return nil
}

// queueSizes reads queue q's list and set sizes in one pipeline.
func (a *Admin) queueSizes(ctx context.Context, q string) (QueuedCounts, error) {
	var pending, active, scheduled, retry *redis.IntCmd
	if _, err := a.store.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		pending = p.LLen(ctx, asynqKey(q, "pending"))
		active = p.LLen(ctx, asynqKey(q, "active"))
		scheduled = p.ZCard(ctx, asynqKey(q, "scheduled"))
		retry = p.ZCard(ctx, asynqKey(q, "retry"))
		return nil
	}); err != nil {
		return QueuedCounts{}, fmt.Errorf("reconcile: queue %s: %w", q, err)
	}
	return QueuedCounts{Pending: pending.Val(), Active: active.Val(), Scheduled: scheduled.Val(), Retry: retry.Val()}, nil
}

// strandedScript finds (and with ARGV[2] = 1, requeues) a task in asynq's active list without a lease.
// asynq v0.26 moves a task into active and adds its lease in one script (dequeue) and removes both in
// one script (done, retry, requeue), so an active task without a lease is never a task being worked
// on: it is one a crash, a failover or a failed script left behind, and no recoverer will ever look at
// it (the recoverer reads the lease set). It goes back to the front of pending, as asynq's own requeue
// does.
//
//	KEYS[1] asynq:{<queue>}:active  KEYS[2] asynq:{<queue>}:lease  KEYS[3] asynq:{<queue>}:pending
//	KEYS[4] asynq:{<queue>}:t:<task id>
//	ARGV[1] task id  ARGV[2] 1 to requeue, 0 to look only
//
// Returns 1 when the task was stranded (and is now pending, with ARGV[2] = 1), 0 when it was not
// (it has a lease, has left active, or has no task hash to run).
var strandedScript = redis.NewScript(`
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
if redis.call('HGET', KEYS[4], 'state') ~= 'active' then
  return 0
end
if ARGV[2] ~= '1' then
  if redis.call('LPOS', KEYS[1], ARGV[1]) then
    return 1
  end
  return 0
end
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'pending')
return 1
`)

// requeueStranded runs strandedScript for one active task of queue q.
func (a *Admin) requeueStranded(ctx context.Context, q, id string, move bool) (stranded, moved bool, err error) {
	flag := "0"
	if move {
		flag = "1"
	}
	n, err := strandedScript.Run(ctx, a.store.rdb,
		[]string{asynqKey(q, "active"), asynqKey(q, "lease"), asynqKey(q, "pending"), asynqTaskKey(q, id)}, id, flag).Int()
	if err != nil {
		return false, false, fmt.Errorf("reconcile: stranded task %s in %s: %w", id, q, err)
	}
	return n == 1, n == 1 && move, nil
}

// orphanScript finds (and with ARGV[2] = 1, puts back to the front of pending) a task whose hash says
// active while it is not in the active list. asynq's scripts move a task in and out of active and set
// its state in one step, so only a script that stopped half way leaves this.
//
//	KEYS[1] asynq:{<queue>}:active  KEYS[2] asynq:{<queue>}:pending  KEYS[3] asynq:{<queue>}:t:<task id>
//	ARGV[1] task id  ARGV[2] 1 to put back, 0 to look only
//
// Returns 1 when the task was orphaned (and is now pending, with ARGV[2] = 1), 0 when it was not.
var orphanScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], 'state') ~= 'active' then
  return 0
end
if redis.call('LPOS', KEYS[1], ARGV[1]) then
  return 0
end
if ARGV[2] == '1' then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[3], 'state', 'pending')
end
return 1
`)

// rescueOrphan puts target t's task back to pending (or, with move false, only reports) when it is
// orphaned and belongs to batch; another batch's orphan is left to that batch's reconcile.
func (a *Admin) rescueOrphan(ctx context.Context, batch string, t providers.Target, move bool) (bool, error) {
	q, id := QueueName(t.Provider), TaskID(t)
	keys := []string{asynqKey(q, "active"), asynqKey(q, "pending"), asynqTaskKey(q, id)}
	n, err := orphanScript.Run(ctx, a.store.rdb, keys, id, "0").Int()
	if err != nil {
		return false, fmt.Errorf("reconcile %s: orphaned task %s: %w", batch, id, err)
	}
	if n == 0 {
		return false, nil
	}
	ti, err := a.insp.GetTaskInfo(q, id)
	if err != nil {
		return false, fmt.Errorf("reconcile %s: orphaned task %s: %w", batch, id, err)
	}
	if p, err := DecodePayload(ti.Payload); err != nil || p.Batch != batch {
		return false, nil
	}
	if !move {
		return true, nil
	}
	if n, err = orphanScript.Run(ctx, a.store.rdb, keys, id, "1").Int(); err != nil {
		return false, fmt.Errorf("reconcile %s: orphaned task %s: %w", batch, id, err)
	}
	return n == 1, nil
}

// batchCounters is what reconcile reads of a batch's metadata.
type batchCounters struct {
	exists, sealed  bool
	total, terminal int64
}

func (c batchCounters) done() bool { return c.sealed && c.terminal >= c.total }

// counters reads the counters of several batches in one pipeline.
func (s *Store) counters(ctx context.Context, ids []string) ([]batchCounters, error) {
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, metaKey(id), metaID, metaSealed, metaTotal, metaTerminal)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reconcile: read batches: %w", err)
	}
	out := make([]batchCounters, len(ids))
	for i, cmd := range cmds {
		v := cmd.Val()
		str := func(j int) string { s, _ := v[j].(string); return s }
		num := func(j int) int64 { n, _ := strconv.ParseInt(str(j), 10, 64); return n }
		out[i] = batchCounters{exists: str(0) != "", sealed: str(1) == "1", total: num(2), terminal: num(3)}
	}
	return out, nil
}

// reconcileWrite is what a reconcile writes to its batch.
type reconcileWrite struct {
	at       time.Time
	missing  int64
	stable   bool
	addTotal int64
	seal     bool
}

// reconcileScript records a reconcile's finding in the batch's metadata, with its correction of the
// total and, after a reconcile with the manifest, the seal, in one step. It never recreates a batch
// that expired meanwhile.
//
//	KEYS[1] batch:<id>
//	ARGV[1] reconcile time (RFC 3339)  ARGV[2] missing  ARGV[3] stable (0 or 1)  ARGV[4] add to total
//	ARGV[5] seal (0 or 1)
//
// Returns 1, or 0 when the batch does not exist.
var reconcileScript = redis.NewScript(luaWithSchema(strings.NewReplacer(
	"{{reconcile_at}}", metaReconcileAt, "{{reconcile_missing}}", metaReconcileMissing, "{{reconcile_stable}}", metaReconcileStable,
).Replace(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], '{{reconcile_at}}', ARGV[1], '{{reconcile_missing}}', ARGV[2], '{{reconcile_stable}}', ARGV[3])
if tonumber(ARGV[4]) ~= 0 then
  redis.call('HINCRBY', KEYS[1], '{{total}}', ARGV[4])
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], '{{sealed}}', 1)
  redis.call('HSETNX', KEYS[1], '{{sealed_at}}', ARGV[1])
end
return 1
`)))

// Fields of reaper:batch:<id> a reconcile writes (beside the schema's, in schema.go).
const (
	metaReconcileAt      = "reconcile_at"      // when the last reconcile ran (RFC 3339)
	metaReconcileMissing = "reconcile_missing" // what it found missing (ReconcileReport.MissingAfter)
	metaReconcileStable  = "reconcile_stable"  // "1" when the counters stood still during its scan
)

func (s *Store) recordReconcile(ctx context.Context, batch string, w reconcileWrite) error {
	stable, seal := 0, 0
	if w.stable {
		stable = 1
	}
	if w.seal {
		seal = 1
	}
	n, err := reconcileScript.Run(ctx, s.rdb, []string{metaKey(batch)},
		w.at.UTC().Format(time.RFC3339Nano), w.missing, stable, w.addTotal, seal).Int()
	if err != nil {
		return fmt.Errorf("reconcile %s: record: %w", batch, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNoBatch, batch)
	}
	if w.seal || w.addTotal != 0 {
		return s.announceIfDone(ctx, batch) // a seal or a corrected total may be what makes it done
	}
	return nil
}

// ReconcileFinding is the last reconcile's finding about a batch, kept in its metadata (fields
// reconcile_at, reconcile_missing and reconcile_stable of reaper:batch:<id>).
type ReconcileFinding struct {
	At time.Time // zero: never reconciled
	// Missing is ReconcileReport.MissingAfter: tasks counted that neither ended nor are queued.
	Missing int64
	// Stable is false when the batch was moving during that reconcile, so Missing is approximate.
	Stable bool
}

// ReconcileFinding reads the last reconcile's finding about batch (zero At when there was none).
func (s *Store) ReconcileFinding(ctx context.Context, batch string) (ReconcileFinding, error) {
	v, err := s.rdb.HMGet(ctx, metaKey(batch), metaReconcileAt, metaReconcileMissing, metaReconcileStable).Result()
	if err != nil {
		return ReconcileFinding{}, fmt.Errorf("batch %s: %w", batch, err)
	}
	str := func(j int) string { s, _ := v[j].(string); return s }
	var f ReconcileFinding
	f.At, _ = time.Parse(time.RFC3339Nano, str(0))
	f.Missing, _ = strconv.ParseInt(str(1), 10, 64)
	f.Stable = str(2) == "1"
	return f, nil
}

// KeepOpen refreshes the TTL of batch's keys to the store's retention, counted from now by Redis
// (EXPIRE, never an absolute time from our clock). The leader's sweep calls it for every batch with
// tasks still to end, so a batch never expires before its last outcome, however long its tasks stay
// pending, parked or paused. A key that does not exist is left alone.
func (s *Store) KeepOpen(ctx context.Context, batch string) error {
	ttl := s.retention
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range []string{metaKey(batch), outKey(batch), tryKey(batch), parkedKey(batch), auditKey(batch)} {
			p.Expire(ctx, k, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keep batch %s open: %w", batch, err)
	}
	return nil
}

// SweepOptions configures Admin.Sweep; zero values are the documented defaults.
type SweepOptions struct {
	// MaxScan bounds how many queued tasks a sweep reads to count the open batches' tasks (default
	// 200,000). Above it a sweep still requeues stranded tasks and keeps open batches alive, but
	// records no finding (it reads only the active lists).
	MaxScan int64
}

// SweepReport is what a sweep did.
type SweepReport struct {
	Open     int // batches not done
	Kept     int // of those, kept open (KeepOpen): they have tasks to end, or counts that do not add up
	Counted  bool
	Stranded int // tasks found active without a lease, in any batch
	Requeued int
	// Missing lists the open batches whose counts did not add up (stable scans only), with how many
	// tasks are missing from each.
	Missing map[string]int64
}

// sweepPage is how many batch ids a sweep reads from the batches index at a time.
const sweepPage = 500

// Sweep is reconcile without a manifest over every open batch (from the batches index, not done;
// batches past retention are dropped from the index):
// it requeues tasks stranded in active without a lease, keeps open batches from expiring (KeepOpen),
// and records each batch's finding for status. The scheduler's leader runs it every
// scheduler.reconcile_interval. The queues are read once for all batches; when every batch is done,
// only their active lists are.
func (a *Admin) Sweep(ctx context.Context, o SweepOptions) (SweepReport, error) {
	if o.MaxScan <= 0 {
		o.MaxScan = 200_000
	}
	rep := SweepReport{Missing: map[string]int64{}}
	open := map[string]batchCounters{}
	for start := int64(0); ; start += sweepPage {
		ids, err := a.store.rdb.ZRange(ctx, batchesKey, start, start+sweepPage-1).Result()
		if err != nil {
			return rep, fmt.Errorf("sweep: %w", err)
		}
		cs, err := a.store.counters(ctx, ids)
		if err != nil {
			return rep, err
		}
		var expired []any
		for i, c := range cs {
			switch {
			case !c.exists:
				expired = append(expired, ids[i]) // past retention (the index entry is added after the batch)
			case !c.done():
				open[ids[i]] = c
			}
		}
		if len(expired) > 0 {
			if err := a.store.rdb.ZRem(ctx, batchesKey, expired...).Err(); err != nil {
				return rep, fmt.Errorf("sweep: %w", err)
			}
			start -= int64(len(expired)) // the ids after them moved down
		}
		if len(ids) < sweepPage {
			break
		}
	}
	rep.Open = len(open)
	if len(open) == 0 {
		// Nothing to count or keep; a stranded task (of a batch done or expired) still comes back.
		res, err := a.scanQueues(ctx, nil, scanOptions{move: true, anyBatch: true})
		rep.Stranded, rep.Requeued = res.strandedOther, res.requeuedOther
		return rep, err
	}
	var queued int64
	for _, n := range providers.Names {
		s, err := a.queueSizes(ctx, QueueName(n))
		if err != nil {
			return rep, err
		}
		queued += s.Sum()
	}
	rep.Counted = queued <= o.MaxScan
	tally := map[string]*batchTally{}
	ids := make([]string, 0, len(open))
	for id := range open {
		tally[id] = &batchTally{}
		ids = append(ids, id)
	}
	res, err := a.scanQueues(ctx, tally, scanOptions{move: true, count: rep.Counted, anyBatch: true})
	if err != nil {
		return rep, err
	}
	rep.Stranded, rep.Requeued = res.strandedOther, res.requeuedOther
	after, err := a.store.counters(ctx, ids)
	if err != nil {
		return rep, err
	}
	now := a.store.now()
	for i, id := range ids {
		t, before := tally[id], open[id]
		rep.Stranded += t.stranded
		rep.Requeued += t.requeued
		c := after[i]
		if !c.exists {
			continue // expired meanwhile: nothing to keep
		}
		// An unsealed batch whose every counted task has ended and that holds none is an enqueue that
		// stopped early: it has nothing left to end, so it is left to expire.
		if t.queued.Sum() > 0 || c.total > c.terminal || !c.done() && !rep.Counted {
			if err := a.store.KeepOpen(ctx, id); err != nil {
				return rep, err
			}
			rep.Kept++
		}
		if !rep.Counted {
			continue
		}
		stable := before == c
		missing := c.total - c.terminal - t.unended()
		if stable && missing != 0 {
			rep.Missing[id] = missing
		}
		if err := a.store.recordReconcile(ctx, id, reconcileWrite{at: now, missing: missing, stable: stable}); err != nil && !errors.Is(err, ErrNoBatch) {
			return rep, err
		}
	}
	return rep, nil
}

// Discrepancy says whether a batch's counts visibly do not add up, cheaply, for status: a sealed batch
// that is not done while its provider queues hold no task at all (every counted task should then have
// its record), or one whose last reconcile found tasks missing. missing is how many; 0 when nothing
// is known to be wrong.
func (a *Admin) Discrepancy(ctx context.Context, b BatchInfo) (missing int64, f ReconcileFinding, err error) {
	f, err = a.store.ReconcileFinding(ctx, b.ID)
	if err != nil {
		return 0, f, err
	}
	if b.Done() {
		return 0, f, nil
	}
	if b.Sealed {
		var queued int64
		for _, n := range providers.Names {
			s, err := a.queueSizes(ctx, QueueName(n))
			if err != nil {
				return 0, f, err
			}
			queued += s.Sum()
		}
		if queued == 0 {
			return b.Pending(), f, nil
		}
	}
	if !f.At.IsZero() && f.Stable && f.Missing > 0 {
		return f.Missing, f, nil
	}
	return 0, f, nil
}
