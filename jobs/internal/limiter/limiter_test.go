package limiter

import (
	"context"
	"testing"

	"github.com/go-redis/redis_rate/v10"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// An idle limit hands out at most one reservation at once, whatever the number of processes asking:
// a whole second's burst on top of the rate made a fleet's first second twice the provider's limit.
func TestBurstIsOneReservation(t *testing.T) {
	rdb := jobstest.StartRedis(t).Client()
	key := func(n providers.Name) string { return "test:" + string(n) }
	// Three processes, each with its own limiter over the same Redis key.
	fleet := []*Limiter{New(redis_rate.NewLimiter(rdb), key), New(redis_rate.NewLimiter(rdb), key), New(redis_rate.NewLimiter(rdb), key)}
	ctx := context.Background()
	granted := 0
	for round := 0; round < 50; round++ {
		for _, l := range fleet {
			wait, err := l.Take(ctx, providers.VOD, 100)
			require.NoError(t, err)
			if wait == 0 {
				granted++
			}
		}
	}
	// 100/s: a reservation is 5 tokens (50 ms). The calls above take a few milliseconds, in which the
	// rate adds at most a token or two; a second's burst would have granted all 150.
	assert.LessOrEqual(t, granted, 5+3, "granted at once")
	assert.GreaterOrEqual(t, granted, 5)
}
