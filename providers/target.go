package providers

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Target names one thing to delete. It is one manifest line: the provider plus that provider's fields.
// Fields that belong to another provider must be empty, so a mistyped line fails validation instead of
// deleting something unexpected.
type Target struct {
	Provider Name `json:"provider"`

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

// Validate checks that the target is complete and well-formed for its provider, without any I/O. Fields
// that config may default (project_id, library_id, space_id, sub_app_id) are not required here; clients
// fill them from their config and fail with a FieldError if still missing.
func (t Target) Validate() error {
	if _, err := ParseName(string(t.Provider)); err != nil {
		return fieldErr("provider", "%s", strings.TrimPrefix(err.Error(), "unknown provider "))
	}
	var errs []error
	foreign := func(field string, set bool) {
		if set {
			errs = append(errs, fieldErr(field, "not used by provider %s", t.Provider))
		}
	}
	switch t.Provider {
	case MSS:
		errs = append(errs, checkID("file_id", t.FileID, true), checkID("project_id", t.ProjectID, false))
		if !utf8.ValidString(t.AppUserID) || strings.ContainsFunc(t.AppUserID, func(r rune) bool { return unicode.Is(unicode.Han, r) || unicode.IsControl(r) }) {
			errs = append(errs, fieldErr("app_user_id", "must not contain Chinese or control characters"))
		}
		foreign("library_id", t.LibraryID != "")
		foreign("space_id", t.SpaceID != "")
		foreign("path", t.Path != "")
		foreign("permanent", t.Permanent)
		foreign("user_id", t.UserID != "")
		foreign("sub_app_id", t.SubAppID != 0)
		foreign("delete_parts", len(t.DeleteParts) > 0)
	case SMH:
		errs = append(errs, checkID("library_id", t.LibraryID, false), checkID("space_id", t.SpaceID, false),
			CheckPath(t.Path))
		if !utf8.ValidString(t.UserID) || strings.ContainsFunc(t.UserID, unicode.IsControl) {
			errs = append(errs, fieldErr("user_id", "must be valid UTF-8 without control characters"))
		}
		foreign("file_id", t.FileID != "")
		foreign("project_id", t.ProjectID != "")
		foreign("app_user_id", t.AppUserID != "")
		foreign("sub_app_id", t.SubAppID != 0)
		foreign("delete_parts", len(t.DeleteParts) > 0)
	case VOD:
		errs = append(errs, checkID("file_id", t.FileID, true))
		for i, p := range t.DeleteParts {
			if !slices.Contains(VODPartTypes, p.Type) {
				errs = append(errs, fieldErr(fmt.Sprintf("delete_parts[%d].type", i),
					"%q is not one of %s", p.Type, strings.Join(VODPartTypes, ", ")))
			}
			if p.Definition < 0 {
				errs = append(errs, fieldErr(fmt.Sprintf("delete_parts[%d].definition", i), "must be 0 (all) or a positive template id"))
			}
		}
		foreign("project_id", t.ProjectID != "")
		foreign("app_user_id", t.AppUserID != "")
		foreign("library_id", t.LibraryID != "")
		foreign("space_id", t.SpaceID != "")
		foreign("path", t.Path != "")
		foreign("permanent", t.Permanent)
		foreign("user_id", t.UserID != "")
	}
	return errors.Join(errs...)
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
func (t Target) Key() string {
	esc := url.PathEscape
	switch t.Provider {
	case MSS:
		return "mss/" + esc(t.ProjectID) + "/" + esc(t.FileID)
	case SMH:
		return "smh/" + esc(t.LibraryID) + "/" + esc(t.SpaceID) + "/" + EscapePath(t.Path)
	case VOD:
		k := "vod/" + strconv.FormatUint(t.SubAppID, 10) + "/" + esc(t.FileID)
		if len(t.DeleteParts) > 0 {
			parts := make([]string, len(t.DeleteParts))
			for i, p := range t.DeleteParts {
				parts[i] = p.Type + ":" + strconv.FormatInt(p.Definition, 10)
			}
			sort.Strings(parts)
			k += "?" + strings.Join(parts, ",")
		}
		return k
	}
	return string(t.Provider) + "/?"
}

// String is a short human-readable form, used in logs and reports.
func (t Target) String() string { return t.Key() }
