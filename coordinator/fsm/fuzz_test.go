package fsm

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/types/known/durationpb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// fuzzBase is a state with a record of every kind for a fuzzed command to hit: nodes,
// a connected and a lost worker, runs that are pending, in their baseline, injecting,
// analysing, completed, halted and failed, summaries, and a schedule.
func fuzzBase() []*murphyv1.Command {
	cmds := script()
	fault := &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "20ms"}, Duration: durationpb.New(time.Minute)}
	more := []*murphyv1.Command{
		{At: at(100), By: "op", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "pending", SpecJson: "{}"}}},
		{At: at(100), By: "op", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "base", SpecJson: "{}"}}},
		{At: at(101), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "base", Groups: &murphyv1.Groups{Experiment: []string{"w1"}, Control: []string{"w2"}}, WaveLevel: "host"}}},
		{At: at(100), By: "op", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "inj", SpecJson: "{}"}}},
		{At: at(101), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "inj", Groups: &murphyv1.Groups{Experiment: []string{"w1"}}}}},
		{At: at(102), Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "inj", Index: 0, Fault: fault, Start: true}}},
		{At: at(102), Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "inj", Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}}},
		{At: at(103), Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: "inj", Summaries: []*murphyv1.IntervalSummary{
			{Metric: "latency", Group: murphyv1.Group_GROUP_EXPERIMENT, Start: at(100), End: at(101), Count: 1},
		}}}},
		{At: at(100), By: "op", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "an", SpecJson: "{}"}}},
		{At: at(101), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "an", Groups: &murphyv1.Groups{Experiment: []string{"w1"}}, WaveLevel: "host"}}},
		{At: at(102), Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "an", Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}},
		{At: at(104), By: "sre", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "s", Name: "monkey", SpecJson: "{}", NextAt: at(200)}}},
	}
	return append(cmds, more...)
}

// FuzzApply feeds arbitrary bytes to the FSM as a log entry on top of a populated state.
// Data that is not a Command, or a Command of a kind this build does not know, must
// panic (applying anything else would fork the state; a command without a time is
// rejected before its kind is looked at); every other command must be
// applied or rejected, never panic, a rejection must leave the state as it was, and two
// FSMs applying it must write identical snapshots that restore to the same state.
func FuzzApply(f *testing.F) {
	for _, c := range append(fuzzBase(), auditScript()...) {
		data, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	base := fuzzBase()
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := Decode(data)
		if err != nil || (cmd.Cmd == nil && cmd.At != nil) {
			assertPanics(t, data)
			return
		}
		a, b := New(), New()
		applyAll(t, a, base)
		applyAll(t, b, base)
		before := persist(t, a)
		index := uint64(len(base) + 1)
		errA := a.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		errB := b.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		after := persist(t, a)
		if errA != nil && !bytes.Equal(before, after) {
			t.Fatalf("rejected command (%v) changed the state: %v", errA, cmd)
		}
		if (errA == nil) != (errB == nil) || !bytes.Equal(after, persist(t, b)) {
			t.Fatalf("two FSMs applied the same command differently: %v / %v", errA, errB)
		}
		restored := New()
		if err := restored.Restore(nopCloser{bytes.NewReader(after)}); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if !bytes.Equal(after, persist(t, restored)) {
			t.Fatal("snapshot does not survive restore")
		}
		// The FSM must stay usable: the reads every coordinator serves still work.
		a.Runs()
		a.Workers()
		a.Schedules()
		a.Audit(nil, 0, 0)
		for _, r := range a.Runs() {
			a.Summaries(r.Id)
			a.SummaryProgress(r.Id)
		}
	})
}

func assertPanics(t *testing.T, data []byte) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("an entry that is not a known command did not panic: %x", data)
		}
	}()
	New().Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
