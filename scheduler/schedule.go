package scheduler

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a policy's fire times: its cron expression evaluated in its time zone. Every replica
// computes the same fire times from the same config, which is what makes run ids deterministic.
//
// "@every D" descriptors fire at the multiples of D since the Unix epoch (so "@every 10m" fires at
// :00, :10, :20, ... UTC) rather than D after whenever a replica happened to start: fire times must
// not depend on which replica looks. For wall-clock times in the policy's time zone, use a cron
// expression. Across daylight saving changes a cron time fires once: at its first occurrence when
// the clock goes back, not at all on the day the clock skips it.
type Schedule struct {
	spec  cron.Schedule
	every time.Duration // non-zero for "@every": epoch-aligned
	loc   *time.Location
}

// cronParser reads 5-field cron expressions (minute hour day-of-month month day-of-week) and the
// @daily/@every descriptors, as config validates them.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// NewSchedule parses p's schedule in p's time zone.
func NewSchedule(p RetentionPolicy) (Schedule, error) {
	spec, err := cronParser.Parse(p.Schedule)
	if err != nil {
		return Schedule{}, fmt.Errorf("policy %s: schedule %q: %w", p.Name, p.Schedule, err)
	}
	s := Schedule{spec: spec, loc: p.location()}
	if cd, ok := spec.(cron.ConstantDelaySchedule); ok {
		s.every = cd.Delay
	}
	return s, nil
}

// Next is the first fire time strictly after t, in UTC; zero when the expression never fires again
// (a date that does not exist, such as February 30).
func (s Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		d := int64(s.every)
		n := t.UnixNano()
		return time.Unix(0, (n/d+1)*d).UTC() // times before 1970 do not occur
	}
	for {
		next := s.spec.Next(t.In(s.loc))
		if next.IsZero() || !s.repeated(next) {
			return next.UTC()
		}
		t = next
	}
}

// repeated reports whether f is the second occurrence of its wall-clock time, in the hour a daylight
// saving change repeats: a schedule fires once then, at the first occurrence, as cron does. (A time
// the change skips, such as 02:30 on a spring-forward night, does not fire that day.)
func (s Schedule) repeated(f time.Time) bool {
	_, off := f.In(s.loc).Zone()
	_, before := f.Add(-3 * time.Hour).In(s.loc).Zone()
	if before <= off {
		return false
	}
	const wall = "2006-01-02 15:04:05"
	earlier := f.Add(-time.Duration(before-off) * time.Second)
	return earlier.In(s.loc).Format(wall) == f.In(s.loc).Format(wall)
}

// due returns the latest fire time in (after, upTo] and how many fire times that interval holds
// (0: none, latest is zero).
func (s Schedule) due(after, upTo time.Time) (latest time.Time, n int) {
	if s.every > 0 {
		first := s.Next(after)
		if first.After(upTo) {
			return time.Time{}, 0
		}
		k := int(upTo.Sub(first) / s.every)
		return first.Add(time.Duration(k) * s.every), k + 1
	}
	for t := s.Next(after); !t.IsZero() && !t.After(upTo); t = s.Next(t) {
		latest, n = t, n+1
	}
	return latest, n
}

// RunID is the deterministic id of the run of policy name scheduled at t: "vod-old@20261121T023000Z".
// A manual run's id is ManualRunID's.
func RunID(name string, t time.Time) string {
	return name + "@" + t.UTC().Format(runTimeFormat)
}

// ManualRunID is the id of a run started by hand at t: "vod-old@manual-20261121T131900.250Z"
// (milliseconds, so a dry run and the real run a moment later are two runs).
func ManualRunID(name string, t time.Time) string {
	return name + "@manual-" + t.UTC().Format(manualTimeFormat)
}

const (
	runTimeFormat    = "20060102T150405Z"
	manualTimeFormat = "20060102T150405.000Z"
)
