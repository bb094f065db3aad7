package coordinator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
)

// nodeWorker is a node's worker spoken by the test over the real protocol: it offers its
// pods, acknowledges assignments, reverts and halts as a worker does, and probes each
// unit it is given, a unit answering slowly while a fault it holds is in force. It keeps
// everything the cluster sent, for the test to check.
type nodeWorker struct {
	id     string
	region string
	pods   []*murphyv1.Target
	stream murphyv1.WorkerService_ConnectClient

	mu      sync.Mutex
	sendMu  sync.Mutex
	assigns []*murphyv1.Assign
	active  map[string]*murphyv1.Assign // assignment ID -> the fault in force
	probing map[string][]*murphyv1.Target
	halts   int
	seq     map[string]uint64
}

func podTarget(node, region, name, addr string) *murphyv1.Target {
	return &murphyv1.Target{Id: "pod/shop/" + name, Uid: "uid-" + name, Address: addr, Labels: map[string]string{
		"app": "checkout", "namespace": "shop", "pod": name, "workload": "deployment/checkout",
		"node": node, "region": region, "datacenter": region + "-a"}}
}

// startNodeWorker connects a node's worker offering pods to addr.
func startNodeWorker(t *testing.T, addr, id, region string, pods ...*murphyv1.Target) *nodeWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	conn, err := grpc.NewClient(addr, workerDial(t, id)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Redirected: the test picks the node, so the cluster must not move the worker.
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(metadata.AppendToOutgoingContext(ctx, worker.MetadataRedirected, "true"))
	if err != nil {
		t.Fatal(err)
	}
	w := &nodeWorker{id: id, region: region, pods: pods, stream: stream,
		active: map[string]*murphyv1.Assign{}, probing: map[string][]*murphyv1.Target{}, seq: map[string]uint64{}}
	hello := &murphyv1.Hello{WorkerId: id, Labels: map[string]string{"region": region, "datacenter": region + "-a", "host": id},
		Capabilities: []string{"process.kill"}, Targets: pods}
	w.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: hello}})
	if m, err := stream.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("%s: want a welcome, got %v, %v", id, m, err)
	}
	go w.receive()
	go w.beat(ctx)
	return w
}

func (w *nodeWorker) send(m *murphyv1.ConnectRequest) {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	_ = w.stream.Send(m)
}

func (w *nodeWorker) status(a *murphyv1.Assign, state murphyv1.FaultState, cause murphyv1.RevertCause) {
	w.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: &murphyv1.StepStatus{
		AssignmentId: a.AssignmentId, RunId: a.RunId, Step: a.Step, State: state, At: timestamppb.Now(), Cause: cause,
	}}})
}

func (w *nodeWorker) receive() {
	for {
		m, err := w.stream.Recv()
		if err != nil {
			return
		}
		w.mu.Lock()
		switch x := m.Msg.(type) {
		case *murphyv1.ConnectResponse_Assign:
			a := x.Assign
			w.assigns = append(w.assigns, a)
			if _, held := w.active[a.AssignmentId]; !held {
				w.active[a.AssignmentId] = a
				w.status(a, murphyv1.FaultState_FAULT_STATE_INJECTED, 0)
			}
		case *murphyv1.ConnectResponse_Revert:
			for id, a := range w.active {
				if a.RunId == x.Revert.RunId && (len(x.Revert.AssignmentIds) == 0 || slices.Contains(x.Revert.AssignmentIds, id)) {
					delete(w.active, id)
					w.status(a, murphyv1.FaultState_FAULT_STATE_REVERTED, x.Revert.Cause)
				}
			}
		case *murphyv1.ConnectResponse_Halt:
			w.halts++
			var reverted []string
			for id, a := range w.active {
				if x.Halt.RunId == "" || a.RunId == x.Halt.RunId {
					delete(w.active, id)
					reverted = append(reverted, id)
				}
			}
			w.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: &murphyv1.HaltAck{RunId: x.Halt.RunId, Reverted: reverted, At: timestamppb.Now()}}})
		case *murphyv1.ConnectResponse_StartProbes:
			w.probing[x.StartProbes.RunId] = x.StartProbes.Units
		case *murphyv1.ConnectResponse_StopProbes:
			delete(w.probing, x.StopProbes.RunId)
		}
		w.mu.Unlock()
	}
}

// beat heartbeats and, every 50 ms, sends a latency sample for each unit it probes: about
// 10 ms, or 50 ms while the unit holds a fault.
func (w *nodeWorker) beat(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for n := uint64(0); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n%6 == 0 {
			w.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{Seq: n}}})
		}
		w.mu.Lock()
		var out []*murphyv1.Samples
		for run, units := range w.probing {
			for _, u := range units {
				// Each pod has a level of its own, and the fault slows each by its own
				// factor, so the pods' changes vary a little, as real ones do (identical
				// changes leave the target-level interval undefined).
				d := float64(u.Id[len(u.Id)-1] - '0')
				v := 0.010*(1+0.02*d) + float64(n%3)*0.0001
				for id := range w.active {
					if strings.HasSuffix(id, "/"+u.Id) {
						v = 0.050*(1+0.05*d) + float64(n%3)*0.0001
					}
				}
				key := run + "|" + u.Id
				out = append(out, &murphyv1.Samples{RunId: run, Metric: "latency", Unit: u.Id,
					Samples: []*murphyv1.Sample{{Seq: w.seq[key], At: timestamppb.Now(), Value: v, Ok: true}}})
				w.seq[key]++
			}
		}
		w.mu.Unlock()
		for _, s := range out {
			w.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Samples{Samples: s}})
		}
	}
}

func (w *nodeWorker) snapshot() (assigns []*murphyv1.Assign, probing map[string][]*murphyv1.Target, halts int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	probing = map[string][]*murphyv1.Target{}
	for k, v := range w.probing {
		probing[k] = v
	}
	return slices.Clone(w.assigns), probing, w.halts
}

// checkoutPods names n checkout pods on a node, prefix a or b, addressed 10.<net>.0.i+1.
func checkoutPods(node, prefix string, net, n int) []*murphyv1.Target {
	var out []*murphyv1.Target
	for i := range n {
		out = append(out, podTarget(node, "r1", fmt.Sprintf("checkout-%s%d", prefix, i), fmt.Sprintf("10.%d.0.%d", net, i+1)))
	}
	return out
}

// waitTargets waits until the leader's registrations name n targets in all.
func waitTargets(t *testing.T, s *coordinator.Server, n int) {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("%d pods registered", n), func() bool {
		got := 0
		for _, w := range s.FSM().Workers() {
			got += len(w.Targets)
		}
		return got == n
	})
}

const podSpec = `apiVersion: murphy/v1
name: pods
targets:
  kubernetes: {namespaces: [shop], workload: deployment/checkout}
  experiment: {count: 2}
  seed: 7
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: "http://{{target}}:8080/health", interval: 50ms}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.10}
baseline: 2s
steps:
  - fault: process.kill
    params: {name: checkout}
    duration: %s
`

// TestPodsAsUnits: a run of pods on two nodes' workers, one attached to the leader and one
// to a follower. The groups are pods, split node by node; each pod's worker and address
// are recorded; each worker probes exactly its own pods at their addresses and is sent
// the fault once per experimental pod of its own, aimed at that pod; samples and
// acknowledgements come back per pod, the verdict judges per pod, and a worker cannot
// report for a pod that is not its own.
func TestPodsAsUnits(t *testing.T) {
	c := startCluster(t, 3)
	leader, follower := c.nodes[c.leader()], c.nodes[c.follower()]
	aPods, bPods := checkoutPods("node-a", "a", 1, 3), checkoutPods("node-b", "b", 2, 3)
	// A pod of another workload and another namespace: offered, never selected.
	other := podTarget("node-a", "r1", "cart-0", "10.1.0.9")
	other.Labels["workload"] = "deployment/cart"
	elsewhere := podTarget("node-b", "r1", "checkout-x", "10.2.0.9")
	elsewhere.Id, elsewhere.Labels["namespace"] = "pod/staging/checkout-x", "staging"
	a := startNodeWorker(t, leader.GRPCAddr(), "node-a", "r1", append(slices.Clone(aPods), other)...)
	b := startNodeWorker(t, follower.GRPCAddr(), "node-b", "r1", append(slices.Clone(bPods), elsewhere)...)
	waitTargets(t, leader, 8)

	id := submit(t, follower.GRPCAddr(), fmt.Sprintf(podSpec, "2s"))
	run := waitPhase(t, c, id, 10*time.Second, murphyv1.RunPhase_RUN_PHASE_INJECTING)
	g := run.Groups
	if len(g.Experiment) != 2 || len(g.Control) != 2 {
		t.Fatalf("groups %v", g)
	}
	owner := map[string]*nodeWorker{}
	for _, p := range aPods {
		owner[p.Id] = a
	}
	for _, p := range bPods {
		owner[p.Id] = b
	}
	nodesOf := func(units []string) map[string]int {
		out := map[string]int{}
		for _, u := range units {
			w := owner[u]
			if w == nil {
				t.Fatalf("unit %s is not a selected pod", u)
			}
			if g.Workers[u] != w.id {
				t.Errorf("unit %s recorded on %q, offered by %s", u, g.Workers[u], w.id)
			}
			out[w.id]++
		}
		return out
	}
	// Stratified by node: each node gives one pod to each group.
	if got := nodesOf(g.Experiment); got["node-a"] != 1 || got["node-b"] != 1 {
		t.Errorf("experimental pods by node %v, want one per node", got)
	}
	if got := nodesOf(g.Control); got["node-a"] != 1 || got["node-b"] != 1 {
		t.Errorf("control pods by node %v, want one per node", got)
	}
	for _, u := range append(slices.Clone(g.Experiment), g.Control...) {
		var addr string
		for _, p := range owner[u].pods {
			if p.Id == u {
				addr = p.Address
			}
		}
		if g.Addresses[u] != addr {
			t.Errorf("unit %s address %q, want %q", u, g.Addresses[u], addr)
		}
	}

	waitUntil(t, 10*time.Second, "both experimental pods injected", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	for _, w := range []*nodeWorker{a, b} {
		assigns, probing, _ := w.snapshot()
		// Probes: exactly this worker's pods of the run, with their addresses.
		var probed []string
		for _, u := range probing[id] {
			probed = append(probed, u.Id)
			if u.Address != g.Addresses[u.Id] {
				t.Errorf("%s probes %s at %q, recorded %q", w.id, u.Id, u.Address, g.Addresses[u.Id])
			}
		}
		var want []string
		for _, u := range append(slices.Clone(g.Experiment), g.Control...) {
			if g.Workers[u] == w.id {
				want = append(want, u)
			}
		}
		slices.Sort(probed)
		slices.Sort(want)
		if !slices.Equal(probed, want) {
			t.Errorf("%s probes %v, want its own units %v", w.id, probed, want)
		}
		// Faults: one assignment per experimental pod of its own, aimed at that pod.
		seen := map[string]bool{}
		for _, as := range assigns {
			unit := "pod/" + as.Fault.Params["pod"]
			if !strings.HasSuffix(as.AssignmentId, "/"+unit) || g.Workers[unit] != w.id || !slices.Contains(g.Experiment, unit) {
				t.Errorf("%s was sent %s with pod %q", w.id, as.AssignmentId, as.Fault.Params["pod"])
			}
			if as.Fault.Kind != "process.kill" || as.Fault.Params["name"] != "checkout" {
				t.Errorf("%s was sent fault %v", w.id, as.Fault)
			}
			seen[unit] = true
		}
		if len(seen) != 1 {
			t.Errorf("%s was sent faults for %v, want its one experimental pod", w.id, seen)
		}
	}

	// A worker reporting for a pod of the other node is refused: the samples never reach
	// the verdict, and the status never reaches the record.
	foreign := g.Experiment[0]
	liar := a
	if g.Workers[foreign] == a.id {
		liar = b
	}
	lies := &murphyv1.Samples{RunId: id, Metric: "latency", Unit: foreign}
	for i := range 40 {
		lies.Samples = append(lies.Samples, &murphyv1.Sample{Seq: 1<<40 + uint64(i), At: timestamppb.Now(), Value: 99, Ok: true})
	}
	liar.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Samples{Samples: lies}})
	liar.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: &murphyv1.StepStatus{
		AssignmentId: id + "/0/" + foreign, RunId: id, State: murphyv1.FaultState_FAULT_STATE_FAILED, At: timestamppb.Now(), Error: "lie"}}})

	run = waitPhase(t, c, id, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	if len(run.Steps[0].Failed) != 0 {
		t.Errorf("failed units %v: a foreign status reached the record", run.Steps[0].Failed)
	}
	for _, st := range run.Steps {
		for _, win := range st.Windows {
			if !slices.Contains(g.Experiment, win.WorkerId) || win.InjectedAt == nil || win.RevertedAt == nil {
				t.Errorf("window %v: want a whole window of an experimental pod", win)
			}
		}
	}
	v := run.Verdict
	if v.GetOutcome() != murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED {
		t.Fatalf("verdict %v, want refuted: the experimental pods were 5x slower", v)
	}
	m := v.Metrics[0]
	if m.ExperimentMedian > 0.09 || m.ExperimentMedian < 0.045 {
		t.Errorf("experimental median %v: a foreign sample (99) or no fault reached it", m.ExperimentMedian)
	}
	// The verdict's units are the pods, each judged on its own worker's samples only.
	var units []string
	for _, ts := range m.GetTargets() {
		units = append(units, ts.Id)
		if ts.Window > 0.2 || ts.NWindow < 10 {
			t.Errorf("pod %s: window level %v from %d samples; want its own worker's ~10-60 ms", ts.Id, ts.Window, ts.NWindow)
		}
	}
	slices.Sort(units)
	want := append(slices.Clone(g.Experiment), g.Control...)
	slices.Sort(want)
	if !slices.Equal(units, want) {
		t.Errorf("verdict's targets %v, want the pods %v", units, want)
	}
	for _, w := range []*nodeWorker{a, b} {
		w.mu.Lock()
		if len(w.active) != 0 {
			t.Errorf("%s still holds %v after the run", w.id, w.active)
		}
		w.mu.Unlock()
	}
}

// TestPodRunHalts: a halted run of pods sends its halt once to each node's worker,
// whatever the number of its pods there, and is acknowledged once per worker.
func TestPodRunHalts(t *testing.T) {
	c := startCluster(t, 3)
	leader, follower := c.nodes[c.leader()], c.nodes[c.follower()]
	aPods, bPods := checkoutPods("node-a", "a", 1, 4), checkoutPods("node-b", "b", 2, 4)
	a := startNodeWorker(t, leader.GRPCAddr(), "node-a", "r1", aPods...)
	b := startNodeWorker(t, follower.GRPCAddr(), "node-b", "r1", bPods...)
	waitTargets(t, leader, 8)
	spec := strings.Replace(fmt.Sprintf(podSpec, "30s"), "experiment: {count: 2}", "experiment: {count: 4}", 1)
	id := submit(t, leader.GRPCAddr(), spec)
	waitUntil(t, 15*time.Second, "four experimental pods injected", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 4
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := murphyv1.NewExperimentServiceClient(clientConn(t, follower.GRPCAddr())).Halt(ctx, &murphyv1.HaltRequest{RunId: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "both workers' reverts recorded", func() bool {
		r := c.run(id)
		return r != nil && len(r.Halt.GetReverts()) == 2
	})
	r := c.run(id)
	var by []string
	for _, rv := range r.Halt.Reverts {
		by = append(by, rv.WorkerId)
	}
	slices.Sort(by)
	if !slices.Equal(by, []string{"node-a", "node-b"}) {
		t.Errorf("reverts recorded for %v, want each node's worker once", by)
	}
	for _, w := range []*nodeWorker{a, b} {
		w.mu.Lock()
		if len(w.active) != 0 {
			t.Errorf("%s still holds %d faults after the halt", w.id, len(w.active))
		}
		w.mu.Unlock()
	}
	// Every node's record agrees.
	waitUntil(t, 5*time.Second, "the halt's reverts on every node", func() bool {
		for _, s := range c.nodes {
			if r := s.FSM().Run(id); r == nil || !proto.Equal(r.Halt, c.run(id).Halt) {
				return false
			}
		}
		return true
	})
}
