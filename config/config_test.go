package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/providers"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func write(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "reaper.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestLoadAppliesFileThenEnv(t *testing.T) {
	p := write(t, `
redis:
  url: redis://10.0.0.1:6379/2
worker:
  concurrency: 7
  queues: {vod: 3, smh: 1}
retry:
  max_attempts: 4
  base_delay: 1s
  codes: {"FailedOperation": fatal}
providers:
  vod:
    enabled: true
    rate_limit: 50
    codes: {"InternalError": fatal}
`)
	cfg, err := config.Load(p, env(map[string]string{
		"REAPER_REDIS_URL": "redis://127.0.0.1:6380/0", "REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key",
		"REAPER_VOD_SUB_APP_ID": "42",
	}))
	require.NoError(t, err)
	assert.Equal(t, "redis://127.0.0.1:6380/0", cfg.Redis.URL, "env wins over the file")
	assert.Equal(t, 7, cfg.Worker.Concurrency)
	assert.Equal(t, 4, cfg.Retry.MaxAttempts)
	assert.Equal(t, time.Second, cfg.Retry.BaseDelay)
	assert.Equal(t, 10*time.Minute, cfg.Retry.MaxDelay, "unset keys keep their defaults")
	assert.Equal(t, []providers.Name{providers.VOD}, cfg.Enabled())
	assert.Equal(t, uint64(42), cfg.Providers.VOD.SubAppID)
	assert.Equal(t, map[string]providers.Class{"FailedOperation": providers.Fatal, "InternalError": providers.Fatal}, cfg.Codes(providers.VOD))
	assert.Equal(t, []string{"key"}, cfg.Secrets())

	tg := providers.Target{Provider: providers.VOD, FileID: "1"}
	cfg.FillTarget(&tg)
	assert.Equal(t, uint64(42), tg.SubAppID)
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown key":     {"worker:\n  concurency: 3\n", "field concurency not found"},
		"bad duration":    {"retry:\n  base_delay: 5 parsecs\n", "line 2"},
		"bad class":       {"retry:\n  codes: {X: maybe}\nproviders: {vod: {enabled: true}}\n", "retry.codes.X"},
		"nothing enabled": {"", "no provider is enabled"},
		"bad weight":      {"worker:\n  queues: {s3: 1}\nproviders: {vod: {enabled: true}}\n", "worker.queues.s3"},
		"bad rate":        {"providers:\n  smh: {rate_limit: 0}\n", "providers.smh.rate_limit"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(write(t, c.yaml), env(map[string]string{"REAPER_VOD_SECRET_ID": "i", "REAPER_VOD_SECRET_KEY": "k"}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// Conflicting credentials are refused (by the client, when the wiring checks it at start-up) without
// printing any of them.
func TestSecretsNeverInErrors(t *testing.T) {
	cfg, err := config.Load(write(t, "providers:\n  mss: {enabled: true}\n"), env(map[string]string{
		"REAPER_MSS_AK": "AKVALUE", "REAPER_MSS_TOKEN": "TOKENVALUE"}))
	require.NoError(t, err)
	err = wiring.Check(cfg)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "AKVALUE")
	assert.NotContains(t, err.Error(), "TOKENVALUE")
}

func TestExampleConfigLoads(t *testing.T) {
	_, err := config.Load("../deploy/reaper.example.yaml", env(map[string]string{
		"REAPER_MSS_AK": "a", "REAPER_MSS_SK": "s", "REAPER_SMH_LIBRARY_SECRET": "l", "REAPER_VOD_SECRET_ID": "i", "REAPER_VOD_SECRET_KEY": "k",
	}))
	require.NoError(t, err)
}

func TestPolicyValidation(t *testing.T) {
	base := "providers:\n  vod: {enabled: true}\n  smh: {enabled: true, library_id: l}\nscheduler:\n  policies:\n"
	creds := env(map[string]string{"REAPER_VOD_SECRET_ID": "i", "REAPER_VOD_SECRET_KEY": "k", "REAPER_SMH_LIBRARY_SECRET": "s"})
	cases := map[string]struct{ policy, want string }{
		"ok":           {"    - {name: a, schedule: '0 3 * * *', timezone: Asia/Shanghai, provider: vod, min_age: 24h, max_deletions: 10}\n", ""},
		"no cap":       {"    - {name: a, schedule: '0 3 * * *', provider: vod, min_age: 24h}\n", "scheduler.policies[a].max_deletions: is required"},
		"bad cron":     {"    - {name: a, schedule: 'every day', provider: vod, min_age: 24h, max_deletions: 1}\n", "scheduler.policies[a].schedule"},
		"bad zone":     {"    - {name: a, schedule: '@daily', timezone: Mars/Olympus, provider: vod, min_age: 24h, max_deletions: 1}\n", "scheduler.policies[a].timezone"},
		"bad source":   {"    - {name: a, schedule: '@daily', provider: smh, source: search, min_age: 24h, max_deletions: 1}\n", `"search" is not available for provider smh`},
		"disabled":     {"    - {name: a, schedule: '@daily', provider: mss, min_age: 24h, max_deletions: 1}\n", "mss is not enabled"},
		"dup":          {"    - {name: a, schedule: '@daily', provider: vod, min_age: 24h, max_deletions: 1}\n    - {name: a, schedule: '@daily', provider: vod, min_age: 24h, max_deletions: 1}\n", "is used by two policies"},
		"bad prefix":   {"    - {name: a, schedule: '@daily', provider: smh, min_age: 24h, max_deletions: 1, smh: {prefixes: ['/tmp']}}\n", "scheduler.policies[a].smh.prefixes[0]"},
		"permanent":    {"    - {name: a, schedule: '@daily', provider: vod, min_age: 24h, max_deletions: 1, permanent: true}\n", "only applies to smh"},
		"no min age":   {"    - {name: a, schedule: '@daily', provider: vod, max_deletions: 1}\n", "min_age"},
		"bad category": {"    - {name: a, schedule: '@daily', provider: vod, min_age: 1h, max_deletions: 1, vod: {categories: [Movie]}}\n", "vod.categories[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(write(t, base+c.policy), creds)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err := config.Load(write(t, "providers: {vod: {enabled: true}}\nretry: {overnight: {nights: 2, start: '25:00', end: '05:00'}}\n"), creds)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "retry.overnight.start")
}

func TestAPITokensFromEnvAndFile(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("# ops\nfiletoken\n\n"), 0o600))
	cfg, err := config.Load(write(t, "providers: {vod: {enabled: true}}\napi: {tokens_file: "+tokens+"}\n"),
		env(map[string]string{"REAPER_VOD_SECRET_ID": "i", "REAPER_VOD_SECRET_KEY": "k", "REAPER_API_TOKENS": "a, b"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "filetoken"}, cfg.API.Tokens)
	assert.Contains(t, cfg.Secrets(), "filetoken")
}

// TestRedisURLPasswordNeverPrinted: a malformed redis.url is refused at load with its key, and the
// error holds neither the URL nor any piece of its password, however the URL parser split it.
func TestRedisURLPasswordNeverPrinted(t *testing.T) {
	for _, u := range []string{
		"redis://:Sup3rS3cret@redis host:6379/0", // the issue's: a blank in the host name
		"redis://user:Sup3rS3cret@host:port/0",
		"redis://:Sup3r%zzS3cret@host:6379/0", // a malformed escape inside the password
		"redis://:Sup3r/S3cret@host:6379/0",   // a '/' splits the password: ":Sup3r" looks like a port
		"redis://:Sup3r:S3cret@host:6379/x",   // a bad database number
		"redis://:Sup3rS3cret@host:6379/0?dial_timeout=soon",
		"sentinel://:Sup3rS3cret@host:6379/0",
		"redis://:Sup3rS3cret\x00@host:6379/0",
	} {
		_, err := config.Load("", env(map[string]string{"REAPER_REDIS_URL": u}))
		require.Error(t, err, u)
		assert.Contains(t, err.Error(), "redis.url: not a valid", u)
		for _, piece := range []string{"Sup3r", "S3cret", "%zz", "redis host"} {
			assert.NotContains(t, err.Error(), piece, u)
		}
	}
}

// TestRedisPasswordIsASecret: callers scrub Config.Secrets() from what they print, so the Redis
// password must be among them.
func TestRedisPasswordIsASecret(t *testing.T) {
	p := write(t, "providers:\n  vod:\n    enabled: true\n")
	load := func(redisURL string) *config.Config {
		cfg, err := config.Load(p, env(map[string]string{"REAPER_REDIS_URL": redisURL,
			"REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key"}))
		require.NoError(t, err)
		return cfg
	}
	secrets := load("redis://reaper:Sup3r%2FS3cret@127.0.0.1:6379/0").Secrets()
	assert.Contains(t, secrets, "Sup3r/S3cret", "the password as Redis sees it")
	assert.Contains(t, secrets, "Sup3r%2FS3cret", "and as written")
	assert.Equal(t, []string{"key"}, load("redis://127.0.0.1:6379/0").Secrets(), "no password, no secret")
}
