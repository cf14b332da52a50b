package jobs

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// BatchStatus is the JSON form of a batch's state: GET /v1/batches/{id} and `reaper status --json`.
type BatchStatus struct {
	Batch       string           `json:"batch"`
	CreatedAt   time.Time        `json:"created_at"`
	SubmittedBy string           `json:"submitted_by"`
	Source      string           `json:"source"`
	Note        string           `json:"note,omitempty"`
	Sealed      bool             `json:"sealed"`
	Cancelled   bool             `json:"cancelled"`
	Done        bool             `json:"done"`
	Total       int64            `json:"total"`
	Duplicates  int64            `json:"duplicates"`
	Pending     int64            `json:"pending"`
	Outcomes    map[string]int64 `json:"outcomes"`
	RatePerSec  float64          `json:"rate_per_sec"`
	ETASeconds  float64          `json:"eta_seconds"`
	// Parked counts tasks held for the overnight retry window (AddParked fills it); NextAttempt is
	// the earliest time one of them runs again.
	Parked      int64      `json:"parked"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// Kind is "undo" for an undo batch (UndoOf names the batch it undoes, NotRestorable counts that
	// batch's deletions no recycle bin holds), else "delete". UndoneBy names a batch's newest undo.
	Kind          string `json:"kind"`
	UndoOf        string `json:"undo_of,omitempty"`
	NotRestorable int64  `json:"not_restorable,omitempty"`
	UndoneBy      string `json:"undone_by,omitempty"`
	// Suspended says the failure threshold holds the batch's remaining tasks, SuspendReason why:
	// `reaper resume --batch ID` continues it, `reaper cancel` ends it.
	Suspended     bool       `json:"suspended"`
	SuspendedAt   *time.Time `json:"suspended_at,omitempty"`
	SuspendReason string     `json:"suspend_reason,omitempty"`
	// Audit is the batch's audit trail, oldest first (Describe fills it).
	Audit []AuditEntry `json:"audit,omitempty"`
}

// The batch kinds.
const (
	KindDelete = "delete"
	KindUndo   = "undo"
)

// OutcomesOf lists the outcomes a batch of kind can record, in report order.
func OutcomesOf(kind string) []Outcome {
	if kind == KindUndo {
		return []Outcome{Restored, NotFound, Conflict, Failed, Cancelled}
	}
	return []Outcome{Deleted, Recycled, AlreadyGone, Failed, Cancelled, DryRun}
}

// StatusOf is a batch's BatchStatus; every outcome its kind can record is present, zero or not.
func StatusOf(b BatchInfo) BatchStatus {
	s := BatchStatus{Batch: b.ID, CreatedAt: b.CreatedAt, SubmittedBy: b.SubmittedBy, Source: b.Source, Note: b.Note,
		Sealed: b.Sealed, Cancelled: b.Cancelled, Done: b.Done(), Total: b.Total, Duplicates: b.Duplicates,
		Pending: b.Pending(), Outcomes: map[string]int64{}, RatePerSec: b.Rate(), ETASeconds: b.ETA().Seconds(),
		Kind: b.Kind(), UndoOf: b.UndoOf(), NotRestorable: b.NotRestorable, UndoneBy: b.UndoneBy}
	for _, o := range OutcomesOf(s.Kind) {
		s.Outcomes[string(o)] = b.Counts[o]
	}
	if b.Suspended {
		s.Suspended, s.SuspendReason = true, b.SuspendReason
		if at := b.SuspendedAt; !at.IsZero() {
			s.SuspendedAt = &at
		}
	}
	return s
}

// AddParked fills st's parked count and next attempt from the store, and returns them.
func AddParked(ctx context.Context, s *Store, st BatchStatus) (BatchStatus, Parked, error) {
	pk, err := s.Parked(ctx, st.Batch)
	if err != nil {
		return st, pk, err
	}
	st.Parked = pk.Count
	if pk.Count > 0 {
		next := pk.Next
		st.NextAttempt = &next
	}
	return st, pk, nil
}

// Report formats.
const (
	JSONL = "jsonl" // one Record JSON object per line
	CSV   = "csv"   // a header row of ReportColumns, then one row per target
)

// ReportColumns are the CSV report's columns, in order.
var ReportColumns = []string{"batch", "provider", "key", "outcome", "recycled_item_id", "http_status", "code", "message",
	"request_id", "attempts", "first_attempt", "last_attempt", "target"}

// ParseOutcome accepts an outcome name as written in a report filter ("failed"); "" means all.
func ParseOutcome(s string) (Outcome, error) {
	if s == "" {
		return "", nil
	}
	for _, o := range Outcomes {
		if string(o) == s {
			return o, nil
		}
	}
	names := make([]string, len(Outcomes))
	for i, o := range Outcomes {
		names[i] = string(o)
	}
	return "", fmt.Errorf("unknown outcome %q (want one of %s)", s, strings.Join(names, ", "))
}

// WriteReport streams a batch's records to w as JSONL or CSV, one row per target, only those with
// outcome only when it is set. Records come from the store in pages, so memory stays flat for any
// batch size.
func WriteReport(ctx context.Context, s *Store, batch, format string, only Outcome, w io.Writer) error {
	if format != JSONL && format != CSV {
		return fmt.Errorf("report format must be jsonl or csv, got %q", format)
	}
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	if format == CSV {
		cw = csv.NewWriter(w)
		if err := cw.Write(ReportColumns); err != nil {
			return err
		}
	}
	err := s.Records(ctx, batch, func(r Record) error {
		if only != "" && r.Outcome != only {
			return nil
		}
		if cw == nil {
			return enc.Encode(r)
		}
		target, _ := json.Marshal(r.Target)
		row := []string{r.Batch, string(r.Provider), r.Key, string(r.Outcome), optInt(r.RecycledItemID),
			optInt(int64(r.HTTPStatus)), r.Code, r.Message, r.RequestID, strconv.Itoa(r.Attempts),
			r.FirstAttempt.UTC().Format(time.RFC3339Nano), r.LastAttempt.UTC().Format(time.RFC3339Nano), string(target)}
		for i := range row {
			row[i] = SpreadsheetSafe(row[i])
		}
		return cw.Write(row)
	})
	if cw != nil {
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
	}
	return err
}

// SpreadsheetSafe neutralises a CSV cell a spreadsheet would run as a formula: one starting with '=',
// '+', '-', '@', a tab or a carriage return gets a single quote in front, as OWASP's "CSV Injection"
// page advises. Report cells carry provider-controlled text (messages, request ids, codes) and
// manifest-controlled paths, so a message "=HYPERLINK(...)" must stay text. A program reading the CSV
// sees the quote: the JSONL report is the one for programs.
func SpreadsheetSafe(cell string) string {
	if cell != "" && strings.IndexByte("=+-@\t\r", cell[0]) >= 0 {
		return "'" + cell
	}
	return cell
}

func optInt(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
