package fsm

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// auditScript exercises every audited command, plus bookkeeping commands the trail skips
// and rejected commands it must not record.
func auditScript() []*murphyv1.Command {
	node := func(id, raft string) *murphyv1.Command_RegisterNode {
		return &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: &murphyv1.Node{Id: id, RaftAddr: raft, GrpcAddr: "127.0.0.1:8001"}}}
	}
	return []*murphyv1.Command{
		{At: at(0), By: "node:n1", Cmd: node("n1", "127.0.0.1:7001")},
		{At: at(1), By: "node:n1", Cmd: node("n1", "127.0.0.1:7001")}, // leader refresh: not audited
		{At: at(2), By: "node:n2", Cmd: node("n2", "127.0.0.1:7002")},
		{At: at(3), By: "worker:w1", Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{WorkerId: "w1"}}},
		{At: at(4), By: "operator:alice@10.0.0.7:5123", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r1", Experiment: "exp", SpecJson: "{}", SpecDigest: "sha256:aa"}}},
		{At: at(5), By: "operator:alice@10.0.0.7:5123", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r1", Experiment: "exp", SpecJson: "{}"}}}, // rejected: exists
		{At: at(6), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r1", Groups: &murphyv1.Groups{Experiment: []string{"w1"}}}}},
		{At: at(7), By: "monitor", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: "r1", Reason: "guardrail", Metric: "latency", Guardrail: "above 0.5 for 3s"}}},
		{At: at(8), By: "operator@10.0.0.8:1", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: "r1", Reason: "again"}}}, // rejected: finished
		{At: at(9), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "s1", Name: "monkey", SpecJson: "{}", SpecDigest: "sha256:bb", NextAt: at(20)}}},
		{At: at(20), By: "schedule:s1", Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "s1", Slot: at(20), RunId: "r2", SpecJson: "{}", NextAt: at(30)}}},
		{At: at(30), By: "schedule:s1", Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: &murphyv1.SkipSchedule{ScheduleId: "s1", Slot: at(30), Reason: "blackout", NextAt: at(40)}}},
		{At: at(31), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true}}},
		{At: at(32), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: "incident"}}},
		{At: at(33), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{}}},
		{At: at(34), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{}}}, // rejected: not halted
		{At: at(35), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_DeleteSchedule{DeleteSchedule: &murphyv1.DeleteSchedule{ScheduleId: "s1"}}},
		{At: at(36), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_DeleteSchedule{DeleteSchedule: &murphyv1.DeleteSchedule{ScheduleId: "s1"}}}, // rejected: gone
		{At: at(37), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_RemoveNode{RemoveNode: &murphyv1.RemoveNode{NodeId: "n2"}}},
		{At: at(38), By: "admin:bob@10.0.0.9:2", Cmd: &murphyv1.Command_RemoveNode{RemoveNode: &murphyv1.RemoveNode{NodeId: "n2"}}}, // rejected: gone
		{At: at(39), By: "node:n1", Cmd: node("n1", "127.0.0.1:7101")},                                                              // moved: audited
	}
}

func applyScript(f *FSM, cmds []*murphyv1.Command) {
	for i, c := range cmds {
		_ = f.ApplyCommand(uint64(i+1), c)
	}
}

func TestAuditTrail(t *testing.T) {
	f := New()
	applyScript(f, auditScript())
	got, more := f.Audit(nil, 0, 0)
	if more {
		t.Error("more with no limit")
	}
	want := []struct {
		index                 uint64
		action, by, from, tgt string
	}{
		{1, AuditNodeJoin, "node:n1", "", "n1"},
		{3, AuditNodeJoin, "node:n2", "", "n2"},
		{5, AuditSubmit, "operator:alice", "10.0.0.7:5123", "r1"},
		{8, AuditHalt, "monitor", "", "r1"},
		{10, AuditScheduleCreate, "admin:bob", "10.0.0.9:2", "s1"},
		{11, AuditScheduleFire, "schedule:s1", "", "r2"},
		{12, AuditScheduleSkip, "schedule:s1", "", "s1"},
		{13, AuditSchedulesPause, "admin:bob", "10.0.0.9:2", ""},
		{14, AuditHaltAll, "admin:bob", "10.0.0.9:2", ""},
		{15, AuditResume, "admin:bob", "10.0.0.9:2", ""},
		{17, AuditScheduleDelete, "admin:bob", "10.0.0.9:2", "s1"},
		{19, AuditNodeRemove, "admin:bob", "10.0.0.9:2", "n2"},
		{21, AuditNodeJoin, "node:n1", "", "n1"},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Log(e)
		}
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Index != w.index || e.Action != w.action || e.By != w.by || e.From != w.from || e.Target != w.tgt {
			t.Errorf("entry %d = %v, want %+v", i, e, w)
		}
	}
	if e := got[2]; e.SpecDigest != "sha256:aa" || e.Experiment != "exp" || !e.At.AsTime().Equal(at(4).AsTime()) {
		t.Errorf("submission = %v", e)
	}
	if e := got[3]; e.Reason != "guardrail" || !strings.Contains(e.Detail, "above 0.5 for 3s") {
		t.Errorf("halt = %v", e)
	}
	if e := got[5]; e.SpecDigest != "sha256:bb" || e.Experiment != "monkey" {
		t.Errorf("firing = %v", e)
	}
	if e := got[6]; e.Reason != "blackout" || !strings.Contains(e.Detail, "09:00:30") {
		t.Errorf("skip = %v", e)
	}
	if e := got[8]; e.Reason != "incident" {
		t.Errorf("halt all = %v", e)
	}
	if e := got[12]; !strings.Contains(e.Detail, "127.0.0.1:7101") {
		t.Errorf("move = %v", e)
	}
}

func TestAuditRead(t *testing.T) {
	f := New()
	applyScript(f, auditScript())
	all, _ := f.Audit(nil, 0, 0)
	page, more := f.Audit(nil, 0, 5)
	if len(page) != 5 || !more {
		t.Fatalf("first page %d, more %v", len(page), more)
	}
	rest, more := f.Audit(nil, page[4].Index, 0)
	if len(rest) != len(all)-5 || more || rest[0].Index != all[5].Index {
		t.Fatalf("rest %d, more %v", len(rest), more)
	}
	since, _ := f.Audit(at(31), 0, 0)
	if len(since) != 6 || since[0].Action != AuditSchedulesPause {
		t.Fatalf("since 31s: %v", since)
	}
	// Reads are copies: changing one does not change the trail.
	page[0].By = "mallory"
	if again, _ := f.Audit(nil, 0, 1); again[0].By != "node:n1" {
		t.Error("the trail was changed through a read")
	}
}

// TestAuditSnapshot checks that the trail survives a snapshot and restore, that two
// nodes applying the same log write byte-identical snapshots, and that Restore replaces
// the trail.
func TestAuditSnapshot(t *testing.T) {
	a, b := New(), New()
	applyScript(a, auditScript())
	applyScript(b, auditScript())
	data := persist(t, a)
	if !bytes.Equal(data, persist(t, b)) {
		t.Fatal("two FSMs fed the same log wrote different snapshots")
	}
	dst := New()
	applyScript(dst, auditScript()[:3])
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	want, _ := a.Audit(nil, 0, 0)
	got, _ := dst.Audit(nil, 0, 0)
	if len(got) != len(want) {
		t.Fatalf("%d entries after restore, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("entry %d: %v, want %v", i, got[i], want[i])
		}
	}
	// The restored node goes on appending after the restored entries.
	if err := dst.ApplyCommand(100, &murphyv1.Command{At: at(100), By: "operator", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Audit(nil, 0, 0); len(got) != len(want)+1 || got[len(got)-1].Action != AuditSchedulesResume {
		t.Errorf("after restore and one more command: %d entries", len(got))
	}
}

func TestAuditClipsText(t *testing.T) {
	f := New()
	long := strings.Repeat("é", 4000)
	applyAll(t, f, []*murphyv1.Command{{At: at(0), By: long + "@1.2.3.4:5", Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: long}}}})
	got, _ := f.Audit(nil, 0, 0)
	if len(got) != 1 || len(got[0].Reason) > maxAuditText+4 || len(got[0].By) > maxAuditText+4 {
		t.Fatalf("entry not clipped: reason %d bytes, by %d bytes", len(got[0].Reason), len(got[0].By))
	}
}
