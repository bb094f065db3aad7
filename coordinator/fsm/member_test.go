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
