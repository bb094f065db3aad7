package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func rollback(run string, res ...*murphyv1.RollbackResult) *murphyv1.Command {
	return &murphyv1.Command{At: at(200), Cmd: &murphyv1.Command_RecordRollback{RecordRollback: &murphyv1.RecordRollback{RunId: run, Results: res}}}
}

func TestRecordRollback(t *testing.T) {
	f := New()
	cmds := []*murphyv1.Command{
		{At: at(3), Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r1", Experiment: "e", SpecJson: "{}"}}},
	}
	for i, c := range cmds {
		if err := f.ApplyCommand(uint64(i+1), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ApplyCommand(2, rollback("r1", &murphyv1.RollbackResult{WorkerId: "w1", Ok: true})); !errors.Is(err, ErrBadPhase) {
		t.Fatalf("rollback of an active run: %v", err)
	}
	if err := f.ApplyCommand(3, &murphyv1.Command{At: at(4), Cmd: &murphyv1.Command_FailRun{FailRun: &murphyv1.FailRun{RunId: "r1", Error: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.ApplyCommand(4, rollback("r9", &murphyv1.RollbackResult{WorkerId: "w1"})); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
	if err := f.ApplyCommand(5, rollback("r1", &murphyv1.RollbackResult{Index: 0, WorkerId: "w1", Ok: true}, &murphyv1.RollbackResult{Index: 1, WorkerId: "w1", Error: "boom"})); err != nil {
		t.Fatal(err)
	}
	// A resend keeps the first result.
	if err := f.ApplyCommand(6, rollback("r1", &murphyv1.RollbackResult{Index: 1, WorkerId: "w1", Ok: true})); err != nil {
		t.Fatal(err)
	}
	rb := f.Run("r1").Rollbacks
	if len(rb) != 2 || rb[1].Ok || rb[1].Error != "boom" {
		t.Fatalf("rollbacks %v", rb)
	}
	// Survives a snapshot.
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	if got := g.Run("r1").Rollbacks; len(got) != 2 {
		t.Fatalf("restored rollbacks %v", got)
	}
}
