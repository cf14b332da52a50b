package jobs

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
)

// asynq's hooks: a reschedule is no failure and waits what the handler asked; an error the handler
// could not decide on backs off briefly, a lease recovery runs at once.
func TestAsynqHooks(t *testing.T) {
	p := RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Hour, Jitter: func() float64 { return 0.5 }}
	assert.False(t, isFailure(&rescheduleError{After: 1}))
	assert.True(t, isFailure(errors.New("x")))
	assert.Equal(t, 7*time.Second, p.retryDelay(3, &rescheduleError{After: 7 * time.Second}, nil))
	assert.Zero(t, p.retryDelay(3, asynq.ErrLeaseExpired, nil))
	assert.Equal(t, 4*time.Second, p.retryDelay(3, errors.New("redis: connection refused"), nil), "never the provider backoff's minutes")
	assert.Equal(t, 16*time.Second, p.retryDelay(40, errors.New("redis: connection refused"), nil), "capped at 32 s × jitter")
}
