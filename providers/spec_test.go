package providers_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
)

// setters sets each provider-specific Target field, by JSON name.
var setters = map[string]func(*providers.Target){
	"file_id":      func(t *providers.Target) { t.FileID = "f1" },
	"project_id":   func(t *providers.Target) { t.ProjectID = "p1" },
	"app_user_id":  func(t *providers.Target) { t.AppUserID = "u1" },
	"library_id":   func(t *providers.Target) { t.LibraryID = "lib" },
	"space_id":     func(t *providers.Target) { t.SpaceID = "-" },
	"path":         func(t *providers.Target) { t.Path = "a/b.mp4" },
	"permanent":    func(t *providers.Target) { t.Permanent = true },
	"user_id":      func(t *providers.Target) { t.UserID = "u1" },
	"sub_app_id":   func(t *providers.Target) { t.SubAppID = 7 },
	"delete_parts": func(t *providers.Target) { t.DeleteParts = []providers.DeletePart{{Type: "TranscodeFiles"}} },
}

func TestRegisteredProviders(t *testing.T) {
	assert.Equal(t, []providers.Name{providers.MSS, providers.SMH, providers.VOD}, providers.Names,
		"registration order is the stable order loops rely on")
	claimed := map[string]bool{}
	for _, n := range providers.Names {
		s, ok := providers.Lookup(n)
		require.True(t, ok, "%s", n)
		assert.Equal(t, n, s.Name)
		for _, f := range s.Fields {
			claimed[f] = true
		}
		got, err := providers.ParseName(string(n))
		require.NoError(t, err)
		assert.Equal(t, n, got)
	}
	for f := range setters {
		assert.True(t, claimed[f], "field %s belongs to no provider", f)
	}
	_, ok := providers.Lookup("gcs")
	assert.False(t, ok)
	_, err := providers.ParseName("gcs")
	assert.EqualError(t, err, `unknown provider "gcs" (want mss, smh or vod)`)
}

// TestValidateRefusesForeignFields holds every provider to its Spec's Fields: a valid target with one
// field of another provider set fails on that field, through Target.Validate's dispatch.
func TestValidateRefusesForeignFields(t *testing.T) {
	valid := map[providers.Name]providers.Target{
		providers.MSS: {Provider: providers.MSS, FileID: "f1"},
		providers.SMH: {Provider: providers.SMH, Path: "a/b.mp4"},
		providers.VOD: {Provider: providers.VOD, FileID: "5285890800000000001"},
	}
	for _, n := range providers.Names {
		spec, _ := providers.Lookup(n)
		base, ok := valid[n]
		require.True(t, ok, "no valid target for %s in this test", n)
		require.NoError(t, base.Validate())
		for field, set := range setters {
			tg := base
			set(&tg)
			err := tg.Validate()
			if slices.Contains(spec.Fields, field) {
				assert.NoError(t, err, "%s uses %s", n, field)
				continue
			}
			var fe *providers.FieldError
			require.ErrorAs(t, err, &fe, "%s must refuse %s", n, field)
			assert.Equal(t, field, fe.Field)
			assert.Equal(t, "not used by provider "+string(n), fe.Problem)
		}
	}
}

func TestValidateListsEveryFieldError(t *testing.T) {
	tg := providers.Target{Provider: providers.MSS, FileID: "a/b", AppUserID: "用户", Path: "x", SubAppID: 1}
	err := tg.Validate()
	j, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "%v", err)
	var fields []string
	for _, e := range j.Unwrap() {
		var fe *providers.FieldError
		require.True(t, errors.As(e, &fe), "%v", e)
		fields = append(fields, fe.Field)
	}
	assert.Equal(t, []string{"file_id", "app_user_id", "path", "sub_app_id"}, fields,
		"one flat list: the provider's own checks, then the foreign fields in declaration order")
}

func TestKeyDispatch(t *testing.T) {
	cases := []struct {
		t    providers.Target
		want string
	}{
		{providers.Target{Provider: providers.MSS, ProjectID: "p", FileID: "f/1"}, "mss/p/f%2F1"},
		{providers.Target{Provider: providers.SMH, LibraryID: "lib", SpaceID: "-", Path: "a b/c?.mp4"}, "smh/lib/-/a%20b/c%3F.mp4"},
		{providers.Target{Provider: providers.VOD, SubAppID: 3, FileID: "9", DeleteParts: []providers.DeletePart{
			{Type: "TranscodeFiles", Definition: 230}, {Type: "OriginalFiles"}}}, "vod/3/9?OriginalFiles:0,TranscodeFiles:230"},
		{providers.Target{Provider: "gcs", FileID: "x"}, "gcs/?"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.t.Key())
		if s, ok := providers.Lookup(c.t.Provider); ok {
			assert.Equal(t, c.want, s.Key(c.t), "Target.Key is the Spec's Key")
		}
	}
}

func TestRegisterRefusesBadSpecs(t *testing.T) {
	ok := func(providers.Target) error { return nil }
	key := func(providers.Target) string { return "x/" }
	cases := map[string]providers.Spec{
		"twice":         {Name: providers.MSS, Validate: ok, Key: key},
		"no name":       {Validate: ok, Key: key},
		"slash in name": {Name: "a/b", Validate: ok, Key: key},
		"no validate":   {Name: "zz1", Key: key},
		"no key":        {Name: "zz2", Validate: ok},
		"unknown field": {Name: "zz3", Validate: ok, Key: key, Fields: []string{"bucket"}},
	}
	for name, s := range cases {
		assert.Panics(t, func() { providers.Register(s) }, name)
	}
	assert.Len(t, providers.Names, 3, "a refused Spec registers nothing")
}
