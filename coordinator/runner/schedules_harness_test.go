package runner

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/schedule"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// schedHarness is one leader's runner over a real FSM and fleet, with a fake clock and
// fake workers that hold the faults they are assigned until they are reverted or their
// own deadline passes, as real workers do. Commands are applied straight to the FSM.
type schedHarness struct {
	t     *testing.T
	now   time.Time
	f     *fsm.FSM
	fl    *fleet.Fleet
	r     *Runner
	idx   uint64
	conns []*fleet.Conn
	// Faults each fake worker holds: assignment ID -> its deadline.
	held map[string]map[string]time.Time
	// limits are the next leader's schedule limits.
	limits Limits
}

func newSchedHarness(t *testing.T, start time.Time, workers int) *schedHarness {
	t.Helper()
	h := &schedHarness{t: t, now: start, f: fsm.New(), held: map[string]map[string]time.Time{}}
	h.fl = fleet.New(h.clock)
	h.newLeader()
	for i := range workers {
		id := fmt.Sprintf("w%d", i+1)
		labels := map[string]string{"service": "demo", spec.OptInLabel: "enabled", "datacenter": fmt.Sprintf("dc%d", i%2)}
		h.apply(&murphyv1.Command{Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{WorkerId: id, Labels: labels, Capabilities: []string{"http.delay"}}}})
		h.conns = append(h.conns, h.fl.Attach(&murphyv1.Hello{WorkerId: id, Labels: labels, Capabilities: []string{"http.delay"}}))
		h.held[id] = map[string]time.Time{}
	}
	return h
}

func (h *schedHarness) clock() time.Time { return h.now }

// newLeader replaces the runner, as a leadership change does: everything it knew beyond
// the FSM is gone.
func (h *schedHarness) newLeader() {
	h.r = New(Config{
		NodeID: "n1", FSM: h.f, Fleet: h.fl, Now: h.clock, Seed: func() uint64 { return 1 },
		WaitForWorkers: 5 * time.Second, ScheduleLimits: h.limits,
		Apply: func(_ context.Context, cmd *murphyv1.Command) error {
			h.idx++
			return h.f.ApplyCommand(h.idx, cmd)
		},
	})
}

func (h *schedHarness) apply(cmd *murphyv1.Command) {
	h.t.Helper()
	if cmd.At == nil {
		cmd.At = timestamppb.New(h.now)
	}
	h.idx++
	if err := h.f.ApplyCommand(h.idx, cmd); err != nil {
		h.t.Fatalf("apply %T: %v", cmd.Cmd, err)
	}
}

// createSchedule registers a spec with a schedule as the Submit RPC does.
func (h *schedHarness) createSchedule(id, schedYAML, steps string) {
	h.t.Helper()
	doc := `apiVersion: murphy/v1
name: ` + id + `
targets: {selector: {service: demo}, experiment: {count: 2}, control: {count: 2}, stratify: [], blastRadius: {maxWorkers: 2, maxPercentPerDatacenter: 100}}
hypothesis:
  metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1:1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.5}}]
  allowUnderpowered: true
baseline: 1s
schedule: ` + schedYAML + `
steps: ` + steps + "\n"
	sp, err := spec.Parse([]byte(doc), id+".yaml", spec.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	plan, err := schedule.Compile(sp.Schedule)
	if err != nil {
		h.t.Fatal(err)
	}
	h.apply(&murphyv1.Command{By: "sre", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{
		ScheduleId: id, Name: id, Spec: sp, NextAt: timestamppb.New(plan.Next(h.now, 0.5)),
	}}})
}

// run advances the clock to until in steps of 100ms, ticking the leader at each (unless
// leaderless) and checking at each instant that no fault is held outside its run's window.
func (h *schedHarness) run(until time.Time, leaderless bool) {
	h.t.Helper()
	for h.now.Before(until) {
		h.now = h.now.Add(100 * time.Millisecond)
		for _, c := range h.conns {
			h.fl.Handle(c, &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{}}})
		}
		if !leaderless {
			h.r.drainEvents()
			h.r.tick(context.Background())
		}
		h.deliver()
		h.checkWindows()
	}
}

// deliver plays the fake workers: assignments are held until reverted or their deadline.
func (h *schedHarness) deliver() {
	for _, c := range h.conns {
		held := h.held[c.WorkerID]
		for _, msg := range queued(c) {
			switch m := msg.Msg.(type) {
			case *murphyv1.ConnectResponse_Assign:
				if h.now.Before(m.Assign.Deadline.AsTime()) {
					held[m.Assign.AssignmentId] = m.Assign.Deadline.AsTime()
				}
			case *murphyv1.ConnectResponse_Revert:
				for id := range held {
					if (len(m.Revert.AssignmentIds) == 0 && strings.HasPrefix(id, m.Revert.RunId+"/")) || containsStr(m.Revert.AssignmentIds, id) {
						delete(held, id)
					}
				}
			case *murphyv1.ConnectResponse_Halt:
				for id := range held {
					if m.Halt.RunId == "" || strings.HasPrefix(id, m.Halt.RunId+"/") {
						delete(held, id)
					}
				}
			}
		}
		for id, deadline := range held {
			if !h.now.Before(deadline) {
				delete(held, id)
			}
		}
	}
}

// queued takes what the leader queued for the worker of c.
func queued(c *fleet.Conn) []*murphyv1.ConnectResponse {
	var out []*murphyv1.ConnectResponse
	for _, o := range c.Take() {
		out = append(out, o.Msg)
	}
	return out
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// checkWindows fails the test when a fault is held at or after its run's window end.
func (h *schedHarness) checkWindows() {
	h.t.Helper()
	for w, held := range h.held {
		for id := range held {
			run := h.f.Run(id[:strings.Index(id, "/")])
			if u := run.GetScheduleUntil(); u != nil && !h.now.Before(u.AsTime()) {
				h.t.Fatalf("%s: worker %s holds %s after the window closed at %s", h.now.Format("15:04:05.0"), w, id, u.AsTime().Format("15:04:05"))
			}
		}
	}
}

func (h *schedHarness) schedule(id string) *murphyv1.Schedule {
	ss, _ := h.f.Schedules()
	for _, s := range ss {
		if s.Id == id {
			return s
		}
	}
	h.t.Fatalf("no schedule %s", id)
	return nil
}

// decisions lists the schedule's decisions as "15:04:05 fired|skip: reason".
func (h *schedHarness) decisions(id string) []string {
	var out []string
	for _, d := range h.schedule(id).Recent {
		s := d.Slot.AsTime().UTC().Format("15:04:05")
		if d.RunId != "" {
			s += " fired"
		} else {
			s += " skip: " + d.Reason
		}
		out = append(out, s)
	}
	return out
}

// runsOf returns the runs a schedule fired, by slot.
func (h *schedHarness) runsOf(id string) map[string]*murphyv1.Run {
	out := map[string]*murphyv1.Run{}
	for _, r := range h.f.Runs() {
		if r.ScheduleId == id {
			out[r.ScheduleSlot.AsTime().UTC().Format("15:04:05")] = r
		}
	}
	return out
}

func at(h, m, s int) time.Time { return time.Date(2026, 12, 7, h, m, s, 0, time.UTC) }
