package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// A batch that fails most of what it touches is a misconfiguration (wrong credentials, the wrong
// manifest), as S3 Batch Operations assumes when it stops a job that has run 1,000 tasks with more
// than half failed. The finish script decides it where outcomes are counted (see finishScript): the
// batch is suspended, its remaining tasks are held without an outcome until ResumeBatch or Cancel.

// Defaults of the failure threshold (config batch.max_failure_ratio and batch.min_outcomes).
const (
	DefaultMaxFailureRatio = 0.5
	DefaultMinOutcomes     = 1000
)

// reasonSuspended is the reschedule reason of a task held because its batch is suspended; asynq
// keeps it as the task's last error, which is how ResumeBatch finds the tasks it holds.
const reasonSuspended = "suspended"

// suspendHold is how long a held task waits in asynq's retry set before it looks again (plus up to
// half of it, spread). Long, because a suspended batch of a million tasks would otherwise keep the
// workers and Redis cycling its tasks; ResumeBatch runs held tasks at once instead of waiting for it.
const suspendHold = 10 * time.Minute

// batchFlags are the per-batch flags a worker checks before every task.
type batchFlags struct {
	cancelled, suspended bool
}

// flags reads a batch's cancelled and suspended flags in one call.
func (s *Store) flags(ctx context.Context, batch string) (batchFlags, error) {
	v, err := s.rdb.HMGet(ctx, metaKey(batch), metaCancelledAt, metaSuspendedAt).Result()
	if err != nil {
		return batchFlags{}, fmt.Errorf("batch %s: %w", batch, err)
	}
	return batchFlags{cancelled: v[0] != nil, suspended: v[1] != nil}, nil
}

// sealScript seals a batch and, when every task it holds has ended already, announces it done.
//
//	KEYS[1] batch:<id>  KEYS[2] notify outbox
//	ARGV[1] now (RFC 3339)  ARGV[2] now (unix ms)  ARGV[3] batch id  ARGV[4] ttl seconds
//
// Returns -1 for a batch that does not exist (nothing written), 1 when the seal made it done, else 0.
var sealScript = redis.NewScript(luaWithSchema(announceDoneLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('HSET', KEYS[1], '{{sealed}}', 1, '{{sealed_at}}', ARGV[1])
if announce_done(KEYS[1], KEYS[2], ARGV[3], ARGV[2], ARGV[4]) then
  return 1
end
return 0
`))

// announceIfDone announces batch as done when it is sealed and every task has ended, unless that was
// announced already: for a writer that makes a batch done outside the finish and seal scripts
// (reconcile correcting its total).
func (s *Store) announceIfDone(ctx context.Context, batch string) error {
	return announceScript.Run(ctx, s.rdb, []string{metaKey(batch), notifyOutboxKey}, s.now().UnixMilli(), batch,
		int64(s.retention/time.Second)).Err()
}

// announceScript: KEYS[1] batch:<id>  KEYS[2] notify outbox; ARGV[1] now (unix ms)  ARGV[2] batch id
// ARGV[3] ttl seconds. Returns 1 when it announced the batch done.
var announceScript = redis.NewScript(luaWithSchema(announceDoneLua + `
if redis.call('EXISTS', KEYS[1]) == 1 and announce_done(KEYS[1], KEYS[2], ARGV[2], ARGV[1], ARGV[3]) then
  return 1
end
return 0
`))

// resumeScript lifts a suspension: the failure threshold counts again from the batch's counts now
// (a resumed batch that keeps failing is suspended again after another min_outcomes), and who
// resumed it goes into the audit trail.
//
//	KEYS[1] batch:<id>  KEYS[2] batch:<id>:audit
//	ARGV[1] audit entry JSON without its closing brace  ARGV[2] ttl seconds
//
// Returns -1 when the batch does not exist, -2 when it is cancelled, 0 when it is not suspended,
// else 1.
var resumeScript = redis.NewScript(luaWithSchema(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local m = redis.call('HMGET', KEYS[1], '{{cancelled_at}}', '{{suspended_at}}', '{{terminal}}', '` + string(Failed) + `', '{{suspend_reason}}')
if m[1] then
  return -2
end
if not m[2] then
  return 0
end
redis.call('HSET', KEYS[1], '{{terminal_base}}', m[3] or 0, '{{failed_base}}', m[4] or 0)
redis.call('HDEL', KEYS[1], '{{suspended_at}}', '{{suspend_reason}}')
redis.call('RPUSH', KEYS[2], ARGV[1]..',"detail":'..cjson.encode('suspended because '..(m[5] or '?'))..'}')
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
`))

// ErrNotSuspended is ResumeBatch's answer for a batch that is not suspended (none of its tasks were
// held meanwhile either).
var ErrNotSuspended = errors.New("batch is not suspended")

// ErrCancelled is ResumeBatch's answer for a cancelled batch: cancel is final.
var ErrCancelled = errors.New("batch is cancelled")

// resumeBatch lifts batch's suspension, recording who did it; wasSuspended is false when it was not
// suspended.
func (s *Store) resumeBatch(ctx context.Context, batch, who string) (wasSuspended bool, err error) {
	e, err := auditEntry(s.now(), who, AuditResumed, "")
	if err != nil {
		return false, err
	}
	head := strings.TrimSuffix(e, "}")
	n, err := resumeScript.Run(ctx, s.rdb, []string{metaKey(batch), auditKey(batch)}, head, int64(s.retention/time.Second)).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("resume %s: %w", batch, err)
	case n == -1:
		return false, fmt.Errorf("%w: %s", ErrNoBatch, batch)
	case n == -2:
		return false, fmt.Errorf("resume %s: %w (cancel is final)", batch, ErrCancelled)
	}
	return n == 1, nil
}

// resumeSecondPass is how long ResumeBatch waits before it looks for held tasks a second time: a
// worker's cached flags may hold a task for up to cancelRecheck after the suspension is lifted.
const resumeSecondPass = cancelRecheck + 500*time.Millisecond

// ResumeBatch continues a suspended batch: the suspension is lifted (who is recorded in its audit
// trail), and its held tasks run now rather than at the end of their hold. It returns how many held
// tasks it started. Run again for a batch no longer suspended, it starts any task still held; with
// none, it returns ErrNotSuspended. A cancelled batch is not resumed (ErrCancelled).
func (a *Admin) ResumeBatch(ctx context.Context, batch, who string) (int, error) {
	was, err := a.store.resumeBatch(ctx, batch, who)
	if err != nil {
		return 0, err
	}
	started, err := a.runHeld(ctx, batch)
	if err != nil {
		return started, err
	}
	t := time.NewTimer(resumeSecondPass)
	select {
	case <-ctx.Done():
		t.Stop()
		return started, ctx.Err()
	case <-t.C:
	}
	more, err := a.runHeld(ctx, batch)
	started += more
	if err == nil && !was && started == 0 {
		err = fmt.Errorf("%w: %s", ErrNotSuspended, batch)
	}
	return started, err
}

// runHeld runs now the batch's tasks waiting in a retry set because the batch was suspended.
func (a *Admin) runHeld(ctx context.Context, batch string) (int, error) {
	known, err := a.insp.Queues()
	if err != nil {
		return 0, err
	}
	started := 0
	for _, n := range providers.Names {
		q := QueueName(n)
		if !slices.Contains(known, q) {
			continue
		}
		var held []string
		for page := 1; ; page++ {
			if err := ctx.Err(); err != nil {
				return started, err
			}
			tasks, err := a.insp.ListRetryTasks(q, asynq.PageSize(cancelPage), asynq.Page(page))
			if err != nil {
				return started, fmt.Errorf("list %s: %w", q, err)
			}
			for _, ti := range tasks {
				if !strings.HasSuffix(ti.LastErr, ": "+reasonSuspended) {
					continue
				}
				if p, err := DecodePayload(ti.Payload); err == nil && p.Batch == batch {
					held = append(held, ti.ID)
				}
			}
			if len(tasks) < cancelPage {
				break
			}
		}
		n, err := a.runNow(q, held)
		started += n
		if err != nil {
			return started, err
		}
	}
	return started, nil
}

// runNow moves tasks of queue q waiting in its scheduled or retry set to pending, so they run now,
// and returns how many it moved. A task gone meanwhile (its time came, or a cancel removed it) is
// skipped.
func (a *Admin) runNow(q string, ids []string) (int, error) {
	started := 0
	for _, id := range ids {
		err := a.insp.RunTask(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) {
			continue
		}
		if err != nil {
			return started, fmt.Errorf("run %s: %w", id, err)
		}
		started++
	}
	return started, nil
}

// BatchDefaults are what a batch gets when its BatchMeta leaves them out (config batch.*). Zero
// values mean no threshold and no webhook.
type BatchDefaults struct {
	// MaxFailureRatio suspends a batch once MinOutcomes outcomes are recorded and more than this
	// share of them failed (0: no threshold; the config's default is DefaultMaxFailureRatio).
	MaxFailureRatio float64
	// MinOutcomes is how many outcomes the threshold waits for (0: DefaultMinOutcomes).
	MinOutcomes int
	// Notify is the webhook URL of batches that name none.
	Notify string
}

// apply fills what m leaves out.
func (d BatchDefaults) apply(m BatchMeta) BatchMeta {
	if m.MaxFailureRatio == nil {
		r := d.MaxFailureRatio
		m.MaxFailureRatio = &r
	}
	if m.MinOutcomes <= 0 {
		m.MinOutcomes = d.MinOutcomes
	}
	if m.MinOutcomes <= 0 {
		m.MinOutcomes = DefaultMinOutcomes
	}
	if m.Notify == "" {
		m.Notify = d.Notify
	}
	return m
}
