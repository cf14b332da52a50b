package jobs

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One task after another runs on a goroutine or two, not one each: the one that ran the last task
// may not be idle yet when the next comes (then a second starts), and on a loaded machine, rarely,
// neither is.
func TestStackPoolReusesItsGoroutines(t *testing.T) {
	s := newStackPool()
	defer s.close()
	want := errors.New("the task's own error")
	for i := range 1000 {
		var err error
		if i%2 == 1 {
			err = want
		}
		require.Equal(t, err, s.run(func() error { return err }))
	}
	assert.LessOrEqual(t, s.started.Load(), int64(10))
}

// Tasks run at once, each on a goroutine of its own, as many as come: none waits for another.
func TestStackPoolRunsTasksAtOnce(t *testing.T) {
	s := newStackPool()
	defer s.close()
	const n = 50
	var arrived sync.WaitGroup
	arrived.Add(n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			assert.NoError(t, s.run(func() error {
				arrived.Done()
				arrived.Wait() // returns only once all n run together
				return nil
			}))
		})
	}
	wg.Wait()
	assert.Equal(t, int64(n), s.started.Load())
}

// A panic comes back as the task's error, as asynq reports a handler's panic, and the goroutine
// that ran it goes on serving.
func TestStackPoolReturnsAPanicAsAnError(t *testing.T) {
	s := newStackPool()
	defer s.close()
	err := s.run(func() error { panic("boom") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panic: boom")
	assert.NoError(t, s.run(func() error { return nil }))
	assert.LessOrEqual(t, s.started.Load(), int64(2), "the goroutine that panicked, or one more")
}

// close ends the idle goroutines; run still works after it.
func TestStackPoolCloseEndsIdleGoroutines(t *testing.T) {
	s := newStackPool()
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 20 {
		wg.Go(func() { _ = s.run(func() error { <-release; return nil }) })
	}
	require.Eventually(t, func() bool { return s.started.Load() == 20 }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int64(20), s.live.Load(), "idle pool goroutines stay until close")
	s.close()
	s.close() // idempotent
	require.Eventually(t, func() bool { return s.live.Load() == 0 }, 10*time.Second, time.Millisecond)
	assert.NoError(t, s.run(func() error { return nil }))
}
