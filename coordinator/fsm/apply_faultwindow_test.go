package fsm

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The windows a run records are what its workers did, in order: a re-sent injection does
// not open a second window, a repeated revert does not move the first confirmation, a
// re-injection after an early revert opens a new window, and a confirmation arriving
// after the run ended still lands.
func TestRecordWindows(t *testing.T) {
	inj := func(w string, s int) *murphyv1.FaultWindow {
		return &murphyv1.FaultWindow{WorkerId: w, InjectedAt: at(s)}
	}
	rev := func(w string, s int, c murphyv1.RevertCause) *murphyv1.FaultWindow {
		return &murphyv1.FaultWindow{WorkerId: w, RevertedAt: at(s), Cause: c}
	}
	rec := func(s int, ws ...*murphyv1.FaultWindow) *murphyv1.Command {
		return &murphyv1.Command{At: at(s), Cmd: &murphyv1.Command_RecordWindows{RecordWindows: &murphyv1.RecordWindows{RunId: "r", Windows: ws}}}
	}
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r", SpecJson: "{}"}}},
		{At: at(1), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r", Groups: &murphyv1.Groups{Control: []string{"c"}, Experiment: []string{"a", "b", "x"}}}}},
		{At: at(2), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r", Index: 0, Fault: &murphyv1.FaultSpec{Kind: "network.delay"}, Start: true}}},
		rec(3, inj("a", 3), inj("b", 3)),
		{At: at(4), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r", Index: 0, Injected: []string{"a", "b"}}}},
		rec(5, inj("a", 3)), // re-sent acknowledgement
		rec(10, rev("b", 9, murphyv1.RevertCause_REVERT_CAUSE_DEADMAN)),
		rec(11, rev("b", 11, murphyv1.RevertCause_REVERT_CAUSE_DEADMAN)), // retry
		rec(12, inj("b", 12)),
		// A worker that never acknowledged only says it holds nothing.
		rec(13, rev("x", 13, murphyv1.RevertCause_REVERT_CAUSE_COMPLETED)),
		// One whose acknowledgement was lost with a leader says when it injected.
		rec(14, &murphyv1.FaultWindow{WorkerId: "y", InjectedAt: at(3), RevertedAt: at(14), Cause: murphyv1.RevertCause_REVERT_CAUSE_DEADMAN}),
		rec(15, &murphyv1.FaultWindow{WorkerId: "y", InjectedAt: at(3), RevertedAt: at(15), Cause: murphyv1.RevertCause_REVERT_CAUSE_DEADMAN}), // retry
		{At: at(30), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r", Index: 0, End: true}}},
		{At: at(31), Cmd: &murphyv1.Command_FailRun{FailRun: &murphyv1.FailRun{RunId: "r", Error: "x"}}},
		rec(32, rev("a", 30, murphyv1.RevertCause_REVERT_CAUSE_COMPLETED), rev("b", 30, murphyv1.RevertCause_REVERT_CAUSE_COMPLETED)),
		rec(33, &murphyv1.FaultWindow{WorkerId: "a", Step: 7, InjectedAt: at(33)}), // no such step: ignored
		// A revert re-sent after a coordinator restart, naming the start of its inject
		// rather than the end its injection report gave: the same revert, not a window.
		rec(34, &murphyv1.FaultWindow{WorkerId: "a", InjectedAt: at(2), RevertedAt: at(30), Cause: murphyv1.RevertCause_REVERT_CAUSE_COMPLETED}),
	})
	want := []*murphyv1.FaultWindow{
		{WorkerId: "a", InjectedAt: at(3), RevertedAt: at(30), Cause: murphyv1.RevertCause_REVERT_CAUSE_COMPLETED},
		{WorkerId: "b", InjectedAt: at(3), RevertedAt: at(9), Cause: murphyv1.RevertCause_REVERT_CAUSE_DEADMAN},
		{WorkerId: "b", InjectedAt: at(12), RevertedAt: at(30), Cause: murphyv1.RevertCause_REVERT_CAUSE_COMPLETED},
		{WorkerId: "y", InjectedAt: at(3), RevertedAt: at(14), Cause: murphyv1.RevertCause_REVERT_CAUSE_DEADMAN},
	}
	check := func(f *FSM) {
		t.Helper()
		if inj := f.Run("r").Steps[0].Injected; !slices.Equal(inj, []string{"a", "b", "y"}) {
			t.Errorf("injected on %v, want a, b and y (whose revert said when it injected)", inj)
		}
		got := f.Run("r").Steps[0].Windows
		if len(got) != len(want) {
			t.Fatalf("windows = %v, want %v", got, want)
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("window %d = %v, want %v", i, got[i], want[i])
			}
		}
	}
	check(f)
	restored := New()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	check(restored)
	if err := f.ApplyCommand(100, &murphyv1.Command{At: at(40), Cmd: &murphyv1.Command_RecordWindows{RecordWindows: &murphyv1.RecordWindows{RunId: "nope"}}}); err == nil {
		t.Error("windows of an unknown run accepted")
	}
}
