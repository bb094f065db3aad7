package web

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// A run's page must show every host's real fault window, and a fault whose worker was
// lost or never confirmed its revert must stand out.
func TestFaultWindows(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ts := func(s int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(s) * time.Second)) }
	run := &murphyv1.Run{Steps: []*murphyv1.StepState{{
		Index: 0, Fault: &murphyv1.FaultSpec{Kind: "network.delay"}, StartedAt: ts(0), EndedAt: ts(60),
		Windows: []*murphyv1.FaultWindow{
			{WorkerId: "w1", InjectedAt: ts(0), RevertedAt: ts(60), Cause: murphyv1.RevertCause_REVERT_CAUSE_COMPLETED},
			{WorkerId: "w2", InjectedAt: ts(0), RevertedAt: ts(20), Cause: murphyv1.RevertCause_REVERT_CAUSE_DEADMAN},
			{WorkerId: "w3", InjectedAt: ts(0)},
		},
	}}}
	workers := map[string]*murphyv1.Worker{"w3": {Id: "w3", State: murphyv1.WorkerState_WORKER_STATE_LOST}}
	rows, unconfirmed := FaultWindows(run, workers)
	if len(rows) != 3 || unconfirmed != 1 {
		t.Fatalf("%d rows, %d unconfirmed: want 3 rows and 1 unconfirmed", len(rows), unconfirmed)
	}
	if r := rows[1]; r.Cause != "deadman" || r.Lasted != "20s" {
		t.Errorf("w2 row %+v: want reverted by the dead-man's switch after 20s", r)
	}
	if r := rows[2]; !r.Unconfirmed || !strings.Contains(r.Note, "worker lost") {
		t.Errorf("w3 row %+v: want unconfirmed because its worker is lost", r)
	}
	var md strings.Builder
	FaultWindowsMarkdown(&md, rows, unconfirmed)
	if !strings.Contains(md.String(), "1 fault(s) not confirmed reverted") || !strings.Contains(md.String(), "| 1 | network.delay | w3 |") {
		t.Errorf("report:\n%s", md.String())
	}
}
