// Package jobstest starts what the pipeline's tests need: a real redis-server on a free loopback port,
// or a Sentinel deployment of them (sentinel.go).
package jobstest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr string
	dir  string
	port int
	cmd  *exec.Cmd
	t    testing.TB
	aof  string   // appendfsync policy; "" turns the append-only file off
	args []string // more redis-server arguments (a replica's --replicaof)
}

// StartRedis starts redis-server on a free 127.0.0.1 port with persistence off and stops it when the
// test ends. It fails the test when redis-server is not installed: the README's test command installs it.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t, "")
}

// StartRedisAOF starts redis-server with the append-only file on and fsync on every write, as a
// production Redis should run: Restart then brings back everything written before the kill.
func StartRedisAOF(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t, "always")
}

// StartRedisAOFEverySec starts redis-server with the append-only file fsynced once a second, Redis's
// default and what most deployments run: a crash of the host can lose the last second of writes.
func StartRedisAOFEverySec(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t, "everysec")
}

func startRedis(t testing.TB, aof string, args ...string) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found on PATH: run the README's test command (bash .ci/test), which installs it")
	}
	r := &Redis{dir: t.TempDir(), t: t, aof: aof, args: args}
	r.port = FreePort(t)
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	r.start(bin)
	t.Cleanup(r.Stop)
	return r
}

func (r *Redis) start(bin string) {
	r.t.Helper()
	persistence := []string{"--appendonly", "no"}
	if r.aof != "" {
		persistence = []string{"--appendonly", "yes", "--appendfsync", r.aof}
	}
	r.cmd = exec.Command(bin, append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--protected-mode", "yes", "--loglevel", "warning"}, append(persistence, r.args...)...)...)
	r.cmd.Stdout, r.cmd.Stderr = nil, nil
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Ping(context.Background()).Err(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING within 10s", r.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Client returns a go-redis client closed at the end of the test.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server (idempotent).
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Pause stops the server with SIGSTOP: it holds its connections and answers nothing, as a Redis
// stalled by a slow command, a fork on a huge dataset or a frozen VM does. Resume continues it.
func (r *Redis) Pause() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

// Restart kills the server (SIGKILL) and starts a new one on the same port and directory, as a crash
// and restart would. With StartRedisAOF the data comes back from the append-only file; without, it is
// gone.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	bin, _ := exec.LookPath("redis-server")
	r.start(bin)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for servers a test starts
// as separate processes and must know the address of.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ParseInfo is an INFO reply's fields by name ("used_memory", "cmdstat_get", "role": the value after
// the first ':' of each line), section headers and blank lines left out.
func ParseInfo(info string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(info) {
		if name, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(name, "#") {
			m[name] = v
		}
	}
	return m
}

// CommandStat is one command's line of INFO commandstats: how many times Redis ran it and the
// microseconds it spent in it (a script's include the commands it ran).
type CommandStat struct{ Calls, Usec float64 }

// CommandStats is an INFO commandstats reply's commands by name ("get", "evalsha").
func CommandStats(info string) map[string]CommandStat {
	out := map[string]CommandStat{}
	for name, rest := range ParseInfo(info) {
		name, ok := strings.CutPrefix(name, "cmdstat_")
		if !ok {
			continue
		}
		var s CommandStat
		for field := range strings.SplitSeq(rest, ",") { // calls=N,usec=N,usec_per_call=...
			k, v, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				s.Calls = n
			case "usec":
				s.Usec = n
			}
		}
		out[name] = s
	}
	return out
}
