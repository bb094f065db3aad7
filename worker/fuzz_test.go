package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// recorder stands in for every executor of a fuzzed agent: it keeps the real executor's
// validation and description but records an inject instead of carrying it out, so the
// fuzzer can neither break the host nor hide a refused fault.
type recorder struct {
	fault.Executor
	mu       *sync.Mutex
	injected *[]fault.Fault
}

func (r recorder) Inject(_ context.Context, f fault.Fault) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.injected = append(*r.injected, f)
	return nil
}

func (r recorder) Revert(context.Context, fault.Fault) error { return nil }

// fuzzPolicy allows two harmless kinds and one that is also denied (deny wins); exec,
// the process, network, stress and container families are all refused.
var fuzzPolicy = fault.Policy{
	Allowed:     []string{"http.delay", "http.abort", "process.kill"},
	Denied:      []string{"process.kill"},
	MaxDuration: time.Minute,
}

// FuzzAssignment feeds arbitrary coordinator messages to a worker's handling (Assign,
// Revert, HaltOrder, StartProbes, StopProbes, anything else): it must never panic, never
// inject a kind its policy refuses, never keep a fault past the policy's cap, and never
// start a command probe the policy does not allow.
func FuzzAssignment(f *testing.F) {
	a, err := New(Config{
		ID: "fuzz", Coordinators: []string{"127.0.0.1:1"}, DataDir: f.TempDir(),
		Labels:  map[string]string{"region": "r", "datacenter": "d"},
		Proxies: []ProxyConfig{{Listen: "127.0.0.1:0", Upstream: "http://127.0.0.1:1"}},
		Policy:  fuzzPolicy,
	})
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	var injected []fault.Fault
	var execs []fault.Executor
	for _, k := range a.reg.Kinds() {
		e, _ := a.reg.Get(k)
		execs = append(execs, recorder{Executor: e, mu: &mu, injected: &injected})
	}
	if a.reg, err = fault.NewRegistry(execs...); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.shutdown(); a.Close() })

	in := time.Now().Add(30 * time.Second)
	assign := func(id, kind string, params map[string]string, deadline time.Time) *murphyv1.ConnectResponse {
		return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Assign{Assign: &murphyv1.Assign{
			AssignmentId: id, RunId: "r", Fault: &murphyv1.FaultSpec{Kind: kind, Params: params, Duration: durationpb.New(time.Second)},
			Deadline: timestamppb.New(deadline),
		}}}
	}
	for _, m := range []*murphyv1.ConnectResponse{
		assign("r/0/fuzz", "http.delay", map[string]string{"delay": "20ms"}, in),
		assign("r/1/fuzz", "http.abort", map[string]string{"status": "503"}, in.Add(24*time.Hour)),
		assign("r/2/fuzz", "process.kill", map[string]string{"name": "sshd"}, in),
		assign("r/3/fuzz", "exec", map[string]string{"inject": "touch /tmp/x", "revert": "true"}, in),
		assign("r/4/fuzz", "network.partition", map[string]string{"cidrs": "0.0.0.0/0"}, in),
		assign("r/5/fuzz", "stress.memory", map[string]string{"bytes": "1T"}, in),
		assign("", "http.delay", nil, in),
		{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{RunId: "r", AssignmentIds: []string{"r/0/fuzz", "x"}}}},
		{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{Reason: "fuzz"}}},
		{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{RunId: "r", Until: timestamppb.New(in), Probes: []*murphyv1.Probe{
			{Metric: "m", Interval: durationpb.New(time.Hour), Measure: "exit_code", Kind: &murphyv1.Probe_Command{Command: &murphyv1.CommandProbe{Argv: []string{"touch", "/tmp/fuzzed"}}}},
		}}}},
		{Msg: &murphyv1.ConnectResponse_StopProbes{StopProbes: &murphyv1.StopProbes{RunId: "r"}}},
		{Msg: &murphyv1.ConnectResponse_Welcome{Welcome: &murphyv1.Welcome{Lease: durationpb.New(-time.Second)}}},
		{},
	} {
		data, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m murphyv1.ConnectResponse
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		// A command probe is exactly what this policy refuses; no probe of any other
		// kind is started, so the fuzzer sends no traffic anywhere.
		if sp := m.GetStartProbes(); sp != nil {
			commands := false
			for _, p := range sp.GetProbes() {
				commands = commands || p.GetCommand() != nil
			}
			if !commands {
				return
			}
			if err := a.startProbes(sp); err == nil {
				a.stopProbes(sp.GetRunId())
				t.Fatalf("a command probe started although the policy does not allow exec: %v", sp)
			}
			return
		}
		start := time.Now()
		a.handle(&m)
		mu.Lock()
		got := injected
		injected = nil
		mu.Unlock()
		for _, inj := range got {
			if err := fuzzPolicy.Allows(inj.Kind); err != nil {
				t.Fatalf("injected %s although the policy refuses it: %v", inj.Kind, err)
			}
			if inj.Deadline.After(time.Now().Add(fuzzPolicy.MaxDuration)) || !inj.Deadline.After(start) {
				t.Fatalf("injected %s with deadline %s, outside (now, now+%s]", inj.Kind, inj.Deadline, fuzzPolicy.MaxDuration)
			}
		}
		// Start the next input from a clean worker: nothing active, nothing queued.
		a.revertMatching("", murphyv1.RevertCause_REVERT_CAUSE_UNSPECIFIED)
		a.mu.Lock()
		a.outbox = nil
		a.mu.Unlock()
	})
}
