package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
)

func TestBatchSection(t *testing.T) {
	cfg, err := config.Load(write(t, "providers: {vod: {enabled: true}}\n"), env(nil))
	require.NoError(t, err)
	assert.Equal(t, 0.5, cfg.Batch.MaxFailureRatio, "S3 Batch Operations' threshold by default")
	assert.Equal(t, 1000, cfg.Batch.MinOutcomes)

	_, err = config.Load(write(t, "providers: {vod: {enabled: true}}\nbatch: {max_failure_ratio: 1.5, min_outcomes: 0, notify_url: \"ftp://x/y\"}\n"), env(nil))
	require.Error(t, err)
	for _, key := range []string{"batch.max_failure_ratio", "batch.min_outcomes", "batch.notify_url: must be an http"} {
		assert.Contains(t, err.Error(), key)
	}

	path := write(t, "providers: {vod: {enabled: true}}\nbatch: {notify_url: \"https://hooks.example.com/reaper?k=v\"}\n")
	_, err = config.Load(path, env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "batch.notify_url: needs REAPER_WEBHOOK_SECRET")

	cfg, err = config.Load(path, env(map[string]string{"REAPER_WEBHOOK_SECRET": "whsec-123456"}))
	require.NoError(t, err)
	assert.Equal(t, "whsec-123456", cfg.Batch.WebhookSecret)
	assert.Contains(t, cfg.Secrets(), "whsec-123456", "scrubbed like every credential")
	assert.NoError(t, cfg.CheckNotify("http://127.0.0.1:9/x"))
	assert.Error(t, cfg.CheckNotify("mailto:ops@example.com"))
	assert.Contains(t, config.Env, "REAPER_WEBHOOK_SECRET")
}
