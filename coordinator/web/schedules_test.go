package web

import (
	"regexp"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestScheduleNextSlotOnlyWhenItCanFire: a schedule shows its next slot only while it
// can fire; paused by itself, with every schedule, or by a halted cluster, it shows
// "paused" and why.
func TestScheduleNextSlotOnlyWhenItCanFire(t *testing.T) {
	next := regexp.MustCompile(`<td>(paused[^<]*|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC|none)</td>`)
	h := newTestHandler(t, 1, 2)
	idx := uint64(1000)
	cmd := func(c *murphyv1.Command) {
		idx++
		c.At = timestamppb.New(t0.Add(time.Hour))
		if err := h.cfg.FSM.ApplyCommand(idx, c); err != nil {
			t.Fatal(err)
		}
	}
	cmd(&murphyv1.Command{By: "ada", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "nightly-1", Name: "checkout", Spec: testSpec(specJSON), NextAt: timestamppb.New(t0.Add(2 * time.Hour))}}})
	for _, step := range []struct {
		cmd  *murphyv1.Command
		want string
	}{
		{nil, "2026-03-01 14:00:00 UTC"},
		{&murphyv1.Command{Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true, ScheduleId: "nightly-1"}}}, "paused (this schedule)"},
		{&murphyv1.Command{Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: false, ScheduleId: "nightly-1"}}}, "2026-03-01 14:00:00 UTC"},
		{&murphyv1.Command{Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true}}}, "paused"},
		{&murphyv1.Command{Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: false}}}, "2026-03-01 14:00:00 UTC"},
		{&murphyv1.Command{By: "ada", Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: "incident"}}}, "paused (the cluster is halted)"},
	} {
		if step.cmd != nil {
			cmd(step.cmd)
		}
		_, body := get(t, h, "/ui/schedules")
		if m := next.FindStringSubmatch(body); m == nil || m[1] != step.want {
			t.Errorf("after %v the next slot reads %q, want %q", step.cmd.GetCmd(), m, step.want)
		}
	}
}
