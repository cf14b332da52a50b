package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/providers"
)

// Window is a daily window of wall-clock time in Loc, such as 01:00 to 05:00 Asia/Shanghai. An End at
// or before Start spans midnight (22:00 to 04:00 ends the next morning). Daylight-saving changes move
// the window with the wall clock: it always opens at Start local time.
type Window struct {
	// Start and End are offsets from midnight (config.ParseClock), each below 24h.
	Start, End time.Duration
	// Loc is the time zone the window is read in; nil means UTC.
	Loc *time.Location
}

func (w Window) loc() *time.Location {
	if w.Loc == nil {
		return time.UTC
	}
	return w.Loc
}

// on returns the window that opens on the local date y-m-d.
func (w Window) on(y int, m time.Month, d int) (start, end time.Time) {
	clock := func(day int, off time.Duration) time.Time {
		return time.Date(y, m, day, int(off/time.Hour), int(off%time.Hour/time.Minute), int(off%time.Minute/time.Second), 0, w.loc())
	}
	start = clock(d, w.Start)
	if w.End > w.Start {
		return start, clock(d, w.End)
	}
	return start, clock(d+1, w.End)
}

// At returns the window containing t, with inside false when t is outside every window.
func (w Window) At(t time.Time) (start, end time.Time, inside bool) {
	y, m, d := t.In(w.loc()).Date()
	for _, k := range []int{-1, 0} { // a window that spans midnight may have opened yesterday
		s, e := w.on(y, m, d+k)
		if !t.Before(s) && t.Before(e) {
			return s, e, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// Next returns the first window that opens after t.
func (w Window) Next(t time.Time) (start, end time.Time) {
	y, m, d := t.In(w.loc()).Date()
	s, e := w.on(y, m, d)
	if s.After(t) {
		return s, e
	}
	return w.on(y, m, d+1)
}

// validate reports a window that cannot be used.
func (w Window) validate() error {
	for _, off := range []time.Duration{w.Start, w.End} {
		if off < 0 || off >= 24*time.Hour {
			return fmt.Errorf("window: %s is not a time of day", off)
		}
	}
	if w.Start == w.End {
		return errors.New("window: start and end are the same time")
	}
	return nil
}

// Overnight is the overnight retry window (retry.overnight): its Park method is the handler's Park
// hook. A retry-class failure that has used retry.max_attempts is parked, not failed: it is
// rescheduled into the next window at a slot of its own, so the parked tasks of a day reach the
// provider spread evenly across the window instead of all at its opening. Inside a window a failure
// retries with the normal backoff while the next attempt still falls inside it; otherwise it is parked
// for the next window. A task gets Nights windows, then it fails with the code of its last error.
//
// The spread: each provider's window has a slot counter, and the n-th task parked into it gets the
// offset frac(n/φ) of the window's length (the golden-ratio sequence), which keeps every prefix of
// the slots even across the whole window however many tasks come and whenever they come.
//
// Its state is in the batch's try hash (the try* fields of schema.go), the batch's and the
// provider's parked sets, and a slot counter per provider and window.
//
// A task's entries go when it has its outcome (Store.ParkedTasks drops those of ended tasks). Build
// it with NewOvernight or Pipeline.Overnight.
type Overnight struct {
	// Now is the clock the window is read on (time.Now when nil). Tests move it; set it before the
	// worker starts.
	Now func() time.Time

	nights int
	window Window
	policy RetryPolicy
	store  *Store
}

// OvernightOptions configures NewOvernight.
type OvernightOptions struct {
	// Nights is how many windows a parked task gets before it fails; at least 1.
	Nights int
	Window Window
	// Policy gives the backoff between attempts inside a window (RetryPolicy.Backoff).
	Policy RetryPolicy
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewOvernight returns the overnight window keeping its state in store.
func NewOvernight(store *Store, o OvernightOptions) (*Overnight, error) {
	if o.Nights < 1 {
		return nil, fmt.Errorf("overnight: nights must be at least 1, got %d", o.Nights)
	}
	if err := o.Window.validate(); err != nil {
		return nil, fmt.Errorf("overnight: %w", err)
	}
	return &Overnight{Now: o.Now, nights: o.Nights, window: o.Window, policy: o.Policy, store: store}, nil
}

func (o *Overnight) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Park is the handler's Park hook: it decides when a retry-class failure that has used its attempts
// runs again (ok) or that it ends failed (!ok, after its Nights windows). An error means Redis could
// not record the decision; the handler then fails this run and asks again on the next.
func (o *Overnight) Park(ctx context.Context, p Payload, _ int, _ error) (after time.Duration, ok bool, err error) {
	now := o.now()
	key := p.Target.Key()
	st, err := o.store.parkState(ctx, p.Batch, key)
	if err != nil {
		return 0, false, fmt.Errorf("overnight: %w", err)
	}
	save := func(next parkState) (time.Duration, bool, error) {
		if err := o.store.savePark(ctx, p.Target.Provider, p.Batch, key, next); err != nil {
			return 0, false, fmt.Errorf("overnight: %w", err)
		}
		return time.UnixMilli(next.Next).Sub(now), true, nil
	}

	if start, end, inside := o.window.At(now); inside {
		// A window the task was not parked for (its attempts ran out at night, or it was parked for
		// an earlier one and ran late) counts as one of its nights.
		nights, tries := st.Nights, st.Tries
		if st.Window != start.UnixMilli() {
			nights, tries = nights+1, 0
		}
		if next := now.Add(o.policy.Backoff(tries)); nights <= o.nights && next.Before(end) {
			return save(parkState{Nights: nights, Window: start.UnixMilli(), Next: next.UnixMilli(), Tries: tries + 1})
		}
	}

	start, end := o.window.Next(now)
	nights, next := st.Nights, st.Next
	if st.Window != start.UnixMilli() {
		nights++
		next = 0
	}
	if nights > o.nights {
		return 0, false, nil
	}
	if next < start.UnixMilli() || next >= end.UnixMilli() {
		// A new slot. Brought forward and failed again before its window (`retry --now` by day), a
		// task keeps the slot it had.
		n, err := o.store.takeSlot(ctx, p.Target.Provider, start, end.Sub(now)+24*time.Hour)
		if err != nil {
			return 0, false, fmt.Errorf("overnight: %w", err)
		}
		next = start.Add(spread(n, end.Sub(start))).UnixMilli()
	}
	return save(parkState{Nights: nights, Window: start.UnixMilli(), Next: next})
}

// goldenRatio is 1/φ, the step of the most evenly spread sequence there is (the Weyl sequence of the
// golden ratio): its first n points, for every n, split [0, 1) into gaps of at most three sizes.
const goldenRatio = 0.6180339887498949

// spread is the offset of the n-th (1-based) slot of a window of the given length. Slots come from a
// counter per provider and window, so however many tasks a day parks, and whenever it parks them,
// they are spread evenly across the whole window: no tenth of it ever holds much more than a tenth.
func spread(n int64, length time.Duration) time.Duration {
	frac := math.Mod(float64(n)*goldenRatio, 1)
	return time.Duration(frac * float64(length))
}

// parkState is a task's overnight bookkeeping, in the batch's try hash.
type parkState struct {
	Nights int   // windows given so far
	Window int64 // the window it is in or parked for: its opening, unix ms (0: none)
	Next   int64 // its next attempt, unix ms
	Tries  int   // failures inside Window (drive the backoff)
}

// parkFields are the try-hash suffixes holding parkState, in its order.
var parkFields = []string{tryNights, tryWindow, tryNext, tryWTries}

func (s *Store) parkState(ctx context.Context, batch, key string) (parkState, error) {
	fields := make([]string, len(parkFields))
	for i, f := range parkFields {
		fields[i] = key + f
	}
	vals, err := s.rdb.HMGet(ctx, tryKey(batch), fields...).Result()
	if err != nil {
		return parkState{}, err
	}
	num := func(i int) int64 {
		str, _ := vals[i].(string)
		n, _ := strconv.ParseInt(str, 10, 64)
		return n
	}
	return parkState{Nights: int(num(0)), Window: num(1), Next: num(2), Tries: int(num(3))}, nil
}

// savePark records st for the task and puts it in the batch's and the provider's parked sets at its
// next attempt.
func (s *Store) savePark(ctx context.Context, n providers.Name, batch, key string, st parkState) error {
	ttl := s.retention
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, tryKey(batch), key+tryNights, st.Nights, key+tryWindow, st.Window, key+tryNext, st.Next,
			key+tryWTries, st.Tries)
		p.Expire(ctx, tryKey(batch), ttl)
		p.ZAdd(ctx, parkedKey(batch), redis.Z{Score: float64(st.Next), Member: key})
		p.Expire(ctx, parkedKey(batch), ttl)
		p.ZAdd(ctx, providerParkedKey(n), redis.Z{Score: float64(st.Next), Member: batch + "\n" + key})
		return nil
	})
	return err
}

// takeSlot hands out the next slot number (1, 2, ...) of provider n's window opening at start. The
// counter lives for ttl, relative to Redis's own clock: an absolute expiry computed from ours would
// be in Redis's past whenever the two clocks disagree (other hosts, or a test's moved clock).
func (s *Store) takeSlot(ctx context.Context, n providers.Name, start time.Time, ttl time.Duration) (int64, error) {
	var incr *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, slotKey(n, start))
		p.Expire(ctx, slotKey(n, start), ttl)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return incr.Val(), nil
}

// Parked summarises a batch's parked tasks: those the overnight window holds for a later attempt.
type Parked struct {
	Count int64
	// Next is the earliest next attempt of a parked task (zero when none is parked).
	Next time.Time
}

// Parked counts a batch's parked tasks and finds the earliest next attempt.
func (s *Store) Parked(ctx context.Context, batch string) (Parked, error) {
	var out Parked
	err := s.ParkedTasks(ctx, batch, func(_ string, next time.Time) error {
		if out.Count == 0 || next.Before(out.Next) {
			out.Next = next
		}
		out.Count++
		return nil
	})
	return out, err
}

// ParkedTasks calls fn for every parked task of a batch, earliest next attempt first, with its
// target key. (A task leaves the set when its outcome is recorded: the finish script removes it.)
func (s *Store) ParkedTasks(ctx context.Context, batch string, fn func(key string, next time.Time) error) error {
	const page = 1000
	for offset := int64(0); ; offset += page {
		zs, err := s.rdb.ZRangeWithScores(ctx, parkedKey(batch), offset, offset+page-1).Result()
		if err != nil {
			return fmt.Errorf("parked %s: %w", batch, err)
		}
		for _, z := range zs {
			if err := fn(z.Member.(string), time.UnixMilli(int64(z.Score))); err != nil {
				return err
			}
		}
		if len(zs) < page {
			return nil
		}
	}
}

// ParkedByProvider counts every provider's parked tasks across batches, for the parked-tasks metric.
func (s *Store) ParkedByProvider(ctx context.Context) (map[providers.Name]int, error) {
	out := map[providers.Name]int{}
	for _, n := range providers.Names {
		c, err := s.rdb.ZCard(ctx, providerParkedKey(n)).Result()
		if err != nil {
			return nil, err
		}
		out[n] = int(c)
	}
	return out, nil
}

// RunParked brings a batch's parked tasks forward: each one waiting in its provider queue's retry set
// for the overnight window runs now. They keep the windows they have used, so a task that fails
// again by day goes back to its slot in the same window. It returns how many tasks it started.
func (a *Admin) RunParked(ctx context.Context, batch string) (int, error) {
	if _, err := a.store.Batch(ctx, batch); err != nil {
		return 0, err
	}
	parked := map[string]bool{}
	if err := a.store.ParkedTasks(ctx, batch, func(key string, _ time.Time) error {
		parked[key] = true
		return nil
	}); err != nil {
		return 0, err
	}
	if len(parked) == 0 {
		return 0, nil
	}
	started := 0
	for _, n := range providers.Names {
		q := QueueName(n)
		var mine []string
		for page := 1; ; page++ {
			tasks, err := a.insp.ListRetryTasks(q, asynq.PageSize(1000), asynq.Page(page))
			if isQueueNotFound(err) {
				break
			}
			if err != nil {
				return started, fmt.Errorf("list %s: %w", q, err)
			}
			for _, ti := range tasks {
				if p, err := DecodePayload(ti.Payload); err == nil && p.Batch == batch && parked[p.Target.Key()] {
					mine = append(mine, ti.ID)
				}
			}
			if len(tasks) < 1000 {
				break
			}
		}
		n, err := a.runNow(q, mine)
		started += n
		if err != nil {
			return started, err
		}
	}
	return started, nil
}
