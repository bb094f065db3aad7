package coordinator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/grpcretry"
	"github.com/murphy-chaos/murphy/internal/logging"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// testCluster is a real cluster: n nodes on loopback TCP with bbolt stores in temp dirs.
type testCluster struct {
	t     *testing.T
	nodes []*coordinator.Server
	cfgs  []coordinator.Config
}

func nodeConfig(t *testing.T, id, dir string) coordinator.Config {
	return coordinator.Config{
		TLS: nodeTLS(t, id),
		// Tests share two cores with the race detector and other packages' tests;
		// timeouts a little above the LAN profile keep leadership from flapping.
		Timeouts: coordinator.Timeouts{Heartbeat: 400 * time.Millisecond, Election: 400 * time.Millisecond, LeaderLease: 200 * time.Millisecond},
		NodeID:   id,
		DataDir:  dir,
		// Port 0: the node binds and reports its addresses, so no other test can take
		// them first; start records them for a restart on the same addresses.
		RaftAddr:       "127.0.0.1:0",
		GRPCAddr:       "127.0.0.1:0",
		HTTPAddr:       "127.0.0.1:0",
		Logger:         logging.Discard(),
		WorkerLease:    3 * time.Second,
		WaitForWorkers: 20 * time.Second,
	}
}

// freeAddr returns a loopback address with a port free right now, for a server that must
// be told its address before it starts (a worker's proxy is its Prometheus instance
// label). The port comes from below the kernel's ephemeral range, which port-0 listeners
// and outgoing connections draw from, so nothing else in the suite takes it meanwhile
// unless another freeAddr picks the same random port in the same instant.
func freeAddr(t *testing.T) string {
	t.Helper()
	lo, _ := ephemeralPorts()
	for range 100 {
		port := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String()
	}
	t.Fatal("no free loopback port below the ephemeral range after 100 tries")
	return ""
}

// ephemeralPorts is the kernel's range for port 0 and outgoing connections (Linux's
// default where it cannot be read).
func ephemeralPorts() (lo, hi int) {
	lo, hi = 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var l, h int
		if n, _ := fmt.Sscan(string(b), &l, &h); n == 2 && l > 10100 {
			lo, hi = l, h
		}
	}
	return lo, hi
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith starts n nodes whose configurations mod adjusts first.
func startClusterWith(t *testing.T, n int, mod func(*coordinator.Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i+1))
		cfg := nodeConfig(t, fmt.Sprintf("n%d", i+1), dir)
		if mod != nil {
			mod(&cfg)
		}
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = []string{c.nodes[0].GRPCAddr()}
		}
		c.start(cfg)
		if i == 0 {
			waitUntil(t, 10*time.Second, "n1 leads", c.nodes[0].IsLeader)
		}
	}
	t.Cleanup(c.stopAll)
	waitUntil(t, 10*time.Second, "every node knows the leader's address", func() bool {
		for _, s := range c.nodes {
			if s == nil {
				continue
			}
			if _, err := s.FSM().FindRun("nothing"); err == nil {
				return false
			}
			if len(s.FSM().Nodes()) != n {
				return false
			}
		}
		return true
	})
	return c
}

func (c *testCluster) start(cfg coordinator.Config) *coordinator.Server {
	c.t.Helper()
	s, err := coordinator.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		s.Stop()
		c.t.Fatal(err)
	}
	// A restart comes back on the addresses the peers know.
	cfg.GRPCAddr, cfg.RaftAddr = s.GRPCAddr(), s.RaftAddr()
	c.nodes = append(c.nodes, s)
	c.cfgs = append(c.cfgs, cfg)
	return s
}

func (c *testCluster) stopAll() {
	for _, s := range c.nodes {
		if s != nil {
			s.Stop()
		}
	}
}

// leader waits for a leader among the running nodes and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	idx := -1
	waitUntil(c.t, 10*time.Second, "a leader", func() bool {
		for i, s := range c.nodes {
			if s != nil && s.IsLeader() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

func (c *testCluster) follower() int {
	l := c.leader()
	for i, s := range c.nodes {
		if s != nil && i != l {
			return i
		}
	}
	c.t.Fatal("no follower")
	return -1
}

func (c *testCluster) addrs() []string {
	var out []string
	for _, s := range c.nodes {
		if s != nil {
			out = append(out, s.GRPCAddr())
		}
	}
	return out
}

// stop stops node i and keeps its slot so it can be restarted.
func (c *testCluster) stop(i int) {
	c.nodes[i].Stop()
	c.nodes[i] = nil
}

func clientConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	// As the CLI does, a call refused before the log during an election is sent again.
	conn, err := grpc.NewClient(addr, tlsDial(t, tlsutil.RoleAdmin, "test-admin"), grpc.WithChainUnaryInterceptor(grpcretry.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const testSpec = `apiVersion: murphy/v1
name: cluster-test
targets:
  selector: {service: demo}
  experiment: {count: 2}
  control: {count: 2}
  stratify: []
  blastRadius: {maxWorkers: 2, maxPercentPerDatacenter: 100}
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: "http://{{proxy}}/", interval: 50ms, timeout: 1s}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.5}
  # These tests exercise the fault path with two hosts per group, too few to settle
  # the question; the futility check would otherwise end them before any fault.
  allowUnderpowered: true
baseline: %s
steps:
  - fault: http.delay
    params: {delay: 30ms}
    duration: %s
`

func TestFollowerForwardsWrites(t *testing.T) {
	c := startCluster(t, 3)
	f := c.follower()
	conn := clientConn(t, c.nodes[f].GRPCAddr())
	exp := murphyv1.NewExperimentServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	resp, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "2s"), Filename: "t.yaml"})
	if err != nil {
		t.Fatalf("submit through follower: %v", err)
	}
	id := resp.Run.Id
	if !strings.HasPrefix(id, "cluster-test-") {
		t.Errorf("run id %q", id)
	}
	// Every node applies the entry; a follower's own state gets it too.
	waitUntil(t, 5*time.Second, "the run on every node", func() bool {
		for _, s := range c.nodes {
			if s.FSM().Run(id) == nil {
				return false
			}
		}
		return true
	})
	// A read through the follower is forwarded (it finds the run), and so is a stale read.
	if _, err := exp.GetRun(ctx, &murphyv1.GetRunRequest{RunId: id[:len(id)-2]}); err != nil {
		t.Errorf("get by prefix through follower: %v", err)
	}
	sctx := metadata.AppendToOutgoingContext(ctx, coordinator.MetadataStale, "true")
	if _, err := exp.GetRun(sctx, &murphyv1.GetRunRequest{RunId: id}); err != nil {
		t.Errorf("stale get on follower: %v", err)
	}
	// A halt through the follower reaches the leader and is committed everywhere.
	if _, err := exp.Halt(ctx, &murphyv1.HaltRequest{RunId: id, Reason: "test"}); err != nil {
		t.Fatalf("halt through follower: %v", err)
	}
	if r := c.nodes[f].FSM().Run(id); r == nil || r.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
		// The follower may apply a moment later.
		waitUntil(t, 5*time.Second, "halt applied on the follower", func() bool {
			r := c.nodes[f].FSM().Run(id)
			return r != nil && r.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED
		})
	}
	// Halting again is refused with a clear reason, and changes nothing.
	_, err = exp.Halt(ctx, &murphyv1.HaltRequest{RunId: id})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "already finished") {
		t.Errorf("second halt: %v", err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	c := startCluster(t, 3)
	conn := clientConn(t, c.nodes[c.follower()].GRPCAddr())
	exp := murphyv1.NewExperimentServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := c.nodes[c.leader()].FSM().AppliedIndex()
	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"invalid spec", func() error {
			_, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte("apiVersion: murphy/v2\n"), Filename: "bad.yaml"})
			return err
		}, codes.InvalidArgument, "bad.yaml:1: apiVersion"},
		{"unknown fault", func() error {
			_, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(strings.Replace(fmt.Sprintf(testSpec, "1s", "1s"), "http.delay", "http.dealy", 1)), Filename: "f.yaml"})
			return err
		}, codes.InvalidArgument, `unknown fault kind "http.dealy"`},
		{"unknown run", func() error {
			_, err := exp.Halt(ctx, &murphyv1.HaltRequest{RunId: "nope"})
			return err
		}, codes.NotFound, `run "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if after := c.nodes[c.leader()].FSM().AppliedIndex(); after != before {
		t.Errorf("applied index moved from %d to %d", before, after)
	}
}

// TestFollowerWithoutLeader checks the error a client gets from a node that lost quorum.
func TestFollowerWithoutLeader(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	survivor := (l + 1) % 3
	for i := range 3 {
		if i != survivor {
			c.stop(i)
		}
	}
	conn := clientConn(t, c.nodes[survivor].GRPCAddr())
	exp := murphyv1.NewExperimentServiceClient(conn)
	waitUntil(t, 10*time.Second, "the survivor to notice the leader is gone", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "1s")})
		return status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "no leader elected yet")
	})
}

// TestLeaderFailover measures how long a LAN-profile cluster takes to replace its leader.
func TestLeaderFailover(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	stopped := time.Now()
	c.stop(l)
	nl := c.leader()
	took := time.Since(stopped)
	t.Logf("new leader %s after %s", c.nodes[nl].NodeID(), took)
	if nl == l {
		t.Fatal("the stopped node still leads")
	}
	// The new leader accepts writes.
	conn := clientConn(t, c.nodes[nl].GRPCAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := murphyv1.NewExperimentServiceClient(conn).Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "1s")}); err != nil {
		t.Fatalf("submit after failover: %v", err)
	}
}

// TestRestartKeepsState restarts every node on its data directory and finds the runs.
func TestRestartKeepsState(t *testing.T) {
	c := startCluster(t, 3)
	conn := clientConn(t, c.nodes[0].GRPCAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := murphyv1.NewExperimentServiceClient(conn).Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "1s")})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "replication", func() bool {
		for _, s := range c.nodes {
			if s.FSM().Run(resp.Run.Id) == nil {
				return false
			}
		}
		return true
	})
	cfgs := c.cfgs
	for i := range c.nodes {
		c.stop(i)
	}
	c.nodes, c.cfgs = nil, nil
	for _, cfg := range cfgs {
		// Same data directory and addresses; no bootstrap or join: the node finds its
		// membership on disk.
		cfg.Bootstrap, cfg.Join = false, nil
		cfg.HTTPAddr = "127.0.0.1:0"
		s, err := coordinator.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, s)
	}
	for _, s := range c.nodes {
		waitUntil(t, 10*time.Second, "state replayed from disk on "+s.NodeID(), func() bool { return s.FSM().Run(resp.Run.Id) != nil })
	}
}
