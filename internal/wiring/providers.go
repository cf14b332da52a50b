package wiring

import (
	"errors"
	"fmt"

	"github.com/reaper-media/reaper/config"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/mss"
	"github.com/reaper-media/reaper/providers/smh"
	"github.com/reaper-media/reaper/providers/vod"
)

// client is how the wiring builds one provider's client from the config: its section turned into the
// client's Config (whose zero values are the client's defaults), and the code table it classifies with.
type client struct {
	build func(cfg *config.Config, codes map[string]providers.Class) (providers.Deleter, error)
	codes func() map[string]providers.Class
}

// clients is the one place that knows every provider package: a new provider adds its entry here.
// TestClientsCoverTheRegistry holds it to providers.Names.
var clients = map[providers.Name]client{
	providers.MSS: {codes: mss.DefaultCodes, build: func(cfg *config.Config, codes map[string]providers.Class) (providers.Deleter, error) {
		s := cfg.Providers.MSS
		return mss.New(mss.Config{Endpoint: s.Endpoint, Region: s.Region, ProjectID: s.ProjectID,
			AK: s.AK, SK: s.SK, Token: s.Token, Timeout: s.Timeout, Codes: codes})
	}},
	providers.SMH: {codes: smh.DefaultCodes, build: func(cfg *config.Config, codes map[string]providers.Class) (providers.Deleter, error) {
		s := cfg.Providers.SMH
		return smh.New(smh.Config{Endpoint: s.Endpoint, LibraryID: s.LibraryID, SpaceID: s.SpaceID,
			AccessToken: s.AccessToken, LibrarySecret: s.LibrarySecret, TokenUserID: s.TokenUserID,
			Timeout: s.Timeout, BatchSize: s.BatchSize, Codes: codes})
	}},
	providers.VOD: {codes: vod.DefaultCodes, build: func(cfg *config.Config, codes map[string]providers.Class) (providers.Deleter, error) {
		s := cfg.Providers.VOD
		return vod.New(vod.Config{Endpoint: s.Endpoint, Region: s.Region, SecretID: s.SecretID,
			SecretKey: s.SecretKey, SubAppID: s.SubAppID, Timeout: s.Timeout, Codes: codes})
	}},
}

// Deleter builds the client for provider n from cfg (enabled or not).
func Deleter(cfg *config.Config, n providers.Name) (providers.Deleter, error) {
	c, ok := clients[n]
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", n)
	}
	return c.build(cfg, cfg.Codes(n))
}

// Check builds the client of every enabled provider, so each checks its own settings and
// credentials (the one place they are checked), and reports every problem with the config key and the
// environment variables that carry the credentials. cmd/reaper runs it at start-up.
func Check(cfg *config.Config) error {
	var errs []error
	for _, n := range cfg.Enabled() {
		if _, err := Deleter(cfg, n); err != nil {
			errs = append(errs, fmt.Errorf("providers.%s: %w (credentials come from %s)", n, err, config.CredentialEnv(n)))
		}
	}
	return errors.Join(errs...)
}

// Deleters builds a client for every enabled provider.
func Deleters(cfg *config.Config) (map[providers.Name]providers.Deleter, error) {
	out := map[providers.Name]providers.Deleter{}
	for _, n := range cfg.Enabled() {
		d, err := Deleter(cfg, n)
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", n, err)
		}
		out[n] = d
	}
	return out, nil
}

// Codes is provider n's classification table with cfg's overrides applied: the table its client
// decides with. Metrics use it to name error codes.
func Codes(cfg *config.Config, n providers.Name) providers.Table {
	var codes map[string]providers.Class
	if c, ok := clients[n]; ok {
		codes = c.codes()
	}
	return providers.NewTable(codes).Override(cfg.Codes(n))
}
