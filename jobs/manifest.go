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
	"sync"
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
// strictly (see decodeLine), so a typo or an odd byte is refused instead of silently changing the
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
		t, err := decodeLine(b)
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

// decodeLine decodes one manifest line strictly: exactly one JSON object, known fields only, spelled
// exactly as documented (encoding/json would match "FILE_ID" to file_id), each at most once (it would
// keep the last of two), valid UTF-8 with no lone surrogate escape (it would turn both into U+FFFD, so
// two different names would address the same file), and nothing after the object.
func decodeLine(b []byte) (providers.Target, error) {
	var t providers.Target
	if err := checkStrictJSON(b, targetType); err != nil {
		return t, err
	}
	if t, ok := decodePlainTarget(b); ok {
		return t, nil
	}
	// checkStrictJSON has refused unknown fields and anything after the object, so plain Unmarshal
	// decodes what is left (a Decoder per line cost a buffer and a copy of every line).
	if err := json.Unmarshal(b, &t); err != nil {
		return t, cleanJSONError(err)
	}
	if len(t.DeleteParts) == 0 {
		t.DeleteParts = nil // "delete_parts":[] is the same target as none: one form, so it re-encodes the same
	}
	return t, nil
}

var targetType = reflect.TypeFor[providers.Target]()

// decodePlainTarget decodes, without reflection, the line nearly every manifest is made of: one that
// checkStrictJSON accepted (so it is one valid object with known, distinct keys) whose keys and string
// values hold no escape, whose permanent is true or false, whose sub_app_id is plain digits, and which
// has no delete_parts. ok is false for any other line, which json.Unmarshal decodes (or explains).
// Both passes of an enqueue decode every line; this halves the time that takes.
func decodePlainTarget(b []byte) (t providers.Target, ok bool) {
	i := skipBlank(b, 0) + 1 // {
	if i = skipBlank(b, i); b[i] == '}' {
		return t, true
	}
	for {
		key, j, ok := plainString(b, skipBlank(b, i))
		if !ok {
			return t, false
		}
		i = skipBlank(b, skipBlank(b, j)+1) // past ':'
		var str *string
		switch string(key) {
		case "provider":
			var s string
			if s, j, ok = plainStringValue(b, i); !ok {
				return t, false
			}
			t.Provider = providers.Name(s)
		case "file_id":
			str = &t.FileID
		case "project_id":
			str = &t.ProjectID
		case "app_user_id":
			str = &t.AppUserID
		case "library_id":
			str = &t.LibraryID
		case "space_id":
			str = &t.SpaceID
		case "path":
			str = &t.Path
		case "user_id":
			str = &t.UserID
		case "permanent":
			switch {
			case bytes.HasPrefix(b[i:], []byte("true")):
				t.Permanent, j = true, i+4
			case bytes.HasPrefix(b[i:], []byte("false")):
				t.Permanent, j = false, i+5
			default:
				return t, false
			}
		case "sub_app_id":
			j = i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			n, err := strconv.ParseUint(string(b[i:j]), 10, 64)
			if err != nil || (j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E')) {
				return t, false
			}
			t.SubAppID = n
		default: // delete_parts
			return t, false
		}
		if str != nil {
			if *str, j, ok = plainStringValue(b, i); !ok {
				return t, false
			}
		}
		if i = skipBlank(b, j); b[i] == ',' {
			i++
			continue
		}
		return t, true // }
	}
}

// plainString returns the contents of the JSON string at b[i] and the index after it; ok is false
// when there is no string there or it holds an escape.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 {
		return nil, i, false
	}
	s = b[i+1 : i+1+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, i, false
	}
	return s, i + end + 2, true
}

func plainStringValue(b []byte, i int) (string, int, bool) {
	s, next, ok := plainString(b, i)
	return string(s), next, ok
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
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

// checkStrictJSON checks what encoding/json lets through silently, before b is decoded into a value of
// type typ (a struct): b must be exactly one JSON object followed by nothing but blanks; it must be
// valid UTF-8 and hold no lone UTF-16 surrogate escape; no object may repeat a key; and the keys of
// objects that decode into structs must be the fields' JSON names exactly (case included). Problems
// are *providers.FieldError naming the field by its path ("delete_parts[1].type").
//
// It is a single pass over the bytes that allocates nothing for a good line (the enqueue path reads
// every manifest line twice): json.Valid checks the syntax first, so the walk can trust it.
func checkStrictJSON(b []byte, typ reflect.Type) error {
	if !json.Valid(b) {
		return syntaxError(b)
	}
	w := strictWalk{b: b}
	w.blank()
	if w.b[w.i] != '{' {
		return errors.New("not a JSON object")
	}
	return w.value(schemaOf(typ))
}

// syntaxError describes why b is not one JSON value: data after a complete one, or the decoder's error.
func syntaxError(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return cleanJSONError(err)
	}
	rest := bytes.TrimSpace(b[dec.InputOffset():])
	return fmt.Errorf("not a JSON object: data after the object (%s)", quoteStart(rest))
}

// schema is what checkStrictJSON knows of the Go type a JSON value decodes into.
type schema struct {
	object bool               // a struct: its keys are checked
	fields map[string]*schema // JSON name -> the field's schema (nil for scalars)
	fold   map[string]string  // lower-cased JSON name -> JSON name, to explain a key in the wrong case
	elem   *schema            // a slice or array: its elements' schema
}

var schemas sync.Map // reflect.Type -> *schema

func schemaOf(t reflect.Type) *schema {
	if s, ok := schemas.Load(t); ok {
		return s.(*schema)
	}
	s := buildSchema(t, map[reflect.Type]*schema{})
	schemas.Store(t, s)
	return s
}

func buildSchema(t reflect.Type, memo map[reflect.Type]*schema) *schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if s, ok := memo[t]; ok {
			return s
		}
		s := &schema{object: true, fields: map[string]*schema{}, fold: map[string]string{}}
		memo[t] = s
		for i := range t.NumField() {
			if name := jsonName(t.Field(i)); name != "" {
				s.fields[name] = buildSchema(t.Field(i).Type, memo)
				s.fold[strings.ToLower(name)] = name
			}
		}
		return s
	case reflect.Slice, reflect.Array:
		if e := buildSchema(t.Elem(), memo); e != nil {
			return &schema{elem: e}
		}
	}
	return nil
}

// strictWalk walks syntactically valid JSON, keeping the path to the current value for errors.
type strictWalk struct {
	b    []byte
	i    int
	path []pathStep
}

// pathStep is one step of a field path: an object key, or an array index when key is nil.
type pathStep struct {
	key   []byte
	index int
}

func (w *strictWalk) blank() { w.i = skipBlank(w.b, w.i) }

// str reads the string at w.i and returns its raw contents (escapes as written, no quotes).
func (w *strictWalk) str() []byte {
	start := w.i + 1
	i := start
	for w.b[i] != '"' {
		if w.b[i] == '\\' {
			i++
		}
		i++
	}
	w.i = i + 1
	return w.b[start:i]
}

func (w *strictWalk) field() string {
	var sb strings.Builder
	for _, st := range w.path {
		if st.key == nil {
			sb.WriteString("[" + strconv.Itoa(st.index) + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.Write(st.key)
	}
	return sb.String()
}

func (w *strictWalk) value(sc *schema) error {
	w.blank()
	switch w.b[w.i] {
	case '{':
		return w.object(sc)
	case '[':
		return w.array(sc)
	case '"':
		if problem := checkRawText(w.str()); problem != "" {
			return &providers.FieldError{Field: w.field(), Problem: problem}
		}
	default: // a number, true, false or null
		for w.i < len(w.b) && !strings.ContainsRune(",}] \t\r\n", rune(w.b[w.i])) {
			w.i++
		}
	}
	return nil
}

func (w *strictWalk) object(sc *schema) error {
	w.i++ // {
	if sc != nil && !sc.object {
		sc = nil // an object where the type has none: the decoder reports the type
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	w.blank()
	if w.b[w.i] == '}' {
		w.i++
		return nil
	}
	for {
		w.blank()
		raw := w.str()
		if problem := checkRawText(raw); problem != "" {
			name := strconv.QuoteToASCII(string(raw))
			if f := w.field(); f != "" {
				name = f + "." + name
			}
			return &providers.FieldError{Field: name, Problem: "the name " + problem}
		}
		key := raw
		if bytes.IndexByte(raw, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(w.b[w.i-len(raw)-2:w.i], &k) // valid JSON: cannot fail
			key = []byte(k)
		}
		w.path = append(w.path, pathStep{key: key})
		for _, k := range seen {
			if bytes.Equal(k, key) {
				return &providers.FieldError{Field: w.field(), Problem: "appears more than once"}
			}
		}
		seen = append(seen, key)
		var child *schema
		if sc != nil {
			f, ok := sc.fields[string(key)]
			if !ok {
				if name, ok := sc.fold[strings.ToLower(string(key))]; ok {
					return &providers.FieldError{Field: w.field(), Problem: fmt.Sprintf("unknown field (names are case-sensitive: did you mean %s?)", name)}
				}
				return &providers.FieldError{Field: w.field(), Problem: "unknown field"}
			}
			child = f
		}
		w.blank()
		w.i++ // :
		if err := w.value(child); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.blank()
		if w.b[w.i] == ',' {
			w.i++
			continue
		}
		w.i++ // }
		return nil
	}
}

func (w *strictWalk) array(sc *schema) error {
	w.i++ // [
	var elem *schema
	if sc != nil && !sc.object {
		elem = sc.elem
	}
	w.blank()
	if w.b[w.i] == ']' {
		w.i++
		return nil
	}
	for n := 0; ; n++ {
		w.path = append(w.path, pathStep{index: n})
		if err := w.value(elem); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.blank()
		if w.b[w.i] == ',' {
			w.i++
			continue
		}
		w.i++ // ]
		return nil
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
