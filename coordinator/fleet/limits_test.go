package fleet

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// groups is a Membership: run -> its workers.
type groups map[string][]string

func (g groups) Member(run, worker string) bool {
	for _, w := range g[run] {
		if w == worker {
			return true
		}
	}
	return false
}

func (g groups) Unit(run, worker, unit, assignment string) (string, bool) {
	if unit == "" {
		unit = worker
	}
	if assignment != "" && !strings.HasSuffix(assignment, "/"+worker) {
		return "", false
	}
	return unit, unit == worker && g.Member(run, worker)
}

func samples(run string, n int, v float64) *murphyv1.ConnectRequest {
	b := &murphyv1.Samples{RunId: run, Metric: "latency"}
	for i := range n {
		b.Samples = append(b.Samples, &murphyv1.Sample{Seq: uint64(i), At: timestamppb.Now(), Value: v, Ok: true})
	}
	return &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Samples{Samples: b}}
}

func status(run, assignment string, state murphyv1.FaultState) *murphyv1.ConnectRequest {
	return &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: &murphyv1.StepStatus{
		RunId: run, AssignmentId: assignment, State: state, At: timestamppb.Now(),
	}}}
}

func haltAck(run string, reverted ...string) *murphyv1.ConnectRequest {
	return &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: &murphyv1.HaltAck{RunId: run, Reverted: reverted}}}
}

// TestWorkerReportsOnlyForItsRuns checks that a worker's samples, step statuses and halt
// acks reach the runner only for runs it is in and assignments that are its own, and
// that malformed or oversized messages are dropped.
func TestWorkerReportsOnlyForItsRuns(t *testing.T) {
	injected := murphyv1.FaultState_FAULT_STATE_INJECTED
	tests := []struct {
		name    string
		msg     *murphyv1.ConnectRequest
		samples bool // samples stored for run r1
		event   bool // delivered to the runner
	}{
		{"samples for its run", samples("r1", 10, 0.1), true, false},
		{"samples for another run", samples("r2", 10, 0.1), false, false},
		{"samples for an unknown run", samples("nope", 10, 0.1), false, false},
		{"too many samples in a batch", samples("r1", MaxSamplesPerBatch+1, 0.1), false, false},
		{"a NaN sample", samples("r1", 3, math.NaN()), false, false},
		{"an infinite sample", samples("r1", 3, math.Inf(1)), false, false},
		{"samples without a metric", &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Samples{Samples: &murphyv1.Samples{RunId: "r1"}}}, false, false},
		{"status of its assignment", status("r1", "r1/0/w1", injected), false, true},
		{"status of its escalation and rollback assignments", status("r1", "r1/w2/0/w1", injected), false, true},
		{"status of another worker's assignment", status("r1", "r1/0/w2", injected), false, false},
		{"status naming another run's assignment", status("r1", "r2/0/w1", injected), false, false},
		{"status for a run it is not in", status("r2", "r2/0/w1", injected), false, false},
		{"status in an unknown state", status("r1", "r1/0/w1", murphyv1.FaultState(42)), false, false},
		{"status without a state", status("r1", "r1/0/w1", murphyv1.FaultState_FAULT_STATE_UNSPECIFIED), false, false},
		{"status with a huge id", status("r1", "r1/"+strings.Repeat("x", MaxIDBytes)+"/w1", injected), false, false},
		{"halt ack for its run", haltAck("r1", "r1/0/w1"), false, true},
		{"halt ack for everything", haltAck(""), false, true},
		{"halt ack for another run", haltAck("r2"), false, false},
		{"halt ack with too many ids", haltAck("r1", make([]string, MaxListLen+1)...), false, false},
		{"a second hello", &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: "w2"}}}, false, false},
		{"an empty message", &murphyv1.ConnectRequest{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reasons []string
			f := New(time.Now)
			f.SetMembership(groups{"r1": {"w1", "w2"}, "r2": {"w2"}}, func(w string, err error) { reasons = append(reasons, w+": "+err.Error()) })
			c := f.Attach(&murphyv1.Hello{WorkerId: "w1"})
			f.Handle(c, tc.msg)
			if got := f.Samples().Count("r1", "latency", []string{"w1"}) > 0; got != tc.samples {
				t.Errorf("samples stored = %v, want %v", got, tc.samples)
			}
			if got := len(f.Events()) > 0; got != tc.event {
				t.Errorf("event delivered = %v, want %v", got, tc.event)
			}
			dropped := !tc.samples && !tc.event
			if (f.Rejected() == 1) != dropped || (len(reasons) == 1) != dropped {
				t.Errorf("rejected %d (%v), want dropped=%v", f.Rejected(), reasons, dropped)
			}
			if !f.Connected("w1") {
				t.Error("a dropped message disconnected the worker")
			}
		})
	}
}

func TestStatusErrorIsCut(t *testing.T) {
	f := New(time.Now)
	f.SetMembership(groups{"r1": {"w1"}}, nil)
	c := f.Attach(&murphyv1.Hello{WorkerId: "w1"})
	msg := status("r1", "r1/0/w1", murphyv1.FaultState_FAULT_STATE_FAILED)
	msg.GetStepStatus().Error = strings.Repeat("é", MaxErrorBytes)
	f.Handle(c, msg)
	ev := <-f.Events()
	if n := len(ev.Msg.GetStepStatus().Error); n > MaxErrorBytes+len("…") {
		t.Errorf("error text is %d bytes", n)
	}
}

func TestCheckHello(t *testing.T) {
	tests := []struct {
		name  string
		hello *murphyv1.Hello
		ok    bool
	}{
		{"plain", &murphyv1.Hello{WorkerId: "w1", Capabilities: []string{"http.delay"}, Version: "dev"}, true},
		{"too many capabilities", &murphyv1.Hello{WorkerId: "w1", Capabilities: make([]string, MaxListLen+1)}, false},
		{"an empty capability", &murphyv1.Hello{WorkerId: "w1", Capabilities: []string{""}}, false},
		{"a huge version", &murphyv1.Hello{WorkerId: "w1", Version: strings.Repeat("v", MaxIDBytes+1)}, false},
		{"too many probing runs", &murphyv1.Hello{WorkerId: "w1", ProbingRuns: make([]string, MaxListLen+1)}, false},
		{"an active fault without id", &murphyv1.Hello{WorkerId: "w1", ActiveFaults: []*murphyv1.ActiveFault{{}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckHello(tc.hello); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMembershipUnsetAcceptsReports(t *testing.T) {
	f := New(time.Now)
	c := f.Attach(&murphyv1.Hello{WorkerId: "w1"})
	f.Handle(c, samples("r9", 2, 1))
	if f.Samples().Count("r9", "latency", []string{"w1"}) != 2 || f.Rejected() != 0 {
		t.Error("without a membership check, well-formed samples must be kept")
	}
}
