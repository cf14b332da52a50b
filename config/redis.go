package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/reaper-media/reaper/providers"
)

// Sentinel names a Redis Sentinel deployment by keys: the same thing as a redis+sentinel:// URL.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the master under (`sentinel monitor NAME ...`).
	MasterName string `yaml:"master_name"`
	// Addrs are the sentinels' host:port addresses (port 26379 when left out).
	Addrs []string `yaml:"addrs"`
	// DB is the database number on the master.
	DB int `yaml:"db"`
	// Password is the sentinels' own password (their requirepass), when they have one: with a URL
	// too, the URL's password is the master's. Env REAPER_REDIS_SENTINEL_PASSWORD only.
	Password string `yaml:"-"`
}

// SentinelConn is how to reach a Sentinel deployment, from a redis+sentinel:// URL or the
// redis.sentinel keys: the wiring builds go-redis's failover client from it.
type SentinelConn struct {
	MasterName string
	Addrs      []string // the sentinels, host:port
	DB         int
	// Username and Password authenticate to the master and the replicas.
	Username, Password string
	// SentinelPassword authenticates to the sentinels (REAPER_REDIS_SENTINEL_PASSWORD).
	SentinelPassword string
	// TLS is rediss+sentinel://: TLS to the sentinels and to the master.
	TLS bool
}

// SentinelConn returns the Sentinel deployment the config names, or ok false for a standalone
// Redis at URL. Call it on a config that passed Validate.
func (r Redis) SentinelConn() (c SentinelConn, ok bool) {
	if r.sentinelKeys() {
		return SentinelConn{MasterName: r.Sentinel.MasterName, Addrs: withSentinelPorts(r.Sentinel.Addrs), DB: r.Sentinel.DB,
			Password: r.Password, SentinelPassword: r.Sentinel.Password}, true
	}
	if !isSentinelURL(r.URL) {
		return SentinelConn{}, false
	}
	c, err := parseSentinelURL(r.URL)
	if err != nil {
		return SentinelConn{}, false
	}
	c.SentinelPassword = r.Sentinel.Password
	return c, true
}

// clusterRefused is why a Redis Cluster config is refused at start-up.
const clusterRefused = "Redis Cluster is not supported: reaper's and asynq's Lua scripts touch keys in more than one hash slot " +
	"(a batch's counters and records; asynq: hibiken/asynq #1086); " +
	"use one standalone Redis (redis://) or a Sentinel deployment (redis+sentinel://host:26379,.../MASTER_NAME)"

const defaultSentinelPort = "26379"

// sentinelKeys reports whether redis.sentinel is used.
func (r Redis) sentinelKeys() bool {
	s := r.Sentinel
	return s.MasterName != "" || len(s.Addrs) > 0 || s.DB != 0
}

// validate checks the redis section, each problem naming its key; no message holds a password.
func (r Redis) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if r.Cluster != nil {
		bad("redis.cluster", "%s", clusterRefused)
	}
	switch {
	case r.sentinelKeys():
		if r.URL != Default().Redis.URL {
			bad("redis.sentinel", "set either redis.url (REAPER_REDIS_URL) or redis.sentinel, not both")
		}
		if r.Sentinel.MasterName == "" {
			bad("redis.sentinel.master_name", "is required with redis.sentinel (the name in the sentinels' `sentinel monitor NAME ...`)")
		}
		if len(r.Sentinel.Addrs) == 0 {
			bad("redis.sentinel.addrs", "at least one sentinel host:port is required (three or more in production)")
		}
		for i, a := range r.Sentinel.Addrs {
			if err := checkSentinelAddr(a); err != nil {
				bad(fmt.Sprintf("redis.sentinel.addrs[%d]", i), "%v", err)
			}
		}
		if r.Sentinel.DB < 0 {
			bad("redis.sentinel.db", "must be 0 or more, got %d", r.Sentinel.DB)
		}
	case r.URL == "":
		bad("redis.url", "is required")
	case isClusterURL(r.URL):
		bad("redis.url", "%s", clusterRefused)
	case isSentinelURL(r.URL):
		if _, err := parseSentinelURL(r.URL); err != nil {
			bad("redis.url", "%v", err)
		}
		if r.Password != "" {
			bad("REAPER_REDIS_PASSWORD", "is only read with redis.sentinel: a redis.url carries the master's password itself")
		}
	default:
		if err := checkRedisURL(r.URL); err != nil {
			bad("redis.url", "%v", err)
		}
		if r.Password != "" {
			bad("REAPER_REDIS_PASSWORD", "is only read with redis.sentinel: a redis.url carries the password itself")
		}
		if r.Sentinel.Password != "" {
			bad("REAPER_REDIS_SENTINEL_PASSWORD", "is set, but redis.url is not a redis+sentinel:// URL and redis.sentinel is not set")
		}
	}
	return errs
}

// secrets are the section's passwords, as written and as decoded, for Config.Secrets.
func (r Redis) secrets() []string {
	return append(redisURLSecrets(r.URL), r.Password, r.Sentinel.Password)
}

func urlScheme(raw string) string {
	scheme, _, _ := strings.Cut(raw, "://")
	return strings.ToLower(scheme)
}

// isSentinelURL: reaper's redis+sentinel:// (rediss+sentinel:// for TLS) and asynq's redis-sentinel://.
func isSentinelURL(raw string) bool {
	switch urlScheme(raw) {
	case "redis+sentinel", "rediss+sentinel", "redis-sentinel":
		return true
	}
	return false
}

func isClusterURL(raw string) bool {
	switch urlScheme(raw) {
	case "redis+cluster", "rediss+cluster", "redis-cluster", "rediss-cluster":
		return true
	}
	return false
}

// parseSentinelURL parses
//
//	redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER_NAME[/DB]
//
// (rediss+sentinel:// for TLS; asynq's redis-sentinel://HOST,...?master=MASTER_NAME also, with an
// optional /DB path). The password is the master's and replicas', %-encoded like any URL's; the
// sentinels' own comes from REAPER_REDIS_SENTINEL_PASSWORD. Ports default to 26379; IPv6 hosts go in
// brackets. Errors quote no piece of the URL, which may hold the password split in the wrong place.
func parseSentinelURL(raw string) (SentinelConn, error) {
	c, err := splitSentinelURL(raw)
	if err != nil {
		return SentinelConn{}, errors.New("not a valid redis+sentinel:// URL (redis+sentinel://[:PASSWORD@]HOST:PORT,HOST:PORT,.../MASTER_NAME[/DB]): " +
			providers.Redact(err.Error(), redisURLSecrets(raw)...))
	}
	return c, nil
}

func splitSentinelURL(raw string) (SentinelConn, error) {
	var c SentinelConn
	scheme, rest, _ := strings.Cut(raw, "://")
	c.TLS = strings.EqualFold(scheme, "rediss+sentinel")
	for _, r := range raw {
		if r < 0x20 || r == 0x7f || r == ' ' {
			return c, errors.New("it holds a blank or a control character")
		}
	}
	if strings.Contains(rest, "#") {
		return c, errors.New("it holds a '#' (%-encode it as %23 in a password)")
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, pathQuery := rest[:end], rest[end:]
	hosts := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		var err error
		if c.Username, err = url.PathUnescape(user); err != nil {
			return c, errors.New("the user name has a malformed %-escape")
		}
		if c.Password, err = url.PathUnescape(pass); err != nil {
			return c, errors.New("the password has a malformed %-escape")
		}
		if !hasPass || c.Password == "" {
			return c, errors.New("the user info has no password (write :PASSWORD@ or USER:PASSWORD@)")
		}
		hosts = authority[at+1:]
	}
	if hosts == "" {
		return c, errors.New("no sentinel address")
	}
	list := strings.Split(hosts, ",")
	for i, a := range list {
		if err := checkSentinelAddr(a); err != nil {
			return c, fmt.Errorf("sentinel address %d of %d: %w", i+1, len(list), err)
		}
	}
	c.Addrs = withSentinelPorts(list)

	path, query, _ := strings.Cut(pathQuery, "?")
	var segs []string
	if p := strings.TrimPrefix(path, "/"); p != "" {
		segs = strings.Split(p, "/")
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return c, errors.New("the query is malformed")
		}
		for k := range q {
			if k != "master" {
				return c, errors.New("unknown query parameter: only master= (asynq's spelling of the master name) is accepted")
			}
		}
		// asynq's form: ?master=NAME, the path holding at most the database number.
		if len(segs) > 1 {
			return c, errors.New("with ?master= the path may hold only the database number")
		}
		segs = append([]string{q.Get("master")}, segs...)
	}
	if len(segs) == 0 || segs[0] == "" {
		return c, errors.New("no master name: the path's first segment (or asynq's ?master=) names the master the sentinels monitor")
	}
	if len(segs) > 2 {
		return c, errors.New("the path has more than MASTER_NAME/DB")
	}
	name, err := url.PathUnescape(segs[0])
	if err != nil {
		return c, errors.New("the master name has a malformed %-escape")
	}
	c.MasterName = name
	if len(segs) == 2 {
		db, err := strconv.Atoi(segs[1])
		if err != nil || db < 0 {
			return c, errors.New("the database number (after the master name) is not a whole number of 0 or more")
		}
		c.DB = db
	}
	return c, nil
}

// checkSentinelAddr checks one sentinel's HOST[:PORT] ([IPV6]:PORT), without quoting it.
func checkSentinelAddr(a string) error {
	host, port, err := net.SplitHostPort(withSentinelPort(a))
	if err != nil {
		return errors.New("not HOST:PORT (an IPv6 address goes in brackets)")
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("the port is not a number from 1 to 65535")
	}
	return nil
}

// withSentinelPort adds Sentinel's default port to an address without one.
func withSentinelPort(a string) string {
	if strings.HasPrefix(a, "[") {
		if strings.HasSuffix(a, "]") {
			return a + ":" + defaultSentinelPort
		}
		return a
	}
	if !strings.Contains(a, ":") {
		return a + ":" + defaultSentinelPort
	}
	return a
}

func withSentinelPorts(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = withSentinelPort(a)
	}
	return out
}
