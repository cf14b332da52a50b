package wiring

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/providers"
)

// Every registered provider has a client entry and no entry names an unregistered provider: Deleter,
// Check and Codes loop over providers.Names.
func TestClientsCoverTheRegistry(t *testing.T) {
	assert.Len(t, clients, len(providers.Names))
	for _, n := range providers.Names {
		c, ok := clients[n]
		require.True(t, ok, "%s has no client entry", n)
		assert.NotEmpty(t, c.codes(), "%s's code table", n)
	}
	_, err := Deleter(&config.Config{}, "gcs")
	assert.EqualError(t, err, `unknown provider "gcs"`)
}

// providers.smh.batch_size reaches the SMH client's MaxBatch; unset is the client's default.
func TestSMHBatchSizeReachesTheClient(t *testing.T) {
	for size, want := range map[int]int{0: 100, 1: 1, 250: 250} {
		cfg := config.Default()
		cfg.Providers.SMH.BatchSize = size
		cfg.Providers.SMH.LibraryID, cfg.Providers.SMH.LibrarySecret = "lib", "secret"
		d, err := Deleter(&cfg, providers.SMH)
		require.NoError(t, err)
		bd, ok := d.(providers.BatchDeleter)
		require.True(t, ok, "the SMH client deletes in batches")
		assert.Equal(t, want, bd.MaxBatch(), "batch_size %d", size)
	}
}
