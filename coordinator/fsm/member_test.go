package fsm

import (
	"testing"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestMember(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r", SpecJson: "{}"}}},
		{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "pending", SpecJson: "{}"}}},
		{At: at(1), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r", WaveLevel: "host", Groups: &murphyv1.Groups{Experiment: []string{"e1"}, Control: []string{"c1"}}}}},
		{At: at(2), Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "r", Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}},
		{At: at(3), Cmd: &murphyv1.Command_NextWave{NextWave: &murphyv1.NextWave{RunId: "r", Verdict: &murphyv1.Verdict{}, Level: "datacenter", Groups: &murphyv1.Groups{Experiment: []string{"e2"}, Control: []string{"c2"}}}}},
	})
	tests := []struct {
		run, worker string
		want        bool
	}{
		{"r", "e2", true}, {"r", "c2", true}, // this wave
		{"r", "e1", true}, {"r", "c1", true}, // an earlier wave
		{"r", "x", false}, {"pending", "e1", false}, {"nope", "e1", false},
	}
	for _, tc := range tests {
		if got := f.Member(tc.run, tc.worker); got != tc.want {
			t.Errorf("Member(%s, %s) = %v, want %v", tc.run, tc.worker, got, tc.want)
		}
	}
}

// TestUnits: in a run of pods, a node's worker is a member through its pods, speaks for
// its own pods only, and a unit with no recorded worker is refused.
func TestUnits(t *testing.T) {
	f := New()
	pods := &murphyv1.Groups{
		Experiment: []string{"pod/shop/a", "pod/shop/b"}, Control: []string{"pod/shop/c"},
		Workers: map[string]string{"pod/shop/a": "node-1", "pod/shop/b": "node-2", "pod/shop/c": "node-1"},
	}
	applyAll(t, f, []*murphyv1.Command{
		{At: at(0), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r", SpecJson: "{}"}}},
		{At: at(1), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r", Groups: pods}}},
	})
	if got := GroupWorkers(pods); len(got) != 2 || got[0] != "node-1" || got[1] != "node-2" {
		t.Errorf("GroupWorkers = %v, want [node-1 node-2]", got)
	}
	for _, tc := range []struct {
		worker, unit, assignment, want string
		ok                             bool
	}{
		{"node-1", "pod/shop/a", "", "pod/shop/a", true},
		{"node-1", "pod/shop/c", "", "pod/shop/c", true},
		{"node-2", "pod/shop/a", "", "", false}, // another node's pod
		{"node-1", "pod/shop/x", "", "", false}, // not in the run
		{"node-1", "", "", "", false},           // the worker itself is no unit here
		{"node-1", "", "r/0/pod/shop/a", "pod/shop/a", true},
		{"node-2", "", "r/0/pod/shop/a", "", false},
		{"node-2", "", "r/0/pod/shop/b", "pod/shop/b", true},
		{"node-2", "", "r/0/node-2", "", false},
	} {
		got, ok := f.Unit("r", tc.worker, tc.unit, tc.assignment)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Unit(r, %s, %q, %q) = %q, %v; want %q, %v", tc.worker, tc.unit, tc.assignment, got, ok, tc.want, tc.ok)
		}
	}
	for w, want := range map[string]bool{"node-1": true, "node-2": true, "pod/shop/a": false, "node-3": false} {
		if got := f.Member("r", w); got != want {
			t.Errorf("Member(r, %s) = %v, want %v", w, got, want)
		}
	}

	bad := &murphyv1.Groups{Experiment: []string{"pod/shop/a", "pod/shop/b"}, Workers: map[string]string{"pod/shop/a": "node-1"}}
	if err := f.ApplyCommand(3, &murphyv1.Command{At: at(2), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "bad", SpecJson: "{}"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.ApplyCommand(4, &murphyv1.Command{At: at(3), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "bad", Groups: bad}}}); err == nil {
		t.Error("a run of pods with a unit that has no worker was started")
	}
}
