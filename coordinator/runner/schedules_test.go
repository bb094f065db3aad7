package runner

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestRunSpecOptIn(t *testing.T) {
	f := false
	tests := []struct {
		name      string
		targets   *spec.Targets
		optIn     *bool
		wantMap   map[string]string
		wantMatch string
	}{
		{"equality map gains the opt-in label", &spec.Targets{Selector: map[string]string{"service": "web"}}, nil, map[string]string{"murphy.io/chaos": "enabled", "service": "web"}, ""},
		{"expression gains the opt-in requirement", &spec.Targets{Match: "region in (a,b)"}, nil, nil, "murphy.io/chaos=enabled,region in (a,b)"},
		{"opt-out keeps the selector", &spec.Targets{Selector: map[string]string{"service": "web"}}, &f, map[string]string{"service": "web"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spec.Experiment{Name: "x", Targets: tc.targets, Schedule: &spec.Schedule{Cron: "* * * * *", OptIn: tc.optIn}}
			run, err := RunSpec(sp)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(run.Targets.Selector, tc.wantMap) || run.Targets.Match != tc.wantMatch || run.Schedule != nil {
				t.Errorf("run spec %v\nwant selector %v, match %q and no schedule", run, tc.wantMap, tc.wantMatch)
			}
			if sp.Targets.Selector != nil && sp.Targets.Selector["murphy.io/chaos"] != "" {
				t.Error("RunSpec changed the schedule's own spec")
			}
		})
	}
}

// TestScheduleWindowHolds is defect 1 of issue 15: with a window of one minute, a 10s
// cron and a 20s step, no fault is held after the window closes (checked every 100ms), a
// step that would end after it is not started, and a run queued past it never starts.
func TestScheduleWindowHolds(t *testing.T) {
	h := newSchedHarness(t, at(9, 59, 55), 4)
	h.createSchedule("win", `{cron: "*/10 * * * * *", timezone: UTC, optIn: true, overlap: queue, maxQueued: 5, windows: [{start: "10:00", end: "10:01"}]}`,
		`[{fault: http.delay, params: {delay: 30ms}, duration: 20s}]`)
	h.run(at(10, 2, 30), false)
	runs := h.runsOf("win")
	if len(runs) == 0 {
		t.Fatal("nothing fired")
	}
	injected := 0
	for slot, r := range runs {
		if !r.ScheduleUntil.AsTime().Equal(at(10, 1, 0)) {
			t.Errorf("run of %s: until %v, want 10:01:00", slot, r.ScheduleUntil.AsTime())
		}
		for _, st := range r.Steps {
			injected++
			if end := st.EndedAt.AsTime(); end.After(at(10, 1, 0)) {
				t.Errorf("run of %s: step ended %s, after the window", slot, end.Format(time.TimeOnly))
			}
		}
		if r.Phase == murphyv1.RunPhase_RUN_PHASE_FAILED && !strings.Contains(r.Error, "window") {
			t.Errorf("run of %s failed: %s", slot, r.Error)
		}
	}
	if injected == 0 {
		t.Error("no step ran inside the window at all")
	}
	if r := runs["10:00:40"]; r == nil || len(r.Steps) != 0 || !strings.Contains(r.Error, "before its schedule's window closes") {
		t.Errorf("the 10:00:40 run (a 20s step from 10:00:41 ends after 10:01): %v", r)
	}
	for _, d := range h.decisions("win") {
		if d >= "10:01:00" && strings.HasSuffix(d, "fired") {
			t.Errorf("fired outside the window: %s", d)
		}
	}
}

// TestScheduleWindowCutsLateStep: when the leader comes back after the window closed (or
// a step ran long), the step is reverted at once, and the worker's own deadline never
// lies past the window.
func TestScheduleWindowCutsLateStep(t *testing.T) {
	h := newSchedHarness(t, at(9, 59, 55), 4)
	h.createSchedule("cut", `{cron: "0 0 10 * * *", timezone: UTC, optIn: true, windows: [{start: "10:00", end: "10:01"}]}`,
		`[{fault: http.delay, params: {delay: 30ms}, duration: 57s}]`)
	h.run(at(10, 0, 5), false)
	run := h.runsOf("cut")["10:00:00"]
	if run == nil || run.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING {
		t.Fatalf("run %v", run)
	}
	// The step ends at 10:00:58.1 and its grace at 10:01:00.1; the leader is gone from 10:00:10
	// to 10:01:30, so the workers' own deadlines (capped at the window's end) must hold
	// the window.
	h.run(at(10, 0, 10), false)
	h.run(at(10, 1, 30), true)
	h.newLeader()
	h.run(at(10, 1, 35), false)
	if run = h.f.Run(run.Id); run.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED || !strings.Contains(run.Error, "window closed") {
		t.Errorf("after the window: %v %q", run.Phase, run.Error)
	}
}

// TestScheduleOverlap is defect 2: a slot that finds the previous run active is skipped
// (the default), queued up to maxQueued and no longer than maxWait, or replaces it.
func TestScheduleOverlap(t *testing.T) {
	steps := `[{fault: http.delay, params: {delay: 30ms}, duration: 25s}]`
	tests := []struct {
		name, sched string
		want        []string // decisions, as "slot fired|skip"
		check       func(t *testing.T, runs map[string]*murphyv1.Run)
	}{
		{"skip", `{cron: "*/10 * * * * *", timezone: UTC}`,
			[]string{"10:00:00 fired", "10:00:10 skip", "10:00:20 skip", "10:00:30 fired"}, nil},
		{"queue", `{cron: "*/10 * * * * *", timezone: UTC, overlap: queue, maxQueued: 1, maxWait: 15s}`,
			[]string{"10:00:00 fired", "10:00:10 fired", "10:00:20 skip", "10:00:30 fired"},
			func(t *testing.T, runs map[string]*murphyv1.Run) {
				// The 10:00:10 run waits behind the first, which ends after 10:00:26, so
				// by then it has waited longer than maxWait.
				if r := runs["10:00:10"]; r.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED || !strings.Contains(r.Error, "maxWait") {
					t.Errorf("queued run: %v %q", r.Phase, r.Error)
				}
			}},
		{"replace", `{cron: "*/10 * * * * *", timezone: UTC, overlap: replace}`,
			[]string{"10:00:00 fired", "10:00:10 fired", "10:00:20 fired", "10:00:30 fired"},
			func(t *testing.T, runs map[string]*murphyv1.Run) {
				if r := runs["10:00:00"]; r.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED || !strings.Contains(r.Halt.GetReason(), "replaced") {
					t.Errorf("replaced run: %v %v", r.Phase, r.Halt)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newSchedHarness(t, at(9, 59, 58), 4)
			h.createSchedule("o", tc.sched, steps)
			h.run(at(10, 0, 35), false)
			var got []string
			for _, d := range h.decisions("o") {
				got = append(got, d[:8]+" "+strings.TrimSuffix(strings.Fields(d)[1], ":"))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("decisions\n%s\nwant\n%s", strings.Join(h.decisions("o"), "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.check != nil {
				tc.check(t, h.runsOf("o"))
			}
		})
	}
}

// TestScheduleResumeNoBurst is defect 3: slots that pass while paused are skipped at
// their time, and resuming fires only slots that come after it, on time.
func TestScheduleResumeNoBurst(t *testing.T) {
	h := newSchedHarness(t, at(9, 59, 58), 0)
	h.createSchedule("p", `{cron: "*/5 * * * * *", timezone: UTC}`, `[{fault: http.delay, params: {delay: 30ms}, duration: 1s}]`)
	h.run(at(10, 0, 2), false)
	h.apply(&murphyv1.Command{By: "sre", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{Paused: true}}})
	h.run(at(10, 0, 29), false)
	h.apply(&murphyv1.Command{By: "sre", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: &murphyv1.PauseSchedules{}}})
	resumed := h.now
	h.run(at(10, 0, 36), false)
	for slot, r := range h.runsOf("p") {
		if fired := r.CreatedAt.AsTime(); fired.Sub(r.ScheduleSlot.AsTime()) > 200*time.Millisecond {
			t.Errorf("slot %s fired %s late", slot, fired.Sub(r.ScheduleSlot.AsTime()))
		}
		if r.ScheduleSlot.AsTime().After(at(10, 0, 2)) && r.ScheduleSlot.AsTime().Before(resumed) {
			t.Errorf("slot %s passed while paused and fired", slot)
		}
	}
	want := []string{"10:00:00 fired", "10:00:05 skip", "10:00:10 skip", "10:00:15 skip", "10:00:20 skip", "10:00:25 skip", "10:00:30 fired", "10:00:35 fired"}
	if got := h.decisions("p"); len(got) != len(want) {
		t.Fatalf("decisions %q", got)
	} else {
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("decision %d = %q, want %q", i, got[i], want[i])
			}
		}
	}
}

// TestScheduleMissedSlotsCounted is defect 4: every slot that passed without a leader is
// recorded as skipped, one by one, with the reason, and none is fired late.
func TestScheduleMissedSlotsCounted(t *testing.T) {
	h := newSchedHarness(t, at(9, 59, 58), 0)
	h.createSchedule("q", `{cron: "*/10 * * * * *", timezone: UTC}`, `[{fault: http.delay, params: {delay: 30ms}, duration: 1s}]`)
	h.run(at(10, 0, 1), false)
	h.run(at(10, 0, 57), true) // quorum lost over the slots 10, 20, 30, 40 and 50
	h.newLeader()
	h.run(at(10, 1, 1), false)
	s := h.schedule("q")
	ds := h.decisions("q")
	if s.SkippedTotal != 5 || s.FiredTotal != 2 || len(ds) != 7 {
		t.Fatalf("fired %d skipped %d, want 2 and 5: %q", s.FiredTotal, s.SkippedTotal, ds)
	}
	for _, d := range ds[1:6] {
		if !strings.Contains(d, "skip: missed") {
			t.Errorf("decision %q", d)
		}
	}
	if _, ok := h.runsOf("q")["10:01:00"]; !ok {
		t.Error("the first slot after the outage did not fire")
	}
}

// TestScheduleSlotDuringElection: a slot that comes while no leader can act is missed,
// however soon a new leader takes over: it is skipped, not fired late.
func TestScheduleSlotDuringElection(t *testing.T) {
	h := newSchedHarness(t, at(9, 59, 58), 4)
	h.createSchedule("e", `{cron: "*/10 * * * * *", timezone: UTC, optIn: false}`, `[{fault: http.delay, params: {delay: 30ms}, duration: 1s}]`)
	h.run(at(10, 0, 9), false)
	h.run(at(10, 0, 11), true) // the leader dies a second before the slot at 10:00:10
	h.newLeader()              // and the next one leads a second after it
	h.run(at(10, 0, 21), false)
	ds := h.decisions("e")
	if len(ds) != 3 || !strings.Contains(ds[1], "skip: missed: it came while no leader could act (this leader took over 1s after it)") {
		t.Fatalf("decisions %q, want the 10:00:10 slot skipped as missed", ds)
	}
	runs := h.runsOf("e")
	if _, late := runs["10:00:10"]; late {
		t.Error("the slot that came during the election fired late")
	}
	if _, ok := runs["10:00:20"]; !ok || len(runs) != 2 {
		t.Errorf("runs %v, want the slots at 10:00:00 and 10:00:20", runs)
	}
}

// TestScheduleFleetFailuresKeepCap is defect 5's second half: runs that fail because the
// fleet cannot form their groups do not use up maxPerDay.
func TestScheduleFleetFailuresKeepCap(t *testing.T) {
	h := newSchedHarness(t, at(9, 59, 58), 0)
	h.createSchedule("c", `{cron: "*/10 * * * * *", timezone: UTC, maxPerDay: 1}`, `[{fault: http.delay, params: {delay: 30ms}, duration: 1s}]`)
	h.run(at(10, 0, 21), false)
	got := h.decisions("c")
	if len(got) != 3 || !strings.HasSuffix(got[0], "fired") || !strings.HasSuffix(got[1], "fired") || !strings.HasSuffix(got[2], "fired") {
		t.Errorf("decisions %q: a run that never started used the cap", got)
	}
}

// TestScheduleFleetLimits: a cluster-wide limit on scheduled runs active at once, and a
// service's daily budget in runs and in fault-minutes, which every schedule aimed at the
// service draws from.
func TestScheduleFleetLimits(t *testing.T) {
	step := `[{fault: http.delay, params: {delay: 30ms}, duration: 30s}]`
	tests := []struct {
		name   string
		limits Limits
		want   string // the reason b's first slot is skipped
	}{
		{"active at once", Limits{MaxActive: 1}, "limit of 1 scheduled runs active at once"},
		{"runs per day", Limits{Budgets: []Budget{{Service: "demo", Runs: 1}}}, "1 of 1 runs"},
		// a's run spends 2 workers x 0.5 min = 1 fault-minute; b needs another.
		{"fault-minutes per day", Limits{Budgets: []Budget{{Service: "demo", FaultMinutes: 1.5}}}, "1.0 of 1.5 fault-minutes spent"},
		{"another service's budget", Limits{Budgets: []Budget{{Service: "payments", Runs: 1}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newSchedHarness(t, at(9, 59, 58), 8)
			h.limits = tc.limits
			h.newLeader()
			h.createSchedule("a", `{cron: "0 0 10 * * *", timezone: UTC}`, step)
			h.createSchedule("b", `{cron: "10 0 10 * * *", timezone: UTC}`, step)
			h.run(at(10, 0, 12), false)
			if got := h.decisions("a"); len(got) != 1 || !strings.HasSuffix(got[0], "fired") {
				t.Fatalf("a: %q", got)
			}
			got := h.decisions("b")
			switch {
			case len(got) != 1:
				t.Fatalf("b: %q", got)
			case tc.want == "" && !strings.HasSuffix(got[0], "fired"):
				t.Errorf("b skipped: %q", got[0])
			case tc.want != "" && !strings.Contains(got[0], tc.want):
				t.Errorf("b: %q, want a skip for %q", got[0], tc.want)
			}
		})
	}
}
