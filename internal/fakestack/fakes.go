package fakestack

import (
	"fmt"
	"time"

	"github.com/reaper-media/reaper/providers"
	"github.com/reaper-media/reaper/providers/faults"
	"github.com/reaper-media/reaper/providers/mss/msstest"
	"github.com/reaper-media/reaper/providers/smh/smhtest"
	"github.com/reaper-media/reaper/providers/vod/vodtest"
)

// fake is what the stack knows of one provider's fake.
type fake struct {
	// start builds the fake into s, accepting s.Creds.
	start func(s *Stack, o Options)
	// of is the fake s holds (nil before start).
	of func(s *Stack) faults.Fake
	// target is the i-th of the demo's distinct targets (Targets).
	target func(c Credentials, i int) providers.Target
	// realistic applies the provider's share of the demo's fault mix (RealisticFaults adds latency).
	realistic func(in *faults.Injector, now time.Time, outage time.Duration)
	// transient is the provider's documented transient error (TransientFault).
	transient faults.Fault
}

// fakes is the one place in fakestack that names providers: a new provider adds its fake here (and
// its field to Stack and Credentials). TestFakesCoverTheRegistry holds it to providers.Names.
var fakes = map[providers.Name]fake{
	providers.MSS: {
		start: func(s *Stack, o Options) {
			c := s.Creds
			s.MSS = msstest.New(msstest.Options{Keys: map[string]string{c.MSSAK: c.MSSSK}, Projects: []string{c.MSSProject}, Seed: o.Seed})
		},
		of: func(s *Stack) faults.Fake { return s.MSS },
		target: func(c Credentials, i int) providers.Target {
			return providers.Target{Provider: providers.MSS, ProjectID: c.MSSProject, FileID: fmt.Sprintf("mss-file-%07d", i)}
		},
		realistic: func(in *faults.Injector, now time.Time, outage time.Duration) {
			in.SetErrorRate(0.05, faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"})
			in.SetOutage(now, now.Add(outage))
		},
		transient: faults.Fault{Status: 500, Code: "MSS.00000004", Message: "Internal Error"},
	},
	providers.SMH: {
		start: func(s *Stack, o Options) {
			c := s.Creds
			s.SMH = smhtest.New(smhtest.Options{Seed: o.Seed + 1, Libraries: map[string]smhtest.Library{
				c.SMHLibrary: {Secret: c.SMHSecret, RecycleBin: o.RecycleBin}}})
		},
		of: func(s *Stack) faults.Fake { return s.SMH },
		target: func(c Credentials, i int) providers.Target {
			return providers.Target{Provider: providers.SMH, LibraryID: c.SMHLibrary, SpaceID: smhtest.SingleTenantSpace,
				Path: fmt.Sprintf("reaper-demo/dir-%03d/file %07d.mp4", i%100, i)}
		},
		realistic: func(in *faults.Injector, _ time.Time, _ time.Duration) {
			in.SetThrottle(100)
			in.SetErrorRate(0.02, faults.Fault{Status: 503, Code: "ServerOverloaded", Message: "Server overloaded."})
		},
		transient: faults.Fault{Status: 500, Code: "InternalServerError", Message: "Internal server error."},
	},
	providers.VOD: {
		start: func(s *Stack, o Options) {
			c := s.Creds
			s.VOD = vodtest.New(vodtest.Options{Seed: o.Seed + 2, SubAppIDs: []uint64{c.VODSubApp},
				Credentials: []vodtest.Credential{{SecretID: c.VODSecretID, SecretKey: c.VODSecretKey}}})
		},
		of: func(s *Stack) faults.Fake { return s.VOD },
		target: func(c Credentials, i int) providers.Target {
			return providers.Target{Provider: providers.VOD, FileID: fmt.Sprintf("5285890%012d", i), SubAppID: c.VODSubApp}
		},
		realistic: func(in *faults.Injector, _ time.Time, _ time.Duration) {
			in.SetErrorRate(0.04, faults.Fault{Code: "InternalError", Message: "Internal error."},
				faults.Fault{Code: "RequestLimitExceeded", Message: "The number of requests exceeds the frequency limit."})
		},
		transient: faults.Fault{Code: "InternalError", Message: "Internal error."},
	},
}
