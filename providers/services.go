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

// The three services reaper ships with, described to the provider-neutral code. A new provider adds
// its Name constant (provider.go) and one Register call here, next to its package.
func init() {
	Register(Spec{Name: MSS, Fields: []string{"file_id", "project_id", "app_user_id"}, Validate: validateMSS, Key: keyMSS,
		ParseKey: parseKeyMSS})
	Register(Spec{Name: SMH, Fields: []string{"library_id", "space_id", "path", "permanent", "user_id"}, Validate: validateSMH, Key: keySMH, ParseKey: parseKeySMH,
		Source: "list"})
	Register(Spec{Name: VOD, Fields: []string{"file_id", "sub_app_id", "delete_parts"}, Validate: validateVOD, Key: keyVOD, ParseKey: parseKeyVOD,
		Source: "search"})
}

// SingleTenantSpace is the SMH space id of a single-tenant library: the space of a target that names
// none when the config names none either (smh.SingleTenantSpace is this constant, so the client and
// the producers' keys agree).
const SingleTenantSpace = "-"

// validateMSS: a file id (one path segment), an optional project, an X-App-UserId without Chinese or
// control characters (MetaStudio refuses those).
func validateMSS(t Target) error {
	errs := []error{checkID("file_id", t.FileID, true), checkID("project_id", t.ProjectID, false)}
	if !utf8.ValidString(t.AppUserID) || strings.ContainsFunc(t.AppUserID, func(r rune) bool { return unicode.Is(unicode.Han, r) || unicode.IsControl(r) }) {
		errs = append(errs, fieldErr("app_user_id", "must not contain Chinese or control characters"))
	}
	return errors.Join(errs...)
}

func keyMSS(t Target) string {
	return "mss/" + url.PathEscape(t.ProjectID) + "/" + url.PathEscape(t.FileID)
}

// parseKeyMSS is keyMSS's inverse.
func parseKeyMSS(k string) (Target, bool) {
	segs, ok := unescapeSegments(k, "mss/", 2)
	if !ok {
		return Target{}, false
	}
	return Target{Provider: MSS, ProjectID: segs[0], FileID: segs[1]}, true
}

// unescapeSegments splits what follows prefix in k into n '/'-separated, path-escaped parts (the last
// one takes the rest, '/'s and all) and unescapes each one.
func unescapeSegments(k, prefix string, n int) ([]string, bool) {
	rest, ok := strings.CutPrefix(k, prefix)
	if !ok {
		return nil, false
	}
	segs := strings.SplitN(rest, "/", n)
	if len(segs) != n {
		return nil, false
	}
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

// validateSMH: optional library and space, a path (CheckPath), a user id without control characters.
func validateSMH(t Target) error {
	errs := []error{checkID("library_id", t.LibraryID, false), checkID("space_id", t.SpaceID, false), CheckPath(t.Path)}
	if !utf8.ValidString(t.UserID) || strings.ContainsFunc(t.UserID, unicode.IsControl) {
		errs = append(errs, fieldErr("user_id", "must be valid UTF-8 without control characters"))
	}
	return errors.Join(errs...)
}

func keySMH(t Target) string {
	return "smh/" + url.PathEscape(t.LibraryID) + "/" + url.PathEscape(t.SpaceID) + "/" + EscapePath(t.Path)
}

// parseKeySMH is keySMH's inverse: library and space, then the path's segments, each escaped alone.
func parseKeySMH(k string) (Target, bool) {
	segs, ok := unescapeSegments(k, "smh/", 3)
	if !ok {
		return Target{}, false
	}
	return Target{Provider: SMH, LibraryID: segs[0], SpaceID: segs[1], Path: segs[2]}, true
}

// validateVOD: a file id, and delete parts of the types DeleteMedia knows.
func validateVOD(t Target) error {
	errs := []error{checkID("file_id", t.FileID, true)}
	for i, p := range t.DeleteParts {
		if !slices.Contains(VODPartTypes, p.Type) {
			errs = append(errs, fieldErr(fmt.Sprintf("delete_parts[%d].type", i),
				"%q is not one of %s", p.Type, strings.Join(VODPartTypes, ", ")))
		}
		if p.Definition < 0 {
			errs = append(errs, fieldErr(fmt.Sprintf("delete_parts[%d].definition", i), "must be 0 (all) or a positive template id"))
		}
	}
	return errors.Join(errs...)
}

// keyVOD names the parts too, in a fixed order: deleting only the transcodes is not deleting the media.
func keyVOD(t Target) string {
	k := "vod/" + strconv.FormatUint(t.SubAppID, 10) + "/" + url.PathEscape(t.FileID)
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

// parseKeyVOD is keyVOD's inverse; the delete parts come back in the key's (sorted) order.
func parseKeyVOD(k string) (Target, bool) {
	k, query, hasParts := strings.Cut(k, "?")
	segs, ok := unescapeSegments(k, "vod/", 2)
	if !ok {
		return Target{}, false
	}
	sub, err := strconv.ParseUint(segs[0], 10, 64)
	if err != nil {
		return Target{}, false
	}
	t := Target{Provider: VOD, SubAppID: sub, FileID: segs[1]}
	if hasParts {
		for _, p := range strings.Split(query, ",") {
			typ, def, ok := strings.Cut(p, ":")
			d, err := strconv.ParseInt(def, 10, 64)
			if !ok || err != nil {
				return Target{}, false
			}
			t.DeleteParts = append(t.DeleteParts, DeletePart{Type: typ, Definition: d})
		}
	}
	return t, true
}
