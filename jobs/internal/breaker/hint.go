package breaker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// HintRecheck is how often a process re-reads the fleet's hint: an outage one process sees holds the
// others, and a successful probe releases them, within this time. Held tasks ask again in steps of it
// too. 100 ms: after a successful probe the fleet is back within 200 ms (a read, then a step), for
// one pipeline (the hint's GET and PTTL, the streak's GET) per provider per process ten times a second
// while tasks run.
const HintRecheck = 100 * time.Millisecond

// probeWindow is how long after the open period the hint lives on, marking "probe due": the process
// that claims the probe calls the provider, the others hold. It bounds a probe (and a prober that
// died) too: with no answer within it, the hint expires and every process decides on its own again.
const probeWindow = 10 * time.Second

// hintTimeout bounds each hint command: the hint is advice, and a slow Redis must not slow deletions.
const hintTimeout = 500 * time.Millisecond

// fleetTripLocal is how many failures in a row a process must see itself before the fleet's streak
// trips its breaker (or Settings.ConsecutiveFailures, if lower). One would trip it on a streak that
// successes elsewhere broke but did not yet end: with ten processes at 100 calls/s and one call in
// ten failing at random, simulated, about 100 trips per million calls against 8 for per-process
// counting; two makes it about 50 (at one call in twenty failing, 1.5 against 0.5). In an outage every
// process fails at once, so its second failure comes at about the same time as the fleet's fifth.
const fleetTripLocal = 2

// streakTTL is how long the fleet's failure streak lives after its last failure: a streak that no
// success ended (its processes stopped calling) is forgotten after it.
const streakTTL = time.Minute

// Hint is the fleet's shared view of one provider's breaker, kept in Redis so that an outage one
// worker process sees holds every other, while only one process at a time probes. Three keys:
//
//	hint   (key)        the open period in ms, with PX period+probeWindow: while its TTL exceeds
//	                    probeWindow the provider's breaker is open everywhere; in the last probeWindow
//	                    a probe is due; a successful probe deletes it.
//	probe  (probeKey)   the prober's token, SET NX PX probeWindow: one probe across the fleet.
//	streak (streakKey)  the fleet's failures in a row, INCR PX streakTTL: a process's closed breaker
//	                    trips when a failure brings it to Settings.ConsecutiveFailures and is its own
//	                    second in a row (fleetTripLocal), so a fleet of N processes spends about that
//	                    many calls on an outage's start, not N times as many. A success deletes it in
//	                    a process that knows it runs: one that added to it, or whose last read of the
//	                    hint saw it. A successful probe deletes it with the hint.
//
// The TTLs are relative (PX), never an expiry computed from a process's clock. Every Redis error is
// ignored (fail open): the process's own breaker decides alone, and no deletion waits on the hint.
type Hint struct {
	rdb                      redis.UniversalClient
	key, probeKey, streakKey string
	token                    string
	// streakOn says the fleet's streak runs, as far as this process knows (it added to it, or its
	// last read of the hint saw it): its next success ends it, the only Redis call a success costs.
	streakOn        atomic.Bool
	every           time.Duration
	mu              sync.Mutex
	readAt          time.Time // local clock of the last read (zero: read next time)
	reading         bool
	seen            bool // the last read found the hint
	period, openFor time.Duration
}

// NewHint returns the hint for one provider, under key, probeKey and streakKey (jobs/schema.go
// names them).
func NewHint(rdb redis.UniversalClient, key, probeKey, streakKey string) *Hint {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Hint{rdb: rdb, key: key, probeKey: probeKey, streakKey: streakKey, token: hex.EncodeToString(b[:]), every: HintRecheck}
}

// hintView is one read of the hint.
type hintView struct {
	present bool
	period  time.Duration // the outage's open period
	openFor time.Duration // how long it stays open from the read (<= 0: a probe is due)
}

// read returns the hint as of now, reading Redis at most every HintRecheck. fresh says whether this
// call read it (only a fresh view is news to the machine), and was whether the read before it found
// the hint. One caller reads while the rest go on.
func (h *Hint) read(ctx context.Context, now time.Time) (v hintView, was, fresh bool) {
	h.mu.Lock()
	if h.reading || (!h.readAt.IsZero() && now.Sub(h.readAt) < h.every) {
		h.mu.Unlock()
		return hintView{}, false, false
	}
	h.reading = true
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	var get, streak *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, pttl, streak = p.Get(ctx, h.key), p.PTTL(ctx, h.key), p.Get(ctx, h.streakKey)
		return nil
	})
	if n, _ := streak.Int64(); n > 0 {
		h.streakOn.Store(true)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reading = false
	h.readAt = now
	if err != nil && !errors.Is(err, redis.Nil) {
		return hintView{}, false, false // fail open: no news; ask again next time
	}
	v, was = parseHint(get.Val(), pttl.Val()), h.seen
	h.note(v)
	return v, was, true
}

// parseHint turns the hint's value and TTL into a view.
func parseHint(val string, ttl time.Duration) hintView {
	ms, err := strconv.ParseInt(val, 10, 64)
	if err != nil || ms <= 0 || ttl <= 0 {
		return hintView{} // absent, or not ours to read
	}
	return hintView{present: true, period: time.Duration(ms) * time.Millisecond, openFor: ttl - probeWindow}
}

func (h *Hint) note(v hintView) {
	h.seen, h.period, h.openFor = v.present, v.period, v.openFor
}

// written records what this process just wrote, so its next read is not needed to know it.
func (h *Hint) written(now time.Time, v hintView) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.readAt = now
	h.note(v)
}

// stale makes the next read go to Redis, whenever the last one was.
func (h *Hint) stale() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.readAt = time.Time{}
}

// publish writes the hint after this process's breaker tripped: SET NX, so an outage another
// process has already backed off in keeps its open period (the next read adopts it).
func (h *Hint) publish(ctx context.Context, now time.Time, period time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	ok, err := h.rdb.SetNX(ctx, h.key, period.Milliseconds(), period+probeWindow).Result()
	switch {
	case err != nil:
	case ok:
		h.written(now, hintView{present: true, period: period, openFor: period})
	default:
		h.stale() // someone else's outage: read it next time
	}
}

// claimScript makes the calling process the fleet's prober, unless the hint says the breaker is
// still open or another process holds the claim.
//
//	KEYS[1] the hint, KEYS[2] the probe claim
//	ARGV[1] the claimant's token, ARGV[2] probeWindow in ms
//	returns {1, pttl, value} claimed; {0, pttl, value} still open; {2, pttl, value} another probes
var claimScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
local val = redis.call('GET', KEYS[1]) or ''
if ttl > tonumber(ARGV[2]) then
  return {0, ttl, val}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, ttl, val}
end
return {2, ttl, val}
`)

// claim asks to probe. It returns ok=true to go ahead (a Redis error included: fail open), or the
// hint as Redis has it.
func (h *Hint) claim(ctx context.Context, now time.Time) (ok bool, v hintView) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	res, err := claimScript.Run(ctx, h.rdb, []string{h.key, h.probeKey}, h.token, probeWindow.Milliseconds()).Slice()
	if err != nil || len(res) != 3 {
		return true, hintView{}
	}
	code, _ := res[0].(int64)
	ttl, _ := res[1].(int64)
	val, _ := res[2].(string)
	v = parseHint(val, time.Duration(ttl)*time.Millisecond)
	h.written(now, v)
	return code == 1, v
}

// streakScript adds a failure to the fleet's streak and returns its length.
//
//	KEYS[1] the streak  ARGV[1] streakTTL in ms
var streakScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
`)

// failed adds a closed breaker's failure to the fleet's streak and returns the streak's length, this
// failure included; 0 when Redis did not answer (the process's own count decides alone).
func (h *Hint) failed(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	h.streakOn.Store(true)
	n, err := streakScript.Run(ctx, h.rdb, []string{h.streakKey}, streakTTL.Milliseconds()).Int64()
	if err != nil {
		return 0
	}
	return n
}

// succeeded ends the fleet's streak after a success, when this process knows it runs (streakOn).
// Successes cost no Redis call otherwise, so a streak can outlive a success in a process that has not
// read it yet, by up to HintRecheck: which is why the fleet's streak trips a process only at its own
// second failure in a row.
func (h *Hint) succeeded(ctx context.Context) {
	if !h.streakOn.Load() || !h.streakOn.CompareAndSwap(true, false) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	if err := h.rdb.Del(ctx, h.streakKey).Err(); err != nil {
		h.streakOn.Store(true) // try again at the next success
	}
}

// probedScript ends a probe: the claim is dropped (if still ours), and the hint and the failure
// streak deleted (the probe succeeded: the outage's failures are not the start of the next one) or
// the hint rewritten for the next open period (it failed).
//
//	KEYS[1] the hint, KEYS[2] the probe claim, KEYS[3] the failure streak
//	ARGV[1] the prober's token, ARGV[2] the next open period in ms (0: succeeded, -1: leave the
//	hint as it is), ARGV[3] probeWindow in ms
var probedScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
local period = tonumber(ARGV[2])
if period == 0 then
  redis.call('DEL', KEYS[1], KEYS[3])
elseif period > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', period + tonumber(ARGV[3]))
end
return 1
`)

// probed reports a probe's end: next is the next open period after a failed probe, 0 after a
// successful one, -1 when the probe's answer no longer counts (the breaker moved on meanwhile).
func (h *Hint) probed(ctx context.Context, now time.Time, next time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	ms := next.Milliseconds()
	if next < 0 {
		ms = -1
	}
	if err := probedScript.Run(ctx, h.rdb, []string{h.key, h.probeKey, h.streakKey}, h.token, ms, probeWindow.Milliseconds()).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return
	}
	switch {
	case next == 0:
		h.written(now, hintView{})
	case next > 0:
		h.written(now, hintView{present: true, period: next, openFor: next})
	}
}
