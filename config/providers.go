package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reaper-media/reaper/providers"
)

// Providers holds each provider's settings: one section per registered provider, under its name.
type Providers struct {
	MSS MSS `yaml:"mss"`
	SMH SMH `yaml:"smh"`
	VOD VOD `yaml:"vod"`
}

// sections is the one place config lists the providers: each registered provider's section, by name
// (which is also its YAML key, so its keys are providers.<name>.*). Everything else in config loops
// over providers.Names and asks the section; TestSectionsCoverTheRegistry holds the two together.
func (p *Providers) sections() map[providers.Name]section {
	return map[providers.Name]section{providers.MSS: &p.MSS, providers.SMH: &p.SMH, providers.VOD: &p.VOD}
}

// section is what config needs to know of one provider's section. Settings that only the provider's
// client reads (region, endpoint, timeout, ...) are no business of config's: the wiring hands them to
// the client, whose zero values are the defaults, and the client checks them and the credentials.
type section interface {
	// common is the section's share of the settings every provider has.
	common() *Common
	// env binds the environment variables the section reads.
	env() []envVar
	// credentialEnv names the variables that carry the credentials, for messages about them.
	credentialEnv() string
	// secrets are the credential values set, for scrubbing.
	secrets() []string
	// fill applies the section's defaults to a target of its provider.
	fill(t *providers.Target)
	// validate checks what is the section's own beyond Common, naming keys under prefix
	// ("providers.smh").
	validate(prefix string) error
}

// section returns provider n's section, and whether n has one.
func (p *Providers) section(n providers.Name) (section, bool) {
	s, ok := p.sections()[n]
	return s, ok
}

// Common are the settings every provider has.
type Common struct {
	// Enabled turns the provider on: workers serve its queue and producers accept its targets.
	Enabled bool `yaml:"enabled"`
	// Endpoint overrides the provider's default endpoint (an http:// URL for a local fake).
	Endpoint string `yaml:"endpoint"`
	// RateLimit is the requests/second shared by every worker process through Redis.
	RateLimit int `yaml:"rate_limit"`
	// Concurrency is how many of this provider's tasks one worker process runs at once; 0 means
	// worker.concurrency. Each provider has slots of its own.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one provider call; 0 means the client's default (30s).
	Timeout time.Duration `yaml:"timeout"`
	// Codes overrides this provider's error classification, on top of retry.codes.
	Codes map[string]providers.Class `yaml:"codes"`
}

// MSS is Huawei MetaStudio. Credentials: REAPER_MSS_AK + REAPER_MSS_SK, or REAPER_MSS_TOKEN.
type MSS struct {
	Common `yaml:",inline"`
	// Region builds the default endpoint; empty: the client's default (cn-north-4).
	Region    string `yaml:"region"`
	ProjectID string `yaml:"project_id"`

	AK    string `yaml:"-"`
	SK    string `yaml:"-"`
	Token string `yaml:"-"`
}

func (s *MSS) common() *Common { return &s.Common }

func (s *MSS) env() []envVar {
	return []envVar{envString("REAPER_MSS_AK", &s.AK), envString("REAPER_MSS_SK", &s.SK), envString("REAPER_MSS_TOKEN", &s.Token),
		envString("REAPER_MSS_PROJECT_ID", &s.ProjectID), envString("REAPER_MSS_ENDPOINT", &s.Endpoint)}
}

func (s *MSS) credentialEnv() string {
	return "REAPER_MSS_AK and REAPER_MSS_SK, or REAPER_MSS_TOKEN"
}

func (s *MSS) secrets() []string { return []string{s.SK, s.Token} }

func (s *MSS) fill(t *providers.Target) {
	if t.ProjectID == "" {
		t.ProjectID = s.ProjectID
	}
}

func (s *MSS) validate(string) error { return nil }

// SMH is Tencent Smart Media Hosting. Credentials: REAPER_SMH_LIBRARY_SECRET (tokens are fetched and
// renewed) or REAPER_SMH_ACCESS_TOKEN (fixed).
type SMH struct {
	Common    `yaml:",inline"`
	LibraryID string `yaml:"library_id"`
	// SpaceID is the space of targets that name none; empty: "-" (a single-tenant library).
	SpaceID string `yaml:"space_id"`
	// TokenUserID is the user_id tokens are requested for (optional).
	TokenUserID string `yaml:"token_user_id"`
	// BatchSize is the most paths one batch-delete request carries, 1 to 1,000 (SMH's limit); 1 turns
	// batch delete off. 0 (unset) is the client's default, 100.
	BatchSize int `yaml:"batch_size"`

	LibrarySecret string `yaml:"-"`
	AccessToken   string `yaml:"-"`
}

// smhMaxBatch is SMH's limit of paths per batch request (smh.MaxBatchSize; config's tests hold the two
// equal), stated here so that providers.smh.batch_size is refused with its key.
const smhMaxBatch = 1000

func (s *SMH) common() *Common { return &s.Common }

func (s *SMH) env() []envVar {
	return []envVar{envString("REAPER_SMH_LIBRARY_SECRET", &s.LibrarySecret), envString("REAPER_SMH_ACCESS_TOKEN", &s.AccessToken),
		envString("REAPER_SMH_LIBRARY_ID", &s.LibraryID), envString("REAPER_SMH_ENDPOINT", &s.Endpoint)}
}

func (s *SMH) credentialEnv() string {
	return "REAPER_SMH_LIBRARY_SECRET (with providers.smh.library_id) or REAPER_SMH_ACCESS_TOKEN"
}

func (s *SMH) secrets() []string { return []string{s.LibrarySecret, s.AccessToken} }

// fill gives a target without a space the client's default space too, so that its key is the one a
// target naming that space has.
func (s *SMH) fill(t *providers.Target) {
	if t.LibraryID == "" {
		t.LibraryID = s.LibraryID
	}
	if t.SpaceID == "" {
		t.SpaceID = s.SpaceID
	}
	if t.SpaceID == "" {
		t.SpaceID = providers.SingleTenantSpace
	}
}

func (s *SMH) validate(prefix string) error {
	if s.BatchSize < 0 || s.BatchSize > smhMaxBatch {
		return fmt.Errorf("%s.batch_size: must be between 1 and %d (1 turns batch delete off; unset or 0 is the default), got %d",
			prefix, smhMaxBatch, s.BatchSize)
	}
	return nil
}

// VOD is Tencent Cloud VOD. Credentials: REAPER_VOD_SECRET_ID + REAPER_VOD_SECRET_KEY.
type VOD struct {
	Common   `yaml:",inline"`
	Region   string `yaml:"region"`
	SubAppID uint64 `yaml:"sub_app_id"`

	SecretID  string `yaml:"-"`
	SecretKey string `yaml:"-"`
}

func (s *VOD) common() *Common { return &s.Common }

func (s *VOD) env() []envVar {
	subApp := envVar{"REAPER_VOD_SUB_APP_ID", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		s.SubAppID = n
		return nil
	}}
	return []envVar{envString("REAPER_VOD_SECRET_ID", &s.SecretID), envString("REAPER_VOD_SECRET_KEY", &s.SecretKey),
		subApp, envString("REAPER_VOD_ENDPOINT", &s.Endpoint)}
}

func (s *VOD) credentialEnv() string { return "REAPER_VOD_SECRET_ID and REAPER_VOD_SECRET_KEY" }

func (s *VOD) secrets() []string { return []string{s.SecretKey} }

func (s *VOD) fill(t *providers.Target) {
	if t.SubAppID == 0 {
		t.SubAppID = s.SubAppID
	}
}

func (s *VOD) validate(string) error { return nil }

// envVar is one environment variable a section reads (when set and not empty), and where it goes.
type envVar struct {
	name string
	set  func(v string) error
}

func envString(name string, dst *string) envVar {
	return envVar{name, func(v string) error { *dst = v; return nil }}
}

// providerEnv lists the variables every section reads, in provider order, for Env.
func providerEnv() []string {
	var p Providers
	var out []string
	for _, n := range providers.Names {
		if s, ok := p.section(n); ok {
			for _, v := range s.env() {
				out = append(out, v.name)
			}
		}
	}
	return out
}

// applyEnv sets what the sections' variables carry.
func (p *Providers) applyEnv(getenv func(string) string) error {
	for _, n := range providers.Names {
		s, ok := p.section(n)
		if !ok {
			continue
		}
		for _, v := range s.env() {
			if raw := getenv(v.name); raw != "" {
				if err := v.set(raw); err != nil {
					return fmt.Errorf("%s: %w", v.name, err)
				}
			}
		}
	}
	return nil
}

// validate checks every section (enabled or not, so a typo waits for no one), and that one provider
// is enabled.
func (p *Providers) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	enabled := false
	for _, n := range providers.Names {
		s, ok := p.section(n)
		if !ok {
			continue
		}
		prefix := "providers." + string(n)
		cm := s.common()
		enabled = enabled || cm.Enabled
		if cm.Concurrency < 0 {
			bad(prefix+".concurrency", "must not be negative (0 means worker.concurrency)")
		}
		if cm.RateLimit < 1 {
			bad(prefix+".rate_limit", "must be at least 1 request/second, got %d", cm.RateLimit)
		}
		if cm.Timeout < 0 {
			bad(prefix+".timeout", "must not be negative (0 is the client's default, 30s), got %s", cm.Timeout)
		}
		errs = append(errs, checkCodes(prefix+".codes", cm.Codes), s.validate(prefix))
	}
	// Credentials and the settings only a client reads are checked by the clients themselves, once,
	// when internal/wiring builds them (wiring.Check at start-up).
	if !enabled {
		names := make([]string, len(providers.Names))
		for i, n := range providers.Names {
			names[i] = string(n)
		}
		bad("providers", "no provider is enabled (set providers.<%s>.enabled: true)", strings.Join(names, "|"))
	}
	return errors.Join(errs...)
}

// defaultQueues weighs every registered provider's queue 1 (worker.queues).
func defaultQueues() map[string]int {
	out := map[string]int{}
	for _, n := range providers.Names {
		out[string(n)] = 1
	}
	return out
}

// secrets lists the sections' credential values, set or not, in provider order.
func (p *Providers) secrets() []string {
	var out []string
	for _, n := range providers.Names {
		if s, ok := p.section(n); ok {
			out = append(out, s.secrets()...)
		}
	}
	return out
}

// Enabled lists the enabled providers in the stable order of providers.Names.
func (c *Config) Enabled() []providers.Name {
	var out []providers.Name
	for _, n := range providers.Names {
		if c.Provider(n).Enabled {
			out = append(out, n)
		}
	}
	return out
}

// Provider returns the settings every provider shares (zero for a provider config has no section of).
func (c *Config) Provider(n providers.Name) Common {
	if s, ok := c.Providers.section(n); ok {
		return *s.common()
	}
	return Common{}
}

// Codes returns the classification overrides for provider n: retry.codes, then the provider's own.
func (c *Config) Codes(n providers.Name) map[string]providers.Class {
	out := map[string]providers.Class{}
	for k, v := range c.Retry.Codes {
		out[k] = v
	}
	for k, v := range c.Provider(n).Codes {
		out[k] = v
	}
	return out
}

// CredentialEnv says which environment variables carry provider n's credentials, for messages about
// missing or conflicting ones.
func CredentialEnv(n providers.Name) string {
	if s, ok := (&Providers{}).section(n); ok {
		return s.credentialEnv()
	}
	return ""
}

// FillTarget applies the configured defaults to the fields a manifest line may leave out (the MSS
// project, the SMH library and space, the VOD sub-application: each section knows its own). Producers
// call it before computing a target's key, so a line with and one without the default name the same
// file.
func (c *Config) FillTarget(t *providers.Target) {
	if s, ok := c.Providers.section(t.Provider); ok {
		s.fill(t)
	}
}

// joinNames writes names for a message: "smh", "mss or smh", "mss, smh or vod".
func joinNames(names []providers.Name) string {
	var b strings.Builder
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(n))
	}
	return b.String()
}
