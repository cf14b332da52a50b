package scheduler

import (
	"time"
)

// RetentionPolicy is one scheduled purge: when it runs, what it selects, and the caps on a run. The
// wiring builds it from the config's scheduler.policies (with Source already defaulted by provider).
type RetentionPolicy struct {
	Name string
	// Schedule is a cron expression (5 fields: minute hour day month weekday) or a descriptor
	// (@daily, @every 10m) read in TimeZone.
	Schedule string
	// TimeZone names the zone Schedule is read in ("" is UTC), as configured; Location is that zone
	// (nil: UTC).
	TimeZone string
	Location *time.Location
	Provider string
	// Source is how targets are selected: "search" (VOD SearchMedia), "list" (SMH directory listing)
	// or "index" (the retention index producers register into).
	Source string
	MinAge time.Duration
	// MaxDeletions caps one run: a run that finds more deletes nothing and is recorded refused.
	MaxDeletions int
	// DryRun records what a run would delete and deletes nothing.
	DryRun bool
	// Permanent deletes SMH files permanently instead of moving them to the recycle bin.
	Permanent bool
	VOD       VODSelection
	SMH       SMHSelection
}

// VODSelection narrows a VOD SearchMedia selection. Empty lists do not filter.
type VODSelection struct {
	SubAppID       uint64
	ClassIDs       []int64
	Categories     []string
	SourceTypes    []string
	StorageRegions []string
}

// SMHSelection says where an SMH listing looks.
type SMHSelection struct {
	LibraryID, SpaceID string
	// Prefixes are directory paths ("" or none: the library root), without leading or trailing '/'.
	Prefixes  []string
	Recursive bool
}

// location is the policy's time zone (UTC when unset).
func (p RetentionPolicy) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}
