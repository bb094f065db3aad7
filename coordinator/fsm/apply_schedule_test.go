package fsm

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func createSchedule(id string, next int) *murphyv1.Command {
	return &murphyv1.Command{At: at(0), By: "sre", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: id, Name: "monkey", SpecJson: "{}", SpecDigest: "d1", NextAt: at(next)}}}
}

func fire(id string, slot, next int, run string) *murphyv1.Command {
	return &murphyv1.Command{At: at(slot), By: "schedule:" + id, Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: id, Slot: at(slot), RunId: run, SpecJson: "{}", Day: "2026-11-22", NextAt: at(next), Until: at(slot + 60)}}}
}

func skip(id, reason string, next int, slots ...int) *murphyv1.Command {
	sk := &murphyv1.SkipSchedule{ScheduleId: id, Slot: at(slots[0]), Reason: reason, NextAt: at(next)}
	for _, s := range slots[1:] {
		sk.MoreSlots = append(sk.MoreSlots, at(s))
	}
	return &murphyv1.Command{At: at(next - 1), By: "schedule:" + id, Cmd: &murphyv1.Command_SkipSchedule{SkipSchedule: sk}}
}

func scheduleOf(t *testing.T, f *FSM, id string) *murphyv1.Schedule {
	t.Helper()
	ss, _ := f.Schedules()
	for _, s := range ss {
		if s.Id == id {
			return s
		}
	}
	t.Fatalf("no schedule %s", id)
	return nil
}

// TestEverySlotDecidedOnce is defect 4 of issue 15 in the state: every slot that passed
// gets its own decision and count, a slot cannot be passed over by deciding a later one,
// and each skip is in the audit trail.
func TestEverySlotDecidedOnce(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		createSchedule("s", 10),
		fire("s", 10, 20, "r1"),
		// Quorum lost over the slots 20 and 30: the next leader decides both at once.
		skip("s", "no leader could act", 40, 20, 30),
	})
	// Deciding 50 while 40 is due would leave 40 without a decision.
	if err := f.ApplyCommand(4, fire("s", 50, 60, "r2")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("slot 50 decided before 40: %v", err)
	}
	if err := f.ApplyCommand(5, skip("s", "again", 50, 30)); !errors.Is(err, ErrExists) {
		t.Fatalf("slot 30 decided twice: %v", err)
	}
	s := scheduleOf(t, f, "s")
	if s.SkippedTotal != 2 || s.FiredTotal != 1 {
		t.Errorf("fired %d skipped %d, want 1 and 2", s.FiredTotal, s.SkippedTotal)
	}
	var got []string
	for _, d := range s.Recent {
		got = append(got, d.Slot.AsTime().Format("15:04:05")+" "+d.RunId+d.Reason)
	}
	if want := "09:00:10 r1|09:00:20 no leader could act|09:00:30 no leader could act"; strings.Join(got, "|") != want {
		t.Errorf("decisions %q, want %q", strings.Join(got, "|"), want)
	}
	if s.LastRunSlot.AsTime() != at(10).AsTime() || s.LastRunId != "r1" {
		t.Errorf("last run %s at %v", s.LastRunId, s.LastRunSlot)
	}
	audit, _ := f.Audit(nil, 0, 0)
	var skips []*murphyv1.AuditEntry
	for _, e := range audit {
		if e.Action == AuditScheduleSkip {
			skips = append(skips, e)
		}
	}
	if len(skips) != 1 || !strings.Contains(skips[0].Detail, "2 slots") || skips[0].Reason != "no leader could act" {
		t.Errorf("skips in the audit trail: %v", skips)
	}
}

// TestScheduleDecisionsBounded checks that a long outage is counted in full but kept as
// records only for its newest slots, in one audit entry.
func TestScheduleDecisionsBounded(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{createSchedule("s", 1)})
	var slots []int
	for i := 1; i <= 500; i++ {
		slots = append(slots, i)
	}
	if err := f.ApplyCommand(2, skip("s", "paused", 501, slots...)); err != nil {
		t.Fatal(err)
	}
	s := scheduleOf(t, f, "s")
	if s.SkippedTotal != 500 || len(s.Recent) != MaxScheduleDecisions || !s.Recent[len(s.Recent)-1].Slot.AsTime().Equal(at(500).AsTime()) {
		t.Errorf("skipped %d, %d records, last %v", s.SkippedTotal, len(s.Recent), s.Recent[len(s.Recent)-1].Slot.AsTime())
	}
	if err := f.ApplyCommand(3, skip("s", "x", 505, 501, 501)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a slot listed twice: %v", err)
	}
}

// TestSkipStreaksAudited: a streak of skips for one reason is one line of the audit
// trail (which is never trimmed), and a new reason or a firing starts a new streak.
func TestSkipStreaksAudited(t *testing.T) {
	f := New()
	cmds := []*murphyv1.Command{createSchedule("s", 10)}
	for i := 1; i <= 100; i++ {
		cmds = append(cmds, skip("s", "outside the allowed windows", 10*i+10, 10*i))
	}
	cmds = append(cmds,
		skip("s", "schedules are paused", 1020, 1010),
		skip("s", "schedules are paused", 1030, 1020),
		fire("s", 1030, 1040, "r1"),
		skip("s", "schedules are paused", 1050, 1040))
	applyAll(t, f, cmds)
	audit, _ := f.Audit(nil, 0, 0)
	var got []string
	for _, e := range audit {
		got = append(got, e.Action+" "+e.Reason)
	}
	want := "schedule.create |schedule.skip outside the allowed windows|schedule.skip schedules are paused|schedule.fire |schedule.skip schedules are paused"
	if strings.Join(got, "|") != want {
		t.Errorf("audit trail\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if s := scheduleOf(t, f, "s"); s.SkippedTotal != 103 {
		t.Errorf("%d skips counted, want 103", s.SkippedTotal)
	}
}

// TestStoppingScheduleCancelsQueued is defect 2's second half: runs a schedule fired that
// have not started are cancelled when the schedule is deleted or paused.
func TestStoppingScheduleCancelsQueued(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		createSchedule("a", 10), createSchedule("b", 10), createSchedule("c", 10),
		fire("a", 10, 20, "a1"), fire("b", 10, 20, "b1"), fire("c", 10, 20, "c1"),
		{At: at(11), Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "c1", Groups: &murphyv1.Groups{Experiment: []string{"w1"}}}}},
		{At: at(12), By: "sre", Cmd: &murphyv1.Command_DeleteSchedule{DeleteSchedule: &murphyv1.DeleteSchedule{ScheduleId: "a"}}},
		{At: at(13), By: "sre", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true, ScheduleId: "b"}}},
	})
	if r := f.Run("a1"); r.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED || !strings.Contains(r.Error, "deleted") {
		t.Errorf("queued run of a deleted schedule: %v %q", r.Phase, r.Error)
	}
	if r := f.Run("b1"); r.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED || !strings.Contains(r.Error, "paused") {
		t.Errorf("queued run of a paused schedule: %v %q", r.Phase, r.Error)
	}
	if r := f.Run("c1"); r.Phase != murphyv1.RunPhase_RUN_PHASE_BASELINE {
		t.Errorf("a started run of another schedule was touched: %v", r.Phase)
	}
	if err := f.ApplyCommand(10, fire("b", 20, 30, "b2")); !errors.Is(err, ErrHalted) {
		t.Errorf("a paused schedule fired: %v", err)
	}
	if err := f.ApplyCommand(11, fire("c", 20, 30, "c2")); err != nil {
		t.Errorf("pausing b stopped c: %v", err)
	}
	applyAll(t, f, []*murphyv1.Command{{At: at(21), By: "sre", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: false, ScheduleId: "b"}}}})
	if err := f.ApplyCommand(13, fire("b", 20, 30, "b2")); err != nil {
		t.Errorf("resumed schedule: %v", err)
	}
}

// TestScheduleUpdateInPlace checks that an update keeps the schedule's ID, decisions and
// counters, cannot reopen a decided slot, and is audited.
func TestScheduleUpdateInPlace(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{createSchedule("s", 10), fire("s", 10, 20, "r1")})
	upd := func(next int) *murphyv1.Command {
		return &murphyv1.Command{At: at(15), By: "sre", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "s", Name: "monkey", SpecJson: `{"v":2}`, SpecDigest: "d2", NextAt: at(next), Update: true}}}
	}
	if err := f.ApplyCommand(3, upd(10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("update reopening slot 10: %v", err)
	}
	if err := f.ApplyCommand(4, upd(25)); err != nil {
		t.Fatal(err)
	}
	s := scheduleOf(t, f, "s")
	if s.SpecDigest != "d2" || s.FiredTotal != 1 || len(s.Recent) != 1 || s.UpdatedBy != "sre" || !s.NextAt.AsTime().Equal(at(25).AsTime()) || s.CreatedBy != "sre" {
		t.Errorf("updated schedule %v", s)
	}
	audit, _ := f.Audit(nil, 0, 0)
	if e := audit[len(audit)-1]; e.Action != AuditScheduleUpdate || !strings.Contains(e.Detail, "d1 -> d2") {
		t.Errorf("audit %v", e)
	}
	restored := New()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(persist(t, f)))); err != nil {
		t.Fatal(err)
	}
	if r := scheduleOf(t, restored, "s"); len(r.Recent) != 1 || r.UpdatedAt == nil || restored.Run("r1").ScheduleUntil.AsTime() != at(70).AsTime() {
		t.Errorf("after restore %v", r)
	}
}

// TestResumeHaltOnly: lifting a cluster halt and resuming schedules are separate steps.
func TestResumeHaltOnly(t *testing.T) {
	f := New()
	applyAll(t, f, []*murphyv1.Command{
		createSchedule("s", 10),
		{At: at(1), By: "sre", Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: "incident"}}},
		{At: at(2), By: "sre", Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{HaltOnly: true}}},
	})
	if _, paused := f.Schedules(); !paused || f.ClusterHalt() != nil {
		t.Fatalf("after a halt-only resume: schedules paused %v, halt %v", paused, f.ClusterHalt())
	}
	if err := f.ApplyCommand(4, &murphyv1.Command{At: at(3), Cmd: &murphyv1.Command_Resume{Resume: &murphyv1.Resume{HaltOnly: true}}}); !errors.Is(err, ErrBadPhase) {
		t.Errorf("halt-only resume when not halted: %v", err)
	}
	applyAll(t, f, []*murphyv1.Command{{At: at(4), By: "sre", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{}}}})
	if _, paused := f.Schedules(); paused {
		t.Error("schedules still paused after they were resumed")
	}
}
