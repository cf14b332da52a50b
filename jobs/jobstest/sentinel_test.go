package jobstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/jobs/jobstest"
)

// The helper's deployment fails over, and a failover client follows it: a key written through the
// client and replicated before the switch is read back from the new master, and writes go on there.
func TestSentinelHelperFailsOver(t *testing.T) {
	const within, poll = 10 * time.Second, 20 * time.Millisecond
	s := jobstest.StartSentinel(t)
	ctx := context.Background()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: jobstest.SentinelMaster, SentinelAddrs: s.Addrs})
	t.Cleanup(func() { _ = c.Close() })
	first := s.Master()
	require.Equal(t, s.Nodes[0], first)

	require.NoError(t, c.Set(ctx, "k", "before", 0).Err())
	require.Eventually(t, func() bool { return s.Nodes[1].Client().Get(ctx, "k").Val() == "before" }, within, poll, "replicated")
	second := s.Failover()
	assert.NotEqual(t, first, second)
	assert.Equal(t, second, s.Master())
	assert.Equal(t, "before", second.Client().Get(ctx, "k").Val(), "on the new master")
	require.Eventually(t, func() bool {
		return c.Set(ctx, "k", "after failover", 0).Err() == nil &&
			c.Get(ctx, "k").Val() == "after failover"
	}, within, poll, "the client follows the failover")
	assert.Equal(t, "after failover", second.Client().Get(ctx, "k").Val(), "written to the new master")
}
