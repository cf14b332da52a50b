package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// LeaderKey is the Redis key of the scheduler's leader lease: a string holding the leader's replica
// id, expiring lease_ttl after its last renewal.
const LeaderKey = "reaper:scheduler:leader"

// Lease is a leader lease in Redis: whoever holds it is the one replica that fires policy runs.
//
// The expiry is Redis's own (PX), so replicas never compare their clocks: a holder that stops renewing
// (killed, partitioned, paused) loses the lease ttl after its last renewal, wherever its clock is.
// Only the holder renews or releases (compare-and-pexpire, compare-and-del), so a replica that lost the
// lease while paused cannot extend or delete its successor's. The lease makes one replica fire each
// tick; the run-id claims (see Scheduler) make sure that even two replicas believing they lead never
// run the same tick twice.
type Lease struct {
	rdb redis.UniversalClient
	key string
	id  string
	ttl time.Duration
}

// NewLease returns the lease at key for replica id, lasting ttl without renewal.
func NewLease(rdb redis.UniversalClient, key, id string, ttl time.Duration) *Lease {
	return &Lease{rdb: rdb, key: key, id: id, ttl: ttl}
}

// Acquire takes the lease if nobody holds it (SET NX PX) and reports whether this replica got it.
// It does not report true for a lease this replica already holds: use Hold for that.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	err := l.rdb.SetArgs(ctx, l.key, l.id, redis.SetArgs{Mode: "NX", TTL: l.ttl}).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", l.key, err)
	}
	return true, nil
}

// renewScript extends the lease only for its holder.
//
//	KEYS[1] lease key
//	ARGV[1] replica id  ARGV[2] ttl (ms)
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// Renew extends the lease by its ttl if this replica holds it, and reports whether it does.
func (l *Lease) Renew(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.id, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

// Hold keeps or takes the lease: it renews the lease this replica holds, or acquires a free one. It
// reports whether this replica holds the lease afterwards.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	if ok, err := l.Renew(ctx); ok || err != nil {
		return ok, err
	}
	return l.Acquire(ctx)
}

// releaseScript deletes the lease only for its holder.
//
//	KEYS[1] lease key
//	ARGV[1] replica id
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Release gives the lease up if this replica holds it, so a successor takes over at its next tick
// instead of after the ttl. It reports whether this replica held it.
func (l *Lease) Release(ctx context.Context) (bool, error) {
	n, err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.id).Int()
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

// Holder returns the id of the replica holding the lease, "" when nobody does.
func (l *Lease) Holder(ctx context.Context) (string, error) {
	id, err := l.rdb.Get(ctx, l.key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease %s: %w", l.key, err)
	}
	return id, nil
}
