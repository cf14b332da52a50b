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
