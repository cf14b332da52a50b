package wiring_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
)

func load(t *testing.T, yaml string, env map[string]string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reaper.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path, func(k string) string { return env[k] })
	require.NoError(t, err)
	return cfg
}

// Credentials are checked once, by the provider clients, when the wiring builds them at start-up; the
// error names the config key and the environment variables, and never a secret.
func TestCheckReportsEveryProvidersCredentials(t *testing.T) {
	cases := map[string]struct {
		yaml string
		env  map[string]string
		want []string
	}{
		"mss without credentials": {"providers:\n  mss: {enabled: true, project_id: p}\n", nil,
			[]string{"providers.mss:", "credentials required", "REAPER_MSS_AK and REAPER_MSS_SK, or REAPER_MSS_TOKEN"}},
		"mss with both": {"providers:\n  mss: {enabled: true, project_id: p}\n",
			map[string]string{"REAPER_MSS_AK": "ak", "REAPER_MSS_SK": "Sup3rS3cretSK", "REAPER_MSS_TOKEN": "tok3n"},
			[]string{"providers.mss:", "not both"}},
		"smh without credentials": {"providers:\n  smh: {enabled: true, library_id: lib}\n", nil,
			[]string{"providers.smh:", "REAPER_SMH_LIBRARY_SECRET"}},
		"vod without its key": {"providers:\n  vod: {enabled: true}\n", map[string]string{"REAPER_VOD_SECRET_ID": "id"},
			[]string{"providers.vod:", "SecretKey", "REAPER_VOD_SECRET_ID and REAPER_VOD_SECRET_KEY"}},
		"two at once": {"providers:\n  mss: {enabled: true, project_id: p}\n  vod: {enabled: true}\n", nil,
			[]string{"providers.mss:", "providers.vod:"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := wiring.Check(load(t, c.yaml, c.env))
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, secret := range []string{"Sup3rS3cretSK", "tok3n"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
	ok := load(t, "providers:\n  vod: {enabled: true}\n", map[string]string{"REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key"})
	assert.NoError(t, wiring.Check(ok))
}

// The outcome stream is on by default; outcomes.stream: false and outcomes.stream_retention: 0 each
// turn it off (a negative StreamRetention: the store writes no entry).
func TestOutcomeStreamSwitch(t *testing.T) {
	for yaml, on := range map[string]bool{
		"outcomes: {}\n":                     true,
		"outcomes: {stream: true}\n":         true,
		"outcomes: {stream: false}\n":        false,
		"outcomes: {stream_retention: 0s}\n": false,
	} {
		o := wiring.Options(load(t, "providers:\n  vod: {enabled: true}\n"+yaml,
			map[string]string{"REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key"}))
		assert.Equal(t, on, o.Store.StreamRetention > 0, yaml)
	}
}
