// Package fakestack serves the three provider fakes (msstest, smhtest, vodtest) on loopback with the
// credentials, configuration, targets and fault mix that the demo, `reaper fakes`, the integration
// tests and the benchmarks share, and checks a finished batch against them (Verify).
//
// It is not a test package: the binary links it for `reaper demo` and `reaper fakes`, so it must never
// import testing, net/http/httptest, testify or the conformance suite (cmd/reaper's
// TestBinaryCarriesNoTestCode fails if it does). It sits in internal/ at the module root, not under
// providers/, because it reads jobs' outcome store. It does not read config: the config that points
// reaper at the fakes is built by the wiring (wiring.FakesConfig), from URL and Creds.
//
// Each provider's fake is one entry of the fakes table (fakes.go), the one place here that names
// providers; the stack, its targets and its fault mix loop over it.
package fakestack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/mss/msstest"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

// Credentials are what the three fakes accept and a config pointing at them uses. They are test values,
// not secrets, but reaper still treats them as secrets (they never reach logs or errors).
type Credentials struct {
	MSSAK, MSSSK, MSSProject  string
	SMHLibrary, SMHSecret     string
	VODSecretID, VODSecretKey string
	VODSubApp                 uint64
}

// DefaultCredentials are the fakes' built-in credentials, used by the demo and by `reaper fakes` when
// the REAPER_* variables are unset.
func DefaultCredentials() Credentials {
	return Credentials{
		MSSAK: "REAPERFAKEMSSAK00000", MSSSK: "reaperFakeMssSecretKey0000000000000000000", MSSProject: "0123456789abcdef0123456789abcdef",
		SMHLibrary: smhtest.DefaultLibraryID, SMHSecret: smhtest.DefaultLibrarySecret,
		VODSecretID: vodtest.DefaultSecretID, VODSecretKey: vodtest.DefaultSecretKey, VODSubApp: 1,
	}
}

// subAppEnv is the variable of Credentials.VODSubApp, the one credential that is not a string.
const subAppEnv = "REAPER_VOD_SUB_APP_ID"

// vars binds each string credential to the REAPER_* variable a reaper deployment reads it from, so
// CredentialsFromEnv and Env name each variable once.
func (c *Credentials) vars() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{
		{"REAPER_MSS_AK", &c.MSSAK}, {"REAPER_MSS_SK", &c.MSSSK}, {"REAPER_MSS_PROJECT_ID", &c.MSSProject},
		{"REAPER_SMH_LIBRARY_ID", &c.SMHLibrary}, {"REAPER_SMH_LIBRARY_SECRET", &c.SMHSecret},
		{"REAPER_VOD_SECRET_ID", &c.VODSecretID}, {"REAPER_VOD_SECRET_KEY", &c.VODSecretKey},
	}
}

// CredentialsFromEnv overlays the REAPER_* credential variables on the defaults, so `reaper fakes`
// accepts exactly what a reaper deployment with the same environment sends.
func CredentialsFromEnv(getenv func(string) string) Credentials {
	c := DefaultCredentials()
	for _, e := range c.vars() {
		if v := getenv(e.name); v != "" {
			*e.v = v
		}
	}
	if v, err := strconv.ParseUint(getenv(subAppEnv), 10, 64); err == nil && v > 0 {
		c.VODSubApp = v
	}
	return c
}

// Env returns the REAPER_* variables a reaper process needs to talk to the fakes.
func (c Credentials) Env() map[string]string {
	out := map[string]string{subAppEnv: strconv.FormatUint(c.VODSubApp, 10)}
	for _, e := range c.vars() {
		out[e.name] = *e.v
	}
	return out
}

// Stack is the three provider fakes served on loopback: what the demo, `reaper fakes`, the integration
// tests and the benchmarks run against.
type Stack struct {
	MSS   *msstest.Fake
	SMH   *smhtest.Fake
	VOD   *vodtest.Fake
	Creds Credentials
	// URL is each fake's base URL (http://127.0.0.1:port).
	URL     map[providers.Name]string
	servers []*http.Server
}

// Options configures Start.
type Options struct {
	Creds Credentials
	// Addr is each fake's listen address; default 127.0.0.1:0 (a free port).
	Addr map[providers.Name]string
	// RecycleBin turns the SMH library's recycle bin on (deletes answer 200 recycledItemId).
	RecycleBin bool
	Seed       uint64
}

// Start starts the three fakes. Close stops them.
func Start(o Options) (*Stack, error) {
	c := o.Creds
	if c == (Credentials{}) {
		c = DefaultCredentials()
	}
	s := &Stack{Creds: c, URL: map[providers.Name]string{}}
	for _, n := range providers.Names {
		f, ok := fakes[n]
		if !ok {
			s.Close()
			return nil, fmt.Errorf("fakestack: no fake for provider %q", n)
		}
		f.start(s, o)
	}
	for _, n := range providers.Names {
		addr := o.Addr[n]
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s fake: %w", n, err)
		}
		srv := &http.Server{Handler: s.Fake(n), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		s.servers = append(s.servers, srv)
		s.URL[n] = "http://" + l.Addr().String()
	}
	return s, nil
}

// Close stops the fakes' servers.
func (s *Stack) Close() {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
}

// Fake returns provider n's fake. It panics for a provider the stack has no fake of: quietly handing
// over another provider's fake would send a test's requests to the wrong service.
func (s *Stack) Fake(n providers.Name) faults.Fake {
	f, ok := fakes[n]
	if !ok {
		panic(fmt.Sprintf("fakestack: no fake for provider %q", n))
	}
	return f.of(s)
}

// Faults returns provider n's fault injector.
func (s *Stack) Faults(n providers.Name) *faults.Injector { return s.Fake(n).Faults() }

// Targets returns n distinct targets per provider, in provider order, and adds to the fakes all but
// every goneEvery-th (those are "already gone"; goneEvery 0 adds all).
func (s *Stack) Targets(n, goneEvery int) []providers.Target {
	var out []providers.Target
	for i := range n {
		for _, p := range providers.Names {
			t := fakes[p].target(s.Creds, i)
			if goneEvery == 0 || i%goneEvery != goneEvery-1 {
				s.Fake(t.Provider).Add(t)
			}
			out = append(out, t)
		}
	}
	return out
}

// Verify checks a finished batch against the fakes: every target is gone from its fake, and the batch
// has exactly one record per target. It returns every discrepancy found.
func (s *Stack) Verify(ctx context.Context, store *jobs.Store, batch string, targets []providers.Target) error {
	var errs []error
	b, err := store.Batch(ctx, batch)
	if err != nil {
		return err
	}
	if !b.Done() {
		errs = append(errs, fmt.Errorf("batch %s is not done: %d of %d terminal", batch, b.Terminal, b.Total))
	}
	want := map[string]bool{}
	for _, t := range targets {
		want[t.Key()] = true
		if s.Fake(t.Provider).Exists(t) {
			errs = append(errs, fmt.Errorf("%s still exists at the %s fake", t, t.Provider))
		}
	}
	seen := map[string]int{}
	err = store.Records(ctx, batch, func(r jobs.Record) error {
		seen[r.Key]++
		if !want[r.Key] {
			errs = append(errs, fmt.Errorf("record for %s, which the batch never held", r.Key))
		}
		if r.Outcome == jobs.Failed || r.Outcome == jobs.Cancelled {
			errs = append(errs, fmt.Errorf("%s ended %s: %s %s", r.Key, r.Outcome, r.Code, r.Message))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k := range want {
		if seen[k] != 1 {
			errs = append(errs, fmt.Errorf("%s has %d records, want exactly 1", k, seen[k]))
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("... and %d more discrepancies", len(errs)-10))
	}
	return errors.Join(errs...)
}

// RealisticFaults applies the demo's fault mix, each in its provider's own wire format (each fake's
// entry in fakes.go says which): MetaStudio answers 5% MSS.00000004 and is down for the first outage;
// SMH throttles at 100 requests/second and answers 2% 503 ServerOverloaded; VOD answers 4%
// InternalError or RequestLimitExceeded. Every answer takes 2-10 ms.
func (s *Stack) RealisticFaults(outage time.Duration) {
	now := time.Now()
	for _, n := range providers.Names {
		in := s.Faults(n)
		fakes[n].realistic(in, now, outage)
		in.SetLatency(2*time.Millisecond, 8*time.Millisecond)
	}
}

// TransientFault is provider n's documented transient error (an MSS 500 MSS.00000004, an SMH 500
// InternalServerError, a VOD InternalError): what `reaper fakes --error-rate` answers.
func TransientFault(n providers.Name) faults.Fault { return fakes[n].transient }
