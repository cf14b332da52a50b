package jobstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the sentinels StartSentinel starts monitor the master under.
const SentinelMaster = "reaper-master"

// Sentinel is a Redis Sentinel deployment owned by one test: a master, one replica and three
// sentinels (quorum 2, the master judged down after 1 s) on free loopback ports, each in its own
// t.TempDir(). Which node is the master changes with Failover and KillMaster.
type Sentinel struct {
	// Nodes are the two redis-servers; the first starts as the master.
	Nodes [2]*Redis
	// Addrs are the sentinels' host:port addresses.
	Addrs []string
	t     testing.TB
	procs []*exec.Cmd
	logs  []string
}

// StartSentinel starts the deployment and returns once the replica is in sync and every sentinel
// knows the master, the replica and the two other sentinels, so a failover can start at once. It
// fails the test when redis-server or redis-sentinel is not installed: the README's test command
// (bash .ci/test) installs both.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		t.Fatalf("redis-sentinel not found on PATH: run the README's test command (bash .ci/test), which installs Debian's redis-sentinel")
	}
	s := &Sentinel{t: t}
	// No 5 s wait for more replicas before a full sync: either node may be the master.
	s.Nodes[0] = startRedis(t, "", "--repl-diskless-sync-delay", "0")
	s.Nodes[1] = startRedis(t, "", "--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", strconv.Itoa(s.Nodes[0].port))
	t.Cleanup(s.stop)

	ports := []int{FreePort(t), FreePort(t), FreePort(t)}
	ids := make([]string, len(ports))
	for i := range ports {
		ids[i] = strings.Repeat(strconv.Itoa(i+1), 40) // a sentinel's run id: 40 hex digits
		s.Addrs = append(s.Addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])))
	}
	for i, port := range ports {
		dir := t.TempDir()
		conf := []string{
			"port " + strconv.Itoa(port), "bind 127.0.0.1", "dir " + dir, "logfile " + filepath.Join(dir, "sentinel.log"),
			"sentinel myid " + ids[i],
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", SentinelMaster, s.Nodes[0].port),
			"sentinel down-after-milliseconds " + SentinelMaster + " 1000",
			"sentinel failover-timeout " + SentinelMaster + " 5000",
			"sentinel parallel-syncs " + SentinelMaster + " 1",
			// Told up front rather than discovered (INFO every 10 s, hellos every 2 s): ready in
			// well under a second.
			fmt.Sprintf("sentinel known-replica %s 127.0.0.1 %d", SentinelMaster, s.Nodes[1].port),
		}
		for j, other := range ports {
			if j != i {
				conf = append(conf, fmt.Sprintf("sentinel known-sentinel %s 127.0.0.1 %d %s", SentinelMaster, other, ids[j]))
			}
		}
		path := filepath.Join(dir, "sentinel.conf") // sentinels rewrite their config: it must be writable
		if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			t.Fatalf("write sentinel config: %v", err)
		}
		cmd := exec.Command(bin, path)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-sentinel: %v", err)
		}
		s.procs = append(s.procs, cmd)
		s.logs = append(s.logs, filepath.Join(dir, "sentinel.log"))
	}
	s.waitReady(s.Nodes[0], s.Nodes[1])
	return s
}

// replicating waits until writes reach the replica. Its link says "up" as soon as the first sync
// is done, but after a diskless sync the master holds the stream back until the replica's first
// ACK (up to a second later): a failover before that promotes an empty replica.
func (s *Sentinel) replicating(master *Redis) {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer c.Close()
	const key = "jobstest:sentinel:replicating"
	if err := c.Set(context.Background(), key, "1", 0).Err(); err != nil {
		s.fatalf("write to the master: %v", err)
	}
	_ = c.Del(context.Background(), key).Err()
	s.WaitReplicated()
}

// URL is the deployment's redis+sentinel:// URL (database 0), as an operator would configure it.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.Addrs, ",") + "/" + SentinelMaster + "/0"
}

// Master is the node every sentinel reports as the master now.
func (s *Sentinel) Master() *Redis {
	s.t.Helper()
	addr, err := s.masterAddr(context.Background(), s.Addrs[0])
	if err != nil {
		s.t.Fatalf("sentinel %s: %v", s.Addrs[0], err)
	}
	return s.node(addr)
}

// Failover asks one sentinel for a failover (SENTINEL FAILOVER, as an operator does before
// maintenance) and returns the new master once every sentinel reports it and it has taken the
// master's role. Sentinel promotes the replica with REPLICAOF NO ONE without pausing the old
// master first, and turns the old master into a replica only some 10 to 20 s later: until then
// it still takes the writes of clients that have not followed the switch, and those writes, like
// any the replica had not received, are lost.
func (s *Sentinel) Failover() *Redis {
	s.t.Helper()
	old := s.Master()
	next := s.other(old)
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addrs[0]})
	defer c.Close()
	var err error
	// NOGOODSLAVE while the sentinels have not yet looked at the replica.
	s.poll(10*time.Second, func() bool { err = c.Failover(context.Background(), SentinelMaster).Err(); return err == nil },
		func() string { return fmt.Sprintf("SENTINEL FAILOVER: %v", err) })
	s.waitSwitched(next)
	return next
}

// KillMaster kills the master with SIGKILL and returns the replica once the sentinels have
// judged the master down (1 s), elected a leader and promoted the replica, and every sentinel
// reports it. Writes the master acknowledged but had not yet sent to the replica are lost. The
// killed node stays down.
func (s *Sentinel) KillMaster() *Redis {
	s.t.Helper()
	old := s.Master()
	next := s.other(old)
	s.waitReady(old, next) // after a Failover, until the sentinels have made the old master a replica
	old.Stop()
	s.waitSwitched(next)
	return next
}

// WaitReplicated returns once the replica has received every write the master had taken when it
// was called, as an operator checks INFO replication before a planned failover.
func (s *Sentinel) WaitReplicated() {
	s.t.Helper()
	master := s.Master()
	want, err := strconv.ParseInt(replication(master, "master_repl_offset"), 10, 64)
	if err != nil {
		s.fatalf("INFO replication of the master has no master_repl_offset")
	}
	replica := s.other(master)
	s.poll(10*time.Second, func() bool {
		got, err := strconv.ParseInt(replication(replica, "slave_repl_offset"), 10, 64)
		return err == nil && got >= want
	}, func() string { return fmt.Sprintf("the replica reaches the master's replication offset %d", want) })
}

// waitSwitched waits until every sentinel reports next as the master and next says it is one.
func (s *Sentinel) waitSwitched(next *Redis) {
	s.t.Helper()
	s.poll(20*time.Second, func() bool {
		for _, a := range s.Addrs {
			if addr, err := s.masterAddr(context.Background(), a); err != nil || addr != next.Addr {
				return false
			}
		}
		return replication(next, "role") == "master"
	}, func() string { return fmt.Sprintf("the sentinels switch %s to %s", SentinelMaster, next.Addr) })
}

// waitReady waits until the replica is in sync and every sentinel sees the master up, the replica
// and both other sentinels.
func (s *Sentinel) waitReady(master, replica *Redis) {
	s.t.Helper()
	s.poll(30*time.Second, func() bool {
		if replication(replica, "master_link_status") != "up" {
			return false
		}
		for _, a := range s.Addrs {
			if !s.sentinelReady(context.Background(), a, master, replica) {
				return false
			}
		}
		return true
	}, func() string { return "the Sentinel deployment is ready" })
	s.replicating(master)
}

// poll calls done every 20 ms until it reports true, and fails the test with the sentinels' logs
// when it has not within d; what says what was awaited.
func (s *Sentinel) poll(d time.Duration, done func() bool, what func() string) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !done() {
		if time.Now().After(deadline) {
			s.fatalf("not within %s: %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replication is one field of n's INFO replication ("" when n does not answer).
func replication(n *Redis, field string) string {
	c := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		return ""
	}
	return ParseInfo(info)[field]
}

func (s *Sentinel) sentinelReady(ctx context.Context, addr string, master, replica *Redis) bool {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer c.Close()
	m, err := c.Master(ctx, SentinelMaster).Result()
	if err != nil || m["flags"] != "master" || m["port"] != strconv.Itoa(master.port) || m["num-other-sentinels"] != "2" {
		return false
	}
	replicas, err := c.Replicas(ctx, SentinelMaster).Result()
	if err != nil || len(replicas) != 1 {
		return false
	}
	// Not its master-link-status: the sentinels refresh a replica's INFO every 10 s, and one taken
	// before the first sync says "err" until the next. The replica's own INFO says it is in sync.
	return replicas[0]["port"] == strconv.Itoa(replica.port) && replicas[0]["flags"] == "slave"
}

func (s *Sentinel) masterAddr(ctx context.Context, sentinel string) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer c.Close()
	hp, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

func (s *Sentinel) node(addr string) *Redis {
	s.t.Helper()
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	s.t.Fatalf("the sentinels report %s as the master, which is neither node", addr)
	return nil
}

func (s *Sentinel) other(n *Redis) *Redis {
	if s.Nodes[0] == n {
		return s.Nodes[1]
	}
	return s.Nodes[0]
}

// fatalf fails the test with the sentinels' logs (they hold no secret: the deployment has none).
func (s *Sentinel) fatalf(format string, args ...any) {
	s.t.Helper()
	for i, p := range s.logs {
		if b, err := os.ReadFile(p); err == nil {
			s.t.Logf("sentinel %d log:\n%s", i, b)
		}
	}
	s.t.Fatalf(format, args...)
}

// stop kills the sentinels (the nodes stop with their own cleanups).
func (s *Sentinel) stop() {
	for _, c := range s.procs {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	s.procs = nil
}
