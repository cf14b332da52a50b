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
	Register(Spec{Name: MSS, Fields: []string{"file_id", "project_id", "app_user_id"}, Validate: validateMSS, Key: keyMSS})
	Register(Spec{Name: SMH, Fields: []string{"library_id", "space_id", "path", "permanent", "user_id"}, Validate: validateSMH, Key: keySMH,
		Source: "list"})
	Register(Spec{Name: VOD, Fields: []string{"file_id", "sub_app_id", "delete_parts"}, Validate: validateVOD, Key: keyVOD,
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
