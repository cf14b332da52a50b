package jobstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrInjected is the error a FaultHook's failed call returns.
var ErrInjected = errors.New("injected Redis fault")

// errDropped is what a dropped call returns: the command ran in Redis, but its reply was lost, as when
// a connection breaks after the write. It is a net.Error, as go-redis's own would be.
type errDropped struct{}

func (errDropped) Error() string {
	return "injected Redis fault: connection dropped after the command ran"
}
func (errDropped) Timeout() bool   { return true }
func (errDropped) Temporary() bool { return true }

var _ net.Error = errDropped{}

// Match picks the Redis commands a fault applies to.
type Match func(cmd redis.Cmder) bool

// Command matches a command by name (case-insensitive), such as "hexists" or "evalsha".
func Command(name string) Match {
	return func(cmd redis.Cmder) bool { return strings.EqualFold(cmd.Name(), name) }
}

// Script matches runs of a Lua script (EVAL or EVALSHA) by its SHA1, whatever the keys.
func Script(sha string) Match {
	return func(cmd redis.Cmder) bool {
		args := cmd.Args()
		switch strings.ToLower(cmd.Name()) {
		case "evalsha", "evalsha_ro":
			return len(args) > 1 && fmt.Sprint(args[1]) == sha
		case "eval", "eval_ro":
			return len(args) > 1 && fmt.Sprint(args[1]) != "" && redis.NewScript(fmt.Sprint(args[1])).Hash() == sha
		}
		return false
	}
}

// KeyContains narrows m to commands whose first key (or, for scripts, any argument) contains s.
func (m Match) KeyContains(s string) Match {
	return func(cmd redis.Cmder) bool {
		if !m(cmd) {
			return false
		}
		for _, a := range cmd.Args()[1:] {
			if str, ok := a.(string); ok && strings.Contains(str, s) {
				return true
			}
		}
		return false
	}
}

// FaultHook is a go-redis hook that fails or drops chosen Redis calls, for tests of what happens when
// Redis does what it does in production: a failover, a restart, a network blip. Add it to the client
// the code under test uses (rdb.AddHook(h)); a pipeline containing a chosen command fails as a whole,
// as a broken connection would fail it.
//
// A failed call never reaches Redis; a dropped one runs in Redis and its reply is lost.
type FaultHook struct {
	mu     sync.Mutex
	faults []*fault
}

type fault struct {
	label string
	match Match
	nth   int // fire on the nth matching call from when it was added (1-based)
	seen  int
	drop  bool
	fired bool
}

// NewFaultHook returns a hook with no faults armed.
func NewFaultHook() *FaultHook { return &FaultHook{} }

// FailNth arms a fault: the nth call matching m (counted from now) fails without reaching Redis.
func (h *FaultHook) FailNth(label string, m Match, nth int) { h.arm(label, m, nth, false) }

// DropNth arms a fault: the nth call matching m runs in Redis, and the caller gets a connection error
// instead of its reply.
func (h *FaultHook) DropNth(label string, m Match, nth int) { h.arm(label, m, nth, true) }

func (h *FaultHook) arm(label string, m Match, nth int, drop bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, &fault{label: label, match: m, nth: max(1, nth), drop: drop})
}

// Fired reports the labels of the faults that have fired.
func (h *FaultHook) Fired() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, f := range h.faults {
		if f.fired {
			out = append(out, f.label)
		}
	}
	return out
}

// Reset disarms every fault.
func (h *FaultHook) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = nil
}

// take returns the fault that fires for these commands, if any.
func (h *FaultHook) take(cmds []redis.Cmder) *fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.faults {
		if f.fired {
			continue
		}
		for _, c := range cmds {
			if f.match(c) {
				f.seen++
				if f.seen == f.nth {
					f.fired = true
					return f
				}
				break
			}
		}
	}
	return nil
}

// rearm makes a fault that fired without effect fire on the next matching call.
func (h *FaultHook) rearm(f *fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f.fired = false
	f.seen--
}

func (f *fault) err() error {
	if f.drop {
		return errDropped{}
	}
	return fmt.Errorf("%w (%s)", ErrInjected, f.label)
}

// DialHook implements redis.Hook.
func (h *FaultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h *FaultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f := h.take([]redis.Cmder{cmd})
		if f == nil {
			return next(ctx, cmd)
		}
		if f.drop {
			if err := next(ctx, cmd); err != nil {
				h.rearm(f) // Redis answered an error (NOSCRIPT, say): nothing ran, nothing to drop
				return err
			}
		}
		err := f.err()
		cmd.SetErr(err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *FaultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		f := h.take(cmds)
		if f == nil {
			return next(ctx, cmds)
		}
		if f.drop {
			if err := next(ctx, cmds); err != nil {
				h.rearm(f)
				return err
			}
		}
		err := f.err()
		for _, c := range cmds {
			c.SetErr(err)
		}
		return err
	}
}
