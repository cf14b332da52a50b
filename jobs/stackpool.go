package jobs

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// stackPool runs the handler's tasks on long-lived goroutines instead of the one asynq starts for
// each task. A new goroutine's stack starts small and grows by copying: reaper's task path (payload
// decode, breaker, limiter, the HTTP client, the group commit) grew each task's stack twice, about
// 20 µs of CPU per task (BenchmarkWorker's profile: runtime.newstack under the handler), a seventh of
// what reaper adds to a bare asynq handler. A goroutine that has run a task keeps its grown stack for
// the next one; the hand-off costs two channel operations.
//
// A new goroutine starts only when none is idle, so the pool holds about as many as tasks ran at once
// (asynq's concurrency): now and then one more, when the goroutine that has just finished a task is
// not back waiting yet as the next task comes. close ends the idle ones.
type stackPool struct {
	work    chan func()
	quit    chan struct{}
	closing sync.Once
	// started and live count the goroutines started and not yet ended, for tests.
	started, live atomic.Int64
}

func newStackPool() *stackPool {
	return &stackPool{work: make(chan func()), quit: make(chan struct{})}
}

// run runs f on an idle pool goroutine, or on a new one when none is idle, and returns once f has.
// A panic in f is returned as an error, as asynq reports a handler's panic, and the goroutine goes
// on serving.
func (s *stackPool) run(f func() error) (err error) {
	done := make(chan error, 1)
	job := func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		done <- f()
	}
	select {
	case s.work <- job:
	default:
		s.started.Add(1)
		s.live.Add(1)
		go s.serve(job)
	}
	return <-done
}

// serve runs job, then whatever run hands it, until close.
func (s *stackPool) serve(job func()) {
	defer s.live.Add(-1)
	for {
		job()
		select {
		case job = <-s.work:
		case <-s.quit:
			return
		}
	}
}

// close ends the pool's idle goroutines; busy ones end after their task. run still works after it,
// on a goroutine of its own.
func (s *stackPool) close() { s.closing.Do(func() { close(s.quit) }) }
