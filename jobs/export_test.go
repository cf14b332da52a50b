package jobs

import (
	"context"
	"time"
)

// Script hashes, for tests that inject faults into one script's runs (jobstest.Script).
var (
	FinishScriptSHA = finishScript.Hash()
	NoteScriptSHA   = noteScript.Hash()
	// FlagOnceScriptSHA is the script that sets a batch's cancelled flag with its audit entry.
	FlagOnceScriptSHA = flagOnceScript.Hash()
)

// SweepStranded runs the worker's stranded-task sweep once, as if at now.
func (w *Worker) SweepStranded(ctx context.Context, now time.Time) (int, error) {
	return w.rescue.sweep(ctx, now)
}

// The handler tests' helpers, for the external tests too.
var (
	WaitDoneWithin = waitDoneWithin
	VODTarget      = vodTarget
)

// DecodeLine is the manifest line decoder, for the tests and fuzz targets of the external package.
var DecodeLine = decodeLine
