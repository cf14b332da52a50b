package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/reaper-media/reaper/internal/fakestack"
	"github.com/reaper-media/reaper/providers"
)

func runFakes(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "fakes", "[--mss ADDR] [--smh ADDR] [--vod ADDR] [fault flags]")
	addr := map[providers.Name]*string{
		providers.MSS: fs.String("mss", "127.0.0.1:0", "listen `address` of the MetaStudio fake"),
		providers.SMH: fs.String("smh", "127.0.0.1:0", "listen `address` of the SMH fake"),
		providers.VOD: fs.String("vod", "127.0.0.1:0", "listen `address` of the VOD fake"),
	}
	errorRate := fs.Float64("error-rate", 0, "probability of a documented transient error per call (each provider's own 5xx/InternalError)")
	latency := fs.Duration("latency", 0, "latency added to every answer")
	throttle := fs.Float64("throttle", 0, "answer calls beyond this many per second with each provider's throttle response (0: off)")
	recycle := fs.Bool("recycle-bin", false, "SMH library has its recycle bin on")
	seed := fs.Int("seed-files", 0, "add N files per provider to the fakes and print their manifest lines on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	for n, a := range addr {
		if !isLoopback(*a) {
			return fmt.Errorf("--%s %s: the fakes listen on loopback only", n, *a)
		}
	}
	listen := map[providers.Name]string{}
	for n, a := range addr {
		listen[n] = *a
	}
	stack, err := fakestack.Start(fakestack.Options{Creds: fakestack.CredentialsFromEnv(e.getenv), Addr: listen, RecycleBin: *recycle})
	if err != nil {
		return err
	}
	defer stack.Close()
	for _, n := range providers.Names {
		in := stack.Faults(n)
		if *errorRate > 0 {
			in.SetErrorRate(*errorRate, fakestack.TransientFault(n))
		}
		in.SetLatency(*latency, 0)
		in.SetThrottle(*throttle)
	}
	for _, n := range providers.Names {
		fmt.Fprintf(e.stderr, "%s fake: %s\n", n, stack.URL[n])
	}
	fmt.Fprintf(e.stderr, "point reaper at them with REAPER_MSS_ENDPOINT=%s REAPER_SMH_ENDPOINT=%s REAPER_VOD_ENDPOINT=%s\n",
		stack.URL[providers.MSS], stack.URL[providers.SMH], stack.URL[providers.VOD])
	fmt.Fprintln(e.stderr, "credentials: the REAPER_* variables of this environment, or the built-in fake ones when unset")
	if *seed > 0 {
		for _, t := range stack.Targets(*seed, 0) {
			line, err := json.Marshal(t)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, string(line))
		}
	}
	<-ctx.Done()
	return nil
}

func isLoopback(addr string) bool {
	for _, p := range []string{"127.", "localhost:", "[::1]:"} {
		if len(addr) >= len(p) && addr[:len(p)] == p {
			return true
		}
	}
	return false
}
