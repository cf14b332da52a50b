package scheduler_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/scheduler"
)

// Fire times are calendar arithmetic with no clock and no Redis, so the cases keep fixed dates: the
// daylight saving changes they test fall on known days.
func TestScheduleFireTimes(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	for _, tc := range []struct {
		name, spec, tz, after string
		want                  []string
	}{
		{"cron in the policy's time zone", "30 2 * * *", "Asia/Shanghai", "2026-11-20T18:00:00Z",
			[]string{"2026-11-20T18:30:00Z", "2026-11-21T18:30:00Z"}},
		{"strictly after", "30 2 * * *", "Asia/Shanghai", "2026-11-20T18:30:00Z",
			[]string{"2026-11-21T18:30:00Z"}},
		{"UTC when unset", "*/5 * * * *", "", "2026-11-21T00:00:30Z",
			[]string{"2026-11-21T00:05:00Z", "2026-11-21T00:10:00Z"}},
		{"daylight saving: a repeated 01:30 fires once, at the first", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"daylight saving: from inside the repeated hour", "30 1 * * *", "America/New_York", "2026-11-01T05:45:00Z",
			[]string{"2026-11-02T06:30:00Z"}},
		{"daylight saving: a skipped 02:30 does not fire that day", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-09T06:30:00Z"}},
		{"@every is aligned to the epoch, not to the caller", "@every 10m", "", "2026-11-21T00:03:17.5Z",
			[]string{"2026-11-21T00:10:00Z", "2026-11-21T00:20:00Z"}},
		{"@every from a fire time", "@every 10m", "Asia/Shanghai", "2026-11-21T00:10:00Z",
			[]string{"2026-11-21T00:20:00Z"}},
		{"@daily in the policy's time zone", "@daily", "Asia/Shanghai", "2026-11-21T00:00:00Z",
			[]string{"2026-11-21T16:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := time.UTC
			if tc.tz != "" {
				var err error
				loc, err = time.LoadLocation(tc.tz)
				require.NoError(t, err)
			}
			s, err := scheduler.NewSchedule(scheduler.RetentionPolicy{Name: "p", Schedule: tc.spec, TimeZone: tc.tz, Location: loc})
			require.NoError(t, err)
			got := at(tc.after)
			for _, w := range tc.want {
				got = s.Next(got)
				assert.Equal(t, at(w), got)
				assert.Equal(t, time.UTC, got.Location())
			}
		})
	}
	_, err := scheduler.NewSchedule(scheduler.RetentionPolicy{Name: "p", Schedule: "61 * * * *"})
	assert.ErrorContains(t, err, "policy p: schedule")
}

func TestRunIDs(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 30, 0, 250_000_000, shanghai(t))
	assert.Equal(t, "vod-old@20261121T023000Z", scheduler.RunID("vod-old", at), "UTC whatever the zone")
	assert.Equal(t, "vod-old@manual-20261121T023000.250Z", scheduler.ManualRunID("vod-old", at))
}
