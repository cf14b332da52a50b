package fakestack

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/reaper-media/reaper/providers"
)

func TestFakeOfUnknownProviderPanics(t *testing.T) {
	s := &Stack{}
	for _, n := range providers.Names {
		assert.NotPanics(t, func() { s.Fake(n) }, "%s", n)
	}
	assert.PanicsWithValue(t, `fakestack: no fake for provider "gcs"`, func() { s.Fake("gcs") },
		"an unknown provider must not get the VOD fake")
	assert.Panics(t, func() { s.Fake("") })
}

// Every registered provider has exactly one fake, and the fakes table names no provider that is not
// registered: the stack, its targets and its fault mix loop over providers.Names.
func TestFakesCoverTheRegistry(t *testing.T) {
	assert.Len(t, fakes, len(providers.Names))
	s, err := Start(Options{})
	if !assert.NoError(t, err) {
		return
	}
	defer s.Close()
	for _, n := range providers.Names {
		f, ok := fakes[n]
		if !assert.True(t, ok, "%s has no fake", n) {
			continue
		}
		assert.NotNil(t, f.of(s), "%s", n)
		assert.Equal(t, n, f.target(s.Creds, 0).Provider, "%s's demo target", n)
		assert.NoError(t, f.target(s.Creds, 0).Validate(), "%s's demo target", n)
		assert.NotEmpty(t, f.transient.Code, "%s's transient fault", n)
		assert.Contains(t, s.URL, n)
	}
	targets := s.Targets(2, 0)
	assert.Len(t, targets, 2*len(providers.Names))
	for _, tg := range targets {
		assert.True(t, s.Fake(tg.Provider).Exists(tg), "%s", tg)
	}
}
