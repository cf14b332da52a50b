package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RunStatus is how a policy run ended (or that it is still going).
type RunStatus string

// The run statuses.
const (
	// StatusRunning: the run started and has not recorded its end. A run whose replica died
	// mid-run stays running; the next scheduled tick runs normally.
	StatusRunning RunStatus = "running"
	// StatusRan: the selected targets were enqueued as the run's batch.
	StatusRan RunStatus = "ran"
	// StatusDryRun: the batch records, as dry_run outcomes, what the run would have deleted.
	StatusDryRun RunStatus = "dry_run"
	// StatusRefused: the selection exceeded max_deletions; nothing was enqueued.
	StatusRefused RunStatus = "refused"
	// StatusFailed: selecting or enqueueing failed; see Error. A selection error enqueues nothing.
	StatusFailed RunStatus = "failed"
)

// RunRecord is what one policy run did. The latest run of each policy is kept in Redis for `reaper
// policies`.
type RunRecord struct {
	ID     string `json:"id"`
	Policy string `json:"policy"`
	// Scheduled is the fire time the run is for (for a manual run, when it was asked for).
	Scheduled time.Time `json:"scheduled"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Status    RunStatus `json:"status"`
	DryRun    bool      `json:"dry_run,omitempty"`
	// Batch is the run's batch id: every run that got past selection has one, refused and failed
	// runs included (sealed empty, its note saying why).
	Batch string `json:"batch,omitempty"`
	// Found is how many targets the selection found; with FoundAtLeast, counting stopped there (a
	// refused run counts up to ten times max_deletions, then stops listing).
	Found        int  `json:"found"`
	FoundAtLeast bool `json:"found_at_least,omitempty"`
	// Skipped counts entries the source passed over as unusable (an SMH entry with a control
	// character in its name or an unparseable modificationTime), each logged with a warning.
	Skipped int `json:"skipped,omitempty"`
	// Enqueued and Duplicates are the enqueue summary of a run that ran.
	Enqueued   int `json:"enqueued,omitempty"`
	Duplicates int `json:"duplicates,omitempty"`
	// Error explains a failed run, or what made the selection of a completed run incomplete.
	Error string `json:"error,omitempty"`
	// Replica is the scheduler replica (or user, for a manual run) that ran it.
	Replica string `json:"replica,omitempty"`
}

// policyState is a policy's bookkeeping in Redis.
type policyState struct {
	// CheckedUntil is the time up to which the policy's fire times have been handled (run, skipped
	// or found already run). Zero: the scheduler has never looked at this policy.
	CheckedUntil time.Time
	Last         *RunRecord
}

// stateStore keeps the scheduler's state in Redis.
//
//	reaper:scheduler:policy:<name>   HASH checked_until (unix ms), last_run (RunRecord JSON)
//	reaper:scheduler:run:<run id>    STRING the replica that claimed the run (expires, see claim)
type stateStore struct {
	rdb redis.UniversalClient
}

func policyKey(name string) string { return "reaper:scheduler:policy:" + name }
func runKey(id string) string      { return "reaper:scheduler:run:" + id }

// policy reads a policy's state.
func (s stateStore) policy(ctx context.Context, name string) (policyState, error) {
	m, err := s.rdb.HGetAll(ctx, policyKey(name)).Result()
	if err != nil {
		return policyState{}, fmt.Errorf("policy %s state: %w", name, err)
	}
	var st policyState
	if v, ok := m["checked_until"]; ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return policyState{}, fmt.Errorf("policy %s state: checked_until %q: %w", name, v, err)
		}
		st.CheckedUntil = time.UnixMilli(ms).UTC()
	}
	if v, ok := m["last_run"]; ok {
		var r RunRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return policyState{}, fmt.Errorf("policy %s state: last_run: %w", name, err)
		}
		st.Last = &r
	}
	return st, nil
}

// advanceScript moves checked_until forward, never back: a replica with a stale view cannot undo a
// newer one's progress.
//
//	KEYS[1] reaper:scheduler:policy:<name>
//	ARGV[1] unix ms
var advanceScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'checked_until') or '-1')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'checked_until', ARGV[1])
  return 1
end
return 0
`)

// advance records that the policy's fire times up to t are handled.
func (s stateStore) advance(ctx context.Context, name string, t time.Time) error {
	if err := advanceScript.Run(ctx, s.rdb, []string{policyKey(name)}, t.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("policy %s state: %w", name, err)
	}
	return nil
}

// saveRun records r as the policy's last run.
func (s stateStore) saveRun(ctx context.Context, r RunRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, policyKey(r.Policy), "last_run", b).Err(); err != nil {
		return fmt.Errorf("policy %s state: %w", r.Policy, err)
	}
	return nil
}

// claim takes run id for replica (SET NX) and reports whether this call got it. A run id is claimed
// once, by whoever runs it, and the claim outlives any catch-up window, so no failover, restart or
// stale replica can run the same tick again.
func (s stateStore) claim(ctx context.Context, id, replica string, ttl time.Duration) (bool, error) {
	err := s.rdb.SetArgs(ctx, runKey(id), replica, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim run %s: %w", id, err)
	}
	return true, nil
}
