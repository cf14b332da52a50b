package jobs

import "time"

// batchIDTime is the layout of a batch id's time part (NewBatchID): UTC to the second.
const batchIDTime = "20060102T150405Z"

// batchIDLen is the length of every id NewBatchID makes: the time, '-', 8 lowercase hex digits.
const batchIDLen = len(batchIDTime) + 1 + 8

// BatchIDExample is an id in the format NewBatchID makes, for messages that say what an id looks like.
const BatchIDExample = "20261121T124500Z-3fa2c1d0"

// ValidBatchID reports whether id has exactly the format NewBatchID makes
// (20261121T124500Z-3fa2c1d0: a real UTC time to the second, '-', 8 lowercase hex digits).
//
// Batch ids become parts of Redis key names (reaper:batch:<id>, reaper:batch:<id>:out, ...), so a
// string from outside (an API path, a --batch flag) is checked with it before any Redis call:
// "<id>:out" would otherwise name another key of the same batch.
func ValidBatchID(id string) bool {
	if len(id) != batchIDLen || id[len(batchIDTime)] != '-' {
		return false
	}
	for _, c := range id[len(batchIDTime)+1:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	t, err := time.Parse(batchIDTime, id[:len(batchIDTime)])
	// Parsing accepts a few spellings that format differently (none here, but the round trip makes
	// "exactly the format" literal).
	return err == nil && t.Format(batchIDTime) == id[:len(batchIDTime)]
}
