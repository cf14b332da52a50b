package wiring

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/reaper-media/reaper/config"
)

// Redis is the one go-redis client of a process, built from cfg.Redis (which passed config.Validate):
// a plain client for redis:// and rediss://, go-redis's Sentinel failover client for a
// redis+sentinel:// URL or redis.sentinel. Everything uses it, asynq included: jobs hands it to
// asynq's *FromRedisClient constructors, so asynq follows a failover with reaper's own keys and
// needs no RedisFailoverClientOpt of its own. The caller closes it.
func Redis(cfg *config.Config) (redis.UniversalClient, error) {
	if s, ok := cfg.Redis.SentinelConn(); ok {
		return redis.NewFailoverClient(failoverOptions(s)), nil
	}
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err) // config.Validate has reported it, without the password
	}
	return redis.NewClient(opt), nil
}

func failoverOptions(s config.SentinelConn) *redis.FailoverOptions {
	o := &redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs, SentinelPassword: s.SentinelPassword,
		Username: s.Username, Password: s.Password, DB: s.DB}
	if s.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12} // the server name is each address's host
	}
	return o
}

// RedisAddr says where cfg's Redis is, for messages: host:port, or the master's name and its
// sentinels. It holds no password.
func RedisAddr(cfg *config.Config) string {
	if s, ok := cfg.Redis.SentinelConn(); ok {
		return fmt.Sprintf("master %s via sentinels %s", s.MasterName, strings.Join(s.Addrs, ","))
	}
	if opt, err := redis.ParseURL(cfg.Redis.URL); err == nil {
		return opt.Addr
	}
	return "redis.url"
}

// RedisConnOpt is an asynq.RedisConnOpt for what needs one rather than a client (asynqmon): it
// reaches Redis exactly as Redis does.
type RedisConnOpt struct{ Config *config.Config }

// MakeRedisClient implements asynq.RedisConnOpt: a new client on each call, which its caller closes.
func (o RedisConnOpt) MakeRedisClient() any {
	rdb, err := Redis(o.Config)
	if err != nil {
		return nil
	}
	return rdb
}
