package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
)

// okUpstream answers every request through a worker's proxy.
func okUpstream(int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
}

// holder returns the index of the node that holds the worker's own stream, or -1.
func (c *testCluster) holder(id string) int {
	for i, s := range c.nodes {
		if s == nil {
			continue
		}
		if _, ok := s.HoldsWorker(id); ok {
			return i
		}
	}
	return -1
}

// haltAndCheckReverts halts the run through node i and checks every worker's revert is
// recorded and no proxy is still delayed.
func haltAndCheckReverts(t *testing.T, c *testCluster, i int, id string, ws []*testWorker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[i].GRPCAddr())).Halt(ctx, &murphyv1.HaltRequest{RunId: id, Reason: "relay test"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "every worker's revert recorded", func() bool {
		r := c.run(id)
		return r != nil && r.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED && len(r.Halt.GetReverts()) == len(ws)
	})
	for _, w := range ws {
		if d := fastestLatency(t, w); d >= 30*time.Millisecond {
			t.Errorf("worker %s still delays (%s) after the halt", w.id, d)
		}
	}
}

// waitInjected waits for the run's step to be acknowledged by both experimental workers
// and checks their proxies delay.
func waitInjected(t *testing.T, c *testCluster, id string, ws []*testWorker) *murphyv1.Run {
	t.Helper()
	var run *murphyv1.Run
	waitUntil(t, 20*time.Second, "injections acknowledged", func() bool {
		run = c.run(id)
		return run != nil && len(run.Steps) == 1 && len(run.Steps[0].Injected) == 2
	})
	for _, w := range ws {
		if slices.Contains(run.Groups.Experiment, w.id) {
			if d := fastestLatency(t, w); d < 30*time.Millisecond {
				t.Errorf("experimental worker %s not delayed (%s)", w.id, d)
			}
		}
	}
	return run
}

// TestFollowerHeldWorkers: workers connected to a follower stay there (it relays them to
// the leader) and are faulted, halted and reverted like the ones on the leader.
func TestFollowerHeldWorkers(t *testing.T) {
	c := startCluster(t, 3)
	l, f := c.leader(), c.follower()
	ws := startWorkersAt(t, c, slices.Repeat([]string{"127.0.0.1:0"}, 4), okUpstream, func(i int) []string {
		if i < 2 {
			return []string{c.nodes[f].GRPCAddr()}
		}
		return []string{c.nodes[l].GRPCAddr()}
	})
	for i, w := range ws {
		want := l
		if i < 2 {
			want = f
		}
		if got := c.holder(w.id); got != want {
			t.Fatalf("worker %s is held by node %d, want %d", w.id, got, want)
		}
		if i < 2 {
			// Registered first, then attached: the relay follows the commit.
			waitUntil(t, 5*time.Second, "the leader hears "+w.id+" through the follower's relay", func() bool { return c.nodes[l].RelaysWorker(w.id) })
		}
	}
	id := submit(t, c.nodes[l].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "60s"))
	run := waitInjected(t, c, id, ws)
	relayed := 0
	for _, w := range run.Groups.Experiment {
		if w == "w1" || w == "w2" {
			relayed++
		}
	}
	t.Logf("experimental group %v (%d held by the follower)", run.Groups.Experiment, relayed)
	haltAndCheckReverts(t, c, f, id, ws)
	for i, w := range ws[:2] {
		if got := c.holder(w.id); got != f {
			t.Errorf("worker %d moved to node %d", i, got)
		}
	}
}

// TestRelayedStreamSurvivesLeaderChange: a worker attached to a follower keeps the same
// stream while leadership moves to another node, and the new leader faults and halts it.
func TestRelayedStreamSurvivesLeaderChange(t *testing.T) {
	c := startCluster(t, 3)
	l, f := c.leader(), c.follower()
	g := 3 - l - f // the other follower, the next leader
	ws := startWorkersAt(t, c, slices.Repeat([]string{"127.0.0.1:0"}, 4), okUpstream, func(int) []string {
		return []string{c.nodes[f].GRPCAddr()}
	})
	streams := map[string]uint64{}
	for _, w := range ws {
		sid, ok := c.nodes[f].HoldsWorker(w.id)
		if !ok {
			t.Fatalf("worker %s not held by %s", w.id, c.nodes[f].NodeID())
		}
		streams[w.id] = sid
	}
	moved := time.Now()
	if err := c.nodes[l].TransferLeadership(c.nodes[g]); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	waitUntil(t, 10*time.Second, "the new leader hears every worker through the relay", func() bool {
		if !c.nodes[g].IsLeader() || !c.nodes[g].HasRunner() {
			return false
		}
		for _, w := range ws {
			if !c.nodes[g].RelaysWorker(w.id) {
				return false
			}
		}
		return true
	})
	t.Logf("leadership moved to %s; relay re-attached after %s", c.nodes[g].NodeID(), time.Since(moved).Round(time.Millisecond))
	for _, w := range ws {
		if sid, ok := c.nodes[f].HoldsWorker(w.id); !ok || sid != streams[w.id] {
			t.Fatalf("worker %s: stream %d on %s, want the same stream %d", w.id, sid, c.nodes[f].NodeID(), streams[w.id])
		}
	}
	id := submit(t, c.nodes[g].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "60s"))
	waitInjected(t, c, id, ws)
	haltAndCheckReverts(t, c, g, id, ws)
	for _, w := range ws {
		if sid, _ := c.nodes[f].HoldsWorker(w.id); sid != streams[w.id] {
			t.Errorf("worker %s reconnected (stream %d, was %d)", w.id, sid, streams[w.id])
		}
	}
}

// TestWorkerMovesWhenItsNodeDies kills the node that holds the most experimental workers
// while their faults are injected: they attach to another node within their lease, their
// faults still accounted for (the run keeps them and the halt reverts them).
func TestWorkerMovesWhenItsNodeDies(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	id := submit(t, c.nodes[c.leader()].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "60s"))
	run := waitInjected(t, c, id, ws)
	count := map[int]int{}
	for _, w := range run.Groups.Experiment {
		count[c.holder(w)]++
	}
	dead := -1
	for i := range c.nodes {
		if dead < 0 || count[i] > count[dead] {
			dead = i
		}
	}
	var moving []string
	for _, w := range ws {
		if c.holder(w.id) == dead {
			moving = append(moving, w.id)
		}
	}
	wasLeader := c.nodes[dead].IsLeader()
	killed := time.Now()
	c.stop(dead)
	lease := c.cfgs[dead].WorkerLease
	waitUntil(t, 3*lease, "the dead node's workers attached elsewhere", func() bool {
		for _, w := range moving {
			if i := c.holder(w); i < 0 || i == dead {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	t.Logf("killed %s (leader: %v) holding %v; they moved in %s (lease %s)", c.cfgs[dead].NodeID, wasLeader, moving, took.Round(time.Millisecond), lease)
	if took > lease {
		t.Errorf("workers moved after %s, past their lease of %s", took, lease)
	}
	// Their faults are still the run's: injected and unreverted until the halt.
	c.leader()
	r := c.run(id)
	if r == nil || r.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING {
		t.Fatalf("run after the node died: %v", r.GetPhase())
	}
	haltAndCheckReverts(t, c, c.leader(), id, ws)
}

// pinnedWorker is a minimal worker: one stream to one node, which answers heartbeats
// and acknowledges halts, and records when each halt arrived.
type pinnedWorker struct {
	id, node string
	halted   chan time.Time
}

func startPinnedWorker(t *testing.T, ctx context.Context, id string, node *coordinator.Server) *pinnedWorker {
	t.Helper()
	conn, err := grpc.NewClient(node.GRPCAddr(), workerDial(t, id)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Marked as redirected, so the node keeps it whatever its share.
	sctx := metadata.AppendToOutgoingContext(ctx, worker.MetadataRedirected, "true")
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(sctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := &murphyv1.Hello{WorkerId: id, Labels: map[string]string{"service": "pinned", "region": "r1", "datacenter": "dc1", "host": id}}
	if err := stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
	m, err := stream.Recv()
	if err != nil || m.GetWelcome() == nil {
		t.Fatalf("%s: want a welcome, got %v, %v", id, m, err)
	}
	p := &pinnedWorker{id: id, node: node.NodeID(), halted: make(chan time.Time, 4)}
	var mu sync.Mutex // one sender at a time
	send := func(r *murphyv1.ConnectRequest) {
		mu.Lock()
		defer mu.Unlock()
		_ = stream.Send(r)
	}
	go func() {
		t := time.NewTicker(300 * time.Millisecond)
		defer t.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{Seq: seq}}})
			}
		}
	}()
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if h := m.GetHalt(); h != nil {
				select {
				case p.halted <- time.Now():
				default:
				}
				send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: &murphyv1.HaltAck{RunId: h.RunId}}})
			}
		}
	}()
	return p
}

// TestHaltLeavesEveryNode: a cluster halt reaches the workers of every node, each from
// the node that holds its stream. It logs the time from the leader's stamp on the halt
// to each worker's receipt, for workers on the leader and on the followers.
func TestHaltLeavesEveryNode(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const perNode = 5
	var ws []*pinnedWorker
	for k := range perNode {
		for i, s := range c.nodes {
			ws = append(ws, startPinnedWorker(t, ctx, fmt.Sprintf("p%d-%d", i+1, k+1), s))
		}
	}
	waitUntil(t, 10*time.Second, "the leader hears every worker", func() bool {
		for _, w := range ws {
			if _, held := c.nodes[l].HoldsWorker(w.id); !held && !c.nodes[l].RelaysWorker(w.id) {
				return false
			}
		}
		return true
	})
	for _, w := range ws {
		if w.node != c.nodes[l].NodeID() && !c.nodes[l].RelaysWorker(w.id) {
			t.Fatalf("%s on %s is not relayed to the leader", w.id, w.node)
		}
	}
	// Each follower's workers share one relay, whatever their number.
	if n := c.nodes[l].RelaysServed(); n != int64(len(c.nodes)-1) {
		t.Errorf("the leader serves %d relays for %d relayed workers, want one per follower (%d)", n, perNode*(len(c.nodes)-1), len(c.nodes)-1)
	}
	exp := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[l].GRPCAddr()))
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	if _, err := exp.HaltAll(hctx, &murphyv1.HaltAllRequest{Reason: "every node"}); err != nil {
		t.Fatal(err)
	}
	stamp := c.nodes[l].FSM().ClusterHalt().At.AsTime()
	took := map[bool][]time.Duration{} // on the leader -> receipt times
	for _, w := range ws {
		select {
		case at := <-w.halted:
			onLeader := w.node == c.nodes[l].NodeID()
			took[onLeader] = append(took[onLeader], at.Sub(stamp))
		case <-time.After(10 * time.Second):
			t.Fatalf("%s on %s got no halt", w.id, w.node)
		}
	}
	for _, onLeader := range []bool{true, false} {
		d := took[onLeader]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		where := "followers"
		if onLeader {
			where = "leader"
		}
		t.Logf("halt stamp to receipt, %d workers on the %s: median %s, max %s", len(d), where, d[len(d)/2].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
	}
	if _, err := exp.Resume(hctx, &murphyv1.ResumeRequest{}); err != nil {
		t.Fatal(err)
	}
}

// relayOnce opens a relay to addr holding role/name's certificate, as node via, attaches
// worker and returns the leader's first frame for it.
func relayOnce(ctx context.Context, t *testing.T, addr, role, name, via, worker string) (*murphyv1.RelayDown, error) {
	t.Helper()
	cc, err := grpc.NewClient(addr, tlsDial(t, role, name))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	rctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "murphy-forwarded-by", via))
	defer cancel()
	st, err := murphyv1.NewClusterServiceClient(cc).Relay(rctx)
	if err != nil {
		return nil, err
	}
	hello := &murphyv1.Hello{WorkerId: worker, Labels: map[string]string{"region": "r", "datacenter": "d"}}
	if err := st.Send(&murphyv1.RelayRequest{Frames: []*murphyv1.RelayUp{{Stream: 7, Msg: &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: hello}}}}}); err != nil {
		return nil, err
	}
	m, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if len(m.Frames) == 0 {
		return nil, fmt.Errorf("an empty batch")
	}
	return m.Frames[0], nil
}

// TestOnlyCoordinatorsRelay: the leader serves a relay opened with a coordinator's
// certificate (the worker it attaches is welcomed, on the stream the follower named) and
// refuses one opened with a worker's or a person's, which attaches nothing.
func TestOnlyCoordinatorsRelay(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader()
	for _, tc := range []struct {
		role, name, worker string
		code               codes.Code
	}{
		{tlsutil.RoleWorker, "wx", "wx", codes.PermissionDenied},
		{tlsutil.RoleAdmin, "test-admin", "wy", codes.PermissionDenied},
		{tlsutil.RoleCoordinator, "n9", "wz", codes.OK},
	} {
		t.Run(tc.role, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f, err := relayOnce(ctx, t, c.nodes[l].GRPCAddr(), tc.role, tc.name, "n9", tc.worker)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("relay as %s: %v, want %s", tc.role, err, tc.code)
			}
			if err == nil && (f.Stream != 7 || f.Msg.GetWelcome() == nil) {
				t.Fatalf("first frame %v, want a welcome on stream 7", f)
			}
			if known := c.nodes[l].FSM().Worker(tc.worker) != nil; known != (tc.code == codes.OK) {
				t.Errorf("worker %s registered: %v", tc.worker, known)
			}
		})
	}
}
