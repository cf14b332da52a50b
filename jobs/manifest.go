package jobs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/reaper-media/reaper/providers"
)

// LineError is a manifest line that cannot be enqueued, with the reason naming the field.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// MaxLineBytes bounds one manifest line; a longer one is an error naming the line, not a crash.
const MaxLineBytes = 64 << 10

// ReadManifest streams a JSONL manifest (one target per line; blank lines and lines starting with '#'
// are skipped) and calls fn with each decoded target and its 1-based line number. Unknown fields are
// errors, so a typo ("fileid") cannot silently drop the id. A line that does not decode is reported
// to fn as a *LineError through bad; ReadManifest itself only fails on I/O errors or when fn or bad
// return an error.
func ReadManifest(r io.Reader, fn func(line int, t providers.Target) error, bad func(*LineError) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		t, err := DecodeLine(b)
		if err != nil {
			if err := bad(&LineError{Line: line, Err: err}); err != nil {
				return err
			}
			continue
		}
		if err := fn(line, t); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &LineError{Line: line + 1, Err: fmt.Errorf("longer than %d bytes", MaxLineBytes)}
		}
		return fmt.Errorf("read manifest: %w", err)
	}
	return nil
}

// DecodeLine decodes one manifest line strictly: one JSON object, known fields only.
func DecodeLine(b []byte) (providers.Target, error) {
	var t providers.Target
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, cleanJSONError(err)
	}
	if dec.More() {
		return t, errors.New("more than one JSON value on the line")
	}
	return t, nil
}

// cleanJSONError turns encoding/json's messages into ones that name the manifest field.
func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &providers.FieldError{Field: te.Field, Problem: fmt.Sprintf("must be %s, got %s", te.Type, te.Value)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &providers.FieldError{Field: strings.Trim(f, `"`), Problem: "unknown field"}
	}
	return fmt.Errorf("not a JSON object: %s", strings.TrimPrefix(msg, "json: "))
}
