package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// IdempotencyKey names a submission so that sending it again (a client retrying after a timeout, a
// CI job run twice) returns the batch the first one created instead of creating a second, as
// Stripe's Idempotency-Key does. Keys are kept for the store's retention (outcomes.retention),
// counted by Redis from the first submission.
type IdempotencyKey struct {
	// Scope is whose key it is: the API token's fingerprint, the CLI's submitter. Two clients that
	// pick the same key never see each other's batch.
	Scope string
	// Key is the client's key (at most MaxIdempotencyKeyLen printable characters); "" means none.
	Key string
	// Request is a digest of what is submitted (RequestDigest of the manifest): the same key sent
	// with another manifest is refused with ErrIdempotencyConflict rather than answered with a batch
	// that does not hold what was sent.
	Request string
}

// MaxIdempotencyKeyLen bounds an idempotency key.
const MaxIdempotencyKeyLen = 255

// ErrIdempotencyConflict is the answer to a key already used for a different request.
var ErrIdempotencyConflict = errors.New("idempotency key already used for a different manifest")

// RequestDigest is the digest IdempotencyKey.Request expects: SHA-256 of the submitted bytes, hex.
func RequestDigest(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// CheckIdempotencyKey reports what is wrong with a client's key ("" is no key, and fine).
func CheckIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKeyLen {
		return fmt.Errorf("must be at most %d bytes, got %d", MaxIdempotencyKeyLen, len(k))
	}
	for _, r := range k {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return errors.New("must be printable text")
		}
	}
	return nil
}

// name is the key's Redis name: a digest, so neither the scope nor the key reaches a key name as typed.
func (k IdempotencyKey) name() string {
	d := sha256.Sum256([]byte(k.Scope + "\x00" + k.Key))
	return idempotencyKey(hex.EncodeToString(d[:]))
}

// SubmitIdempotent is Submit under meta.IdempotencyKey: the first submission with a key claims it
// for its batch (SET NX with a relative expiry) and submits; a later one with the same key and
// request returns that batch's id with replayed set, enqueueing nothing. Without a key it is Submit.
//
// Two submissions at once: one claims the key, the other replays. A claim whose submitter died before
// creating the batch is taken over by the next submission with the key (the batch id is in the
// claim, and creating a batch is itself exclusive), so a crash between the two never leaves a key that
// names no batch forever. A replay of a batch whose enqueue stopped part way (its submitter died)
// returns that batch unsealed: `status` shows it, and reconcile with the manifest completes it.
func (p *Producer) SubmitIdempotent(ctx context.Context, meta BatchMeta, targets iter.Seq[providers.Target], progress func(Summary)) (sum Summary, replayed bool, err error) {
	k := meta.IdempotencyKey
	if k.Key == "" {
		sum, err = p.Submit(ctx, meta, targets, progress)
		return sum, false, err
	}
	if err := CheckIdempotencyKey(k.Key); err != nil {
		return Summary{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	if meta.ID == "" {
		meta.ID = NewBatchID(time.Now())
	}
	for range 3 {
		claimed, err := p.store.rdb.SetNX(ctx, k.name(), meta.ID+" "+k.Request, p.store.retention).Result()
		if err != nil {
			return Summary{}, false, fmt.Errorf("idempotency key: %w", err)
		}
		if !claimed {
			v, err := p.store.rdb.Get(ctx, k.name()).Result()
			if errors.Is(err, redis.Nil) {
				continue // it expired between the two calls: claim it again
			}
			if err != nil {
				return Summary{}, false, fmt.Errorf("idempotency key: %w", err)
			}
			id, req, _ := strings.Cut(v, " ")
			if req != k.Request {
				return Summary{Batch: id}, false, fmt.Errorf("%w (batch %s)", ErrIdempotencyConflict, id)
			}
			if _, err := p.store.Batch(ctx, id); err == nil {
				return Summary{Batch: id}, true, nil
			} else if !errors.Is(err, ErrNoBatch) {
				return Summary{}, false, err
			}
			meta.ID = id // claimed, never created: its submitter died (or is about to create it)
		}
		sum, err := p.Submit(ctx, meta, targets, progress)
		if errors.Is(err, ErrBatchExists) {
			return Summary{Batch: meta.ID}, true, nil // the claim's own submitter was first after all
		}
		return sum, false, err
	}
	return Summary{}, false, errors.New("idempotency key: expired three times while claimed")
}
