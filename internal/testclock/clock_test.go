package testclock_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/providers/faults"
)

func TestClock(t *testing.T) {
	var zero testclock.Clock
	assert.True(t, zero.Now().IsZero(), "the zero value reads the zero time")

	sh := time.FixedZone("CST", 8*60*60)
	t0 := time.Date(2026, 11, 21, 1, 0, 0, 0, sh)
	c := testclock.New(t0)
	assert.Equal(t, t0, c.Now(), "location kept")
	assert.Equal(t, t0, c.Now(), "the clock never moves on its own")

	assert.Equal(t, t0.Add(90*time.Minute), c.Advance(90*time.Minute), "Advance returns the new time")
	assert.Equal(t, t0.Add(90*time.Minute), c.Now())
	assert.Equal(t, t0.Add(time.Hour), c.Advance(-30*time.Minute))

	c.Set(t0.Add(-24 * time.Hour))
	assert.Equal(t, t0.Add(-24*time.Hour), c.Now(), "Set goes backwards too")

	wall := time.Now()
	c.Set(wall)
	assert.Equal(t, wall, c.Now(), "exactly the time set, monotonic reading included")
}

// Readers and movers at once: -race holds the clock to its promise of concurrent use.
func TestClockConcurrentUse(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := testclock.New(t0)
	in := faults.New(1)
	in.SetClock(c.Now)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
			}
		})
		wg.Go(func() {
			for range 100 {
				assert.False(t, c.Now().Before(t0))
				in.Decide()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, t0.Add(400*time.Second), c.Now())
}

func ExampleClock() {
	c := testclock.New(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	in := faults.New(1)
	in.SetClock(c.Now)
	in.SetOutage(c.Now().Add(time.Hour), c.Now().Add(2*time.Hour))

	fmt.Println(in.Decide().Kind == faults.Outage)
	c.Advance(time.Hour)
	fmt.Println(in.Decide().Kind == faults.Outage)
	fmt.Println(c.Advance(time.Hour).Format(time.Kitchen), in.Decide().Kind == faults.Outage)
	// Output:
	// false
	// true
	// 3:00AM false
}
