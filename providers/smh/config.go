package smh

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/reaper-media/reaper/providers"
)

// LibraryPlaceholder in Config.Endpoint is replaced by each target's library id, which is how SMH's
// per-library domains (https://smhxxx.api.tencentsmh.cn) are addressed.
const LibraryPlaceholder = "{library_id}"

// DefaultEndpoint is the per-library domain the SMH docs and SDKs recommend.
const DefaultEndpoint = "https://" + LibraryPlaceholder + ".api.tencentsmh.cn"

// DefaultTimeout bounds each HTTP request (the delete, and the token request) when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// SingleTenantSpace is the space id of a single-tenant library, and the default Config.SpaceID.
const SingleTenantSpace = "-"

// Grants are the permissions the client asks for when it creates access tokens: enough to delete
// (or move to the recycle bin) and to delete permanently, nothing more.
const Grants = "delete_file,delete_file_permanent"

// Config configures a Client. The zero value of every field is its documented default; exactly one of
// AccessToken and LibrarySecret must be set.
type Config struct {
	// Endpoint is the API base URL. Default DefaultEndpoint ("https://{library_id}.api.tencentsmh.cn").
	// LibraryPlaceholder in it is replaced by the target's library id; without the placeholder the URL
	// is used as-is for every library (e.g. "https://api.tencentsmh.cn", or a fake on
	// "http://127.0.0.1:8080"). A path prefix is kept.
	Endpoint string

	// LibraryID is the library of targets that name none. Default: none (such targets are invalid).
	LibraryID string
	// SpaceID is the space of targets that name none. Default "-" (single-tenant library).
	SpaceID string

	// AccessToken is a fixed access token. It cannot be renewed: when SMH rejects it (403
	// InvalidAccessToken) deletes fail with class auth until the config changes.
	AccessToken string
	// LibrarySecret lets the client create its own access tokens (GET /api/v1/token), one per
	// (library, space), cached until shortly before they expire and renewed on 403 InvalidAccessToken.
	LibrarySecret string
	// TokenUserID is the user_id the client's tokens are created for (optional; SMH records it as the
	// operator of the deletes).
	TokenUserID string
	// TokenPeriod is the requested token lifetime (the token API's period, whole seconds). Default:
	// SMH's default, 24 h; SMH raises short periods to its minimum.
	TokenPeriod time.Duration

	// Timeout bounds each HTTP request. Default DefaultTimeout (30 s).
	Timeout time.Duration

	// BatchSize is the most targets one DeleteBatch call sends (providers.BatchDeleter.MaxBatch). Default
	// DefaultBatchSize (100); at most MaxBatchSize (1,000, SMH's limit); 1 turns batch delete off.
	BatchSize int
	// TaskPollInterval is the longest pause between polls of an asynchronous batch (202 {"taskId":N});
	// the first poll comes after a sixteenth of it and the pause doubles up to it. Default
	// DefaultTaskPollInterval (1 s).
	TaskPollInterval time.Duration
	// TaskTimeout bounds the wait for an asynchronous batch to finish; its items then end Retry-class
	// with code "TaskTimeout" (running them again is safe: a deleted file is found gone). Default
	// DefaultTaskTimeout (2 min).
	TaskTimeout time.Duration

	// HTTPClient sends the requests. Default: a client of our own with MaxIdleConnsPerHost 128.
	// Redirects are never followed (the access token rides in the query string), whichever client.
	HTTPClient *http.Client
	// Codes overrides single entries of DefaultCodes (code or "Prefix*" -> class).
	Codes map[string]providers.Class
	// Now is the clock for token expiry. Default time.Now.
	Now func() time.Time
}

// validate checks the config and returns the normalised endpoint (no trailing slash).
func (cfg Config) validate() (string, error) {
	var errs []error
	endpoint := strings.TrimRight(cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if err := checkEndpoint(endpoint); err != nil {
		errs = append(errs, err)
	}
	switch {
	case cfg.AccessToken == "" && cfg.LibrarySecret == "":
		errs = append(errs, errors.New("smh: set Config.AccessToken or Config.LibrarySecret"))
	case cfg.AccessToken != "" && cfg.LibrarySecret != "":
		errs = append(errs, errors.New("smh: set only one of Config.AccessToken and Config.LibrarySecret"))
	}
	if strings.ContainsFunc(cfg.AccessToken+cfg.LibrarySecret, isSpaceOrControl) {
		// Do not echo the value: it is a credential.
		errs = append(errs, errors.New("smh: Config.AccessToken/Config.LibrarySecret contains blanks or control characters"))
	}
	if cfg.LibraryID != "" || cfg.SpaceID != "" {
		probe := providers.Target{Provider: providers.SMH, LibraryID: cfg.LibraryID, SpaceID: cfg.SpaceID, Path: "x"}
		if err := probe.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("smh: Config.LibraryID/Config.SpaceID: %w", err))
		}
	}
	if cfg.TokenPeriod < 0 {
		errs = append(errs, errors.New("smh: Config.TokenPeriod must not be negative"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, errors.New("smh: Config.Timeout must not be negative"))
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("smh: Config.BatchSize must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatchSize))
	}
	if cfg.TaskPollInterval < 0 || cfg.TaskTimeout < 0 {
		errs = append(errs, errors.New("smh: Config.TaskPollInterval and Config.TaskTimeout must not be negative"))
	}
	for code, class := range cfg.Codes {
		if _, err := providers.ParseClass(string(class)); err != nil {
			errs = append(errs, fmt.Errorf("smh: Config.Codes[%q]: %w", code, err))
		}
	}
	return endpoint, errors.Join(errs...)
}

// checkEndpoint accepts an absolute http(s) URL without user info, query or fragment.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(strings.ReplaceAll(endpoint, LibraryPlaceholder, "smhexample"))
	if err != nil {
		return fmt.Errorf("smh: Config.Endpoint is not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("smh: Config.Endpoint must start with https:// or http://")
	case u.Host == "":
		return errors.New("smh: Config.Endpoint has no host")
	case u.User != nil:
		return errors.New("smh: Config.Endpoint must not contain user info")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(endpoint, "?#"):
		return errors.New("smh: Config.Endpoint must not contain a query or fragment")
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r == ' ' || unicode.IsControl(r) }

// isDNSLabel reports whether id can stand in a host name: what a library id must be to use a
// per-library domain. Anything else ("evil.com#") could move the request, token and all, to another host.
func isDNSLabel(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// newHTTPClient is the default client: pooled for many concurrent deletes to few hosts.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr}
}

// noRedirects makes a client return a redirect response instead of following it.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
