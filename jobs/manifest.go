package jobs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/reaper-media/reaper/providers"
)

// LineError is a manifest line that cannot be enqueued, with the reason naming the field.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// MaxLineBytes bounds one manifest line (without its line ending); a longer one is a bad line naming
// its number, and reading goes on with the next.
const MaxLineBytes = 64 << 10

// ReadManifest streams a JSONL manifest (one target per line; blank lines and lines starting with '#'
// are skipped) and calls fn with each decoded target and its 1-based line number. Lines are decoded
// strictly (see DecodeLine), so a typo or an odd byte is refused instead of silently changing the
// target. A line that does not decode, or is longer than MaxLineBytes, is reported to bad as a
// *LineError and reading goes on, so a validation pass counts every bad line. ReadManifest itself only
// fails on I/O errors or when fn or bad return an error.
func ReadManifest(r io.Reader, fn func(line int, t providers.Target) error, bad func(*LineError) error) error {
	lr := lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	for line := 1; ; line++ {
		b, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read manifest: line %d: %w", line, err)
		}
		if tooLong {
			if err := bad(&LineError{Line: line, Err: fmt.Errorf("longer than %d bytes", MaxLineBytes)}); err != nil {
				return err
			}
			continue
		}
		b = bytes.TrimSpace(b)
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
}

// lineReader splits a stream into lines of at most MaxLineBytes, discarding (and flagging) the rest of
// an overlong line instead of stopping, as bufio.Scanner does.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
}

// next returns the next line without its '\n' (valid until the next call), whether it was longer than
// MaxLineBytes (then b is nil), and io.EOF once no line is left.
func (l *lineReader) next() (b []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	read := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		read = read || len(chunk) > 0
		if !tooLong {
			l.buf = append(l.buf, chunk...)
			if n := len(bytes.TrimSuffix(bytes.TrimSuffix(l.buf, []byte("\n")), []byte("\r"))); n > MaxLineBytes {
				tooLong, l.buf = true, l.buf[:0]
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && read:
			err = nil // a last line without '\n'
		case err != nil:
			return nil, false, err
		}
		if tooLong {
			return nil, true, nil
		}
		return bytes.TrimSuffix(l.buf, []byte("\n")), false, nil
	}
}

// DecodeLine decodes one manifest line strictly: exactly one JSON object, known fields only, spelled
// exactly as documented (encoding/json would match "FILE_ID" to file_id), each at most once (it would
// keep the last of two), valid UTF-8 with no lone surrogate escape (it would turn both into U+FFFD, so
// two different names would address the same file), and nothing after the object.
func DecodeLine(b []byte) (providers.Target, error) {
	var t providers.Target
	if err := CheckStrictJSON(b, targetType); err != nil {
		return t, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, cleanJSONError(err)
	}
	return t, nil
}

var targetType = reflect.TypeFor[providers.Target]()

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

// CheckStrictJSON checks what encoding/json lets through silently, before b is decoded into a value of
// type typ (a struct): b must be exactly one JSON object followed by nothing but blanks; it must be
// valid UTF-8 and hold no lone UTF-16 surrogate escape; no object may repeat a key; and the keys of
// objects that decode into structs must be the fields' JSON names exactly (case included). Problems
// are *providers.FieldError naming the field by its path ("delete_parts[1].type").
func CheckStrictJSON(b []byte, typ reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object    bool
		expectKey bool
		typ       reflect.Type // the struct this object decodes into; nil when not a known struct
		path      string       // the field path of this container
		key       string       // the current key (object) or index (array)
		index     int
		seen      map[string]bool
	}
	var stack []*frame
	// childPath is the path of the value the next token starts.
	childPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if !f.object {
			return f.path + "[" + strconv.Itoa(f.index) + "]"
		}
		if f.path == "" {
			return f.key
		}
		return f.path + "." + f.key
	}
	childType := func() reflect.Type {
		if len(stack) == 0 {
			return typ
		}
		f := stack[len(stack)-1]
		if f.typ == nil {
			return nil
		}
		if !f.object {
			return structOrSlice(f.typ.Elem())
		}
		if sf, ok := jsonField(f.typ, f.key); ok {
			return structOrSlice(sf.Type)
		}
		return nil
	}
	// valueDone moves the enclosing container past one value.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		if f.object {
			f.expectKey = true
		} else {
			f.index++
		}
	}
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return cleanJSONError(err)
		}
		raw := b[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.expectKey
		if problem := checkRawText(raw); problem != "" {
			if isKey {
				name := strconv.QuoteToASCII(strings.Trim(strings.TrimLeft(string(raw), ", \t\r\n"), `"`))
				if top.path != "" {
					name = top.path + "." + name
				}
				return &providers.FieldError{Field: name, Problem: "the name " + problem}
			}
			return &providers.FieldError{Field: childPath(), Problem: problem}
		}
		if len(stack) == 0 && tok != json.Delim('{') {
			return errors.New("not a JSON object")
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			nf := &frame{object: tok == json.Delim('{'), expectKey: true, path: childPath(), typ: childType()}
			if nf.object {
				nf.seen = map[string]bool{}
			}
			if nf.typ != nil && (nf.typ.Kind() == reflect.Struct) != nf.object {
				nf.typ = nil // the wrong kind of value: the decoder reports its type
			}
			stack = append(stack, nf)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
					return fmt.Errorf("not a JSON object: data after the object (%s)", quoteStart(rest))
				}
				return nil
			}
			valueDone()
			continue
		}
		if !isKey {
			valueDone()
			continue
		}
		key := tok.(string)
		top.key, top.expectKey = key, false
		field := childPath()
		if top.seen[key] {
			return &providers.FieldError{Field: field, Problem: "appears more than once"}
		}
		top.seen[key] = true
		if top.typ != nil {
			if _, ok := jsonField(top.typ, key); !ok {
				if name, ok := jsonFieldFold(top.typ, key); ok {
					return &providers.FieldError{Field: field, Problem: fmt.Sprintf("unknown field (names are case-sensitive: did you mean %s?)", name)}
				}
				return &providers.FieldError{Field: field, Problem: "unknown field"}
			}
		}
	}
}

// checkRawText reports invalid UTF-8 or a lone surrogate escape in raw JSON text, "" when there is none.
func checkRawText(raw []byte) string {
	if !utf8.Valid(raw) {
		i := 0
		for i < len(raw) {
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Sprintf("is not valid UTF-8 (byte 0x%02x)", raw[i])
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		i++ // the escaped character
		if raw[i] != 'u' {
			continue
		}
		hi, ok := hex4(raw[i+1:])
		if !ok {
			continue // a syntax error the decoder reports
		}
		i += 4
		switch {
		case hi >= 0xDC00 && hi <= 0xDFFF:
			return fmt.Sprintf(`holds a lone surrogate escape \u%04x (not a character)`, hi)
		case hi >= 0xD800 && hi <= 0xDBFF:
			if i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if lo, ok := hex4(raw[i+3:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 6
					continue
				}
			}
			return fmt.Sprintf(`holds a lone surrogate escape \u%04x (not a character)`, hi)
		}
	}
	return ""
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(v), err == nil
}

func quoteStart(b []byte) string {
	if len(b) > 16 {
		return strconv.Quote(string(b[:16])) + "..."
	}
	return strconv.Quote(string(b))
}

// jsonField finds the field of struct typ whose JSON name is exactly name.
func jsonField(typ reflect.Type, name string) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if n := jsonName(f); n != "" && n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// jsonFieldFold finds the JSON name of struct typ's field that name matches case-insensitively.
func jsonFieldFold(typ reflect.Type, name string) (string, bool) {
	for i := range typ.NumField() {
		if n := jsonName(typ.Field(i)); n != "" && strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return f.Name
	}
	return name
}

// structOrSlice is t (dereferenced) when it is a struct or a slice or array (whose elements are then
// checked), nil otherwise: the keys of maps and the insides of other values are not field names.
func structOrSlice(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array:
		return t
	}
	return nil
}
