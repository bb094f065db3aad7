package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func at(sec int) *timestamppb.Timestamp {
	return timestamppb.New(t0.Add(time.Duration(sec) * time.Second))
}

// script is a sequence covering every record type: nodes, workers and a run that goes
// through every phase, plus a halted and a failed run.
func script() []*murphyv1.Command {
	fault := &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "200ms"}, Duration: durationpb.New(time.Minute)}
	return []*murphyv1.Command{
		{At: at(0), Cmd: &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: &murphyv1.Node{Id: "n1", RaftAddr: "127.0.0.1:7001", GrpcAddr: "127.0.0.1:8001", Voter: true, Leader: true}}}},
		{At: at(0), Cmd: &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: &murphyv1.Node{Id: "n2", RaftAddr: "127.0.0.1:7002", GrpcAddr: "127.0.0.1:8002", Voter: true}}}},
		{At: at(1), Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{WorkerId: "w1", Labels: map[string]string{"region": "eu-west"}, Capabilities: []string{"http.delay"}}}},
		{At: at(1), Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{WorkerId: "w2", Labels: map[string]string{"region": "us-east"}}}},
		{At: at(2), Cmd: &murphyv1.Command_MarkWorkerLost{MarkWorkerLost: &murphyv1.MarkWorkerLost{WorkerId: "w2"}}},
		{At: at(3), By: "alice", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r1", Experiment: "e", SpecJson: "{}", SpecDigest: "d1"}}},
		{At: at(4), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r1", Groups: &murphyv1.Groups{Control: []string{"w2"}, Experiment: []string{"w1"}, Seed: 7}, PhaseDeadline: at(14)}}},
		{At: at(14), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r1", Index: 0, Fault: fault, Start: true}}},
		{At: at(14), Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "r1", Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING, PhaseDeadline: at(74)}}},
		{At: at(15), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r1", Index: 0, Injected: []string{"w1"}}}},
		{At: at(74), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r1", Index: 0, End: true}}},
		{At: at(74), Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "r1", Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}},
		{At: at(75), Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: "r1", Verdict: &murphyv1.Verdict{Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD, Reason: "held"}}}},
		{At: at(80), By: "bob", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r2", Experiment: "e", SpecJson: "{}"}}},
		{At: at(81), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r2", Groups: &murphyv1.Groups{Experiment: []string{"w1"}}}}},
		{At: at(82), By: "bob", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: "r2", Reason: "stop", Metric: "latency", Values: []float64{1, 2}}}},
		{At: at(83), Cmd: &murphyv1.Command_RecordRevert{RecordRevert: &murphyv1.RecordRevert{RunId: "r2", Reverts: []*murphyv1.WorkerRevert{{WorkerId: "w1", At: at(83), Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT}}}}},
		{At: at(90), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r3", Experiment: "e", SpecJson: "{}"}}},
		{At: at(91), Cmd: &murphyv1.Command_FailRun{FailRun: &murphyv1.FailRun{RunId: "r3", Error: "too few workers"}}},
		{At: at(92), Cmd: &murphyv1.Command_RemoveNode{RemoveNode: &murphyv1.RemoveNode{NodeId: "n2"}}},
	}
}

func applyAll(t *testing.T, f *FSM, cmds []*murphyv1.Command) {
	t.Helper()
	for i, c := range cmds {
		if err := f.ApplyCommand(uint64(i+1), c); err != nil {
			t.Fatalf("command %d (%T): %v", i+1, c.Cmd, err)
		}
	}
}

func TestScriptState(t *testing.T) {
	f := New()
	applyAll(t, f, script())

	r1 := f.Run("r1")
	if r1.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED || r1.Verdict.GetOutcome() != murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD {
		t.Fatalf("r1 = %v, verdict %v", r1.Phase, r1.Verdict)
	}
	if r1.SubmittedBy != "alice" || !r1.EndedAt.AsTime().Equal(t0.Add(75*time.Second)) {
		t.Errorf("r1 submitted by %q ended %v", r1.SubmittedBy, r1.EndedAt.AsTime())
	}
	if got := r1.Steps[0].Injected; len(got) != 1 || got[0] != "w1" || r1.Steps[0].EndedAt == nil {
		t.Errorf("r1 step 0 = %v", r1.Steps[0])
	}
	if live, lost := f.WorkerStates(); live != 1 || lost != 1 {
		t.Errorf("WorkerStates() = %d live, %d lost; want 1 and 1 (w2 was lost)", live, lost)
	}
	if ids := f.LiveWorkerIDs(); len(ids) != 1 || ids[0] != "w1" {
		t.Errorf("LiveWorkerIDs() = %v, want [w1] (w2 was lost)", ids)
	}
	r2 := f.Run("r2")
	if r2.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED || r2.Halt.GetBy() != "bob" || len(r2.Halt.Reverts) != 1 {
		t.Errorf("r2 = %v halt %v", r2.Phase, r2.Halt)
	}
	if r3 := f.Run("r3"); r3.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED || r3.Error != "too few workers" {
		t.Errorf("r3 = %v %q", r3.Phase, r3.Error)
	}
	if w := f.Worker("w2"); w.State != murphyv1.WorkerState_WORKER_STATE_LOST || w.LostAt == nil {
		t.Errorf("w2 = %v", w)
	}
	if n := f.Nodes(); len(n) != 1 || n[0].Id != "n1" || n[0].Leader {
		t.Errorf("nodes = %v", n)
	}
	if runs := f.Runs(); len(runs) != 3 || runs[0].Id != "r3" || runs[2].Id != "r1" {
		t.Errorf("runs not newest first: %v", runs)
	}
	if act := f.ActiveRuns(); len(act) != 0 {
		t.Errorf("active runs = %d", len(act))
	}
}

// TestSnapshotRestore checks that a restored FSM equals the original, record by record,
// and that Restore discards what the target held before.
func TestSnapshotRestore(t *testing.T) {
	src := New()
	applyAll(t, src, script())
	data := persist(t, src)

	dst := New()
	if err := dst.ApplyCommand(1, &murphyv1.Command{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "stale", SpecJson: "{}"}}}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if dst.Run("stale") != nil {
		t.Error("restore kept state from before")
	}
	tests := []struct {
		name     string
		src, dst any
	}{
		{"runs", src.Runs(), dst.Runs()},
		{"workers", src.Workers(), dst.Workers()},
		{"nodes", src.Nodes(), dst.Nodes()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := toMessages(tc.src), toMessages(tc.dst)
			if len(a) != len(b) || len(a) == 0 {
				t.Fatalf("%d records before, %d after", len(a), len(b))
			}
			for i := range a {
				if !proto.Equal(a[i], b[i]) {
					t.Errorf("record %d differs:\n%v\n%v", i, a[i], b[i])
				}
			}
		})
	}
	if !bytes.Equal(data, persist(t, dst)) {
		t.Error("snapshot of the restored FSM differs from the original snapshot")
	}
}

func toMessages(v any) []proto.Message {
	var out []proto.Message
	switch xs := v.(type) {
	case []*murphyv1.Run:
		for _, x := range xs {
			out = append(out, x)
		}
	case []*murphyv1.Worker:
		for _, x := range xs {
			out = append(out, x)
		}
	case []*murphyv1.Node:
		for _, x := range xs {
			out = append(out, x)
		}
	}
	return out
}

type sink struct {
	bytes.Buffer
	cancelled bool
}

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { s.cancelled = true; return nil }
func (s *sink) Close() error  { return nil }

var _ raft.SnapshotSink = (*sink)(nil)

func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil || s.cancelled {
		t.Fatalf("persist: %v", err)
	}
	return s.Bytes()
}

// TestRejections checks that business-rule violations are errors that change nothing.
func TestRejections(t *testing.T) {
	base := script()
	tests := []struct {
		name string
		cmd  *murphyv1.Command
		want error
	}{
		{"halt a completed run", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: "r1"}}}, ErrRunFinished},
		{"halt an unknown run", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: "nope"}}}, ErrNotFound},
		{"create a duplicate run", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r1", SpecJson: "{}"}}}, ErrExists},
		{"create a run without spec", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r9"}}}, ErrInvalid},
		{"verdict on a halted run", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: "r2", Verdict: &murphyv1.Verdict{}}}}, ErrRunFinished},
		{"command without time", &murphyv1.Command{Cmd: &murphyv1.Command_MarkWorkerLost{MarkWorkerLost: &murphyv1.MarkWorkerLost{WorkerId: "w1"}}}, ErrInvalid},
		{"lose an unknown worker", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_MarkWorkerLost{MarkWorkerLost: &murphyv1.MarkWorkerLost{WorkerId: "w9"}}}, ErrNotFound},
		{"node without address", &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: &murphyv1.Node{Id: "n3"}}}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			applyAll(t, f, base)
			before := persist(t, f)
			err := f.ApplyCommand(uint64(len(base)+1), tc.cmd)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(before, persist(t, f)) {
				t.Error("a rejected command changed the state")
			}
		})
	}
}

// TestPhaseOrder checks that a run cannot move backwards or skip to a phase that only a
// verdict, a halt or a failure may set.
func TestPhaseOrder(t *testing.T) {
	tests := []struct {
		name  string
		phase murphyv1.RunPhase
		ok    bool
	}{
		{"baseline to injecting", murphyv1.RunPhase_RUN_PHASE_INJECTING, true},
		{"baseline to analysing", murphyv1.RunPhase_RUN_PHASE_ANALYSING, true},
		{"back to pending", murphyv1.RunPhase_RUN_PHASE_PENDING, false},
		{"baseline again", murphyv1.RunPhase_RUN_PHASE_BASELINE, false},
		{"straight to completed", murphyv1.RunPhase_RUN_PHASE_COMPLETED, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			applyAll(t, f, []*murphyv1.Command{
				{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r", SpecJson: "{}"}}},
				{At: at(1), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r", Groups: &murphyv1.Groups{Experiment: []string{"w"}}}}},
			})
			err := f.ApplyCommand(3, &murphyv1.Command{At: at(2), Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "r", Phase: tc.phase}}})
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestUndecodableEntryPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a corrupt entry")
		}
	}()
	New().Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{0xff, 0xff, 0xff}})
}

func BenchmarkApply(b *testing.B) {
	f := New()
	cmd := &murphyv1.Command{At: at(0), Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{WorkerId: "w1", Labels: map[string]string{"region": "eu-west", "datacenter": "eu-west-1a", "host": "h1"}}}}
	data, _ := Encode(cmd)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
	}
}

// TestHaltAll checks the big red button: active runs halt, finished ones stay as they
// were, no run can be created until Resume, and the state survives a snapshot.
func TestHaltAll(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "done", SpecJson: "{}"}}},
		{At: at(1), Cmd: &murphyv1.Command_FailRun{FailRun: &murphyv1.FailRun{RunId: "done", Error: "x"}}},
		{At: at(2), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "a", SpecJson: "{}"}}},
		{At: at(3), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "b", SpecJson: "{}"}}},
		{At: at(4), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "b", Groups: &murphyv1.Groups{Experiment: []string{"w"}}}}},
		{At: at(5), By: "sre", Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: "incident"}}},
	})
	for _, id := range []string{"a", "b"} {
		r := f.Run(id)
		if r.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED || r.Halt.Reason != "cluster halted: incident" || r.Halt.By != "sre" {
			t.Errorf("run %s = %v %v", id, r.Phase, r.Halt)
		}
	}
	if r := f.Run("done"); r.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED {
		t.Errorf("finished run changed to %v", r.Phase)
	}
	err := f.ApplyCommand(7, &murphyv1.Command{At: at(6), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "c", SpecJson: "{}"}}})
	if !errors.Is(err, ErrHalted) {
		t.Fatalf("create while halted: %v", err)
	}

	restored := New()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	if h := restored.ClusterHalt(); h == nil || h.Reason != "incident" {
		t.Fatalf("halt after restore = %v", h)
	}
	if err := restored.ApplyCommand(8, &murphyv1.Command{At: at(7), Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{}}}); err != nil {
		t.Fatal(err)
	}
	if err := restored.ApplyCommand(9, &murphyv1.Command{At: at(8), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "c", SpecJson: "{}"}}}); err != nil {
		t.Fatalf("create after resume: %v", err)
	}
	if err := restored.ApplyCommand(10, &murphyv1.Command{At: at(9), Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{}}}); !errors.Is(err, ErrBadPhase) {
		t.Errorf("resume when not halted: %v", err)
	}
}

// TestScheduleDecisions checks that each slot is decided once (a retried firing after a
// failover is refused), that skips are recorded, that paused schedules cannot fire, and
// that all of it survives a snapshot.
func TestScheduleDecisions(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		{At: at(0), By: "sre", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "s", Name: "monkey", SpecJson: "{}", NextAt: at(10)}}},
		{At: at(10), Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "s", Slot: at(10), RunId: "r1", SpecJson: "{}", Day: "2026-11-22", NextAt: at(20)}}},
		{At: at(20), Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: &murphyv1.SkipSchedule{ScheduleId: "s", Slot: at(20), Reason: "outside the allowed windows", NextAt: at(30)}}},
	})
	err := f.ApplyCommand(4, &murphyv1.Command{At: at(21), Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "s", Slot: at(10), RunId: "r2", SpecJson: "{}", NextAt: at(20)}}})
	if !errors.Is(err, ErrExists) || f.Run("r2") != nil {
		t.Fatalf("refiring slot 10: %v (run r2 %v)", err, f.Run("r2"))
	}
	if r := f.Run("r1"); r.ScheduleId != "s" || !r.ScheduleSlot.AsTime().Equal(at(10).AsTime()) || r.SubmittedBy != "schedule:s" {
		t.Errorf("fired run %v", r)
	}
	if err := f.ApplyCommand(5, &murphyv1.Command{At: at(22), Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true}}}); err != nil {
		t.Fatal(err)
	}
	err = f.ApplyCommand(6, &murphyv1.Command{At: at(30), Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "s", Slot: at(30), RunId: "r3", SpecJson: "{}", NextAt: at(40)}}})
	if !errors.Is(err, ErrHalted) {
		t.Fatalf("firing while paused: %v", err)
	}
	restored := New()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	ss, paused := restored.Schedules()
	if !paused || len(ss) != 1 || ss[0].FiredTotal != 1 || ss[0].SkippedTotal != 1 || ss[0].LastSkipReason != "outside the allowed windows" || ss[0].CreatedBy != "sre" {
		t.Fatalf("after restore: paused %v, %v", paused, ss)
	}
	if err := restored.ApplyCommand(7, &murphyv1.Command{At: at(31), Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{}}}); err != nil {
		t.Fatalf("resume lifts a schedule pause: %v", err)
	}
	if _, paused := restored.Schedules(); paused {
		t.Error("still paused after resume")
	}
}
