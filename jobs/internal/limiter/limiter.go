// Package limiter is the per-provider rate limit every worker process shares through Redis.
//
// Redis holds one number per provider: when its next call slot is free (a GCRA theoretical arrival
// time). Taking a token reserves that slot and moves it on by one interval, and the caller waits until
// the slot's time: slots are handed out back to back across the fleet, so a caller that wakes a little
// late, or a Redis round trip, costs no slot, and an idle limit gives no burst (its first slot is now).
//
// In each process, the tasks waiting for a provider queue up in arrival order, and one goroutine per
// provider reserves their slots shortly before this process's previous slot is due: one Redis call
// reserves consecutive slots for the tasks in line, as many as fit in lead (one at low rates), and no
// herd of waiters polling Redis. When this process's tasks arrive faster than maxLate allows a slot to
// wait for its caller (above about 200 a second), the call also reserves a few spare slots for the
// tasks expected within half of it, which take them without a Redis call, while the limit has room (its
// slots are due at once); a spare not taken in time is dropped (a slot unused, never a call above the
// limit).
package limiter

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// Headroom widens the interval between slots by this fraction of the configured rate's: calls leave
// this process on time only within a few milliseconds, and at 10/s one call more in a provider's second
// is 10% above its limit; 1% wider slots keep jitter below 10 ms out of the next second.
const Headroom = 0.01

// maxLate is how late past its slot a task may still call: half an interval (it stays that far from
// the next slot's call), at least the 10 ms of jitter Headroom absorbs.
func maxLate(iv time.Duration) time.Duration { return max(10*time.Millisecond, iv/2) }

// lead is how long before this process's latest slot is due it reserves the next one: the next
// reservation's Redis round trip and a late wake-up fit in it, so the fleet's slots stay back to back.
const lead = 50 * time.Millisecond

// Limiter is the per-provider rate limit shared by every worker process through Redis.
type Limiter struct {
	rdb redis.Scripter
	key func(providers.Name) string

	mu     sync.Mutex
	queues map[providers.Name]*queue
}

// queue is one provider's waiters in this process, served in order by one goroutine (serve).
type queue struct {
	mu      sync.Mutex
	waiters []*waiter
	serving bool
	// reserving says serve is reserving slots for waiters it took out of line: they are still ahead
	// of a task arriving now, which must not take a spare before them.
	reserving bool
	rate      int // the latest perSecond asked for
	// lastDue is when this process's latest reserved slot is due (this process's clock); spacing is
	// how far apart its consecutive slots were lately (an average): this process's share of the rate.
	lastDue time.Time
	spacing time.Duration
	// handed counts the tasks given a slot, from the line or a spare (tests read it).
	handed int
	// spare are slots reserved for tasks not in line yet, in due order; spareUsed counts those taken
	// since the last reservation (the next reserves at most about twice as many). arrival is the
	// average gap between this process's tasks asking (0: unknown), lastArrival the latest ask.
	spare     []slot
	spareUsed int
	// idle says the latest reservation's first slot was due at once: the limit has room to spare.
	// Only then are spares reserved: where the limit binds, a spare nobody takes in time is a slot
	// the fleet loses.
	idle        bool
	arrival     time.Duration
	lastArrival time.Time
}

type waiter struct{ slot chan slot }

// slot is a waiter's reserved call time, or why it has none.
type slot struct {
	due      time.Time
	interval time.Duration
	err      error
}

// New returns a limiter keeping provider n's state in rdb under "rate:"+key(n) (the key and format
// redis_rate uses, so processes of either kind share one limit).
func New(rdb redis.Scripter, key func(providers.Name) string) *Limiter {
	return &Limiter{rdb: rdb, key: key, queues: map[providers.Name]*queue{}}
}

// Wait takes one token for provider n at perSecond, waiting in place, behind this process's earlier
// waiters for n, until its slot is due. It returns how long it waited (0 when its slot was due at
// once). When the wait would be longer than maxWait it does not wait, unless no other task of this
// process waits (so every process keeps a task in line and the fleet keeps the limit busy): later is
// about how long until a task asking then would wait maxWait, for the caller to reschedule the task
// after. An error is Redis's or ctx's; no token was taken.
func (l *Limiter) Wait(ctx context.Context, n providers.Name, perSecond int, maxWait time.Duration) (waited, later time.Duration, err error) {
	start := time.Now()
	q := l.queue(n)
	var w *waiter
	q.mu.Lock()
	q.rate = perSecond
	if q.spacing == 0 {
		q.spacing = interval(perSecond)
	}
	s, have := slot{}, false
	if len(q.waiters) == 0 && !q.reserving {
		s, have = q.spareLocked(start)
	}
	if !have {
		// This process's latest slot, then one of its slots for each task ahead and this one.
		estimate := max(0, q.lastDue.Sub(start)) + time.Duration(len(q.waiters)+1)*q.spacing
		if len(q.waiters) > 0 && estimate > maxWait {
			q.mu.Unlock()
			// Back when it would wait maxWait at most: asynq runs a rescheduled task only at its next
			// poll for due tasks, so the line must still hold work by then.
			return 0, max(estimate-maxWait, time.Millisecond), nil
		}
		w = &waiter{slot: make(chan slot, 1)}
		q.waiters = append(q.waiters, w)
		l.serveLocked(n, q)
	}
	q.noteArrival(start)
	q.mu.Unlock()

	for {
		if !have {
			select {
			case s = <-w.slot:
			case <-ctx.Done():
				if !q.leave(w) {
					q.pass(<-w.slot) // served meanwhile
				}
				return 0, 0, ctx.Err()
			}
		}
		have = false
		if s.err != nil {
			return 0, 0, s.err
		}
		d := time.Until(s.due)
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				q.pass(s)
				return 0, 0, ctx.Err()
			}
		}
		if time.Since(s.due) <= maxLate(s.interval) {
			if d <= 0 {
				return 0, 0, nil // due at once: no wait worth reporting
			}
			return time.Since(start), 0, nil
		}
		// Woke too late (a stalled process): calling now would crowd this call and the next slots'
		// into less than their intervals, a second above the limit. The slot is given up and the task
		// lines up again, first (a spare still in time is the next slot it would get).
		q.mu.Lock()
		if s, have = q.spareLocked(time.Now()); !have {
			if w == nil {
				w = &waiter{slot: make(chan slot, 1)}
			}
			q.waiters = append([]*waiter{w}, q.waiters...)
			l.serveLocked(n, q)
		}
		q.mu.Unlock()
	}
}

// spareLocked takes the first spare slot still in time at now, dropping those that are not; the
// caller holds q.mu.
func (q *queue) spareLocked(now time.Time) (slot, bool) {
	for len(q.spare) > 0 {
		s := q.spare[0]
		q.spare = q.spare[1:]
		if now.Sub(s.due) <= maxLate(s.interval) {
			q.spareUsed++
			q.handed++
			return s, true
		}
	}
	q.spare = nil
	return slot{}, false
}

// noteArrival adds a task's ask at now to the average gap between asks; the caller holds q.mu.
func (q *queue) noteArrival(now time.Time) {
	if !q.lastArrival.IsZero() {
		gap := min(now.Sub(q.lastArrival), time.Second)
		if q.arrival == 0 {
			q.arrival = gap
		} else {
			q.arrival = (3*q.arrival + gap) / 4
		}
	}
	q.lastArrival = now
}

// sparesLocked is how many spare slots a reservation for k tasks in line adds: none while the limit
// binds (the latest reservation had to wait), else those the tasks arriving at the recent pace would
// take within half of maxLate, at most about twice as many as were taken since the last reservation,
// and within maxSlots. The caller holds q.mu.
func (q *queue) sparesLocked(iv time.Duration, k int) int {
	if !q.idle || q.arrival <= 0 || len(q.spare) > 0 {
		return 0
	}
	return max(0, min(maxSlots(iv)-k, int(maxLate(iv)/2/q.arrival), 2*q.spareUsed+1))
}

// serveLocked starts serve for q unless it runs; the caller holds q.mu.
func (l *Limiter) serveLocked(n providers.Name, q *queue) {
	if !q.serving {
		q.serving = true
		go l.serve(n, q)
	}
}

func (l *Limiter) queue(n providers.Name) *queue {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[n]
	if q == nil {
		q = &queue{}
		l.queues[n] = q
	}
	return q
}

// leave takes w out of the queue; false when it was no longer there (it has been served).
func (q *queue) leave(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, o := range q.waiters {
		if o == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// pass gives a slot its waiter gave up to the next waiter, or keeps it as a spare: a reserved slot is
// spent either way.
func (q *queue) pass(s slot) {
	if s.err != nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) > 0 {
		w := q.waiters[0]
		q.waiters = q.waiters[1:]
		w.slot <- s
		return
	}
	q.spare = append([]slot{s}, q.spare...)
}

// serve reserves slots for q's waiters in order until q is empty: one Redis call for the waiters in
// line, as many as fit in lead (maxSlots). It reserves when this process's latest slot is at most
// lead away: the fleet's slots stay back to back, and a process holds at most about 2*lead of slots
// ahead, so the others' reservations interleave with its own.
func (l *Limiter) serve(n providers.Name, q *queue) {
	ctx := context.Background()
	var line []*waiter
	for {
		q.mu.Lock()
		iv := interval(q.rate)
		ahead := time.Until(q.lastDue) // q.lastDue is zero at first: ahead saturates at its minimum
		q.mu.Unlock()
		if ahead > lead {
			time.Sleep(ahead - lead)
		}
		q.mu.Lock()
		if len(q.waiters) == 0 {
			q.serving = false
			q.mu.Unlock()
			return
		}
		k := min(len(q.waiters), maxSlots(iv))
		line = append(line[:0], q.waiters[:k]...)
		q.waiters = q.waiters[k:]
		q.handed += k
		spares := q.sparesLocked(iv, k)
		q.spareUsed = 0
		q.reserving = true
		q.mu.Unlock()

		wait, err := l.reserve(ctx, n, iv, k+spares)
		if err != nil {
			// Redis is failing: every task in line gets the error now rather than one timeout each,
			// in turn.
			q.mu.Lock()
			line = append(line, q.waiters...)
			q.waiters = nil
			q.reserving = false
			q.mu.Unlock()
			for _, w := range line {
				w.slot <- slot{err: err}
			}
			clear(line)
			continue
		}
		first := time.Now().Add(wait)
		m := k + spares
		last := first.Add(time.Duration(m-1) * iv)
		for i, w := range line {
			w.slot <- slot{due: first.Add(time.Duration(i) * iv), interval: iv}
		}
		clear(line) // no waiter is kept alive by the reused array
		q.mu.Lock()
		q.reserving = false
		q.idle = wait <= 0
		if gap := first.Sub(q.lastDue); gap < 4*q.spacing+time.Second {
			// Consecutive reservations: their gap, per slot, is this process's share of the rate.
			q.spacing = (4*q.spacing + max((gap+last.Sub(first))/time.Duration(m), iv)) / 5
		}
		q.lastDue = last
		for i := k; i < m; i++ {
			s := slot{due: first.Add(time.Duration(i) * iv), interval: iv}
			if len(q.waiters) > 0 { // arrived during the reservation: in line, so first
				q.waiters[0].slot <- s
				q.waiters = q.waiters[1:]
				q.handed++
				continue
			}
			q.spare = append(q.spare, s)
		}
		q.mu.Unlock()
	}
}

// maxSlots is how many slots one reservation takes at most: those that fit in lead, at least one.
// At 10/s that is one; at 100/s four; at high rates it is bounded by the tasks in line.
func maxSlots(iv time.Duration) int { return max(1, int(lead/iv)) }

// interval is the time between two slots at perSecond, Headroom included.
func interval(perSecond int) time.Duration {
	return time.Duration(float64(time.Second) * (1 + Headroom) / float64(max(perSecond, 1)))
}

// reserveScript reserves the provider's next free slots and returns how long until the first is due
// (the others follow it an interval apart).
//
//	KEYS[1]  the provider's state: when its next slot is free (GCRA's theoretical arrival time), in
//	         seconds since 2017-01-01 on Redis's clock, as redis_rate keeps it
//	ARGV[1]  the interval between slots, in seconds
//	ARGV[2]  how many consecutive slots to reserve
//
// It returns the seconds until the first reserved slot (0 when the limit was idle), as a string. The
// key expires a second after its last slot: an idle limit starts again at now, with no burst saved up.
var reserveScript = redis.NewScript(`
redis.replicate_commands()
local interval = tonumber(ARGV[1])
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + t[2] / 1000000
local tat = tonumber(redis.call("GET", KEYS[1]) or 0) or 0
if tat < now then tat = now end
local nxt = tat + interval * tonumber(ARGV[2])
redis.call("SET", KEYS[1], string.format("%.6f", nxt), "EX", math.ceil(nxt - now) + 1)
return string.format("%.6f", tat - now)
`)

// reserve runs reserveScript for k slots of provider n.
func (l *Limiter) reserve(ctx context.Context, n providers.Name, iv time.Duration, k int) (time.Duration, error) {
	s, err := reserveScript.Run(ctx, l.rdb, []string{"rate:" + l.key(n)}, strconv.FormatFloat(iv.Seconds(), 'f', 9, 64), k).Text()
	if err != nil {
		return 0, err
	}
	sec, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(sec * float64(time.Second)), nil
}
