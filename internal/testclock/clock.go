// Package testclock is a clock that tests move by hand. It is test code: nothing the binary links may
// import it (cmd/reaper's TestBinaryCarriesNoTestCode checks), so production code takes a
// func() time.Time and tests pass a Clock's Now.
package testclock

import (
	"sync"
	"time"
)

// Clock is a clock tests move by hand, so no test sleeps through a token's lifetime, a throttle's
// refill or a night's retry window. Pass its Now wherever a fake, an injector (SetClock), a client, a
// scheduler or an overnight window takes a clock, and share one Clock between everything that must
// agree on the time.
//
// Now returns exactly the time last set, location and monotonic reading included; the clock never
// moves on its own. The zero value reads the zero time. A Clock is safe for concurrent use: workers
// and servers may read it while the test moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock reading t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t, forwards or backwards.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock on by d (back, if d is negative) and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}
