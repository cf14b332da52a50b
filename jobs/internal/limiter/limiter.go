// Package limiter is the per-provider rate limit every worker process shares through Redis.
package limiter

import (
	"context"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/reaper-media/reaper/providers"
)

// reserveWindow is how much of a provider's rate one worker process reserves from Redis at a time.
// A reservation is used within the window or dropped, so the shared limit is never exceeded; at most a
// window's worth of a process's share goes unused when its queue runs dry.
const reserveWindow = 50 * time.Millisecond

// maxReserve caps one reservation, so one process cannot take a whole second of a high limit.
const maxReserve = 100

// Limiter is the per-provider rate limit shared by every worker process through Redis: a GCRA
// limiter (redis_rate) whose burst is one reservation. Each process reserves a few tokens at a time
// (50 ms of the provider's rate) and hands them out locally, so a worker at 5,000 tasks/s makes a
// limiter round trip per batch of tokens instead of per task.
type Limiter struct {
	key func(providers.Name) string
	rl  *redis_rate.Limiter
	now func() time.Time

	mu      sync.Mutex
	buckets map[providers.Name]*reservation
}

type reservation struct {
	mu      sync.Mutex // held across the Redis call: one reservation in flight per provider
	tokens  int
	expires time.Time
}

// New returns a limiter over rl, keeping provider n's state under key(n) (redis_rate adds its "rate:").
func New(rl *redis_rate.Limiter, key func(providers.Name) string) *Limiter {
	return &Limiter{rl: rl, key: key, now: time.Now, buckets: map[providers.Name]*reservation{}}
}

// Take takes one token for provider n at perSecond. It returns 0 when the call may go ahead, or how
// long to wait before asking again.
func (l *Limiter) Take(ctx context.Context, n providers.Name, perSecond int) (time.Duration, error) {
	l.mu.Lock()
	r := l.buckets[n]
	if r == nil {
		r = &reservation{}
		l.buckets[n] = r
	}
	l.mu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	now := l.now()
	if r.tokens > 0 && now.Before(r.expires) {
		r.tokens--
		return 0, nil
	}
	want := min(maxReserve, max(1, int(float64(perSecond)*reserveWindow.Seconds())))
	// The burst is one reservation, not redis_rate's default of a whole second: a second's burst on top
	// of the rate let an idle fleet's first second reach twice the provider's limit.
	limit := redis_rate.Limit{Rate: perSecond, Period: time.Second, Burst: want}
	res, err := l.rl.AllowAtMost(ctx, l.key(n), limit, want)
	if err != nil {
		return 0, err
	}
	if res.Allowed == 0 {
		return max(res.RetryAfter, time.Millisecond), nil
	}
	r.tokens, r.expires = res.Allowed-1, now.Add(reserveWindow)
	return 0, nil
}
