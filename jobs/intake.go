package jobs

import (
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/reaper-media/reaper/providers"
)

// Every submission takes the same intake path, whichever face it comes through (`reaper enqueue`, POST
// /v1/batches, a Go caller): a first pass over the manifest validates every line and counts (CheckManifest),
// the size is checked against enqueue.confirm_above (Confirm), and a second pass enqueues exactly the
// lines the first accepted (ManifestTargets into Submit). Nothing is enqueued before every line has been
// read, so a bad manifest never half-deletes.

// ManifestCheck is what the validation pass found.
type ManifestCheck struct {
	// Valid counts the valid targets per provider; Accepted is their sum.
	Valid    map[providers.Name]int
	Accepted int
	// Bad counts every line that cannot be enqueued; Rejected holds the first of them (up to the
	// keep CheckManifest was given), each naming its line and field.
	Bad      int
	Rejected []*LineError
}

// CheckManifest reads every line of a JSONL manifest, applies defaults to its target and validates it
// (Prepare), and counts. Bad lines do not stop it; it fails only when the manifest cannot be read.
func (p *Producer) CheckManifest(r io.Reader, keep int) (ManifestCheck, error) {
	c := ManifestCheck{Valid: map[providers.Name]int{}}
	reject := func(le *LineError) error {
		c.Bad++
		if len(c.Rejected) < keep {
			c.Rejected = append(c.Rejected, le)
		}
		return nil
	}
	err := ReadManifest(r, func(line int, t providers.Target) error {
		if err := p.Prepare(&t); err != nil {
			return reject(&LineError{Line: line, Err: err})
		}
		c.Valid[t.Provider]++
		c.Accepted++
		return nil
	}, reject)
	return c, err
}

// ManifestTargets is the second pass over a checked manifest: the Prepared target of every valid line,
// in order. With skipBad, lines that do not validate are passed over (the API enqueues the good lines of
// a body and reports the bad); without it, such a line (the file changed since the first pass) stops
// the sequence with *readErr set. *readErr is also set when the manifest cannot be read.
func (p *Producer) ManifestTargets(r io.Reader, skipBad bool, readErr *error) iter.Seq[providers.Target] {
	return func(yield func(providers.Target) bool) {
		bad := func(le *LineError) error {
			if skipBad {
				return nil
			}
			return le
		}
		err := ReadManifest(r, func(line int, t providers.Target) error {
			if err := p.Prepare(&t); err != nil {
				return bad(&LineError{Line: line, Err: err})
			}
			if !yield(t) {
				return errStopped
			}
			return nil
		}, bad)
		if err != nil && !errors.Is(err, errStopped) {
			*readErr = err
		}
	}
}

// errStopped ends a manifest read early because its consumer stopped.
var errStopped = errors.New("stopped")

// ConfirmError is a submission of more targets than enqueue.confirm_above without confirmation:
// deletes are irreversible, so a large one must be asked for explicitly (`--yes`, `confirm=true`).
type ConfirmError struct {
	Count, Limit int
	What         string // "targets", "failed targets"
}

func (e *ConfirmError) Error() string {
	return fmt.Sprintf("%d %s is more than enqueue.confirm_above (%d) and deletes are irreversible", e.Count, e.What, e.Limit)
}

// Confirm returns a *ConfirmError when n targets (what they are: "targets", "failed targets") are more
// than limit (enqueue.confirm_above; 0 means no limit) and the submission is not confirmed.
func Confirm(limit, n int, what string, confirmed bool) error {
	if limit <= 0 || n <= limit || confirmed {
		return nil
	}
	return &ConfirmError{Count: n, Limit: limit, What: what}
}
