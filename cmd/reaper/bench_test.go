package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/reaper-media/reaper/jobs/jobstest"
	"github.com/reaper-media/reaper/providers"
)

// BenchmarkEnqueueManifest runs `reaper enqueue --manifest FILE --yes` as its own process on a
// manifest of REAPER_BENCH_LINES lines (default 1,000,000, a third per provider) into a local
// redis-server, and reports tasks/s over the whole command (both passes: validation, then enqueue) and
// the process's peak RSS.
//
//	go test -run '^$' -bench EnqueueManifest -benchtime 1x ./cmd/reaper/
func BenchmarkEnqueueManifest(b *testing.B) {
	lines := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("REAPER_BENCH_LINES")); err == nil && v > 0 {
		lines = v
	}
	r := jobstest.StartRedis(b)
	path := filepath.Join(b.TempDir(), "manifest.jsonl")
	writeManifest(b, path, lines)
	cfgPath := filepath.Join(b.TempDir(), "reaper.yaml")
	cfg := fmt.Sprintf("redis: {url: %q}\nproviders:\n  mss: {enabled: true, project_id: p}\n  smh: {enabled: true, library_id: lib}\n  vod: {enabled: true}\n", r.URL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	var maxRSS int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := r.Client().FlushAll(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "enqueue", "--manifest", path, "--yes", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "REAPER_TEST_MAIN=1", "REAPER_MSS_AK=a", "REAPER_MSS_SK=s",
			"REAPER_SMH_LIBRARY_SECRET=l", "REAPER_VOD_SECRET_ID=i", "REAPER_VOD_SECRET_KEY=k")
		b.StartTimer()
		out, err := cmd.CombinedOutput()
		b.StopTimer()
		if err != nil {
			b.Fatalf("enqueue: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			maxRSS = max(maxRSS, ru.Maxrss) // kilobytes on Linux
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MB")
}

func writeManifest(b *testing.B, path string, lines int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for i := range lines {
		var t providers.Target
		switch i % 3 {
		case 0:
			t = providers.Target{Provider: providers.MSS, FileID: fmt.Sprintf("24bad716-87b1-45e5-8912-%012d", i)}
		case 1:
			t = providers.Target{Provider: providers.SMH, SpaceID: "-", Path: fmt.Sprintf("media/2026/%03d/file-%09d.mp4", i%1000, i)}
		default:
			t = providers.Target{Provider: providers.VOD, FileID: strconv.Itoa(7447398156998994860 + i), SubAppID: 1}
		}
		if err := enc.Encode(t); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
