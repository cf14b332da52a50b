package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// Outcome is how a task ended. Every task ends in exactly one.
type Outcome string

// The outcomes.
const (
	Deleted     Outcome = "deleted"      // the provider deleted the target permanently
	Recycled    Outcome = "recycled"     // the provider moved it to a recycle bin (RecycledItemID restores it)
	AlreadyGone Outcome = "already_gone" // the provider said it was not there: the goal holds
	Failed      Outcome = "failed"       // a fatal error, an invalid payload, or the retry budget ran out
	Cancelled   Outcome = "cancelled"    // the batch was cancelled before the task ran
	DryRun      Outcome = "dry_run"      // a dry-run policy run would have deleted it; nothing was called

	// The outcomes of an undo batch's restores (Failed too: the restore failed for good).
	Restored Outcome = "restored"  // the recycled item is back at its path
	NotFound Outcome = "not_found" // the recycle bin no longer holds it (restored or purged already)
	Conflict Outcome = "conflict"  // its path is taken again and the conflict strategy was ask
)

// Outcomes lists every outcome in report order.
var Outcomes = []Outcome{Deleted, Recycled, AlreadyGone, Failed, Cancelled, DryRun, Restored, NotFound, Conflict}

// Record is one task's terminal outcome: a row of a batch report and an entry of the outcome stream.
type Record struct {
	Batch          string           `json:"batch"`
	Provider       providers.Name   `json:"provider"`
	Key            string           `json:"key"`
	EnqueueID      string           `json:"enqueue_id"`
	Target         providers.Target `json:"target"`
	Outcome        Outcome          `json:"outcome"`
	RecycledItemID int64            `json:"recycled_item_id,omitempty"`
	HTTPStatus     int              `json:"http_status,omitempty"`
	Code           string           `json:"code,omitempty"`
	Message        string           `json:"message,omitempty"`
	RequestID      string           `json:"request_id,omitempty"`
	// Attempts counts provider calls made for this task, across retries and worker restarts.
	Attempts     int       `json:"attempts"`
	FirstAttempt time.Time `json:"first_attempt"`
	LastAttempt  time.Time `json:"last_attempt"`
}

// recordHead is Record without the fields the finish script appends.
type recordHead struct {
	Batch          string           `json:"batch"`
	Provider       providers.Name   `json:"provider"`
	Key            string           `json:"key"`
	EnqueueID      string           `json:"enqueue_id"`
	Target         providers.Target `json:"target"`
	Outcome        Outcome          `json:"outcome"`
	RecycledItemID int64            `json:"recycled_item_id,omitempty"`
	HTTPStatus     int              `json:"http_status,omitempty"`
	Code           string           `json:"code,omitempty"`
	Message        string           `json:"message,omitempty"`
	RequestID      string           `json:"request_id,omitempty"`
}

// Store is the outcome store: batches, their counters and their per-target records, in Redis. asynq's
// archive cannot be the record (it keeps at most 10,000 tasks per queue and leaks past that), so the
// pipeline keeps its own.
//
// Its keys and fields are listed in schema.go.
type Store struct {
	rdb             redis.UniversalClient
	retention       time.Duration
	streamRetention time.Duration
	streamMax       int64
	now             func() time.Time
	commit          groupCommit
}

// StoreOptions configures a Store; zero values are the documented defaults.
type StoreOptions struct {
	Retention time.Duration // default 30 days after the last write
	// StreamRetention is how long an entry stays on the outcome stream, by Redis's clock (default
	// 24h); negative turns the stream off (no entries written).
	StreamRetention time.Duration
	// StreamMaxLen is an optional hard cap on the stream's length (approximate), trimming whatever
	// consumers have read; 0 (the default) means none.
	StreamMaxLen int64
	Now          func() time.Time // default time.Now
}

// DefaultStreamRetention is how long outcome stream entries are kept by default.
const DefaultStreamRetention = 24 * time.Hour

// NewStore returns a store on rdb.
func NewStore(rdb redis.UniversalClient, o StoreOptions) *Store {
	if o.Retention <= 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.StreamRetention == 0 {
		o.StreamRetention = DefaultStreamRetention
	}
	if o.StreamRetention < 0 {
		o.StreamRetention = 0
	}
	if o.StreamMaxLen < 0 {
		o.StreamMaxLen = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{rdb: rdb, retention: o.Retention, streamRetention: o.StreamRetention, streamMax: o.StreamMaxLen, now: o.Now}
}

// NewBatchID returns a new, time-sortable batch id such as 20261121T124500Z-3fa2c1d0.
func NewBatchID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// BatchMeta describes a batch when it is created.
type BatchMeta struct {
	ID          string
	SubmittedBy string
	Source      string // "manifest:<file>", "cli", "policy:<name>", "retry:<batch>", "api"
	Note        string
	// MaxFailureRatio suspends the batch once MinOutcomes outcomes are recorded and more than this
	// share of them failed (already_gone is a success); 0 turns the threshold off. Nil takes the
	// producer's default (config batch.max_failure_ratio).
	MaxFailureRatio *float64
	// MinOutcomes is how many outcomes the threshold waits for (0: the producer's default,
	// batch.min_outcomes).
	MinOutcomes int
	// Notify is the webhook URL POSTed when the batch is done or suspended ("": the producer's
	// default, batch.notify_url; none when that is empty too).
	Notify string
	// IdempotencyKey, when set, makes Producer.SubmitIdempotent return the batch an earlier
	// submission with the same key (and scope) created instead of creating a second one.
	IdempotencyKey IdempotencyKey
}

// CreateBatch records a new, open batch. Tasks may be enqueued into it until SealBatch.
func (s *Store) CreateBatch(ctx context.Context, m BatchMeta) error {
	if m.ID == "" {
		return errors.New("batch id is required")
	}
	now := s.now()
	created, err := s.rdb.HSetNX(ctx, metaKey(m.ID), metaID, m.ID).Result()
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	if !created {
		return fmt.Errorf("%w: %s", ErrBatchExists, m.ID)
	}
	ratio := 0.0
	if m.MaxFailureRatio != nil {
		ratio = *m.MaxFailureRatio
	}
	submitted, err := auditEntry(now, m.SubmittedBy, AuditSubmitted, m.Source)
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, metaKey(m.ID), metaCreatedAt, now.UTC().Format(time.RFC3339Nano),
			metaSubmittedBy, m.SubmittedBy, metaSource, m.Source, metaNote, m.Note, metaTotal, 0, metaSealed, 0,
			metaMaxFailureRatio, strconv.FormatFloat(ratio, 'g', -1, 64), metaMinOutcomes, m.MinOutcomes, metaNotify, m.Notify)
		p.ZAdd(ctx, batchesKey, redis.Z{Score: float64(now.UnixMilli()), Member: m.ID})
		p.Expire(ctx, metaKey(m.ID), s.retention)
		p.RPush(ctx, auditKey(m.ID), submitted)
		p.Expire(ctx, auditKey(m.ID), s.retention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	return nil
}

// AddCounts adds to a batch's enqueue counters: tasks enqueued, duplicates skipped.
func (s *Store) AddCounts(ctx context.Context, id string, enqueued, duplicates int) error {
	return s.addCounts(ctx, id, enqueued, duplicates, nil)
}

// addCounts is AddCounts with the enqueued tasks' split by provider (which may be nil).
func (s *Store) addCounts(ctx context.Context, id string, enqueued, duplicates int, byProvider map[providers.Name]int) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if enqueued != 0 {
			p.HIncrBy(ctx, metaKey(id), metaTotal, int64(enqueued))
		}
		for n, c := range byProvider {
			if c != 0 {
				p.HIncrBy(ctx, metaKey(id), metaTotalOf+string(n), int64(c))
			}
		}
		if duplicates != 0 {
			p.HIncrBy(ctx, metaKey(id), metaDuplicates, int64(duplicates))
		}
		return nil
	})
	return err
}

// SealBatch marks a batch complete: no more tasks will be added, so it is done when every task is
// terminal. A batch whose tasks have all ended already (they ran while it was enqueued) is done now,
// and announced as done by the seal itself (sealScript).
func (s *Store) SealBatch(ctx context.Context, id string) error {
	now := s.now()
	n, err := sealScript.Run(ctx, s.rdb, []string{metaKey(id), notifyOutboxKey}, now.UTC().Format(time.RFC3339Nano),
		now.UnixMilli(), id, int64(s.retention/time.Second)).Int()
	if err != nil {
		return err
	}
	if n == -1 {
		return fmt.Errorf("%w: %s", ErrNoBatch, id)
	}
	return nil
}

// CancelBatch flags a batch as cancelled: workers record its remaining tasks as cancelled instead of
// deleting them. The first cancel is recorded in the batch's audit trail as who's.
func (s *Store) CancelBatch(ctx context.Context, id, who string) error {
	n, err := s.rdb.Exists(ctx, metaKey(id)).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNoBatch, id)
	}
	return s.flagOnce(ctx, id, metaCancelledAt, who, AuditCancelled, "")
}

// ErrNoBatch is returned for a batch id the store does not know (never created, or past retention).
var ErrNoBatch = errors.New("no such batch")

// ErrBatchExists is CreateBatch's answer for an id already taken.
var ErrBatchExists = errors.New("batch already exists")

// Cancelled reports whether the batch has been cancelled.
func (s *Store) Cancelled(ctx context.Context, batch string) (bool, error) {
	yes, err := s.rdb.HExists(ctx, metaKey(batch), metaCancelledAt).Result()
	if err != nil {
		return false, fmt.Errorf("batch %s: %w", batch, err)
	}
	return yes, nil
}

// noteScript counts a provider call that did not end the task. It refreshes the batch's TTL too, so
// a batch whose tasks keep failing (or sit parked for nights) is kept from its last write.
//
//	KEYS[1] batch:<id>:try  KEYS[2] batch:<id>  KEYS[3] batch:<id>:out
//	ARGV[1] target key  ARGV[2] now (unix ms)  ARGV[3] last error code  ARGV[4] ttl seconds
//	ARGV[5] outage calls to add (0 or 1)  ARGV[6] throttles to add (0 or 1)  ARGV[7] call id
//
// Returns {calls, outage calls, throttles} so far, this one included. The call id makes it idempotent:
// run again for the same call (its reply was lost), it counts nothing and answers the same.
var noteScript = redis.NewScript(luaWithSchema(`
if redis.call('HGET', KEYS[1], ARGV[1]..'{{|c}}') == ARGV[7] then
  local c = redis.call('HMGET', KEYS[1], ARGV[1]..'{{|n}}', ARGV[1]..'{{|o}}', ARGV[1]..'{{|t}}')
  return {tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0}
end
redis.call('HSET', KEYS[1], ARGV[1]..'{{|c}}', ARGV[7])
local n = redis.call('HINCRBY', KEYS[1], ARGV[1]..'{{|n}}', 1)
redis.call('HSETNX', KEYS[1], ARGV[1]..'{{|f}}', ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1]..'{{|e}}', ARGV[3])
local o = redis.call('HINCRBY', KEYS[1], ARGV[1]..'{{|o}}', ARGV[5])
local t = redis.call('HINCRBY', KEYS[1], ARGV[1]..'{{|t}}', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {n, o, t}
`))

// tryCounts are a task's provider calls so far, as the try hash counts them.
type tryCounts struct {
	Calls, Outage, Throttles int
}

// note counts a provider call that did not end the task: a retry-class failure (outage says the
// provider's breaker was open) or a throttle. callID names the call, so that running note again for it
// (after a lost reply) counts it once.
func (s *Store) note(ctx context.Context, batch, key, callID, code string, outage, throttle bool) (tryCounts, error) {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	vals, err := noteScript.Run(ctx, s.rdb, []string{tryKey(batch), metaKey(batch), outKey(batch)}, key,
		s.now().UnixMilli(), code, int64(s.retention/time.Second), b2i(outage), b2i(throttle), callID).Int64Slice()
	if err != nil {
		return tryCounts{}, fmt.Errorf("note attempt: %w", err)
	}
	if len(vals) != 3 {
		return tryCounts{}, fmt.Errorf("note attempt: unexpected reply %v", vals)
	}
	return tryCounts{Calls: int(vals[0]), Outage: int(vals[1]), Throttles: int(vals[2])}, nil
}

// finishScript writes a terminal record unless one exists: the first outcome wins, so a task that runs
// twice (a worker died after the provider call) still has exactly one record and is counted once. One
// exception: a deletion replaces an already_gone or cancelled record of the same enqueue. That record
// was written without the deletion being known (a re-run that found the file gone because this run
// deleted it while its own record could not be written; a cancel racing a worker that had the task):
// the deletion is what happened, and its recycle-bin id is what restores the file.
//
// The failure threshold is decided here too, where outcomes are counted, so two workers recording at
// once cannot both miss it: a new failed outcome that makes failed/terminal exceed the batch's
// max_failure_ratio, with at least min_outcomes recorded (both counted since the last resume),
// suspends the batch (suspended_at, suspend_reason, an audit entry by "reaper"). And the outcome that
// makes a sealed batch done, like the duplicate that lowers its total to what has ended, announces
// it once (done_announced). Both events go onto the notify outbox in the same script, so a crash
// right after cannot lose the callback.
//
//	KEYS[1] batch:<id>  KEYS[2] batch:<id>:out  KEYS[3] batch:<id>:try  KEYS[4] outcomes stream
//	KEYS[5] batch:<id>:parked  KEYS[6] parked:<provider>  KEYS[7] batch:<id>:audit  KEYS[8] notify outbox
//	ARGV[1] target key  ARGV[2] outcome  ARGV[3] its record code  ARGV[4] what the record holds after
//	the enqueue id (recordExtrasOf)  ARGV[5] now (RFC 3339)  ARGV[6] attempts to add (0 or 1)
//	ARGV[7] ttl seconds  ARGV[8] stream retention ms (0: no stream entry)
//	ARGV[9] stream max length (0: none)  ARGV[10] now (unix ms)  ARGV[11] enqueue id  ARGV[12] batch id
//	ARGV[13] the stream entry's Record JSON without attempts, times and closing brace
//	ARGV[14] the target's provider (its per-provider counters)
//
// The record is the compact form of recordcodec.go; one an earlier release wrote (JSON) is read too.
//
// Returns -1 when the batch does not exist (expired, or never created): nothing is written then, so a
// late outcome cannot recreate a partial batch that never completes. Otherwise the finish* bits:
// finishRecorded when it recorded the outcome (clear: the target already had one, from another
// enqueue of the same target, which is then counted as a duplicate, or from this one running twice),
// finishSuspended when this outcome suspended the batch, finishDone when it made the batch done.
var finishScript = redis.NewScript(luaWithSchema(announceDoneLua + rfc3339Lua + base36Lua + `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local key = ARGV[1]
local old = redis.call('HGET', KEYS[2], key)
local replaced = nil
local n, first
if old then
  local was, on, ofirst, oeid
  if string.sub(old, 1, 1) == '{' then -- a JSON record of an earlier release
    if string.find(old, '"enqueue_id":"'..ARGV[11]..'"', 1, true) then
      oeid = ARGV[11]
    end
    was = string.match(old, '"outcome":"([a-z_]+)"')
    was = ({already_gone = '{{code:already_gone}}', cancelled = '{{code:cancelled}}'})[was] or was
    on = string.match(old, '"attempts":(%d+)')
  else
    was, on, ofirst, oeid = string.match(old, '^(%a)(%d+)|(%w+)|%w+|([^|]*)')
  end
  if oeid ~= ARGV[11] then
    redis.call('HINCRBY', KEYS[1], '{{total}}', -1)
    redis.call('HINCRBY', KEYS[1], '{{total:}}'..ARGV[14], -1)
    redis.call('HINCRBY', KEYS[1], '{{duplicates}}', 1)
    if announce_done(KEYS[1], KEYS[8], ARGV[12], ARGV[10], ARGV[7]) then
      return 4
    end
    return 0
  end
  if not ((ARGV[2] == 'deleted' or ARGV[2] == 'recycled') and (was == '{{code:already_gone}}' or was == '{{code:cancelled}}')) then
    return 0
  end
  replaced = was == '{{code:already_gone}}' and 'already_gone' or 'cancelled'
  n = (tonumber(on) or 0) + tonumber(ARGV[6])
  first = tonumber(ofirst or '', 36) or tonumber(ARGV[10])
else
  local prev = redis.call('HMGET', KEYS[3], key..'{{|n}}', key..'{{|f}}', key..'{{|nights}}')
  n = tonumber(ARGV[6]) + (tonumber(prev[1]) or 0)
  first = tonumber(prev[2]) or tonumber(ARGV[10])
  if prev[1] or prev[2] or prev[3] then
    redis.call('HDEL', KEYS[3], key..'{{|n}}', key..'{{|f}}', key..'{{|e}}', key..'{{|o}}', key..'{{|t}}', key..'{{|c}}',
      key..'{{|nights}}', key..'{{|window}}', key..'{{|next}}', key..'{{|wtries}}')
    redis.call('ZREM', KEYS[5], key)
    redis.call('ZREM', KEYS[6], ARGV[12]..'\n'..key)
  end
end
local now_ms = tonumber(ARGV[10])
local rec = ARGV[3]..n..'|'..b36(first)..'|'..b36(now_ms - first)..'|'..ARGV[11]..ARGV[4]
redis.call('HSET', KEYS[2], key, rec)
local count = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
local terminal = 0
local result = 1
if replaced then
  redis.call('HINCRBY', KEYS[1], replaced, -1)
else
  terminal = redis.call('HINCRBY', KEYS[1], '{{terminal}}', 1)
  redis.call('HINCRBY', KEYS[1], '{{terminal:}}'..ARGV[14], 1)
  if ARGV[2] == 'failed' then
    redis.call('HINCRBY', KEYS[1], '{{failed:}}'..ARGV[14], 1)
  end
  redis.call('HSETNX', KEYS[1], '{{first_outcome_ms}}', ARGV[10])
  if ARGV[2] == 'failed' then
    local m = redis.call('HMGET', KEYS[1], '{{max_failure_ratio}}', '{{min_outcomes}}', '{{suspended_at}}',
      '{{cancelled_at}}', '{{terminal_base}}', '{{failed_base}}')
    local ratio = tonumber(m[1]) or 0
    if ratio > 0 and not m[3] and not m[4] then
      local t = terminal - (tonumber(m[5]) or 0)
      local f = count - (tonumber(m[6]) or 0)
      if t >= math.max(tonumber(m[2]) or 1, 1) and f > ratio * t then
        local why = string.format('%d of %d outcomes failed (%.1f%%), more than max_failure_ratio %s', f, t, 100 * f / t, m[1])
        redis.call('HSET', KEYS[1], '{{suspended_at}}', ARGV[5], '{{suspend_reason}}', why)
        redis.call('RPUSH', KEYS[7], '{"at":"'..ARGV[5]..'","who":"reaper","action":"suspended","detail":"'..why..'"}')
        redis.call('EXPIRE', KEYS[7], ARGV[7])
        redis.call('RPUSH', KEYS[8], '{"batch":"'..ARGV[12]..'","event":"batch_suspended","at_ms":'..ARGV[10]..'}')
        redis.call('EXPIRE', KEYS[8], ARGV[7])
        result = result + 2
      end
    end
  end
  if announce_done(KEYS[1], KEYS[8], ARGV[12], ARGV[10], ARGV[7]) then
    result = result + 4
  end
end
redis.call('HSET', KEYS[1], '{{last_outcome_ms}}', ARGV[10])
-- Retention runs from the last write. The audit list is refreshed at a batch's every 64th outcome and
-- when it is done (a batch's last write that matters): cheaper than on every outcome.
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
if terminal % 64 == 1 or result >= 4 then
  redis.call('EXPIRE', KEYS[7], ARGV[7])
end
local keep = tonumber(ARGV[8])
if keep > 0 then
  local entry = ARGV[13]..',"attempts":'..n..',"first_attempt":"'..rfc3339(first)..'","last_attempt":"'..ARGV[5]..'"}'
  local id = redis.call('XADD', KEYS[4], '*', '{{r}}', entry)
  -- Trimmed by age, whatever consumers have read, on Redis's own clock: the entry id just made is
  -- Redis's time in ms. At a batch's every 64th outcome, which keeps the trim off the hot path.
  if terminal % 64 == 1 then
    local ms = tonumber(string.match(id, '^(%d+)'))
    redis.call('XTRIM', KEYS[4], 'MINID', '~', string.format('%d', math.max(ms - keep, 0)))
    if tonumber(ARGV[9]) > 0 then
      redis.call('XTRIM', KEYS[4], 'MAXLEN', '~', ARGV[9])
    end
  end
end
return result
`))

// The finish script's reply bits (beside -1, no such batch).
const (
	finishRecorded  = 1 // the outcome was recorded
	finishSuspended = 2 // it suspended the batch (the failure threshold)
	finishDone      = 4 // it made the sealed batch done
)

// announceDoneLua defines announce_done(meta, outbox, batch id, now ms, ttl) for the scripts that
// can make a batch done (an outcome, a duplicate lowering the total, sealing): when the batch is
// sealed and every task has its outcome, and this has not been announced yet, it pushes the done
// event onto the notify outbox and returns true.
const announceDoneLua = `
local function announce_done(meta, outbox, id, now_ms, ttl)
  local m = redis.call('HMGET', meta, '{{sealed}}', '{{total}}', '{{terminal}}')
  if m[1] ~= '1' or (tonumber(m[3]) or 0) < (tonumber(m[2]) or 0) then
    return false
  end
  if redis.call('HSETNX', meta, '{{done_announced}}', 1) == 0 then
    return false
  end
  redis.call('RPUSH', outbox, '{"batch":"'..id..'","event":"batch_done","at_ms":'..now_ms..'}')
  redis.call('EXPIRE', outbox, ttl)
  return true
end
`

// errNoBatch is Finish's answer for a batch that does not exist: the record was not written.
type errNoBatch struct{ batch string }

func (e errNoBatch) Error() string {
	return "batch " + e.batch + " does not exist (expired or never created)"
}
func (e errNoBatch) Is(target error) bool { return target == ErrNoBatch }

// Finish records a task's terminal outcome. called says whether this run made a provider call (it is
// added to the attempts). It reports whether this call wrote the record (false: one existed already).
// For a batch that does not exist it writes nothing and returns an error matching ErrNoBatch. It is
// idempotent: the handler retries it through Redis errors.
func (s *Store) Finish(ctx context.Context, r Record, called bool) (bool, error) {
	code, ok := outcomeCodes[r.Outcome]
	if !ok {
		return false, fmt.Errorf("finish: unknown outcome %q", r.Outcome)
	}
	// An invalid payload's outcome is recorded too, whatever its enqueue id holds; a '|' would end
	// the id's part of the compact record early.
	eid := strings.ReplaceAll(r.EnqueueID, "|", "%7C")
	extras, err := recordExtrasOf(r)
	if err != nil {
		return false, fmt.Errorf("finish: %w", err)
	}
	head := ""
	if s.streamRetention > 0 { // the stream entry is the Record JSON; built only when there is a stream
		b, err := json.Marshal(recordHead{
			Batch: r.Batch, Provider: r.Provider, Key: r.Key, EnqueueID: r.EnqueueID, Target: r.Target, Outcome: r.Outcome,
			RecycledItemID: r.RecycledItemID, HTTPStatus: r.HTTPStatus, Code: r.Code, Message: r.Message,
			RequestID: r.RequestID,
		})
		if err != nil {
			return false, fmt.Errorf("finish: %w", err)
		}
		head = string(b[:len(b)-1])
	}
	add := 0
	if called {
		add = 1
	}
	now := s.now()
	w := &finishWrite{
		keys: []string{metaKey(r.Batch), outKey(r.Batch), tryKey(r.Batch), StreamKey, parkedKey(r.Batch), providerParkedKey(r.Provider),
			auditKey(r.Batch), notifyOutboxKey},
		args: []any{r.Key, string(r.Outcome), code, extras, now.UTC().Format(time.RFC3339Nano), add,
			int64(s.retention / time.Second), s.streamRetention.Milliseconds(), s.streamMax, now.UnixMilli(), eid, r.Batch, head, string(r.Provider)},
		done: make(chan struct{}),
	}
	s.commit.submit(ctx, s.rdb, w)
	select {
	case <-w.done:
	case <-ctx.Done():
		// The write may still land; a re-run finds the record (or writes it) either way.
		return false, fmt.Errorf("finish: %w", ctx.Err())
	}
	if w.err != nil {
		return false, fmt.Errorf("finish: %w", w.err)
	}
	if w.result == -1 {
		return false, errNoBatch{r.Batch}
	}
	return w.result&finishRecorded != 0, nil
}

// finishWrite is one Finish waiting for its group commit.
type finishWrite struct {
	keys   []string
	args   []any
	result int64 // the script's answer
	err    error
	done   chan struct{}
}

// groupCommit sends concurrent Finish calls to Redis together: whoever arrives while no flush is
// running flushes everything queued (one pipeline, one round trip) and keeps flushing what queued up
// meanwhile. Nobody waits for a timer, so a lone Finish costs what a direct call does; under load one
// syscall carries several outcomes.
type groupCommit struct {
	mu       sync.Mutex
	pending  []*finishWrite
	flushing bool
}

func (g *groupCommit) submit(ctx context.Context, rdb redis.UniversalClient, w *finishWrite) {
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.flushing {
		g.mu.Unlock()
		return
	}
	g.flushing = true
	// Let the goroutines that are ready to run first: under load some of them are Finish calls about
	// to queue, and they go in this flush instead of the next (BenchmarkWorker: 1.5 outcomes per
	// flush, 1.1 without). With nothing else to run it returns at once.
	g.mu.Unlock()
	runtime.Gosched()
	g.mu.Lock()
	for len(g.pending) > 0 {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		flushFinishes(context.WithoutCancel(ctx), rdb, batch)
		g.mu.Lock()
	}
	g.flushing = false
	g.mu.Unlock()
}

// flushFinishes runs the finish script for every write in one pipeline. A Redis that lost its script
// cache (restart, SCRIPT FLUSH) answers NOSCRIPT; those writes are sent again with the full script.
func flushFinishes(ctx context.Context, rdb redis.UniversalClient, batch []*finishWrite) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run := func(useSha bool, ws []*finishWrite) []*finishWrite {
		cmds := make([]*redis.Cmd, len(ws))
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, w := range ws {
				if useSha {
					cmds[i] = finishScript.EvalSha(ctx, p, w.keys, w.args...)
				} else {
					cmds[i] = finishScript.Eval(ctx, p, w.keys, w.args...)
				}
			}
			return nil
		})
		var again []*finishWrite
		for i, w := range ws {
			n, err := cmds[i].Int64()
			if useSha && err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				again = append(again, w)
				continue
			}
			w.result, w.err = n, err
			close(w.done)
		}
		return again
	}
	if again := run(true, batch); len(again) > 0 {
		run(false, again)
	}
}

// BatchInfo is a batch's metadata and counters.
type BatchInfo struct {
	ID                        string
	CreatedAt                 time.Time
	SubmittedBy               string
	Source                    string
	Note                      string
	Sealed                    bool
	Cancelled                 bool
	Total                     int64 // tasks enqueued
	Duplicates                int64 // targets skipped because they were already queued
	Counts                    map[Outcome]int64
	Terminal                  int64
	FirstOutcome, LastOutcome time.Time
	// Suspended says the failure threshold holds the batch's tasks (SuspendReason says why) until
	// Admin.ResumeBatch or Cancel. MaxFailureRatio (0: no threshold) and MinOutcomes are its threshold;
	// Notify is the webhook told when it is done or suspended.
	Suspended       bool
	SuspendedAt     time.Time
	SuspendReason   string
	MaxFailureRatio float64
	MinOutcomes     int64
	Notify          string
	// UndoneBy is the newest undo batch of this batch; NotRestorable, on an undo batch, counts the
	// original's deletions no recycle bin holds.
	UndoneBy      string
	NotRestorable int64
	// ByProvider is each provider's share of Total, Terminal and Counts[Failed]; nil when the
	// per-provider counters do not add up to Total and Terminal (reconcile added tasks without a
	// provider, or the batch predates them).
	ByProvider map[providers.Name]ProviderCounts
}

// ProviderCounts are one provider's counters in a batch.
type ProviderCounts struct {
	Total, Terminal, Failed int64
}

// Pending is the number of tasks without an outcome yet.
func (b BatchInfo) Pending() int64 { return max(0, b.Total-b.Terminal) }

// Done reports whether every task of a sealed batch has its outcome.
func (b BatchInfo) Done() bool { return b.Sealed && b.Terminal >= b.Total }

// Rate is outcomes per second between the first and last outcome (0 before two outcomes).
func (b BatchInfo) Rate() float64 {
	el := b.LastOutcome.Sub(b.FirstOutcome).Seconds()
	if el <= 0 || b.Terminal < 2 {
		return 0
	}
	return float64(b.Terminal-1) / el
}

// ETA estimates the time to finish at the current rate (0 when unknown or done).
func (b BatchInfo) ETA() time.Duration {
	r := b.Rate()
	if r <= 0 || b.Pending() == 0 {
		return 0
	}
	return time.Duration(float64(b.Pending()) / r * float64(time.Second))
}

// Batch reads a batch's metadata and counters.
func (s *Store) Batch(ctx context.Context, id string) (BatchInfo, error) {
	m, err := s.rdb.HGetAll(ctx, metaKey(id)).Result()
	if err != nil {
		return BatchInfo{}, fmt.Errorf("batch %s: %w", id, err)
	}
	if len(m) == 0 {
		return BatchInfo{}, fmt.Errorf("%w: %s", ErrNoBatch, id)
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	ms := func(k string) time.Time {
		if v := num(k); v > 0 {
			return time.UnixMilli(v)
		}
		return time.Time{}
	}
	b := BatchInfo{
		ID: id, SubmittedBy: m[metaSubmittedBy], Source: m[metaSource], Note: m[metaNote],
		Sealed: m[metaSealed] == "1", Cancelled: m[metaCancelledAt] != "",
		Total: num(metaTotal), Duplicates: num(metaDuplicates), Terminal: num(metaTerminal),
		Counts: map[Outcome]int64{}, FirstOutcome: ms(metaFirstOutcome), LastOutcome: ms(metaLastOutcome),
		UndoneBy: m[metaUndoneBy], NotRestorable: num(metaNotRestorable),
	}
	b.CreatedAt, _ = time.Parse(time.RFC3339Nano, m[metaCreatedAt])
	b.Suspended, b.SuspendReason, b.MinOutcomes, b.Notify = m[metaSuspendedAt] != "", m[metaSuspendReason], num(metaMinOutcomes), m[metaNotify]
	b.SuspendedAt, _ = time.Parse(time.RFC3339Nano, m[metaSuspendedAt])
	b.MaxFailureRatio, _ = strconv.ParseFloat(m[metaMaxFailureRatio], 64)
	for _, o := range OutcomesOf(b.Kind()) { // the outcomes a batch of its kind records
		b.Counts[o] = num(string(o))
	}
	b.ByProvider = byProvider(m, b.Total, b.Terminal)
	return b, nil
}

// byProvider reads the per-provider counters of a batch's hash m, or nil when they do not add up to
// total and terminal.
func byProvider(m map[string]string, total, terminal int64) map[providers.Name]ProviderCounts {
	out := map[providers.Name]ProviderCounts{}
	var sumTotal, sumTerminal int64
	for k, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		if name, ok := strings.CutPrefix(k, metaTotalOf); ok {
			c := out[providers.Name(name)]
			c.Total, sumTotal = c.Total+n, sumTotal+n
			out[providers.Name(name)] = c
		} else if name, ok := strings.CutPrefix(k, metaTerminalOf); ok {
			c := out[providers.Name(name)]
			c.Terminal, sumTerminal = c.Terminal+n, sumTerminal+n
			out[providers.Name(name)] = c
		} else if name, ok := strings.CutPrefix(k, metaFailedOf); ok {
			c := out[providers.Name(name)]
			c.Failed += n
			out[providers.Name(name)] = c
		}
	}
	if len(out) == 0 || sumTotal != total || sumTerminal != terminal {
		return nil
	}
	return out
}

// Batches lists the newest batch ids, newest first, dropping (and forgetting) batches past retention.
func (s *Store) Batches(ctx context.Context, limit int64) ([]string, error) {
	ids, err := s.rdb.ZRevRange(ctx, batchesKey, 0, limit-1).Result()
	if err != nil {
		return nil, err
	}
	exists := make([]*redis.IntCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			exists[i] = p.Exists(ctx, metaKey(id))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := ids[:0]
	var expired []any
	for i, id := range ids {
		if exists[i].Val() == 1 {
			out = append(out, id)
		} else {
			expired = append(expired, id)
		}
	}
	if len(expired) > 0 {
		s.rdb.ZRem(ctx, batchesKey, expired...)
	}
	return out, nil
}

// Records calls fn for every terminal record of a batch, in no particular order, streaming through
// HSCAN so a million-record batch never sits in memory.
func (s *Store) Records(ctx context.Context, id string, fn func(Record) error) error {
	var cursor uint64
	for {
		kvs, next, err := s.rdb.HScan(ctx, outKey(id), cursor, "", 1000).Result()
		if err != nil {
			return fmt.Errorf("records %s: %w", id, err)
		}
		for i := 1; i < len(kvs); i += 2 {
			r, err := decodeRecord(id, kvs[i-1], kvs[i])
			if err != nil {
				return fmt.Errorf("records %s: corrupt record for %s: %w", id, kvs[i-1], err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// Record reads one target's record; ok is false when it has none yet.
func (s *Store) Record(ctx context.Context, batch, key string) (Record, bool, error) {
	v, err := s.rdb.HGet(ctx, outKey(batch), key).Result()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	r, err := decodeRecord(batch, key, v)
	if err != nil {
		return Record{}, false, fmt.Errorf("record %s/%s: %w", batch, key, err)
	}
	return r, true, nil
}

// PendingAttempts reports, for tasks still in flight, how many provider calls they have used; for status.
func (s *Store) PendingAttempts(ctx context.Context, batch string) (map[string]int, error) {
	m, err := s.rdb.HGetAll(ctx, tryKey(batch)).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for k, v := range m {
		if key, ok := strings.CutSuffix(k, tryCalls); ok {
			out[key], _ = strconv.Atoi(v)
		}
	}
	return out, nil
}
