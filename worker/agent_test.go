package worker

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/internal/spawn"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/journal"
)

// The spawner that forks burners lives as long as the process, by design.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(spawn.Spawner)) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeCoord is a coordinator node reduced to the worker stream, on a real gRPC server.
type fakeCoord struct {
	murphyv1.UnimplementedWorkerServiceServer
	addr       string
	srv        *grpc.Server
	lease, hb  time.Duration
	redirectTo atomic.Pointer[string]
	// hung makes the node accept streams and say nothing, like a wedged coordinator.
	hung atomic.Bool
	push chan *murphyv1.ConnectResponse

	mu   sync.Mutex
	msgs []*murphyv1.ConnectRequest
}

func startFake(t *testing.T, addr string) *fakeCoord {
	t.Helper()
	var ln net.Listener
	var err error
	eventually(t, "listen on "+addr, func() bool { ln, err = net.Listen("tcp", addr); return err == nil })
	f := &fakeCoord{addr: ln.Addr().String(), srv: grpc.NewServer(), lease: 5 * time.Second, hb: 50 * time.Millisecond,
		push: make(chan *murphyv1.ConnectResponse, 16)}
	murphyv1.RegisterWorkerServiceServer(f.srv, f)
	go f.srv.Serve(ln)
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *fakeCoord) Connect(stream murphyv1.WorkerService_ConnectServer) error {
	in := make(chan *murphyv1.ConnectRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
			select {
			case in <- m:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	welcomed := false
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case err := <-errc:
			return err
		case m := <-in:
			if f.hung.Load() {
				continue
			}
			switch {
			case m.GetHello() != nil:
				if to := f.redirectTo.Load(); to != nil {
					return stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Redirect{
						Redirect: &murphyv1.Redirect{LeaderId: "leader", LeaderAddr: *to}}})
				}
				welcomed = true
				if err := stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Welcome{Welcome: &murphyv1.Welcome{
					NodeId: "fake", Lease: durationpb.New(f.lease), HeartbeatInterval: durationpb.New(f.hb)}}}); err != nil {
					return err
				}
			case m.GetHeartbeat() != nil:
				if err := stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_HeartbeatAck{
					HeartbeatAck: &murphyv1.HeartbeatAck{Seq: m.GetHeartbeat().GetSeq()}}}); err != nil {
					return err
				}
			}
		case r := <-f.push:
			if !welcomed {
				f.push <- r
				continue
			}
			if err := stream.Send(r); err != nil {
				return err
			}
		}
	}
}

func (f *fakeCoord) received() []*murphyv1.ConnectRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

func (f *fakeCoord) count(pred func(*murphyv1.ConnectRequest) bool) int {
	n := 0
	for _, m := range f.received() {
		if pred(m) {
			n++
		}
	}
	return n
}

func (f *fakeCoord) await(t *testing.T, what string, pred func(*murphyv1.ConnectRequest) bool) *murphyv1.ConnectRequest {
	t.Helper()
	var got *murphyv1.ConnectRequest
	eventually(t, what, func() bool {
		for _, m := range f.received() {
			if pred(m) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

func isStatus(id string, state murphyv1.FaultState, cause murphyv1.RevertCause) func(*murphyv1.ConnectRequest) bool {
	return func(m *murphyv1.ConnectRequest) bool {
		st := m.GetStepStatus()
		return st != nil && st.AssignmentId == id && st.State == state && cause == st.Cause
	}
}

func isHello(m *murphyv1.ConnectRequest) bool     { return m.GetHello() != nil }
func isHeartbeat(m *murphyv1.ConnectRequest) bool { return m.GetHeartbeat() != nil }

func assign(id, run string, deadline time.Duration, kind string, params map[string]string) *murphyv1.ConnectResponse {
	a := &murphyv1.Assign{AssignmentId: id, RunId: run, Fault: &murphyv1.FaultSpec{Kind: kind, Params: params}}
	if deadline != 0 {
		a.Deadline = timestamppb.New(time.Now().Add(deadline))
	}
	return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Assign{Assign: a}}
}

var abort503 = map[string]string{"status": "503"}

type env struct {
	agent   *Agent
	dir     string
	proxy   string
	cancel  context.CancelFunc
	stopped chan error
}

func startUpstream(t *testing.T) string {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	return up.URL
}

func startAgent(t *testing.T, coords []string, mod func(*Config)) *env {
	t.Helper()
	cfg := Config{
		ID: "w1", Labels: map[string]string{"region": "eu-west", "datacenter": "dc1", "host": "h1"},
		Coordinators: coords, DataDir: t.TempDir(),
		Proxies:    []ProxyConfig{{Listen: "127.0.0.1:0", Upstream: startUpstream(t)}},
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		// No Docker engine nor CRI runtime: these tests see only the HTTP kinds (the
		// container family is tested in executors_container_test.go and
		// worker/fault/container).
		DockerHost: "unix:///nonexistent/murphy-test/docker.sock",
		CRISocket:  "unix:///nonexistent/murphy-test/containerd.sock",
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{agent: a, dir: cfg.DataDir, cancel: cancel, stopped: make(chan error, 1)}
	if addrs := a.ProxyAddrs(); len(addrs) > 0 {
		e.proxy = addrs[0]
	}
	go func() { e.stopped <- a.Run(ctx) }()
	t.Cleanup(func() { e.stop(t) })
	return e
}

func (e *env) stop(t *testing.T) {
	t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	if err := <-e.stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func (e *env) status(t *testing.T) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + e.proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAgentHelloAssignDeadline(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	e := startAgent(t, []string{f.addr}, nil)

	h := f.await(t, "hello", isHello).GetHello()
	if h.WorkerId != "w1" || h.Labels["region"] != "eu-west" || !slices.Contains(h.Capabilities, "http.abort") || !slices.Contains(h.Capabilities, "http.delay") {
		t.Fatalf("hello %v", h)
	}
	eventually(t, "heartbeats", func() bool { return f.count(isHeartbeat) >= 3 })

	a1 := assign("a1", "r1", 400*time.Millisecond, "http.abort", abort503)
	f.push <- a1
	injected := isStatus("a1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0)
	f.await(t, "a1 injected", injected)
	if got := e.status(t); got != 503 {
		t.Fatalf("status through the proxy with abort active: %d", got)
	}
	f.push <- a1 // resent, as a new leader would: acknowledged, not stacked
	eventually(t, "second injected ack", func() bool { return f.count(injected) == 2 })

	reverted := isStatus("a1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_DEADLINE)
	f.await(t, "a1 reverted at its deadline", reverted)
	if got := e.status(t); got != 200 {
		t.Fatalf("status after the deadline: %d", got)
	}
	f.push <- a1 // after its revert: answered with the final status, never injected again
	eventually(t, "final status resent", func() bool { return f.count(reverted) == 2 })
	if n := f.count(injected); n != 2 {
		t.Fatalf("assignment injected again after its revert (%d injected acks)", n)
	}

	f.push <- assign("a2", "r1", time.Minute, "http.delay", map[string]string{"delay": "1ms"})
	f.await(t, "a2 injected", isStatus("a2", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	e.stop(t) // Run reverts everything on return
	j, err := journal.Open(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if left, _ := j.List(); len(left) != 0 {
		t.Fatalf("journal after Run returned: %v", left)
	}
}

func TestAgentAssignFailures(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	startAgent(t, []string{f.addr}, func(c *Config) { c.Policy = fault.Policy{Denied: []string{"http.delay"}} })
	h := f.await(t, "hello", isHello).GetHello()
	if slices.Contains(h.Capabilities, "http.delay") || !slices.Contains(h.Capabilities, "http.abort") {
		t.Fatalf("capabilities %v must leave out the denied kind", h.Capabilities)
	}
	tests := []struct {
		name string
		msg  *murphyv1.ConnectResponse
		want string
	}{
		{"unknown kind", assign("f1", "r", time.Minute, "http.dealy", nil), `unknown fault kind "http.dealy" (known: `},
		{"bad param", assign("f2", "r", time.Minute, "http.abort", map[string]string{"status": "abc"}), `http.abort: params.status: "abc" is not an integer`},
		{"policy", assign("f3", "r", time.Minute, "http.delay", map[string]string{"delay": "1s"}), "denied by this worker's policy"},
		{"no deadline", assign("f4", "r", 0, "http.abort", abort503), "neither a deadline nor a duration"},
		{"deadline passed", assign("f5", "r", -time.Second, "http.abort", abort503), "already passed"},
		{"unknown proxy", assign("f6", "r", time.Minute, "http.abort", map[string]string{"status": "503", "proxy": "10.9.9.9:1"}), "no proxy of this worker listens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.push <- tt.msg
			id := tt.msg.GetAssign().AssignmentId
			st := f.await(t, id+" failed", isStatus(id, murphyv1.FaultState_FAULT_STATE_FAILED, 0)).GetStepStatus()
			if !strings.Contains(st.Error, tt.want) {
				t.Fatalf("error %q, want %q", st.Error, tt.want)
			}
		})
	}
}

func TestAgentRevertHaltAndProbes(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	e := startAgent(t, []string{f.addr}, nil)
	for _, a := range []struct{ id, run string }{{"a1", "r1"}, {"a2", "r1"}, {"b1", "r2"}} {
		f.push <- assign(a.id, a.run, time.Minute, "http.abort", abort503)
		f.await(t, a.id+" injected", isStatus(a.id, murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	}
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{
		RunId: "r1", Probes: []*murphyv1.Probe{{Metric: "ok", Measure: "success", Interval: durationpb.New(20 * time.Millisecond),
			Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/"}}}}}}}
	f.await(t, "samples of r1", func(m *murphyv1.ConnectRequest) bool {
		s := m.GetSamples()
		// The probe goes through the worker's own proxy, where aborts are active.
		return s != nil && s.RunId == "r1" && s.Metric == "ok" && len(s.Samples) > 0 && s.Samples[0].Value == 0
	})

	completed := murphyv1.RevertCause_REVERT_CAUSE_COMPLETED
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{
		RunId: "r1", AssignmentIds: []string{"a1", "never-assigned"}, Cause: completed}}}
	f.await(t, "a1 reverted", isStatus("a1", murphyv1.FaultState_FAULT_STATE_REVERTED, completed))
	f.await(t, "unknown id acknowledged", isStatus("never-assigned", murphyv1.FaultState_FAULT_STATE_REVERTED, completed))

	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{Reason: "guardrail"}}}
	ack := f.await(t, "halt ack", func(m *murphyv1.ConnectRequest) bool { return m.GetHaltAck() != nil }).GetHaltAck()
	if ack.RunId != "" || !slices.Equal(ack.Reverted, []string{"a2", "b1"}) {
		t.Fatalf("halt ack %v", ack)
	}
	halt := murphyv1.RevertCause_REVERT_CAUSE_HALT
	f.await(t, "a2 reverted by halt", isStatus("a2", murphyv1.FaultState_FAULT_STATE_REVERTED, halt))
	f.await(t, "b1 reverted by halt", isStatus("b1", murphyv1.FaultState_FAULT_STATE_REVERTED, halt))
	if got := e.status(t); got != 200 {
		t.Fatalf("status after halt: %d", got)
	}
	// Probes stopped by the halt: the sample count settles.
	last := func() uint64 {
		var n uint64
		for _, m := range f.received() {
			for _, s := range m.GetSamples().GetSamples() {
				n = max(n, s.Seq)
			}
		}
		return n
	}
	prev := last()
	eventually(t, "probes to stop", func() bool {
		time.Sleep(3 * SampleFlushInterval)
		cur := last()
		defer func() { prev = cur }()
		return cur == prev
	})
}

func TestAgentDeadmanSwitch(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	f.lease = 300 * time.Millisecond
	e := startAgent(t, []string{f.addr}, nil)
	f.push <- assign("a1", "r1", time.Minute, "http.abort", abort503)
	f.await(t, "a1 injected", isStatus("a1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	if got := e.status(t); got != 503 {
		t.Fatalf("status with abort active: %d", got)
	}
	hellos := f.count(isHello)
	f.hung.Store(true)
	eventually(t, "dead-man's switch to revert", func() bool { return e.status(t) == 200 })
	f.hung.Store(false)
	f.await(t, "deadman revert reported after reconnecting",
		isStatus("a1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_DEADMAN))
	// The worker gives up on the silent stream and says hello again, without the fault.
	eventually(t, "a new hello", func() bool { return f.count(isHello) > hellos })
	var h *murphyv1.Hello
	for _, m := range f.received() {
		if m.GetHello() != nil {
			h = m.GetHello()
		}
	}
	if len(h.ActiveFaults) != 0 {
		t.Fatalf("hello after the dead-man's switch reports %v", h.ActiveFaults)
	}
}

func TestAgentFollowsRedirect(t *testing.T) {
	leader := startFake(t, "127.0.0.1:0")
	follower := startFake(t, "127.0.0.1:0")
	follower.redirectTo.Store(&leader.addr)
	startAgent(t, []string{follower.addr}, nil)
	follower.await(t, "hello at the follower", isHello)
	leader.await(t, "hello at the leader", isHello)
	eventually(t, "heartbeats at the leader", func() bool { return leader.count(isHeartbeat) >= 2 })
	if n := follower.count(isHeartbeat); n != 0 {
		t.Fatalf("%d heartbeats sent to a follower", n)
	}
}

func TestAgentNoLeaderRotates(t *testing.T) {
	empty := ""
	lost := startFake(t, "127.0.0.1:0")
	lost.redirectTo.Store(&empty) // a follower that knows no leader
	good := startFake(t, "127.0.0.1:0")
	startAgent(t, []string{lost.addr, good.addr}, nil)
	eventually(t, "heartbeats at the second coordinator", func() bool { return good.count(isHeartbeat) >= 2 })
}

func TestAgentReconnectReplaysSamples(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	e := startAgent(t, []string{f.addr}, nil)
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{
		RunId: "r1", Until: timestamppb.New(time.Now().Add(time.Minute)),
		Probes: []*murphyv1.Probe{{Metric: "lat", Interval: durationpb.New(20 * time.Millisecond),
			Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/"}}}}}}}
	hasSeq := func(seq uint64) func(*murphyv1.ConnectRequest) bool {
		return func(m *murphyv1.ConnectRequest) bool {
			return slices.ContainsFunc(m.GetSamples().GetSamples(), func(s *murphyv1.Sample) bool { return s.Seq == seq })
		}
	}
	f.await(t, "sample 5", hasSeq(5))

	f.srv.Stop() // the coordinator restarts on the same address
	f2 := startFake(t, f.addr)
	h := f2.await(t, "hello after restart", isHello).GetHello()
	if !slices.Equal(h.ProbingRuns, []string{"r1"}) {
		t.Fatalf("probing runs %v", h.ProbingRuns)
	}
	f2.await(t, "sample 1 replayed", hasSeq(1))
	f2.await(t, "new samples", hasSeq(10))
	msgs := f2.received()
	if msgs[0].GetHello() == nil {
		t.Fatalf("first message after reconnect is %T, want hello", msgs[0].GetMsg())
	}

	f2.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StopProbes{StopProbes: &murphyv1.StopProbes{RunId: "r1"}}}
	eventually(t, "the run's buffer to be dropped", func() bool {
		e.agent.mu.Lock()
		defer e.agent.mu.Unlock()
		return len(e.agent.runs) == 0
	})
}

// TestAgentReplaysOnWelcome: a welcome on an open stream (the node that holds the stream
// now relays it to a new leader) makes the worker send its samples again, on the same
// stream.
func TestAgentReplaysOnWelcome(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	startAgent(t, []string{f.addr}, nil)
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{
		RunId: "r1", Until: timestamppb.New(time.Now().Add(time.Minute)),
		Probes: []*murphyv1.Probe{{Metric: "lat", Interval: durationpb.New(20 * time.Millisecond),
			Kind: &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{Url: "http://{{proxy}}/"}}}}}}}
	first := func(m *murphyv1.ConnectRequest) bool {
		return slices.ContainsFunc(m.GetSamples().GetSamples(), func(s *murphyv1.Sample) bool { return s.Seq == 1 })
	}
	f.await(t, "sample 1", first)
	if n := f.count(first); n != 1 {
		t.Fatalf("sample 1 sent %d times before the welcome", n)
	}
	f.push <- &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Welcome{Welcome: &murphyv1.Welcome{NodeId: "relay"}}}
	eventually(t, "sample 1 sent again after the welcome", func() bool { return f.count(first) >= 2 })
	if n := f.count(isHello); n != 1 {
		t.Errorf("%d hellos: the worker reconnected instead of replaying on its stream", n)
	}
}

func TestAgentRevertsJournalAtStartup(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// What a worker that crashed with a fault applied leaves behind.
	err = j.Put(&murphyv1.ActiveFault{AssignmentId: "old-1", RunId: "r0", Step: 1,
		Fault:      &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "1s"}},
		InjectedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()

	f := startFake(t, "127.0.0.1:0")
	e := startAgent(t, []string{f.addr}, func(c *Config) { c.DataDir = dir })
	h := f.await(t, "hello", isHello).GetHello()
	if len(h.ActiveFaults) != 0 {
		t.Fatalf("leftover reported as active: %v", h.ActiveFaults)
	}
	st := f.await(t, "startup revert reported",
		isStatus("old-1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_STARTUP)).GetStepStatus()
	if st.RunId != "r0" || st.Step != 1 {
		t.Fatalf("status %v", st)
	}
	e.stop(t)
	j, err = journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if left, _ := j.List(); len(left) != 0 {
		t.Fatalf("journal still holds %v", left)
	}
}

func TestParseProxyFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    ProxyConfig
		wantErr string
	}{
		{"listen=127.0.0.1:18080,upstream=http://127.0.0.1:9000", ProxyConfig{"127.0.0.1:18080", "http://127.0.0.1:9000"}, ""},
		{"upstream=http://svc:80, listen=:18080", ProxyConfig{":18080", "http://svc:80"}, ""},
		{"listen=127.0.0.1:18080", ProxyConfig{}, "both listen and upstream are required"},
		{"listen=127.0.0.1:18080,upstream=https://x:443", ProxyConfig{}, "scheme must be http"},
		{"listen=nope,upstream=http://x:1", ProxyConfig{}, "listen"},
		{"lisen=:1,upstream=http://x:1", ProxyConfig{}, `unknown key "lisen"`},
		{"garbage", ProxyConfig{}, "is not key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseProxyFlag(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{})
	for _, want := range []string{"worker id is required", "coordinator address", "data dir"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(empty): %v, want %q", err, want)
		}
	}
}
