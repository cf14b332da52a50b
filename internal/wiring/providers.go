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

// Deleter builds the client for provider n from cfg (enabled or not).
func Deleter(cfg *config.Config, n providers.Name) (providers.Deleter, error) {
	p := cfg.Providers
	switch n {
	case providers.MSS:
		return mss.New(mss.Config{Endpoint: p.MSS.Endpoint, Region: p.MSS.Region, ProjectID: p.MSS.ProjectID,
			AK: p.MSS.AK, SK: p.MSS.SK, Token: p.MSS.Token, Timeout: p.MSS.Timeout, Codes: cfg.Codes(n)})
	case providers.SMH:
		return smh.New(smh.Config{Endpoint: p.SMH.Endpoint, LibraryID: p.SMH.LibraryID, SpaceID: p.SMH.SpaceID,
			AccessToken: p.SMH.AccessToken, LibrarySecret: p.SMH.LibrarySecret, TokenUserID: p.SMH.TokenUserID,
			Timeout: p.SMH.Timeout, Codes: cfg.Codes(n)})
	case providers.VOD:
		return vod.New(vod.Config{Endpoint: p.VOD.Endpoint, Region: p.VOD.Region, SecretID: p.VOD.SecretID,
			SecretKey: p.VOD.SecretKey, SubAppID: p.VOD.SubAppID, Timeout: p.VOD.Timeout, Codes: cfg.Codes(n)})
	}
	return nil, fmt.Errorf("unknown provider %q", n)
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
	switch n {
	case providers.MSS:
		codes = mss.DefaultCodes()
	case providers.SMH:
		codes = smh.DefaultCodes()
	case providers.VOD:
		codes = vod.DefaultCodes()
	}
	return providers.NewTable(codes).Override(cfg.Codes(n))
}
