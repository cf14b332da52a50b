package providers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Target names one thing to delete. It is one manifest line: the provider plus that provider's fields.
// Fields that belong to another provider must be empty, so a mistyped line fails validation instead of
// deleting something unexpected.
type Target struct {
	Provider Name `json:"provider,omitempty"` // required; omitempty for the outcome store's target diffs

	// FileID is the MSS file_id or the VOD FileId.
	FileID string `json:"file_id,omitempty"`

	// MSS: the project (default from config) and the optional X-App-UserId.
	ProjectID string `json:"project_id,omitempty"`
	AppUserID string `json:"app_user_id,omitempty"`

	// SMH: library, space ("-" for single-tenant libraries), file path, permanent delete, user id.
	LibraryID string `json:"library_id,omitempty"`
	SpaceID   string `json:"space_id,omitempty"`
	Path      string `json:"path,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	UserID    string `json:"user_id,omitempty"`

	// VOD: the sub-application (default from config) and the parts to delete (empty: everything).
	SubAppID    uint64       `json:"sub_app_id,omitempty"`
	DeleteParts []DeletePart `json:"delete_parts,omitempty"`
}

// DeletePart is one VOD MediaDeleteItem: a kind of derived file, and a definition (0 means all of them).
type DeletePart struct {
	Type       string `json:"type"`
	Definition int64  `json:"definition,omitempty"`
}

// VODPartTypes are the MediaDeleteItem.Type values DeleteMedia accepts.
var VODPartTypes = []string{
	"OriginalFiles", "TranscodeFiles", "AdaptiveDynamicStreamingFiles",
	"WechatPublishFiles", "WechatMiniProgramPublishFiles",
}

// FieldError is a validation failure of one target field. Producers wrap it with the manifest line.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %s", e.Field, e.Problem) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Validate checks that the target is complete and well-formed for its provider, without any I/O: the
// provider's own checks (its Spec's Validate), then that no field of another provider is set. Fields
// that config may default (project_id, library_id, space_id, sub_app_id) are not required here;
// clients fill them from their config and fail with a FieldError if still missing.
func (t Target) Validate() error {
	spec, ok := Lookup(t.Provider)
	if !ok {
		_, err := ParseName(string(t.Provider))
		return fieldErr("provider", "%s", strings.TrimPrefix(err.Error(), "unknown provider "))
	}
	return spec.validate(t)
}

// CheckProvider is the first check of a client's Delete: t must be addressed to want, the client's
// own provider.
func CheckProvider(t Target, want Name) error {
	if t.Provider == want {
		return nil
	}
	got := "empty"
	if t.Provider != "" {
		got = strconv.Quote(string(t.Provider))
	}
	return fieldErr("provider", "is %s, want %s", got, want)
}

// checkID accepts an identifier that becomes one URL path segment or one API field: no slashes, no
// control characters, no surrounding blanks.
func checkID(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fieldErr(field, "is required")
	case v == "":
		return nil
	case !utf8.ValidString(v):
		return fieldErr(field, "is not valid UTF-8")
	case strings.TrimSpace(v) != v:
		return fieldErr(field, "has leading or trailing blanks")
	case strings.ContainsRune(v, '/'):
		return fieldErr(field, "must not contain '/'")
	case v == "." || v == "..":
		return fieldErr(field, "must not be %q", v)
	case strings.ContainsFunc(v, unicode.IsControl):
		return fieldErr(field, "must not contain control characters")
	}
	return nil
}

// CheckPath validates an SMH file path such as "foo/bar2/file.docx": non-empty, no empty, "." or ".."
// segment (so no leading, trailing or doubled slash) and no control characters. Checking it before any
// request is what keeps a manifest typo from addressing a different file.
func CheckPath(p string) error {
	if p == "" {
		return fieldErr("path", "is required")
	}
	if !utf8.ValidString(p) {
		// JSON (the task payload) would carry it as U+FFFD: a different file, or none.
		return fieldErr("path", "is not valid UTF-8")
	}
	if strings.ContainsFunc(p, unicode.IsControl) {
		return fieldErr("path", "must not contain control characters")
	}
	for i, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return fieldErr("path", "segment %d is empty (leading, trailing or doubled '/')", i+1)
		case ".", "..":
			return fieldErr("path", "segment %d is %q", i+1, seg)
		}
	}
	return nil
}

// EscapePath escapes each segment of an already validated SMH path on its own, so a '?', '#' or '%' in
// a file name stays part of the name.
func EscapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Key is the target's identity: two targets with the same key delete the same thing. It is what the
// pipeline deduplicates on, so it is stable across releases. Apply config defaults before calling it.
// Each provider's Spec says what identifies its targets; an unknown provider's key is "<name>/?".
func (t Target) Key() string {
	if spec, ok := Lookup(t.Provider); ok {
		return spec.Key(t)
	}
	return string(t.Provider) + "/?"
}

// ParseKey returns the target key names, as far as the key says (the fields it leaves out zero), and
// false when it names no registered provider whose Spec can parse it. It never guesses: a result
// whose Key is not key is refused, so ParseKey(k).Key() == k whenever ok.
func ParseKey(key string) (Target, bool) {
	name, _, ok := strings.Cut(key, "/")
	if !ok {
		return Target{}, false
	}
	spec, ok := Lookup(Name(name))
	if !ok || spec.ParseKey == nil {
		return Target{}, false
	}
	t, ok := spec.ParseKey(key)
	if !ok || t.Provider != spec.Name || spec.Key(t) != key {
		return Target{}, false
	}
	return t, true
}

// Diff is the fields of t that base lacks or holds otherwise; base.Patch(t.Diff(base)) is t
// whenever every field in which they differ is set in t (as when base is ParseKey(t.Key())).
// Provider is left out.
func (t Target) Diff(base Target) Target {
	var d Target
	for _, f := range targetFields {
		if f.set(t) && !f.equal(t, base) {
			f.copy(&d, t)
		}
	}
	return d
}

// Equal reports whether t and o are the same target, field by field (a nil and an empty DeleteParts
// are the same).
func (t Target) Equal(o Target) bool {
	for _, f := range targetFields {
		if !f.equal(t, o) {
			return false
		}
	}
	return t.Provider == o.Provider
}

// Patch returns t with every field set in d copied over it (Provider aside).
func (t Target) Patch(d Target) Target {
	for _, f := range targetFields {
		if f.set(d) {
			f.copy(&t, d)
		}
	}
	return t
}

// String is a short human-readable form, used in logs and reports.
func (t Target) String() string { return t.Key() }
