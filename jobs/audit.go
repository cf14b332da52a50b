package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuditEntry is one change of a batch's state: who made it, when, and what it was. A batch's audit
// trail (Store.AuditTrail, `status --batch`) lists them oldest first.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// The actions of the audit trail.
const (
	AuditSubmitted = "submitted" // the batch was created (detail: its source)
	AuditSuspended = "suspended" // the failure threshold held its tasks (who: "reaper"; detail: why)
	AuditResumed   = "resumed"   // its held tasks were let go again
	AuditCancelled = "cancelled"
	AuditRetried   = "retried" // its failed targets were re-enqueued (detail: "retried as <new batch>")
	AuditUndone    = "undone"  // its deletions were put back from the recycle bin
)

// AuditWho is who the audit trail names for the pipeline's own decisions (a suspension).
const AuditWho = "reaper"

// maxAuditEntries bounds a batch's audit trail: a script resuming a batch in a loop must not grow
// it without end. The oldest entries beyond it are dropped, except the first (submitted).
const maxAuditEntries = 1000

func auditEntry(at time.Time, who, action, detail string) (string, error) {
	if who == "" {
		who = "unknown"
	}
	b, err := json.Marshal(AuditEntry{At: at.UTC(), Who: who, Action: action, Detail: detail})
	return string(b), err
}

// Audit appends an entry to batch's audit trail: who did action (one of the Audit* names), with a
// detail. The trail lives as long as the batch (its TTL is refreshed, relative, with each entry and
// with the batch's outcomes). Undo and any other change of a batch's state call it.
func (s *Store) Audit(ctx context.Context, batch, who, action, detail string) error {
	e, err := auditEntry(s.now(), who, action, detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", batch, err)
	}
	n, err := auditScript.Run(ctx, s.rdb, []string{metaKey(batch), auditKey(batch)}, e, int64(s.retention/time.Second), maxAuditEntries).Int()
	if err != nil {
		return fmt.Errorf("audit %s: %w", batch, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNoBatch, batch)
	}
	return nil
}

// auditScript appends an audit entry to an existing batch's trail, keeping it at most ARGV[3]
// entries long (the first, submitted, always kept).
//
//	KEYS[1] batch:<id>  KEYS[2] batch:<id>:audit
//	ARGV[1] entry JSON  ARGV[2] ttl seconds  ARGV[3] most entries kept
//
// Returns 0 when the batch does not exist (nothing written), else 1.
var auditScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n > tonumber(ARGV[3]) then
  local first = redis.call('LINDEX', KEYS[2], 0)
  redis.call('LTRIM', KEYS[2], n - tonumber(ARGV[3]) + 1, -1)
  redis.call('LPUSH', KEYS[2], first)
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
`)

// flagOnce sets a batch's field (cancelled_at) to now unless it is set, and records who did it in
// the audit trail in the same script: a cancel run again records one entry, and a crash cannot keep
// the flag without its entry.
func (s *Store) flagOnce(ctx context.Context, batch, field, who, action, detail string) error {
	now := s.now()
	e, err := auditEntry(now, who, action, detail)
	if err != nil {
		return err
	}
	return flagOnceScript.Run(ctx, s.rdb, []string{metaKey(batch), auditKey(batch)}, field,
		now.UTC().Format(time.RFC3339Nano), e, int64(s.retention/time.Second)).Err()
}

// flagOnceScript: KEYS[1] batch:<id>  KEYS[2] batch:<id>:audit
// ARGV[1] field  ARGV[2] value  ARGV[3] audit entry JSON  ARGV[4] ttl seconds. Returns 1 when it set
// the field, 0 when it was set already.
var flagOnceScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
`)

// AuditTrail reads batch's audit trail, oldest first (empty for a batch made before audits, or
// past retention).
func (s *Store) AuditTrail(ctx context.Context, batch string) ([]AuditEntry, error) {
	raw, err := s.rdb.LRange(ctx, auditKey(batch), 0, -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("audit trail %s: %w", batch, err)
	}
	out := make([]AuditEntry, 0, len(raw))
	for _, r := range raw {
		var e AuditEntry
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("audit trail %s: corrupt entry: %w", batch, err)
		}
		out = append(out, e)
	}
	return out, nil
}
