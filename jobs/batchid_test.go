package jobs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/reaper-media/reaper/jobs"
)

func TestValidBatchIDAcceptsEveryIDNewBatchIDMakes(t *testing.T) {
	assert.True(t, jobs.ValidBatchID(jobs.BatchIDExample))
	// Every id the code makes comes from NewBatchID (the producer for CLI, API and retry batches, the
	// scheduler for policy runs), at any time, in any zone.
	shanghai := time.FixedZone("CST", 8*3600)
	for _, at := range []time.Time{
		time.Date(2026, 11, 21, 12, 45, 0, 0, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2099, 12, 31, 23, 59, 59, 999_999_999, shanghai),
		time.Date(2028, 2, 29, 1, 2, 3, 0, shanghai),
		time.Now(),
	} {
		for range 50 { // the random part covers every hex digit
			id := jobs.NewBatchID(at)
			assert.True(t, jobs.ValidBatchID(id), id)
		}
	}
}

func TestValidBatchIDRefusesAnythingElse(t *testing.T) {
	for _, id := range []string{
		"",
		"nope",
		"example",
		jobs.BatchIDExample + ":out",    // another key of the same batch
		jobs.BatchIDExample + ":parked", // a key of another type
		jobs.BatchIDExample[:24],
		jobs.BatchIDExample + "0",
		"20261121T124500Z-3FA2C1D0", // upper-case hex
		"20261121T124500Z-3fa2c1dg",
		"20261121T124500Z_3fa2c1d0",
		"20261121T124500X-3fa2c1d0",
		"20261321T124500Z-3fa2c1d0", // month 13
		"20261131T124500Z-3fa2c1d0", // 31 November
		"20261121T246000Z-3fa2c1d0",
		"2026-11-21T12:45:00Z-3f", // same length, other layout
		"20261121T124500Z-3fa2c1d\n",
		"20261121T124500Z-3fa2c1*0",
		"２0261121T124500Z-3fa2c1d0",
	} {
		assert.False(t, jobs.ValidBatchID(id), "%q", id)
	}
}
