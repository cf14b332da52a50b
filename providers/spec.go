package providers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Spec is what the provider-neutral code (manifest validation, deduplication) needs to know about one
// provider, so that it never branches on a provider's name: which Target fields the provider uses,
// how they are checked and what identifies a target. Each provider has exactly one, registered once
// (services.go registers the three reaper ships with).
type Spec struct {
	// Name is the provider's manifest name.
	Name Name
	// Fields are the Target fields the provider uses, by JSON name ("file_id", "path", ...).
	// Target.Validate refuses a target that sets any other field, so a line mistyped for one provider
	// fails instead of deleting something unexpected.
	Fields []string
	// Validate checks the provider's own fields, without I/O and before defaults are applied: a field
	// a client may default (project, library, space, sub-application) must not be required here. Its
	// errors are FieldErrors (joined when several).
	Validate func(Target) error
	// Key is the target's identity after defaults: "<name>/..." and stable across releases, since the
	// pipeline deduplicates on it (see Target.Key).
	Key func(Target) string
	// ParseKey is Key's inverse, optional: the key fields of a target whose Key is key (the rest left
	// zero), and false for a string Key cannot have made. The outcome store keeps a record under its
	// key and stores only the fields ParseKey cannot give back (see ParseKey).
	ParseKey func(key string) (Target, bool)
	// Source is the retention-policy source that selects this provider's files at the provider itself
	// ("search": VOD SearchMedia, "list": SMH directory listing), and a policy's default; empty when
	// the provider's policies select from the retention index only (every provider can).
	Source string
}

// Uses reports whether the provider uses Target field f (a JSON name from Fields): config asks it, for
// instance, whether a retention policy's permanent flag means anything to the provider.
func (s Spec) Uses(f string) bool { return slices.Contains(s.Fields, f) }

// Using lists the registered providers that use Target field f, in registration order, for messages
// such as "only applies to smh".
func Using(f string) []Name {
	var out []Name
	for _, n := range Names {
		if s, _ := Lookup(n); s.Uses(f) {
			out = append(out, n)
		}
	}
	return out
}

// targetFields are the provider-specific Target fields, in declaration order: how to tell that one is
// set, whether two targets hold the same value in it, and how to copy it from one to another.
type targetField struct {
	name  string
	set   func(Target) bool
	equal func(a, b Target) bool
	copy  func(dst *Target, src Target)
}

// fieldOf describes a comparable Target field through its address.
func fieldOf[T comparable](name string, at func(*Target) *T) targetField {
	var zero T
	return targetField{name: name,
		set:   func(t Target) bool { return *at(&t) != zero },
		equal: func(a, b Target) bool { return *at(&a) == *at(&b) },
		copy:  func(dst *Target, src Target) { *at(dst) = *at(&src) }}
}

var targetFields = []targetField{
	fieldOf("file_id", func(t *Target) *string { return &t.FileID }),
	fieldOf("project_id", func(t *Target) *string { return &t.ProjectID }),
	fieldOf("app_user_id", func(t *Target) *string { return &t.AppUserID }),
	fieldOf("library_id", func(t *Target) *string { return &t.LibraryID }),
	fieldOf("space_id", func(t *Target) *string { return &t.SpaceID }),
	fieldOf("path", func(t *Target) *string { return &t.Path }),
	fieldOf("permanent", func(t *Target) *bool { return &t.Permanent }),
	fieldOf("user_id", func(t *Target) *string { return &t.UserID }),
	fieldOf("sub_app_id", func(t *Target) *uint64 { return &t.SubAppID }),
	{name: "delete_parts", set: func(t Target) bool { return len(t.DeleteParts) > 0 },
		equal: func(a, b Target) bool { return slices.Equal(a.DeleteParts, b.DeleteParts) },
		copy:  func(dst *Target, src Target) { dst.DeleteParts = slices.Clone(src.DeleteParts) }},
}

var registry struct {
	mu    sync.RWMutex
	specs map[Name]Spec
}

// Register adds a provider. Call it from an init function: it appends to Names, which is read without
// a lock. It panics on an incomplete Spec, an unknown field name or a name registered twice, all of
// which are programming errors.
func Register(s Spec) {
	switch {
	case s.Name == "" || strings.ContainsAny(string(s.Name), "/ "):
		panic(fmt.Sprintf("providers.Register: invalid name %q", s.Name))
	case s.Validate == nil || s.Key == nil:
		panic(fmt.Sprintf("providers.Register(%s): Validate and Key are required", s.Name))
	}
	for _, f := range s.Fields {
		if !slices.ContainsFunc(targetFields, func(tf targetField) bool { return tf.name == f }) {
			panic(fmt.Sprintf("providers.Register(%s): unknown target field %q", s.Name, f))
		}
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.specs == nil {
		registry.specs = map[Name]Spec{}
	}
	if _, dup := registry.specs[s.Name]; dup {
		panic(fmt.Sprintf("providers.Register: %s registered twice", s.Name))
	}
	s.Fields = slices.Clone(s.Fields)
	registry.specs[s.Name] = s
	Names = append(Names, s.Name)
}

// Lookup returns provider n's Spec, and whether n is registered.
func Lookup(n Name) (Spec, bool) {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	s, ok := registry.specs[n]
	return s, ok
}

// validate is Target.Validate for a registered provider: the provider's own checks, then one error
// per field the provider does not use.
func (s Spec) validate(t Target) error {
	errs := flatten(s.Validate(t))
	for _, f := range targetFields {
		if f.set(t) && !s.Uses(f.name) {
			errs = append(errs, fieldErr(f.name, "not used by provider %s", s.Name))
		}
	}
	return errors.Join(errs...)
}

// flatten lists the errors err joins (none for nil), so one list holds every field error of a target.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// wantNames is the list of registered names for an "unknown provider" message: "mss, smh or vod".
func wantNames() string {
	names := make([]string, len(Names))
	for i, n := range Names {
		names[i] = string(n)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
