package wiring

import (
	"fmt"
	"strings"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/providers"
)

// fakesTuning is the part of FakesConfig that is not about the fakes: quick retries and breakers,
// suited to tests and the demo.
const fakesTuning = `
worker: {concurrency: 32, rate_limit_max_wait: 1s, shutdown_timeout: 5s}
retry: {max_attempts: 6, base_delay: 50ms, max_delay: 1s, throttle_delay: 200ms}
breaker: {consecutive_failures: 5, open_timeout: 1s, interval: 10s}
`

// FakesConfig returns a validated config with every provider enabled at s's fakes (with s's
// credentials) and Redis at redisURL, tuned for tests and the demo (fakesTuning). It is the config the
// demo, the integration tests and the benchmarks run with.
func FakesConfig(s *fakestack.Stack, redisURL string) (*config.Config, error) {
	var y strings.Builder
	y.WriteString(fakesTuning)
	y.WriteString("providers:\n")
	for _, n := range providers.Names {
		fmt.Fprintf(&y, "  %s: {enabled: true, rate_limit: 5000, timeout: 5s, endpoint: %q}\n", n, s.URL[n])
	}
	cfg, err := config.Parse([]byte(y.String()))
	if err != nil {
		return nil, err
	}
	env := s.Creds.Env()
	env["REAPER_REDIS_URL"] = redisURL
	return config.FromParsed(cfg, func(k string) string { return env[k] })
}
