package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/smh"
)

// Every registered provider has a section, under its own name as YAML key, and config has no section
// of a provider that is not registered.
func TestSectionsCoverTheRegistry(t *testing.T) {
	var p Providers
	secs := p.sections()
	assert.Len(t, secs, len(providers.Names))
	typ := reflect.TypeOf(p)
	assert.Equal(t, len(providers.Names), typ.NumField(), "one Providers field per provider")
	for i := range typ.NumField() {
		name := providers.Name(strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0])
		s, ok := secs[name]
		require.True(t, ok, "Providers.%s's YAML key %q is not a registered provider", typ.Field(i).Name, name)
		assert.Same(t, reflect.ValueOf(&p).Elem().Field(i).Addr().Interface(), s, "%s's section is Providers.%s", name, typ.Field(i).Name)
	}
	for _, n := range providers.Names {
		assert.NotEmpty(t, CredentialEnv(n), "%s", n)
		assert.Equal(t, 1, Default().Worker.Queues[string(n)], "%s's queue weight", n)
	}
	assert.Len(t, Default().Worker.Queues, len(providers.Names))
}

// Each section's variables are in Env and set what they name; credentials are scrubbed.
func TestSectionsReadTheirEnvironment(t *testing.T) {
	env := map[string]string{
		"REAPER_MSS_AK": "ak", "REAPER_MSS_SK": "sk", "REAPER_MSS_TOKEN": "tok", "REAPER_MSS_PROJECT_ID": "proj",
		"REAPER_MSS_ENDPOINT": "http://127.0.0.1:1", "REAPER_SMH_LIBRARY_SECRET": "lsec", "REAPER_SMH_ACCESS_TOKEN": "atok",
		"REAPER_SMH_LIBRARY_ID": "lib", "REAPER_SMH_ENDPOINT": "http://127.0.0.1:2", "REAPER_VOD_SECRET_ID": "id",
		"REAPER_VOD_SECRET_KEY": "key", "REAPER_VOD_SUB_APP_ID": "42", "REAPER_VOD_ENDPOINT": "http://127.0.0.1:3",
	}
	for k := range env {
		assert.Contains(t, Env, k)
	}
	var p Providers
	require.NoError(t, p.applyEnv(func(k string) string { return env[k] }))
	assert.Equal(t, Providers{
		MSS: MSS{Common: Common{Endpoint: "http://127.0.0.1:1"}, ProjectID: "proj", AK: "ak", SK: "sk", Token: "tok"},
		SMH: SMH{Common: Common{Endpoint: "http://127.0.0.1:2"}, LibraryID: "lib", LibrarySecret: "lsec", AccessToken: "atok"},
		VOD: VOD{Common: Common{Endpoint: "http://127.0.0.1:3"}, SubAppID: 42, SecretID: "id", SecretKey: "key"},
	}, p)
	assert.Equal(t, []string{"sk", "tok", "lsec", "atok", "key"}, p.secrets())
	err := p.applyEnv(func(k string) string { return map[string]string{"REAPER_VOD_SUB_APP_ID": "x"}[k] })
	assert.EqualError(t, err, `REAPER_VOD_SUB_APP_ID: "x" is not a whole number`)
}

// A target's key is the same whether its line names the defaults or leaves them to config; an SMH
// target without a space is in the single-tenant space, as the client would address it.
func TestFillTarget(t *testing.T) {
	c := Default()
	c.Providers.MSS.ProjectID, c.Providers.SMH.LibraryID, c.Providers.VOD.SubAppID = "p", "lib", 7
	for _, tc := range []struct{ in, want providers.Target }{
		{providers.Target{Provider: providers.MSS, FileID: "f"}, providers.Target{Provider: providers.MSS, FileID: "f", ProjectID: "p"}},
		{providers.Target{Provider: providers.SMH, Path: "a"}, providers.Target{Provider: providers.SMH, Path: "a", LibraryID: "lib", SpaceID: smh.SingleTenantSpace}},
		{providers.Target{Provider: providers.VOD, FileID: "f"}, providers.Target{Provider: providers.VOD, FileID: "f", SubAppID: 7}},
		{providers.Target{Provider: "gcs", FileID: "f"}, providers.Target{Provider: "gcs", FileID: "f"}},
	} {
		got := tc.in
		c.FillTarget(&got)
		assert.Equal(t, tc.want, got)
	}
	c.Providers.SMH.SpaceID = "space1"
	got := providers.Target{Provider: providers.SMH, Path: "a"}
	c.FillTarget(&got)
	assert.Equal(t, "space1", got.SpaceID)
}

// providers.smh.batch_size takes 1 to SMH's limit; 0 (unset) leaves the client's default.
func TestSMHBatchSize(t *testing.T) {
	for size, ok := range map[int]bool{-1: false, 0: true, 1: true, 100: true, smh.MaxBatchSize: true, smh.MaxBatchSize + 1: false} {
		c := Default()
		c.Providers.SMH.Enabled = true
		c.Providers.SMH.BatchSize = size
		err := c.Validate()
		if ok {
			assert.NoError(t, err, "%d", size)
			continue
		}
		require.Error(t, err, "%d", size)
		assert.Contains(t, err.Error(), "providers.smh.batch_size: must be between 1 and 1000", "%d", size)
	}
	assert.Zero(t, Default().Providers.SMH.BatchSize, "the default is the client's own")
}

// Policies' sources and the permanent flag are offered by the providers' Specs, not by name.
func TestPolicySourcesFollowTheSpecs(t *testing.T) {
	for p, want := range map[string]string{"vod": "search", "smh": "list", "mss": "index", "gcs": "index"} {
		assert.Equal(t, want, Policy{Provider: p}.SourceOrDefault(), p)
	}
	assert.Equal(t, "list", Policy{Provider: "vod", Source: "list"}.SourceOrDefault(), "an explicit source is kept")
	assert.Equal(t, "smh", joinNames(providers.Using("permanent")))
	assert.Equal(t, "mss, smh or vod", joinNames(providers.Names))
}
