package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
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
		"no credentials":  {"providers:\n  mss: {enabled: true}\n", "providers.mss: enabled but no credentials"},
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

func TestSecretsNeverInErrors(t *testing.T) {
	_, err := config.Load(write(t, "providers:\n  mss: {enabled: true}\n"), env(map[string]string{
		"REAPER_MSS_AK": "AKVALUE", "REAPER_MSS_TOKEN": "TOKENVALUE"}))
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
