package faults_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/reaper-media/reaper/internal/testclock"
	"github.com/reaper-media/reaper/providers/faults"
)

func TestInjector(t *testing.T) {
	c := testclock.New(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	in := faults.New(1)
	in.SetClock(c.Now)
	assert.Equal(t, faults.None, in.Decide().Kind)

	boom := faults.Fault{Status: 500, Code: "X"}
	in.FailNext(2, boom)
	assert.Equal(t, faults.Decision{Kind: faults.Injected, Fault: boom}, in.Decide())
	assert.Equal(t, faults.Injected, in.Decide().Kind)
	assert.Equal(t, faults.None, in.Decide().Kind)

	in.SetOutage(c.Now().Add(time.Minute), c.Now().Add(2*time.Minute))
	assert.Equal(t, faults.None, in.Decide().Kind)
	c.Advance(time.Minute)
	assert.Equal(t, faults.Outage, in.Decide().Kind, "the window includes its start")
	c.Advance(time.Minute)
	assert.Equal(t, faults.None, in.Decide().Kind, "and excludes its end")

	in.SetThrottle(2)
	assert.Equal(t, faults.None, in.Decide().Kind)
	assert.Equal(t, faults.None, in.Decide().Kind)
	assert.Equal(t, faults.Throttled, in.Decide().Kind, "burst of one second's worth")
	c.Advance(500 * time.Millisecond)
	assert.Equal(t, faults.None, in.Decide().Kind, "refilled at 2/s")
	assert.Equal(t, faults.Throttled, in.Decide().Kind)

	in.Reset()
	in.SetErrorRate(1, boom)
	assert.Equal(t, faults.Injected, in.Decide().Kind)
	in.SetErrorRate(0)
	in.SetLatency(time.Second, 0)
	assert.Equal(t, time.Second, in.Decide().Delay)
	in.SetDown(true)
	assert.Equal(t, faults.Outage, in.Decide().Kind)

	s := in.Stats()
	assert.Equal(t, 3, s.Injected)
	assert.Equal(t, 2, s.Outages)
	assert.Equal(t, 2, s.Throttled)
}

func TestErrorRateIsRoughlyHonoured(t *testing.T) {
	in := faults.New(7)
	in.SetErrorRate(0.1, faults.Fault{Status: 500})
	n := 0
	for range 10000 {
		if in.Decide().Kind == faults.Injected {
			n++
		}
	}
	assert.InDelta(t, 1000, n, 150)
}
