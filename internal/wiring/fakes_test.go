package wiring

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/providers"
)

// FakesConfig enables every provider at its fake with the fakes' credentials, which pass the clients'
// checks; fakestack names config's variables without importing config, so they are held equal here.
func TestFakesConfig(t *testing.T) {
	s, err := fakestack.Start(fakestack.Options{})
	require.NoError(t, err)
	defer s.Close()
	cfg, err := FakesConfig(s, "redis://127.0.0.1:6379/3")
	require.NoError(t, err)
	assert.Equal(t, providers.Names, cfg.Enabled())
	for _, n := range providers.Names {
		assert.Equal(t, s.URL[n], cfg.Provider(n).Endpoint, "%s", n)
	}
	assert.Equal(t, "redis://127.0.0.1:6379/3", cfg.Redis.URL)
	require.NoError(t, Check(cfg))
	for name := range s.Creds.Env() {
		assert.Contains(t, config.Env, name, "fakestack's %s is a variable config reads", name)
	}
	tg := s.Targets(1, 0)
	for _, want := range tg {
		got := want
		cfg.FillTarget(&got)
		assert.Equal(t, want, got, "the demo's targets name the defaults already")
	}
}
