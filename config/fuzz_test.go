package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
)

// fuzzSecrets are credentials in the fuzzed environment: whatever the YAML and the Redis URL hold,
// no error may print them.
var fuzzSecrets = map[string]string{
	"REAPER_MSS_AK": "fuzzAK", "REAPER_MSS_SK": "fuzzMSSsecretKey01", "REAPER_SMH_LIBRARY_SECRET": "fuzzSMHlibrarySecret01",
	"REAPER_VOD_SECRET_ID": "fuzzVODid", "REAPER_VOD_SECRET_KEY": "fuzzVODsecretKey01", "REAPER_API_TOKENS": "fuzzAPItoken01",
}

// FuzzLoad: the config loader never panics on any YAML and any redis.url (built around a password),
// an accepted config validates again unchanged, and no error ever holds a credential or the Redis
// password, however the URL around it is broken.
func FuzzLoad(f *testing.F) {
	for _, s := range []struct{ yaml, user, pass, host string }{
		{"redis:\n  url: redis://127.0.0.1:6379/0\nproviders:\n  vod: {enabled: true}\n", "", "Sup3rS3cret", "127.0.0.1:6379/0"},
		{"providers:\n  mss: {enabled: true, project_id: p}\nworker: {concurrency: 0}\n", "", "Sup3rS3cret", "redis host:6379/0"},
		{"providers:\n  smh: {enabled: true, library_id: l}\n", "user", "Sup3r%zzS3cret", "host:6379/0"},
		{"providers:\n  vod: {enabled: true}\n", "", "Sup3r/S3cret", "host:6379/0"},
		{"providers:\n  vod: {enabled: true}\n", "", "Sup3rS3cret", "host:port/x?dial_timeout=soon"},
		{"scheduler:\n  policies:\n    - {name: x, schedule: '0 3 * * *', provider: vod, max_deletions: 0}\n", "", "pw-4567", "h/0"},
		{"retry: {codes: {X: sometimes}}\nunknown: 1\n", "", "pw-4567", "h/0"},
		{"redis: [\n", "", "pw-4567", "h/0"},
	} {
		f.Add(s.yaml, s.user, s.pass, s.host)
	}
	f.Fuzz(func(t *testing.T, yaml, user, pass, host string) {
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			return
		}
		env := map[string]string{"REAPER_REDIS_URL": "redis://" + user + ":" + pass + "@" + host}
		for k, v := range fuzzSecrets {
			env[k] = v
		}
		loaded, err := config.FromParsed(cfg, func(k string) string { return env[k] })
		if err == nil {
			require.NoError(t, loaded.Validate())
			return
		}
		msg := err.Error()
		for _, s := range fuzzSecrets {
			if len(s) > 8 && !strings.Contains(yaml, s) {
				require.NotContains(t, msg, s)
			}
		}
		// The password is only unambiguous when nothing around it looks like a user info separator.
		if len(pass) >= 6 && !strings.ContainsAny(user, ":@/?#") && !strings.Contains(host, "@") &&
			!strings.Contains(yaml, pass) && !strings.Contains(user+host+"redis://", pass) {
			require.NotContains(t, msg, pass, "url %q", env["REAPER_REDIS_URL"])
		}
	})
}
