package wiring_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/wiring"
	"github.com/reaper-media/reaper/jobs/jobstest"
)

func redisConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	env["REAPER_VOD_SECRET_ID"], env["REAPER_VOD_SECRET_KEY"] = "id", "key"
	cfg, err := config.Parse([]byte("providers:\n  vod: {enabled: true}\n"))
	require.NoError(t, err)
	c, err := config.FromParsed(cfg, func(k string) string { return env[k] })
	require.NoError(t, err)
	return c
}

// A redis+sentinel:// URL gives a client that finds the master through the sentinels, for the
// process and for the dashboard alike; messages name the master and sentinels, never the password.
func TestRedisThroughSentinels(t *testing.T) {
	s := jobstest.StartSentinel(t)
	ctx := context.Background()
	cfg := redisConfig(t, map[string]string{"REAPER_REDIS_URL": s.URL()})

	rdb, err := wiring.Redis(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	assert.Equal(t, "v", s.Master().Client().Get(ctx, "k").Val(), "written to the master")

	dash, ok := wiring.RedisConnOpt{Config: cfg}.MakeRedisClient().(redis.UniversalClient)
	require.True(t, ok)
	t.Cleanup(func() { _ = dash.Close() })
	assert.Equal(t, "v", dash.Get(ctx, "k").Val())

	assert.Equal(t, "master "+jobstest.SentinelMaster+" via sentinels "+s.Addrs[0]+","+s.Addrs[1]+","+s.Addrs[2], wiring.RedisAddr(cfg))
	withPassword := redisConfig(t, map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:Sup3rS3cret@h1,h2:26380/m/1"})
	assert.Equal(t, "master m via sentinels h1:26379,h2:26380", wiring.RedisAddr(withPassword))
	assert.Equal(t, "127.0.0.1:6379", wiring.RedisAddr(redisConfig(t, map[string]string{"REAPER_REDIS_URL": "redis://:Sup3rS3cret@127.0.0.1:6379/0"})))
}
