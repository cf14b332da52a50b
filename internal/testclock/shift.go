package testclock

import (
	"fmt"
	"testing"
	"time"
)

// Shifts are where every test that moves the clock runs it, relative to the real one: 30 days behind,
// at, and 30 days ahead. reaper must not care where its clock stands against Redis's (other hosts'
// clocks differ; tests move theirs), and no test may depend on today's date.
var Shifts = []time.Duration{-30 * 24 * time.Hour, 0, 30 * 24 * time.Hour}

// ForEachShift runs fn once per shift, as subtests named clock-30d, clock+0d and clock+30d, with
// at(days, h, m) giving h:m in loc on the shifted clock's date plus days days.
func ForEachShift(t *testing.T, loc *time.Location, fn func(t *testing.T, at func(days, h, m int) time.Time)) {
	for _, shift := range Shifts {
		t.Run(fmt.Sprintf("clock%+dd", int(shift.Hours()/24)), func(t *testing.T) {
			y, mo, d := time.Now().Add(shift).In(loc).Date()
			fn(t, func(days, h, m int) time.Time { return time.Date(y, mo, d+days, h, m, 0, 0, loc) })
		})
	}
}
