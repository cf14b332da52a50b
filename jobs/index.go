package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// Index is the retention index: targets registered with a due time ("delete this in 30 days"), for
// providers whose listing reaper cannot search (MSS) or for anything a producer wants deleted later.
// A policy with source "index" selects the due registrations and deletes them as a batch.
//
// Keys, per provider:
//
//	reaper:index:<provider>        ZSET target key -> due time (unix ms)
//	reaper:index:<provider>:t      HASH target key -> target JSON
type Index struct {
	rdb redis.UniversalClient
	// Fill applies config defaults before a target's key is computed (the wiring passes config.Config.FillTarget).
	fill func(*providers.Target)
}

// NewIndex returns the index on rdb. fill may be nil.
func NewIndex(rdb redis.UniversalClient, fill func(*providers.Target)) *Index {
	if fill == nil {
		fill = func(*providers.Target) {}
	}
	return &Index{rdb: rdb, fill: fill}
}

// Register records that t is to be deleted at or after due. Registering the same target again
// moves its due time.
func (x *Index) Register(ctx context.Context, t providers.Target, due time.Time) error {
	x.fill(&t)
	if err := t.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	key := t.Key()
	_, err = x.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, indexTargetsKey(t.Provider), key, body)
		p.ZAdd(ctx, indexKey(t.Provider), redis.Z{Score: float64(due.UnixMilli()), Member: key})
		return nil
	})
	if err != nil {
		return fmt.Errorf("register %s: %w", key, err)
	}
	return nil
}

// Unregister cancels a registration; it reports whether there was one.
func (x *Index) Unregister(ctx context.Context, t providers.Target) (bool, error) {
	x.fill(&t)
	key := t.Key()
	var removed *redis.IntCmd
	_, err := x.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		removed = p.ZRem(ctx, indexKey(t.Provider), key)
		p.HDel(ctx, indexTargetsKey(t.Provider), key)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("unregister %s: %w", key, err)
	}
	return removed.Val() == 1, nil
}

// Due calls fn, oldest first, for every registration of provider n due at or before `at`, reading
// page by page.
func (x *Index) Due(ctx context.Context, n providers.Name, at time.Time, fn func(t providers.Target, due time.Time) error) error {
	const page = 1000
	max := strconv.FormatInt(at.UnixMilli(), 10)
	for offset := int64(0); ; offset += page {
		zs, err := x.rdb.ZRangeByScoreWithScores(ctx, indexKey(n), &redis.ZRangeBy{Min: "-inf", Max: max, Offset: offset, Count: page}).Result()
		if err != nil {
			return fmt.Errorf("index %s: %w", n, err)
		}
		if len(zs) == 0 {
			return nil
		}
		keys := make([]string, len(zs))
		for i, z := range zs {
			keys[i] = z.Member.(string)
		}
		bodies, err := x.rdb.HMGet(ctx, indexTargetsKey(n), keys...).Result()
		if err != nil {
			return fmt.Errorf("index %s: %w", n, err)
		}
		for i, b := range bodies {
			s, ok := b.(string)
			if !ok {
				continue // unregistered between the two reads
			}
			var t providers.Target
			if err := json.Unmarshal([]byte(s), &t); err != nil {
				return fmt.Errorf("index %s: corrupt registration %s: %w", n, keys[i], err)
			}
			if err := fn(t, time.UnixMilli(int64(zs[i].Score))); err != nil {
				return err
			}
		}
		if len(zs) < page {
			return nil
		}
	}
}

// Remove drops the registrations of targets whose deletion has been enqueued, unless they were
// registered again with a later due time meanwhile (a registration due after `at` stays).
func (x *Index) Remove(ctx context.Context, at time.Time, targets ...providers.Target) error {
	_, err := x.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range targets {
			x.fill(&t)
			removeDueScript.Eval(ctx, p, []string{indexKey(t.Provider), indexTargetsKey(t.Provider)}, t.Key(), at.UnixMilli())
		}
		return nil
	})
	return err
}

// removeDueScript removes a registration only if it is still due at ARGV[2].
//
//	KEYS[1] reaper:index:<provider>  KEYS[2] reaper:index:<provider>:t
//	ARGV[1] target key  ARGV[2] unix ms
var removeDueScript = redis.NewScript(`
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if due and tonumber(due) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
`)

// Count returns how many registrations provider n has, due or not.
func (x *Index) Count(ctx context.Context, n providers.Name) (int64, error) {
	return x.rdb.ZCard(ctx, indexKey(n)).Result()
}

// RegisterAll registers every target, due at due, parallel at a time, and returns how many it
// registered per provider. It stops at the first error, with the counts so far.
func (x *Index) RegisterAll(ctx context.Context, targets iter.Seq[providers.Target], due time.Time, parallel int) (map[providers.Name]int, error) {
	done := newProviderCounts()
	err := forEach(ctx, parallel, targets, func(ctx context.Context, t providers.Target) error {
		if err := x.Register(ctx, t, due); err != nil {
			return err
		}
		done.add(t.Provider, 1)
		return nil
	})
	return done.byProvider(), err
}

// UnregisterAll cancels every target's registration, parallel at a time, and returns how many targets
// it went through and how many of them had one. It stops at the first error, with the counts so far.
func (x *Index) UnregisterAll(ctx context.Context, targets iter.Seq[providers.Target], parallel int) (seen, had int, err error) {
	all, registered := newProviderCounts(), newProviderCounts()
	err = forEach(ctx, parallel, targets, func(ctx context.Context, t providers.Target) error {
		ok, err := x.Unregister(ctx, t)
		if err != nil {
			return err
		}
		all.add(t.Provider, 1)
		if ok {
			registered.add(t.Provider, 1)
		}
		return nil
	})
	return all.total(), registered.total(), err
}
