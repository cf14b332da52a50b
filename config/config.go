// Package config turns reaper's YAML file plus environment variables into typed, validated settings.
// It knows nothing of asynq or HTTP: every other package reads these types.
//
// Precedence, lowest first: built-in defaults (Default), the YAML file (unknown keys are errors), then
// environment variables. Credentials come only from the environment (or files it points to), never from
// the YAML, so the file can live in a ConfigMap or a repository.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/reaper-media/reaper/providers"
)

// Config is the whole configuration.
type Config struct {
	Redis     Redis     `yaml:"redis"`
	Worker    Worker    `yaml:"worker"`
	Retry     Retry     `yaml:"retry"`
	Breaker   Breaker   `yaml:"breaker"`
	Outcomes  Outcomes  `yaml:"outcomes"`
	Enqueue   Enqueue   `yaml:"enqueue"`
	Batch     Batch     `yaml:"batch"`
	Providers Providers `yaml:"providers"`
	Scheduler Scheduler `yaml:"scheduler"`
	Admin     OpsServer `yaml:"admin"`
	API       API       `yaml:"api"`
}

// Redis is where the queue and the outcome store live: one standalone Redis (URL) or a Sentinel
// deployment (a redis+sentinel:// URL, or Sentinel). Redis Cluster is refused (config/redis.go).
type Redis struct {
	// URL is redis://[user:pass@]host:port/db, rediss:// for TLS, or
	// redis+sentinel://[user:pass@]host:port,host:port,.../master_name[/db]. Env REAPER_REDIS_URL.
	URL string `yaml:"url"`
	// Sentinel names a Sentinel deployment by keys instead of a URL.
	Sentinel Sentinel `yaml:"sentinel"`
	// Cluster is never valid: it is here so that a config asking for Redis Cluster is told why not.
	Cluster any `yaml:"cluster"`
	// Password is the master's and replicas' password with Sentinel. Env REAPER_REDIS_PASSWORD only.
	Password string `yaml:"-"`
}

// Worker configures `reaper worker`.
type Worker struct {
	// Concurrency is how many deletes one worker process runs at once. Env REAPER_WORKER_CONCURRENCY.
	Concurrency int `yaml:"concurrency"`
	// Queues weighs the per-provider queues against each other (provider name -> weight > 0).
	Queues map[string]int `yaml:"queues"`
	// ShutdownTimeout is how long in-flight deletes may run after SIGTERM before they go back to the
	// queue. Keep Kubernetes' terminationGracePeriodSeconds above it.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// RateLimitMaxWait is how long a worker waits in place for the shared rate limiter; a longer wait
	// reschedules the task instead of holding a worker slot.
	RateLimitMaxWait time.Duration `yaml:"rate_limit_max_wait"`
	// TaskTimeout bounds one run of one task (the provider call plus bookkeeping).
	TaskTimeout time.Duration `yaml:"task_timeout"`
}

// Retry is the retry policy for retry-class errors.
type Retry struct {
	// MaxAttempts is the number of provider calls a retry-class failure may use before it ends failed.
	MaxAttempts int `yaml:"max_attempts"`
	// BaseDelay and MaxDelay shape exponential backoff with full jitter: attempt n waits a uniform
	// random time in [0, min(MaxDelay, BaseDelay*2^n)).
	BaseDelay time.Duration `yaml:"base_delay"`
	MaxDelay  time.Duration `yaml:"max_delay"`
	// ThrottleDelay is the reschedule delay for a throttled call when the provider gives no hint.
	ThrottleDelay time.Duration `yaml:"throttle_delay"`
	// MaxOutageAttempts is how many provider calls a task may spend failing while its provider's
	// breaker is open (the calls that tripped it, its probes) without using MaxAttempts: an outage
	// delays deletions instead of failing them. Beyond it such failures count, so a file that fails
	// on its own (and keeps the breaker open by being the only probe) still ends.
	MaxOutageAttempts int `yaml:"max_outage_attempts"`
	// MaxThrottles is how many throttle answers one task may get before it gives up: parked for the
	// overnight window when that is on, else failed with code too_many_throttles. 0 means no cap (a
	// provider that always throttles then keeps its tasks cycling).
	MaxThrottles int `yaml:"max_throttles"`
	// Codes overrides the classification of provider error codes for every provider
	// ({"FailedOperation": retry}); "Prefix*" keys match code families.
	Codes map[string]providers.Class `yaml:"codes"`
	// Overnight parks retry-class failures that used their daytime attempts into a nightly window.
	Overnight Overnight `yaml:"overnight"`
}

// Overnight is the overnight retry window: a transient failure that has used retry.max_attempts is
// parked, not failed, and tried again inside the next window, spread evenly across it; after Nights
// windows it fails.
type Overnight struct {
	// Nights is how many windows a parked task gets; 0 turns parking off.
	Nights int `yaml:"nights"`
	// Start and End are wall-clock times "HH:MM" in TimeZone; End before Start spans midnight.
	Start    string `yaml:"start"`
	End      string `yaml:"end"`
	TimeZone string `yaml:"timezone"`
}

// Breaker configures the per-provider, per-process circuit breakers.
type Breaker struct {
	// ConsecutiveFailures opens the breaker after this many retry/throttled failures in a row.
	ConsecutiveFailures uint32 `yaml:"consecutive_failures"`
	// FailureRatio opens it when at least MinRequests calls in the current Interval failed at this
	// ratio or more (0 disables the ratio rule).
	FailureRatio float64 `yaml:"failure_ratio"`
	MinRequests  uint32  `yaml:"min_requests"`
	// Interval is the closed-state counting window.
	Interval time.Duration `yaml:"interval"`
	// ProbeInterval is how long the breaker stays open after it trips before one probe call is let
	// through; each failed probe lengthens the wait by 5%, up to OpenTimeout (a longer
	// ProbeInterval is cut to OpenTimeout).
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// OpenTimeout is the longest the breaker stays open between probe calls.
	OpenTimeout time.Duration `yaml:"open_timeout"`
	// HalfOpenRequests is how many probe calls the half-open breaker allows.
	HalfOpenRequests uint32 `yaml:"half_open_requests"`
}

// Outcomes configures the outcome store in Redis.
type Outcomes struct {
	// Retention is how long a batch's records and counters are kept after its last outcome.
	Retention time.Duration `yaml:"retention"`
	// Stream turns the outcome stream (reaper:outcomes) on: one entry per outcome, about 500 bytes of
	// Redis each for StreamRetention. Off, outcomes are in the batch records only (report, status).
	Stream bool `yaml:"stream"`
	// StreamRetention is how long an entry stays on the outcome stream (reaper:outcomes), by Redis's
	// clock, whatever consumers have read; a consumer that falls further behind misses entries (the
	// batch records stay for Retention). 0 turns the stream off.
	StreamRetention time.Duration `yaml:"stream_retention"`
	// StreamMaxLen is an optional hard cap on the stream's length (approximate); 0 means none.
	StreamMaxLen int64 `yaml:"stream_max_len"`
}

// Enqueue configures producers.
type Enqueue struct {
	// ConfirmAbove is the manifest size above which `enqueue` needs --yes.
	ConfirmAbove int `yaml:"confirm_above"`
	// Parallel is how many enqueue calls a producer keeps in flight.
	Parallel int `yaml:"parallel"`
}

// Scheduler configures `reaper scheduler`: retention policies and the leader lease.
type Scheduler struct {
	// LeaseTTL is how long the leader's Redis lease lasts without renewal; a replica takes over within
	// about this long after the leader dies.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// Tick is how often the leader checks for due policy runs and due retention registrations.
	Tick time.Duration `yaml:"tick"`
	// MaxCatchUp is how far back a missed tick is still run (late, once); older ones are skipped with
	// a log line.
	MaxCatchUp time.Duration `yaml:"max_catch_up"`
	// ReconcileInterval is how often the leader sweeps the open batches: it requeues tasks stranded in
	// asynq's active list without a lease, keeps the batches' keys from expiring while they have tasks,
	// and records for status whether each batch's counts add up.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	Policies          []Policy      `yaml:"policies"`
}

// Policy is one retention policy: on its schedule, select what is older than MinAge and delete it as
// a batch.
type Policy struct {
	Name string `yaml:"name"`
	// Schedule is a cron expression (5 fields: minute hour day month weekday) in TimeZone.
	Schedule string `yaml:"schedule"`
	TimeZone string `yaml:"timezone"`
	Provider string `yaml:"provider"`
	// Source is how targets are selected: "search" (VOD SearchMedia), "list" (SMH directory listing)
	// or "index" (the retention index producers register into). Default: search for vod, list for
	// smh, index for mss.
	Source string        `yaml:"source"`
	MinAge time.Duration `yaml:"min_age"`
	// MaxDeletions caps one run: a run that finds more deletes nothing and is recorded refused.
	MaxDeletions int `yaml:"max_deletions"`
	// DryRun records what a run would delete and deletes nothing.
	DryRun bool `yaml:"dry_run"`
	// Permanent deletes SMH files permanently instead of moving them to the recycle bin.
	Permanent bool      `yaml:"permanent"`
	VOD       PolicyVOD `yaml:"vod"`
	SMH       PolicySMH `yaml:"smh"`
}

// PolicyVOD narrows a VOD SearchMedia selection. Empty lists do not filter.
type PolicyVOD struct {
	SubAppID       uint64   `yaml:"sub_app_id"`
	ClassIDs       []int64  `yaml:"class_ids"`
	Categories     []string `yaml:"categories"`
	SourceTypes    []string `yaml:"source_types"`
	StorageRegions []string `yaml:"storage_regions"`
}

// PolicySMH says where an SMH listing looks.
type PolicySMH struct {
	LibraryID string `yaml:"library_id"`
	SpaceID   string `yaml:"space_id"`
	// Prefixes are directory paths ("" or omitted: the library root), without leading or trailing '/'.
	Prefixes  []string `yaml:"prefixes"`
	Recursive bool     `yaml:"recursive"`
}

// OpsServer is the operations HTTP server of `worker`, `scheduler` and `serve`: /healthz, /readyz, /metrics
// and the asynq dashboard under /monitor/.
type OpsServer struct {
	// Listen is the address (default 127.0.0.1:9090, loopback only); ":9090" serves every interface,
	// empty turns the admin server off. Env REAPER_ADMIN_LISTEN.
	Listen string `yaml:"listen"`
	// User and Password open the dashboard with basic auth (env REAPER_ADMIN_USER and
	// REAPER_ADMIN_PASSWORD, both or neither); the API's bearer tokens open it too. With neither the
	// dashboard is not served.
	User     string `yaml:"-"`
	Password string `yaml:"-"`
}

// API is the HTTP producer API (`reaper serve`).
type API struct {
	// Listen is the address of `reaper serve`, e.g. ":8080".
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps one request body (a JSONL manifest).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TokensFile is a file of bearer tokens, one per line (a mounted Secret). Tokens also come from
	// REAPER_API_TOKENS (comma-separated).
	TokensFile string `yaml:"tokens_file"`

	Tokens []string `yaml:"-"`
}

// Default returns the built-in defaults: the documented provider rate limits, a retry policy that
// spans about an hour of daytime attempts, and breakers that open after five transient failures in a row.
func Default() Config {
	return Config{
		Redis: Redis{URL: "redis://127.0.0.1:6379/0"},
		Worker: Worker{
			Concurrency:      20,
			Queues:           defaultQueues(),
			ShutdownTimeout:  30 * time.Second,
			RateLimitMaxWait: 2 * time.Second,
			TaskTimeout:      5 * time.Minute,
		},
		Retry: Retry{MaxAttempts: 8, BaseDelay: 2 * time.Second, MaxDelay: 10 * time.Minute, ThrottleDelay: time.Second,
			MaxOutageAttempts: 20, MaxThrottles: 100,
			Overnight: Overnight{Nights: 0, Start: "01:00", End: "05:00", TimeZone: "UTC"}},
		Scheduler: Scheduler{LeaseTTL: 15 * time.Second, Tick: time.Second, MaxCatchUp: 24 * time.Hour, ReconcileInterval: time.Minute},
		API:       API{Listen: ":8080", MaxBodyBytes: 64 << 20},
		Admin:     OpsServer{Listen: "127.0.0.1:9090"},
		Breaker: Breaker{
			ConsecutiveFailures: 5, FailureRatio: 0.5, MinRequests: 20,
			Interval: time.Minute, ProbeInterval: time.Second, OpenTimeout: 30 * time.Second, HalfOpenRequests: 1,
		},
		Outcomes: Outcomes{Retention: 30 * 24 * time.Hour, Stream: true, StreamRetention: 24 * time.Hour},
		Enqueue:  Enqueue{ConfirmAbove: 100_000, Parallel: 32},
		Batch:    defaultBatch(),
		Providers: Providers{
			// Only the shared rate limits are config's: region, endpoint, space, timeout and batch size
			// are left zero, which the provider clients read as their own defaults (named there once).
			// MSS DeleteFile: 10/s per tenant in CN North-Beijing4 (5/s elsewhere).
			MSS: MSS{Common: Common{RateLimit: 10}},
			// SMH publishes no business-API limit; 50/s is a conservative default.
			SMH: SMH{Common: Common{RateLimit: 50}},
			// VOD DeleteMedia: at most 100 requests per second.
			VOD: VOD{Common: Common{RateLimit: 100}},
		},
	}
}

// Load reads the YAML file at path (none when path is ""), applies env overrides through getenv
// (os.Getenv in production) and validates the result.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if err := decode(f, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return FromParsed(cfg, getenv)
}

// FromParsed applies env overrides through getenv to a config from Parse and validates it: Load
// without the file, for configs built in code (the demo, tests).
func FromParsed(cfg Config, getenv func(string) string) (*Config, error) {
	if err := cfg.applyEnv(getenv); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cfg, nil
}

// Parse decodes YAML text over the defaults without env or validation; for tests and tools.
func Parse(text []byte) (Config, error) {
	cfg := Default()
	err := decode(bytes.NewReader(text), &cfg)
	return cfg, err
}

func decode(r io.Reader, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Env lists every environment variable Load reads, for documentation and `reaper config`.
var Env = append([]string{
	"REAPER_CONFIG", "REAPER_REDIS_URL", "REAPER_REDIS_PASSWORD", "REAPER_REDIS_SENTINEL_PASSWORD", "REAPER_WORKER_CONCURRENCY",
	"REAPER_ADMIN_LISTEN", "REAPER_ADMIN_USER", "REAPER_ADMIN_PASSWORD", "REAPER_API_LISTEN", "REAPER_API_TOKENS",
	"REAPER_WEBHOOK_SECRET",
}, providerEnv()...) // each provider section's own (config/providers.go)

func (c *Config) applyEnv(getenv func(string) string) error {
	str := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str(&c.Redis.URL, "REAPER_REDIS_URL")
	str(&c.Redis.Password, "REAPER_REDIS_PASSWORD")
	str(&c.Redis.Sentinel.Password, "REAPER_REDIS_SENTINEL_PASSWORD")
	if v := getenv("REAPER_WORKER_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("REAPER_WORKER_CONCURRENCY: %q is not a whole number", v)
		}
		c.Worker.Concurrency = n
	}
	if err := c.Providers.applyEnv(getenv); err != nil {
		return err
	}
	str(&c.Admin.Listen, "REAPER_ADMIN_LISTEN")
	str(&c.Admin.User, "REAPER_ADMIN_USER")
	str(&c.Admin.Password, "REAPER_ADMIN_PASSWORD")
	str(&c.API.Listen, "REAPER_API_LISTEN")
	c.Batch.applyEnv(getenv)
	for _, tok := range strings.Split(getenv("REAPER_API_TOKENS"), ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			c.API.Tokens = append(c.API.Tokens, tok)
		}
	}
	if c.API.TokensFile != "" {
		b, err := os.ReadFile(c.API.TokensFile)
		if err != nil {
			return fmt.Errorf("api.tokens_file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if tok := strings.TrimSpace(line); tok != "" && !strings.HasPrefix(tok, "#") {
				c.API.Tokens = append(c.API.Tokens, tok)
			}
		}
	}
	return nil
}

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	errs = append(errs, c.Redis.validate()...)
	if c.Worker.Concurrency < 1 {
		bad("worker.concurrency", "must be at least 1, got %d", c.Worker.Concurrency)
	}
	for q, w := range c.Worker.Queues {
		if _, err := providers.ParseName(q); err != nil {
			bad("worker.queues."+q, "%v", err)
		}
		if w < 1 {
			bad("worker.queues."+q, "weight must be at least 1, got %d", w)
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration such as 30s, got %s", d)
		}
	}
	positive("worker.shutdown_timeout", c.Worker.ShutdownTimeout)
	positive("worker.task_timeout", c.Worker.TaskTimeout)
	if c.Worker.RateLimitMaxWait < 0 {
		bad("worker.rate_limit_max_wait", "must not be negative")
	}
	if c.Retry.MaxAttempts < 1 {
		bad("retry.max_attempts", "must be at least 1, got %d", c.Retry.MaxAttempts)
	}
	positive("retry.base_delay", c.Retry.BaseDelay)
	positive("retry.max_delay", c.Retry.MaxDelay)
	positive("retry.throttle_delay", c.Retry.ThrottleDelay)
	if c.Retry.MaxOutageAttempts < 0 {
		bad("retry.max_outage_attempts", "must not be negative")
	}
	if c.Retry.MaxThrottles < 0 {
		bad("retry.max_throttles", "must not be negative")
	}
	if c.Retry.MaxDelay < c.Retry.BaseDelay {
		bad("retry.max_delay", "must not be below retry.base_delay")
	}
	errs = append(errs, checkCodes("retry.codes", c.Retry.Codes))
	if c.Breaker.ConsecutiveFailures < 1 {
		bad("breaker.consecutive_failures", "must be at least 1")
	}
	if c.Breaker.FailureRatio < 0 || c.Breaker.FailureRatio > 1 {
		bad("breaker.failure_ratio", "must be between 0 and 1, got %g", c.Breaker.FailureRatio)
	}
	positive("breaker.interval", c.Breaker.Interval)
	positive("breaker.probe_interval", c.Breaker.ProbeInterval)
	positive("breaker.open_timeout", c.Breaker.OpenTimeout)
	if c.Breaker.HalfOpenRequests < 1 {
		bad("breaker.half_open_requests", "must be at least 1")
	}
	positive("outcomes.retention", c.Outcomes.Retention)
	c.Batch.validate(bad)
	if n := c.Retry.Overnight.Nights; n > 0 && c.Outcomes.Retention < time.Duration(n+2)*24*time.Hour {
		// A parked task waits up to a night per window; its batch must outlive the last one, or the
		// late outcome would find the batch gone.
		bad("outcomes.retention", "must be at least %d days (retry.overnight.nights + 2) so a parked task's batch outlives its last night, got %s", n+2, c.Outcomes.Retention)
	}
	if c.Outcomes.StreamRetention < 0 {
		bad("outcomes.stream_retention", "must not be negative (0 turns the stream off)")
	}
	if c.Outcomes.StreamMaxLen < 0 {
		bad("outcomes.stream_max_len", "must not be negative (0 means no cap)")
	}
	if c.Enqueue.ConfirmAbove < 0 {
		bad("enqueue.confirm_above", "must not be negative")
	}
	if c.Enqueue.Parallel < 1 {
		bad("enqueue.parallel", "must be at least 1")
	}

	errs = append(errs, c.Providers.validate())
	errs = append(errs, c.validateScheduling())
	if c.API.MaxBodyBytes < 1 {
		bad("api.max_body_bytes", "must be at least 1")
	}
	if (c.Admin.User == "") != (c.Admin.Password == "") {
		bad("admin", "set both REAPER_ADMIN_USER and REAPER_ADMIN_PASSWORD (the dashboard's basic auth), or neither")
	}
	return errors.Join(errs...)
}

// validateScheduling checks the scheduler, its policies and the overnight window.
func (c *Config) validateScheduling() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	o := c.Retry.Overnight
	if o.Nights < 0 {
		bad("retry.overnight.nights", "must not be negative")
	}
	if o.Nights > 0 {
		if _, err := time.LoadLocation(o.TimeZone); err != nil {
			bad("retry.overnight.timezone", "%v", err)
		}
		start, err1 := ParseClock(o.Start)
		end, err2 := ParseClock(o.End)
		if err1 != nil {
			bad("retry.overnight.start", "%v", err1)
		}
		if err2 != nil {
			bad("retry.overnight.end", "%v", err2)
		}
		if err1 == nil && err2 == nil && start == end {
			bad("retry.overnight", "start and end are the same time")
		}
	}
	sc := c.Scheduler
	if sc.LeaseTTL < time.Second {
		bad("scheduler.lease_ttl", "must be at least 1s, got %s", sc.LeaseTTL)
	}
	if sc.Tick <= 0 || sc.Tick > sc.LeaseTTL/2 {
		bad("scheduler.tick", "must be positive and at most half of scheduler.lease_ttl, got %s", sc.Tick)
	}
	if sc.MaxCatchUp < 0 {
		bad("scheduler.max_catch_up", "must not be negative")
	}
	if sc.ReconcileInterval < time.Second {
		bad("scheduler.reconcile_interval", "must be at least 1s, got %s", sc.ReconcileInterval)
	}
	seen := map[string]bool{}
	for i, pol := range sc.Policies {
		key := fmt.Sprintf("scheduler.policies[%d]", i)
		if pol.Name != "" {
			key = fmt.Sprintf("scheduler.policies[%s]", pol.Name)
		}
		switch {
		case pol.Name == "":
			bad(key+".name", "is required")
		case !policyName.MatchString(pol.Name):
			bad(key+".name", "use letters, digits, '-' and '_' only")
		case seen[pol.Name]:
			bad(key+".name", "is used by two policies")
		}
		seen[pol.Name] = true
		if _, err := cronParser.Parse(pol.Schedule); err != nil {
			bad(key+".schedule", "%v", err)
		}
		if pol.TimeZone != "" {
			if _, err := time.LoadLocation(pol.TimeZone); err != nil {
				bad(key+".timezone", "%v", err)
			}
		}
		n, err := providers.ParseName(pol.Provider)
		if err != nil {
			bad(key+".provider", "%v", err)
			continue
		}
		if !c.Provider(n).Enabled {
			bad(key+".provider", "%s is not enabled", n)
		}
		spec, _ := providers.Lookup(n)
		switch src := pol.SourceOrDefault(); {
		case src != "search" && src != "list" && src != "index":
			bad(key+".source", "%q is not one of search, list, index", src)
		case src != "index" && src != spec.Source:
			bad(key+".source", "%q is not available for provider %s", src, n)
		}
		if pol.MinAge <= 0 {
			bad(key+".min_age", "must be a positive duration such as 720h")
		}
		if pol.MaxDeletions < 1 {
			bad(key+".max_deletions", "is required: the most one run may delete (a run finding more deletes nothing)")
		}
		if pol.Permanent && !spec.Uses("permanent") {
			bad(key+".permanent", "only applies to %s", joinNames(providers.Using("permanent")))
		}
		for j, pre := range pol.SMH.Prefixes {
			if pre == "" {
				continue
			}
			if err := providers.CheckPath(pre); err != nil {
				bad(fmt.Sprintf("%s.smh.prefixes[%d]", key, j), "%v", err)
			}
		}
		for j, cat := range pol.VOD.Categories {
			if cat != "Video" && cat != "Audio" && cat != "Image" {
				bad(fmt.Sprintf("%s.vod.categories[%d]", key, j), "%q is not Video, Audio or Image", cat)
			}
		}
	}
	return errors.Join(errs...)
}

var policyName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// cronParser reads 5-field cron expressions (minute hour day-of-month month day-of-week) and the
// @daily, @hourly, @every 1h descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a policy's cron expression.
func ParseSchedule(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

// SourceOrDefault is the policy's selection source, defaulted by provider: the provider's own source
// (its providers.Spec's), else the retention index.
func (p Policy) SourceOrDefault() string {
	if p.Source != "" {
		return p.Source
	}
	if spec, ok := providers.Lookup(providers.Name(p.Provider)); ok && spec.Source != "" {
		return spec.Source
	}
	return "index"
}

// Location is the policy's time zone (UTC when unset).
func (p Policy) Location() *time.Location {
	if p.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// ParseClock parses a wall-clock time "HH:MM" into the offset from midnight.
func ParseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

func checkCodes(key string, codes map[string]providers.Class) error {
	var errs []error
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.TrimSpace(k) == "" || k == "*" {
			errs = append(errs, fmt.Errorf("%s: %q is not an error code", key, k))
		}
		if _, err := providers.ParseClass(string(codes[k])); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", key, k, err))
		}
	}
	return errors.Join(errs...)
}

// Secrets lists every credential value set, so callers can scrub them from anything they print.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range append(append(append(c.Providers.secrets(), c.Admin.Password, c.Batch.WebhookSecret), c.API.Tokens...),
		c.Redis.secrets()...) {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkRedisURL parses raw as the wiring will (go-redis's ParseURL), with an error that never holds
// the URL or its password: url.Error prints the whole URL ("parse \"redis://:pw@...\": ..."), and
// its %-escape errors quote a piece of it.
func checkRedisURL(raw string) error {
	_, err := redis.ParseURL(raw)
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		// net/url quotes pieces of the URL (`invalid port ":pw" after host`), which may be part of
		// a password it split in the wrong place: keep only its words.
		msg = strings.Join(strings.Fields(quotedPiece.ReplaceAllString(ue.Err.Error(), "")), " ")
	}
	return fmt.Errorf("not a valid redis://, rediss:// or redis+sentinel:// URL: %s", providers.Redact(msg, redisURLSecrets(raw)...))
}

var quotedPiece = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// redisURLSecrets returns the password (and the whole user info) of a Redis URL, also when the URL
// does not parse: every split a parser could make of "scheme://user:pass@host" is a candidate.
func redisURLSecrets(raw string) []string {
	var out []string
	add := func(userinfo string) {
		if userinfo == "" {
			return
		}
		if _, pass, ok := strings.Cut(userinfo, ":"); ok && pass != "" {
			out = append(out, pass)
			if dec, err := url.PathUnescape(pass); err == nil && dec != pass {
				out = append(out, dec)
			}
		}
		out = append(out, userinfo)
	}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pass, ok := u.User.Password(); ok && pass != "" {
			out = append(out, pass)
		}
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		add(rest[:i]) // a password holding '/', '?' or '#'
	}
	if auth, _, _ := strings.Cut(rest, "/"); strings.Contains(auth, "@") {
		add(auth[:strings.LastIndex(auth, "@")]) // url.Parse's own split
	}
	// Longest first, so a password inside the user info does not leave the rest of it behind.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return slices.Compact(out)
}
