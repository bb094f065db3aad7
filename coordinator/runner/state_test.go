package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// answering plays the harness's workers as real ones answer: each assignment is reported
// injected, each revert and halt reported with its cause, each halt acknowledged.
type answering struct {
	h    *schedHarness
	held map[string]map[string]*murphyv1.Assign // worker -> assignment ID -> assignment
	mute bool                                   // the workers hear nothing (a partition)
	// fails reports whether the workers fail to inject an assignment.
	fails func(*murphyv1.Assign) bool
}

func newAnswering(h *schedHarness) *answering {
	a := &answering{h: h, held: map[string]map[string]*murphyv1.Assign{}}
	for _, c := range h.conns {
		a.held[c.WorkerID] = map[string]*murphyv1.Assign{}
	}
	return a
}

// run advances the clock to until in steps of 100ms, ticking the leader at each.
func (a *answering) run(until time.Time, each func()) {
	h := a.h
	for h.now.Before(until) {
		h.now = h.now.Add(100 * time.Millisecond)
		for _, c := range h.conns {
			h.fl.Handle(c, &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{}}})
		}
		h.r.drainEvents()
		h.r.tick(context.Background())
		if each != nil {
			each()
		}
		if !a.mute {
			a.answer()
		}
	}
}

func (a *answering) answer() {
	h := a.h
	now := timestamppb.New(h.now)
	for _, c := range h.conns {
		held := a.held[c.WorkerID]
		report := func(as *murphyv1.Assign, state murphyv1.FaultState, cause murphyv1.RevertCause) {
			h.fl.Handle(c, &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: &murphyv1.StepStatus{
				AssignmentId: as.AssignmentId, RunId: as.RunId, Step: as.Step, State: state, Cause: cause, At: now, InjectedAt: now,
			}}})
		}
		revert := func(id string, cause murphyv1.RevertCause) {
			if as, ok := held[id]; ok {
				delete(held, id)
				report(as, murphyv1.FaultState_FAULT_STATE_REVERTED, cause)
			}
		}
		for _, msg := range queued(c) {
			switch m := msg.Msg.(type) {
			case *murphyv1.ConnectResponse_Assign:
				if a.fails != nil && a.fails(m.Assign) {
					report(m.Assign, murphyv1.FaultState_FAULT_STATE_FAILED, murphyv1.RevertCause_REVERT_CAUSE_UNSPECIFIED)
				} else if _, ok := held[m.Assign.AssignmentId]; !ok {
					held[m.Assign.AssignmentId] = m.Assign
					report(m.Assign, murphyv1.FaultState_FAULT_STATE_INJECTED, murphyv1.RevertCause_REVERT_CAUSE_UNSPECIFIED)
				}
			case *murphyv1.ConnectResponse_Revert:
				for id, as := range held {
					if containsStr(m.Revert.AssignmentIds, id) || (len(m.Revert.AssignmentIds) == 0 && as.RunId == m.Revert.RunId) {
						revert(id, m.Revert.Cause)
					}
				}
			case *murphyv1.ConnectResponse_Halt:
				ack := &murphyv1.HaltAck{RunId: m.Halt.RunId, At: now}
				for id, as := range held {
					if m.Halt.RunId == "" || as.RunId == m.Halt.RunId {
						revert(id, murphyv1.RevertCause_REVERT_CAUSE_HALT)
						ack.Reverted = append(ack.Reverted, id)
					}
				}
				h.fl.Handle(c, &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_HaltAck{HaltAck: ack}})
			}
		}
		for id, as := range held {
			if !h.now.Before(as.Deadline.AsTime()) {
				revert(id, murphyv1.RevertCause_REVERT_CAUSE_DEADLINE)
			}
		}
	}
}

const heldDoc = `apiVersion: murphy/v1
name: held
targets: {selector: {service: demo}, experiment: {count: 2}, control: {count: 2}, stratify: [], blastRadius: {maxWorkers: 2, maxPercentPerDatacenter: 100}}
hypothesis:
  metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1:1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.5}}]
  allowUnderpowered: true
abort: [{metric: lat, above: 10, for: 1s}]
baseline: 1s
steps: [{fault: http.delay, params: {delay: 10ms}, duration: 2s}]
rollbacks: [{fault: http.delay, params: {delay: 1ms}, duration: 1s}]
`

func (h *schedHarness) createRun(id string) {
	h.t.Helper()
	sp, err := spec.Parse([]byte(heldDoc), "held.yaml", spec.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.apply(&murphyv1.Command{Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: id, Experiment: "held", Spec: sp}}})
}

// assertHoldsNothing fails unless the runner holds no state about any run.
func assertHoldsNothing(t *testing.T, r *Runner) {
	t.Helper()
	if len(r.runs) != 0 || len(r.sent) != 0 || len(r.sentOn) != 0 || len(r.status.by) != 0 {
		t.Fatalf("runner still holds %d runs, %d resend timers %v, %d stream marks %v, %d guardrail statuses",
			len(r.runs), len(r.sent), r.sent, len(r.sentOn), r.sentOn, len(r.status.by))
	}
}

// TestRunnerHoldsNothingForEndedRuns drives runs to every ending (completed, failed
// because every worker failed to inject, halted by an operator mid-step), each with a
// rollback step and a guardrail, and checks that once their end-of-run work is done (rollbacks, halt
// acknowledgements, final summaries, confirmed reverts) the runner holds nothing about
// them: a leadership term of any length does not grow with the runs it drove.
func TestRunnerHoldsNothingForEndedRuns(t *testing.T) {
	start := at(9, 0, 0)
	h := newSchedHarness(t, start, 4)
	a := newAnswering(h)
	const n = 9
	ending := map[string]murphyv1.RunPhase{}
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		h.createRun(id)
		ending[id] = []murphyv1.RunPhase{murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED}[i%3]
	}
	a.fails = func(as *murphyv1.Assign) bool {
		return as.Step >= 0 && ending[as.RunId] == murphyv1.RunPhase_RUN_PHASE_FAILED
	}
	halted := map[string]bool{}
	a.run(start.Add(5*time.Minute), func() {
		for _, run := range h.f.ActiveRuns() {
			if ending[run.Id] == murphyv1.RunPhase_RUN_PHASE_HALTED && run.Phase == murphyv1.RunPhase_RUN_PHASE_INJECTING && !halted[run.Id] {
				halted[run.Id] = true
				h.apply(&murphyv1.Command{By: "sre", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: run.Id, Reason: "drill"}}})
			}
		}
	})
	for _, run := range h.f.Runs() {
		if run.Phase != ending[run.Id] {
			t.Fatalf("run %s %v (%s), want %v", run.Id, run.Phase, run.Error, ending[run.Id])
		}
		if got, want := len(run.Rollbacks), len(run.Groups.GetExperiment()); got != want {
			t.Errorf("run %s (%v): %d rollback results, want %d", run.Id, run.Phase, got, want)
		}
		if _, final := h.f.SummaryProgress(run.Id); !final {
			t.Errorf("run %s: final summaries not recorded", run.Id)
		}
		if unconfirmedWindows(run) {
			t.Errorf("run %s: a fault was never confirmed reverted", run.Id)
		}
	}
	assertHoldsNothing(t, h.r)
}

// TestNewLeaderAdoptsUnfinishedRuns: a leader that dies while a halted run's workers
// have not acknowledged leaves the run to the next one, which adopts it from the FSM,
// delivers the halt and the rollbacks, and then drops it.
func TestNewLeaderAdoptsUnfinishedRuns(t *testing.T) {
	start := at(9, 0, 0)
	h := newSchedHarness(t, start, 4)
	a := newAnswering(h)
	h.createRun("r1")
	a.run(start.Add(time.Minute), func() {
		if run := h.f.Run("r1"); run.Phase == murphyv1.RunPhase_RUN_PHASE_INJECTING && !a.mute {
			a.mute = true
			h.apply(&murphyv1.Command{By: "sre", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: "r1", Reason: "drill"}}})
		}
	})
	if run := h.f.Run("r1"); run.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED || len(run.Halt.GetReverts()) != 0 {
		t.Fatalf("run in %v with %d acknowledgements: want halted and unacknowledged", run.Phase, len(run.Halt.GetReverts()))
	}
	if h.r.runs["r1"] == nil {
		t.Fatal("the leader dropped a halted run no worker acknowledged")
	}
	// The workers reconnect to a new leader, which knows the run only from the FSM.
	h.newLeader()
	if h.r.runs["r1"] == nil {
		t.Fatal("the new leader did not adopt the unfinished run")
	}
	for i, c := range h.conns {
		h.fl.Detach(c)
		w := h.f.Worker(c.WorkerID)
		h.conns[i] = h.fl.Attach(&murphyv1.Hello{WorkerId: c.WorkerID, Labels: w.Labels, Capabilities: w.Capabilities})
	}
	a.mute = false
	a.run(h.now.Add(30*time.Second), nil)
	run := h.f.Run("r1")
	if got := len(run.Halt.GetReverts()); got != 4 {
		t.Errorf("%d members acknowledged the halt, want 4", got)
	}
	if got := len(run.Rollbacks); got != 2 {
		t.Errorf("%d rollback results, want 2", got)
	}
	assertHoldsNothing(t, h.r)
}
