package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// rescuer finds tasks asynq holds as active that no live worker process is running, and puts them
// back on their queue. Such a task is one whose dequeue ran in Redis but whose reply never reached a
// worker (a connection reset at the wrong moment), or whose worker died: asynq itself recovers those
// only once their lease has been expired for 30 s, at a recoverer tick once a minute, so a batch
// waited up to two minutes for a handful of tasks.
//
// Ownership is asynq's own: every live server writes the ids of the tasks it is running into its
// workers hash at each heartbeat (every 5 s). A task active and in no live server's list for
// rescueAfter in a row is unowned. Should a live worker be cut off from Redis for that long (its
// heartbeats fail too), its task runs twice; the record rules make that harmless (the first
// outcome wins, and a deletion replaces a re-run's already_gone).
type rescuer struct {
	insp     *asynq.Inspector
	rdb      redis.UniversalClient
	queues   []string
	after    time.Duration
	log      *slog.Logger
	mu       sync.Mutex           // one sweep at a time
	suspects map[string]time.Time // task id -> first seen unowned
}

// rescueAfter is how long a task must be seen active and unowned: two asynq heartbeats.
const rescueAfter = 10 * time.Second

// rescueEvery is how often each worker process looks.
const rescueEvery = 3 * time.Second

func newRescuer(rdb redis.UniversalClient, names []providers.Name, log *slog.Logger) *rescuer {
	r := &rescuer{insp: asynq.NewInspectorFromRedisClient(rdb), rdb: rdb, after: rescueAfter, log: log,
		suspects: map[string]time.Time{}}
	for _, n := range names {
		r.queues = append(r.queues, QueueName(n))
	}
	return r
}

// run sweeps every rescueEvery until ctx ends.
func (r *rescuer) run(ctx context.Context) {
	t := time.NewTicker(rescueEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := r.sweep(ctx, time.Now()); err != nil {
				r.log.Debug("stranded-task sweep", "error", err)
			} else if n > 0 {
				r.log.Warn("requeued tasks no worker was running (a lost dequeue reply or a dead worker)", "tasks", n)
			}
		}
	}
}

// sweep looks once, at now, and returns how many tasks it requeued.
func (r *rescuer) sweep(ctx context.Context, now time.Time) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	servers, err := r.insp.Servers()
	if err != nil {
		return 0, fmt.Errorf("servers: %w", err)
	}
	owned := map[string]bool{}
	for _, s := range servers {
		for _, w := range s.ActiveWorkers {
			owned[w.TaskID] = true
		}
	}
	seen := map[string]bool{}
	requeued := 0
	for _, q := range r.queues {
		// Ids only (LRANGE), not the task messages asynq's ListActiveTasks would read: every worker
		// sweeps, so this must stay cheap for a fleet with thousands of tasks in flight.
		ids, err := r.rdb.LRange(ctx, asynqKey(q, "active"), 0, -1).Result()
		if err != nil {
			return requeued, fmt.Errorf("list active %s: %w", q, err)
		}
		for _, id := range ids {
			if owned[id] {
				continue
			}
			seen[id] = true
			first, ok := r.suspects[id]
			if !ok {
				r.suspects[id] = now
				continue
			}
			if now.Sub(first) < r.after {
				continue
			}
			moved, err := rescueScript.Run(ctx, r.rdb, []string{asynqKey(q, "active"), asynqKey(q, "lease"),
				asynqKey(q, "pending"), asynqTaskKey(q, id)}, id).Int()
			if err != nil {
				return requeued, fmt.Errorf("requeue %s: %w", id, err)
			}
			delete(r.suspects, id)
			requeued += moved
		}
	}
	for id := range r.suspects {
		if !seen[id] {
			delete(r.suspects, id) // it left active (it ran, or asynq recovered it)
		}
	}
	return requeued, nil
}

// rescueScript moves an active task back to the front of its pending list, as asynq's own requeue
// does, whatever its lease says (the caller has found no worker running it).
//
//	KEYS[1] asynq:{<queue>}:active  KEYS[2] asynq:{<queue>}:lease  KEYS[3] asynq:{<queue>}:pending
//	KEYS[4] asynq:{<queue>}:t:<task id>
//	ARGV[1] task id
//
// Returns 1 when it moved the task, 0 when the task had left active meanwhile.
var rescueScript = redis.NewScript(`
if redis.call('HGET', KEYS[4], 'state') ~= 'active' then
  return 0
end
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'state', 'pending')
return 1
`)
