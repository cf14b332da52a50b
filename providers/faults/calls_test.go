package faults_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/reaper-media/reaper/providers/faults"
)

func TestCallCounter(t *testing.T) {
	var c faults.CallCounter
	assert.Zero(t, c.Of("a"), "the zero value counts nothing")
	assert.Zero(t, c.Total())

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Add("a")
			}
			c.Add("b")
		})
	}
	wg.Wait()
	assert.Equal(t, 800, c.Of("a"))
	assert.Equal(t, 8, c.Of("b"))
	assert.Zero(t, c.Of("c"))
	assert.Equal(t, 808, c.Total())
}
