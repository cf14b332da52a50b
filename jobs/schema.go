package jobs

import (
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// The Redis schema: every key and hash field the pipeline keeps, in one place (asynq keeps its own
// under "asynq:"; reconcile.go names the few of those reaper reads). Every key but the stream and the
// index has a TTL, refreshed relative to Redis's clock, never an absolute expiry from ours.
//
//	reaper:batches                  ZSET   batch id -> created (unix ms)
//	reaper:batch:<id>               HASH   the batch's metadata and counters (meta* fields; per provider
//	                                       "total:<p>", "terminal:<p>", "failed:<p>")
//	reaper:batch:<id>:out           HASH   target key -> compact record (recordcodec.go): the first outcome wins
//	reaper:batch:<id>:try           HASH   "<target key><try* suffix>" for tasks still in flight
//	reaper:batch:<id>:parked        ZSET   target key -> next attempt (unix ms) of parked tasks
//	reaper:batch:<id>:audit         LIST   AuditEntry JSON, oldest first: who changed the batch's state
//	reaper:idempotency:<sha256>     STRING "<batch id> <request digest>" of an idempotent submission
//	reaper:notify:outbox            LIST   batch events (done, suspended) waiting for the notifier
//	reaper:parked:<provider>        ZSET   "<batch>\n<target key>" -> next attempt, across batches
//	reaper:overnight:<provider>:<ms> STRING slots handed out in the window opening at <ms>
//	reaper:outcomes                 STREAM one entry per outcome (field "r": the Record JSON), and
//	                                       one per batch done (fields "event", "batch", "status")
//	reaper:index:<provider>         ZSET   retention index: target key -> due (unix ms)
//	reaper:index:<provider>:t       HASH   retention index: target key -> target JSON
//	rate:reaper:<provider>          STRING the shared rate limiter's GCRA state (redis_rate's prefix)
//	reaper:breaker:<provider>       STRING open period (ms) of an outage a worker's breaker saw, PX period+10s
//	reaper:breaker:<provider>:probe STRING the token of the one worker probing the provider, PX 10s
//	reaper:scheduler:...            the scheduler's lease and run claims (scheduler/state.go)
const (
	// StreamKey is the Redis stream downstream systems read outcomes from (XREAD / XREADGROUP).
	StreamKey = "reaper:outcomes"
	// streamField is the stream entry's field holding the Record JSON.
	streamField = "r"
	// streamEventField marks a stream entry that is a batch event, not an outcome: "event" is
	// EventDone, "batch" the batch id, "status" its BatchStatus JSON. It has no "r".
	streamEventField = "event"

	batchesKey = "reaper:batches"
)

func metaKey(id string) string   { return "reaper:batch:" + id }
func outKey(id string) string    { return "reaper:batch:" + id + ":out" }
func tryKey(id string) string    { return "reaper:batch:" + id + ":try" }
func parkedKey(id string) string { return "reaper:batch:" + id + ":parked" }
func auditKey(id string) string  { return "reaper:batch:" + id + ":audit" }

// idempotencyKey holds the batch an idempotent submission created; name is a digest of the scope and
// the client's key, so neither reaches a key name as typed.
func idempotencyKey(name string) string { return "reaper:idempotency:" + name }

// notifyOutboxKey is the list the finish and seal scripts push batch events onto, in the same
// script as the change they announce, so no event is lost to a crash; the notifier drains it.
const notifyOutboxKey = "reaper:notify:outbox"

// providerParkedKey is provider n's parked set across batches (member "<batch>\n<key>").
func providerParkedKey(n providers.Name) string { return "reaper:parked:" + string(n) }

// slotKey counts the slots handed out in one window for one provider.
func slotKey(n providers.Name, start time.Time) string {
	return "reaper:overnight:" + string(n) + ":" + strconv.FormatInt(start.UnixMilli(), 10)
}

func indexKey(n providers.Name) string        { return "reaper:index:" + string(n) }
func indexTargetsKey(n providers.Name) string { return "reaper:index:" + string(n) + ":t" }

// breakerKey is the fleet's hint that provider n's breaker is open; breakerProbeKey is the claim of
// the one worker probing it; breakerStreakKey counts the fleet's failures in a row (jobs/internal/
// breaker's Hint).
func breakerKey(n providers.Name) string       { return "reaper:breaker:" + string(n) }
func breakerProbeKey(n providers.Name) string  { return "reaper:breaker:" + string(n) + ":probe" }
func breakerStreakKey(n providers.Name) string { return "reaper:breaker:" + string(n) + ":streak" }

// limiterKey is the Redis key (under redis_rate's "rate:" prefix) of provider n's shared limit.
func limiterKey(n providers.Name) string { return "reaper:" + string(n) }

// Fields of reaper:batch:<id>. Besides these, one counter per Outcome, named as the outcome.
const (
	metaID           = "id"
	metaCreatedAt    = "created_at"
	metaSubmittedBy  = "submitted_by"
	metaSource       = "source"
	metaNote         = "note"
	metaTotal        = "total"      // tasks enqueued
	metaDuplicates   = "duplicates" // targets skipped as already queued
	metaTerminal     = "terminal"   // tasks with their outcome
	metaSealed       = "sealed"     // "1" once no more tasks will be added
	metaSealedAt     = "sealed_at"
	metaCancelledAt  = "cancelled_at"
	metaFirstOutcome = "first_outcome_ms"
	metaLastOutcome  = "last_outcome_ms"
	// An undo batch's count of deletions it cannot restore, and on a batch undone, its newest undo.
	metaNotRestorable = "not_restorable"
	metaUndoneBy      = "undone_by"

	// The failure threshold, per batch (BatchMeta): the finish script suspends the batch when a
	// failed outcome makes failed/terminal exceed max_failure_ratio with terminal >= min_outcomes,
	// both counted from failed_base/terminal_base (the counts when it was last resumed).
	metaMaxFailureRatio = "max_failure_ratio" // "0" or absent: no threshold
	metaMinOutcomes     = "min_outcomes"
	metaFailedBase      = "failed_base"
	metaTerminalBase    = "terminal_base"
	metaSuspendedAt     = "suspended_at"   // set while suspended: its tasks are held (RFC 3339)
	metaSuspendReason   = "suspend_reason" // why, for status
	metaNotify          = "notify"         // the webhook URL told when the batch is done or suspended
	metaDoneAnnounced   = "done_announced" // "1" once the batch_done event is in the outbox
	metaDoneStreamed    = "done_streamed"  // "1" once the batch_done event is on the outcome stream

	// Per-provider counters, "<prefix><provider>": tasks enqueued, outcomes, failed outcomes. They
	// add up to total and terminal unless something counted without a provider (reconcile's
	// additions to total; batches made before they existed): BatchInfo.ByProvider says.
	metaTotalOf    = "total:"
	metaTerminalOf = "terminal:"
	metaFailedOf   = "failed:"
)

// Suffixes of reaper:batch:<id>:try fields, after the target key.
const (
	tryCalls     = "|n"      // provider calls: the retry budget
	tryFirst     = "|f"      // first attempt (unix ms)
	tryLastCode  = "|e"      // last error code
	tryOutage    = "|o"      // calls failed while the breaker was open
	tryThrottles = "|t"      // throttle answers
	tryCallID    = "|c"      // the last call counted (note is idempotent per call)
	tryNights    = "|nights" // overnight windows given so far
	tryWindow    = "|window" // the window it is in or parked for (opening, unix ms)
	tryNext      = "|next"   // its next attempt (unix ms)
	tryWTries    = "|wtries" // failures inside that window (drive the backoff)
)

// tryFields are every suffix of a task's try-hash entries: the finish script deletes them all.
var tryFields = []string{tryCalls, tryFirst, tryLastCode, tryOutage, tryThrottles, tryCallID, tryNights,
	tryWindow, tryNext, tryWTries}

// schemaNames fills the schema's names into a Lua script's source: {{total}}, {{|n}} and so on. The
// names live once, here; a script says which it uses without spelling them. (Passing them as ARGV on
// every call would cost the hottest script, finish, a dozen arguments per outcome.)
var schemaNames = func() *strings.Replacer {
	pairs := []string{}
	for _, f := range []string{metaID, metaCreatedAt, metaSubmittedBy, metaSource, metaNote, metaTotal,
		metaDuplicates, metaTerminal, metaSealed, metaSealedAt, metaCancelledAt, metaFirstOutcome, metaLastOutcome,
		metaMaxFailureRatio, metaMinOutcomes, metaFailedBase, metaTerminalBase, metaSuspendedAt, metaSuspendReason,
		metaNotify, metaDoneAnnounced, metaDoneStreamed, streamField, streamEventField, metaTotalOf, metaTerminalOf, metaFailedOf} {
		pairs = append(pairs, "{{"+f+"}}", f)
	}
	for _, f := range tryFields {
		pairs = append(pairs, "{{"+f+"}}", f)
	}
	for o, c := range outcomeCodes {
		pairs = append(pairs, "{{code:"+string(o)+"}}", c)
	}
	return strings.NewReplacer(pairs...)
}()

// luaWithSchema returns src with the schema's names filled in; it panics on a name it does not know,
// so a typo fails every test at init rather than writing a field nobody reads.
func luaWithSchema(src string) string {
	out := schemaNames.Replace(src)
	if i := strings.Index(out, "{{"); i >= 0 {
		end := min(len(out), i+24)
		panic("jobs: unknown schema name in Lua script: " + out[i:end])
	}
	return out
}
