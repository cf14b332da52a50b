package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reaper-media/reaper/config"
)

// Sentinel by URL and by keys: what the wiring's failover client gets from each form.
func TestRedisSentinelForms(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       config.SentinelConn
	}{
		{name: "URL with password and db",
			env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:Sup3r%2FS3cret@10.0.0.1:26379,10.0.0.2:26380,sentinel-3/mymaster/2"},
			want: config.SentinelConn{MasterName: "mymaster", Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26380", "sentinel-3:26379"},
				DB: 2, Password: "Sup3r/S3cret"}},
		{name: "URL with user, no db, IPv6, sentinel password from env",
			env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://reaper:pw@[::1]:26379,[fd00::2]/m",
				"REAPER_REDIS_SENTINEL_PASSWORD": "sentinel-pw"},
			want: config.SentinelConn{MasterName: "m", Addrs: []string{"[::1]:26379", "[fd00::2]:26379"},
				Username: "reaper", Password: "pw", SentinelPassword: "sentinel-pw"}},
		{name: "TLS",
			env:  map[string]string{"REAPER_REDIS_URL": "rediss+sentinel://h1:26379/m/0"},
			want: config.SentinelConn{MasterName: "m", Addrs: []string{"h1:26379"}, TLS: true}},
		{name: "asynq's spelling",
			env:  map[string]string{"REAPER_REDIS_URL": "redis-sentinel://h1:26379,h2:26379?master=mymaster"},
			want: config.SentinelConn{MasterName: "mymaster", Addrs: []string{"h1:26379", "h2:26379"}}},
		{name: "asynq's spelling with a db",
			env:  map[string]string{"REAPER_REDIS_URL": "redis-sentinel://h1:26379/3?master=mymaster"},
			want: config.SentinelConn{MasterName: "mymaster", Addrs: []string{"h1:26379"}, DB: 3}},
		{name: "keys",
			yaml: "redis:\n  sentinel:\n    master_name: mymaster\n    addrs: [h1:26379, 'h2']\n    db: 1\n",
			env:  map[string]string{"REAPER_REDIS_PASSWORD": "data-pw", "REAPER_REDIS_SENTINEL_PASSWORD": "sentinel-pw"},
			want: config.SentinelConn{MasterName: "mymaster", Addrs: []string{"h1:26379", "h2:26379"}, DB: 1,
				Password: "data-pw", SentinelPassword: "sentinel-pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadRedis(t, tc.yaml, tc.env)
			require.NoError(t, err)
			got, ok := cfg.Redis.SentinelConn()
			require.True(t, ok)
			assert.Equal(t, tc.want, got)
			for _, s := range []string{tc.want.Password, tc.want.SentinelPassword} {
				if s != "" {
					assert.Contains(t, cfg.Secrets(), s, "callers scrub it")
				}
			}
		})
	}
	cfg, err := loadRedis(t, "", map[string]string{"REAPER_REDIS_URL": "redis://127.0.0.1:6379/0"})
	require.NoError(t, err)
	_, ok := cfg.Redis.SentinelConn()
	assert.False(t, ok, "a redis:// URL is a standalone Redis")
}

// Every bad Redis setting is refused at start-up with its key and why, and no message holds any
// piece of a password, however the URL splits.
func TestRedisSettingsRefused(t *testing.T) {
	const pw = "Sup3rS3cret"
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{name: "cluster URL", env: map[string]string{"REAPER_REDIS_URL": "redis+cluster://:" + pw + "@h1:7000,h2:7001"},
			want: "redis.url: Redis Cluster is not supported: reaper's and asynq's Lua scripts touch keys in more than one hash slot"},
		{name: "cluster URL, asynq-style scheme", env: map[string]string{"REAPER_REDIS_URL": "redis-cluster://h1:7000"},
			want: "redis.url: Redis Cluster is not supported"},
		{name: "cluster key", yaml: "redis:\n  cluster:\n    addrs: [h1:7000, h2:7001]\n",
			want: "redis.cluster: Redis Cluster is not supported: reaper's and asynq's Lua scripts touch keys in more than one hash slot (a batch's counters and records; asynq: hibiken/asynq #1086)"},
		{name: "no master name", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@h1:26379,h2:26379"},
			want: "redis.url: not a valid redis+sentinel:// URL"},
		{name: "empty master name", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@h1:26379//0"},
			want: "no master name"},
		{name: "bad db", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@h1:26379/m/x"},
			want: "the database number (after the master name) is not a whole number"},
		{name: "path too long", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@h1:26379/m/0/1"},
			want: "the path has more than MASTER_NAME/DB"},
		{name: "bad port", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@h1:26379,h2:port/m"},
			want: "sentinel address 2 of 2: the port is not a number"},
		{name: "empty address", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@h1:26379,,h3/m"},
			want: "sentinel address 2 of 3"},
		{name: "no address", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@/m"},
			want: "no sentinel address"},
		{name: "a '/' splits the password", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:Sup3r/S3cret@h1:26379/m"},
			want: "redis.url: not a valid redis+sentinel:// URL"},
		{name: "a blank in the host", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:" + pw + "@my host:26379/m"},
			want: "a blank or a control character"},
		{name: "malformed escape in the password", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://:Sup3r%zzS3cret@h1/m"},
			want: "the password has a malformed %-escape"},
		{name: "unknown query", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://h1/m?password=" + pw},
			want: "unknown query parameter"},
		{name: "master twice", env: map[string]string{"REAPER_REDIS_URL": "redis-sentinel://h1/m/0?master=other"},
			want: "with ?master= the path may hold only the database number"},
		{name: "keys without master name", yaml: "redis:\n  sentinel:\n    addrs: [h1:26379]\n",
			want: "redis.sentinel.master_name: is required"},
		{name: "keys without addrs", yaml: "redis:\n  sentinel:\n    master_name: m\n",
			want: "redis.sentinel.addrs: at least one sentinel"},
		{name: "keys with a bad address", yaml: "redis:\n  sentinel:\n    master_name: m\n    addrs: [h1:26379, 'h2:0']\n",
			want: "redis.sentinel.addrs[1]: the port is not a number from 1 to 65535"},
		{name: "keys and a URL", yaml: "redis:\n  sentinel:\n    master_name: m\n    addrs: [h1]\n",
			env:  map[string]string{"REAPER_REDIS_URL": "redis://:" + pw + "@h:6379/0"},
			want: "redis.sentinel: set either redis.url (REAPER_REDIS_URL) or redis.sentinel, not both"},
		{name: "keys with a negative db", yaml: "redis:\n  sentinel:\n    master_name: m\n    addrs: [h1]\n    db: -1\n",
			want: "redis.sentinel.db: must be 0 or more"},
		{name: "data password with a URL", env: map[string]string{"REAPER_REDIS_URL": "redis+sentinel://h1/m", "REAPER_REDIS_PASSWORD": pw},
			want: "REAPER_REDIS_PASSWORD: is only read with redis.sentinel"},
		{name: "sentinel password without Sentinel", env: map[string]string{"REAPER_REDIS_URL": "redis://h1:6379/0", "REAPER_REDIS_SENTINEL_PASSWORD": pw},
			want: "REAPER_REDIS_SENTINEL_PASSWORD: is set, but redis.url is not a redis+sentinel:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadRedis(t, tc.yaml, tc.env)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			for _, piece := range []string{"Sup3r", "S3cret", "%zz", "my host"} {
				assert.NotContains(t, err.Error(), piece)
			}
		})
	}
}

// loadRedis loads redisYAML (the redis section) with VOD enabled and env.
func loadRedis(t *testing.T, redisYAML string, vars map[string]string) (*config.Config, error) {
	t.Helper()
	all := map[string]string{"REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key"}
	for k, v := range vars {
		all[k] = v
	}
	return config.Load(write(t, redisYAML+"providers:\n  vod:\n    enabled: true\n"), env(all))
}

// FuzzSentinelURL: a redis+sentinel:// URL built around a password never panics the loader, and no
// error holds the password, however the URL around it is broken.
func FuzzSentinelURL(f *testing.F) {
	for _, s := range []struct{ user, pass, rest string }{
		{"", "Sup3rS3cret", "h1:26379,h2:26379/mymaster/0"},
		{"", "Sup3r/S3cret", "h1:26379/m"},
		{"user", "Sup3r%zzS3cret", "h1/m"},
		{"", "Sup3rS3cret", "h1:port,h2/m/x"},
		{"", "Sup3r?S3cret", "[::1]:26379/m?master=x"},
		{"", "Sup3r#S3cret", "my host/m"},
	} {
		f.Add(s.user, s.pass, s.rest)
	}
	f.Fuzz(func(t *testing.T, user, pass, rest string) {
		load := func(pass string) error {
			env := map[string]string{"REAPER_REDIS_URL": "redis+sentinel://" + user + ":" + pass + "@" + rest,
				"REAPER_VOD_SECRET_ID": "id", "REAPER_VOD_SECRET_KEY": "key"}
			cfg, err := config.Parse([]byte("providers:\n  vod: {enabled: true}\n"))
			require.NoError(t, err)
			_, err = config.FromParsed(cfg, func(k string) string { return env[k] })
			return err
		}
		err := load(pass)
		if err == nil {
			return
		}
		// The password is only unambiguous when nothing around it looks like a user info separator,
		// and when the message would not hold the same text with another password.
		other := load("Zq9")
		if len(pass) >= 6 && !strings.ContainsAny(user, ":@/?#") && !strings.Contains(rest, "@") &&
			!strings.Contains(user+rest+"redis+sentinel://", pass) && (other == nil || !strings.Contains(other.Error(), pass)) {
			require.NotContains(t, err.Error(), pass)
		}
	})
}
