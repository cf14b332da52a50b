// Package jobs is reaper's deletion pipeline: task types and payloads, the producer that enqueues them
// into Redis through asynq, the handler that deletes through a shared rate limit and a circuit breaker,
// the retry policy keyed on each provider's error classes, and the outcome store that records exactly
// one outcome per task.
//
// jobs knows nothing of HTTP or signatures: it sees providers.Deleter and providers.Class only.
package jobs

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/reaper-media/reaper/providers"
)

// PayloadVersion is the version of the task payload this release writes: 2, the compact binary form
// (codec.go). It reads version 1 (JSON) too, for tasks queued by an earlier release. A worker refuses
// (records failed/invalid) payloads of a version it does not know instead of guessing.
const PayloadVersion = 2

// Payload is a delete task's body in Redis.
type Payload struct {
	V     int    `json:"v"`
	Batch string `json:"batch"`
	// EnqueueID is unique per enqueue. It tells a re-run of this task (same id) from another enqueue
	// of the same target in the same batch (a duplicate line).
	EnqueueID string           `json:"eid"`
	Target    providers.Target `json:"target"`
	// Op is what the task does to its target: "" deletes it, OpRestore puts a recycled item back
	// (an undo batch's tasks).
	Op string `json:"op,omitempty"`
	// RecycledItemID is the recycle-bin item a restore puts back (the deletion's record has it).
	RecycledItemID int64 `json:"rid,omitempty"`
	// Conflict is a restore's strategy when the original path is taken again ("" is ask).
	Conflict providers.ConflictStrategy `json:"conflict,omitempty"`
}

// checkEnqueueID: 1 to 64 characters of [0-9A-Za-z_-] (what the compact record format can hold
// between its separators; a producer makes 6 base64 characters, releases before 2 made 16 hex digits).
func checkEnqueueID(eid string) error {
	if eid == "" {
		return errors.New("field eid: is required")
	}
	if len(eid) > 64 || strings.ContainsFunc(eid, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-')
	}) {
		return errors.New("field eid: must be 1 to 64 characters of 0-9, a-z, A-Z, '_' and '-'")
	}
	return nil
}

// OpRestore is Payload.Op of a restore task.
const OpRestore = "restore"

// String names the task's target (and the recycled item of a restore), for errors.
func (p Payload) String() string {
	if p.Op == OpRestore {
		return fmt.Sprintf("restore of recycled item %d (%s)", p.RecycledItemID, p.Target)
	}
	return p.Target.String()
}

// taskType is the asynq task type of the task.
func (p Payload) taskType() string {
	if p.Op == OpRestore {
		return restoreTaskType(p.Target.Provider)
	}
	return TaskType(p.Target.Provider)
}

// taskID is the asynq task id: a delete's is its target's (TaskID), a restore's its recycled item's,
// so the same item queued twice is a duplicate while a delete of the same path is not.
func (p Payload) taskID() string {
	if p.Op == OpRestore {
		return shortID(p.Target.Key() + "\n" + strconv.FormatInt(p.RecycledItemID, 10))
	}
	return TaskID(p.Target)
}

// TaskType is the asynq task type for deletes at provider n: "del:<n>", short because every queued
// task carries it. Workers also run "reaper:delete:<n>", what releases before 2 queued
// (legacyTaskTypes).
func TaskType(n providers.Name) string { return "del:" + string(n) }

// restoreTaskType is the asynq task type for an undo's restores at provider n; they share the
// provider's queue (and so its rate limit and breaker) with its deletes.
func restoreTaskType(n providers.Name) string { return "rst:" + string(n) }

// legacyTaskTypes are the task types earlier releases queued for provider n, which workers still run.
func legacyTaskTypes(n providers.Name) []string {
	return []string{"reaper:delete:" + string(n), "reaper:restore:" + string(n)}
}

// QueueName is the asynq queue of provider n. Each provider has its own, so one provider's outage or
// throttle never starves the others.
func QueueName(n providers.Name) string { return "reaper-" + string(n) }

// TaskID is the asynq task id of a target: derived from its key, so enqueueing the same target while
// it is still queued fails with asynq's ErrTaskIDConflict and is reported as a duplicate.
//
// It is 84 bits of the key's SHA-256 (14 characters of URL-safe base64). A task's id is in its key,
// its queue list and its message, so each character costs three bytes a task; at 84 bits two
// different targets share an id (and the second would be reported a duplicate) with a probability
// under 3e-12 among ten million queued ones. Releases before 2 used "del-" and 128 hex bits.
func TaskID(t providers.Target) string { return shortID(t.Key()) }

// shortID is 84 bits of s's SHA-256 in URL-safe base64 (14 characters).
func shortID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:11])[:14]
}

// EncodePayload validates p and serialises it.
func EncodePayload(p Payload) ([]byte, error) {
	if p.V == 0 {
		p.V = PayloadVersion
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.V == 1 {
		return json.Marshal(p)
	}
	return encodeCompact(p)
}

// ErrInvalidPayload marks a payload the worker cannot process. It is recorded as failed with code
// "invalid" and never retried.
var ErrInvalidPayload = errors.New("invalid payload")

// DecodePayload parses and validates a task body, as strictly as a manifest line (checkStrictJSON):
// anyone who can write to Redis can queue a body, and one that JSON would reinterpret (a duplicated
// file_id, "FILE_ID", invalid UTF-8) must be refused, never deleted as something else.
func DecodePayload(b []byte) (Payload, error) {
	var p Payload
	if len(b) > 0 && b[0] == 2 {
		p, err := decodeCompact(b)
		if err == nil {
			err = p.validate()
		}
		if err != nil {
			return p, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
		}
		return p, nil
	}
	if err := checkStrictJSON(b, payloadType); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	if err := p.validate(); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	if len(p.Target.DeleteParts) == 0 {
		p.Target.DeleteParts = nil // as DecodeLine: one form for "no parts"
	}
	return p, nil
}

var payloadType = reflect.TypeFor[Payload]()

func (p Payload) validate() error {
	if p.V != 1 && p.V != PayloadVersion {
		return fmt.Errorf("payload version %d, this worker reads versions 1 and %d", p.V, PayloadVersion)
	}
	if p.Batch == "" {
		return errors.New("field batch: is required")
	}
	if err := checkEnqueueID(p.EnqueueID); err != nil {
		return err
	}
	switch p.Op {
	case "":
		if p.RecycledItemID != 0 || p.Conflict != "" {
			return errors.New("field rid: only a restore task names a recycled item")
		}
	case OpRestore:
		if p.RecycledItemID <= 0 {
			return errors.New("field rid: a restore task needs the recycled item id, a positive integer")
		}
		if _, err := providers.ParseConflictStrategy(string(p.Conflict)); err != nil {
			return fmt.Errorf("field conflict: %w", err)
		}
	default:
		return fmt.Errorf("field op: unknown operation %q (want %q or none)", p.Op, OpRestore)
	}
	return p.Target.Validate()
}
