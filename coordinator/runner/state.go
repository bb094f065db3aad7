package runner

import (
	"slices"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// runState is what the leader holds about one run beyond the FSM. The runner holds it
// from adopting the run until the run has ended and its end-of-run work is done; a new
// leader rebuilds it from the FSM and from what the workers report again.
type runState struct {
	spec *spec.Experiment // parsed once

	// Worker reports waiting to be committed.
	acks      map[int32]*stepAcks // injections and failures, by step; committed while injecting
	windows   []*murphyv1.FaultWindow
	reverts   []*murphyv1.WorkerRevert // of a halted run
	rollbacks []*murphyv1.RollbackResult

	guard      *guarded
	collecting map[string]bool // Prometheus metrics with a collector running

	// waiting is the last reason the run waits, so each is logged once.
	waiting string
	// Unconfirmed faults logged, so each is logged once.
	warned map[unconfirmedKey]bool

	probesStopped  bool
	fanoutRecorded bool
}

type stepAcks struct {
	step     int32
	injected []string
	failed   []string
	errors   []string
}

type unconfirmedKey struct {
	worker string
	step   int32
}

// msgKind tells apart the messages the runner sends more than once.
type msgKind uint8

const (
	msgAssign    msgKind = iota + 1 // a step to inject, until the worker reports it
	msgConfirm                      // a revert asking about an unconfirmed fault
	msgHalt                         // a run's halt, until the worker acknowledges it
	msgRollback                     // a rollback step, until its result is committed
	msgHaltAll                      // the cluster's halt, until the worker acknowledges it
	msgReconcile                    // a revert of a fault no injecting step accounts for
)

// msgKey identifies one message for the resend timers (due) and the stream marks
// (sendOnce). A key with a run belongs to that run's lifecycle and goes with it.
type msgKey struct {
	kind msgKind
	run  string
	// wave counts the waves an escalating run finished: it repeats its steps in every
	// wave, and a worker never re-injects an assignment it has finished.
	wave     int32
	step     int32
	rollback int // index into the spec's rollbacks
	worker   string
	// assignment is a fault as a worker names it, for reverts of faults that may belong
	// to no run this leader holds.
	assignment string
}

func assignKey(kind msgKind, run *murphyv1.Run, step int32, worker string) msgKey {
	k := msgKey{kind: kind, run: run.Id, step: step, worker: worker}
	if run.WaveLevel != "" {
		k.wave = int32(len(run.Waves))
	}
	return k
}

// stateOf returns what the runner holds about run, adopting the run if it holds nothing.
//
// New adopts every run that is active or ended within the halt window, and every run
// that becomes active later is adopted on the tick that first sees it; a run is dropped
// only once its end-of-run work is done or past its time. So an ended run adopted any
// other way (a late report, an unconfirmed fault) had its probes stopped and its halt's
// fan-out recorded while it was held, or is past the halt window, or never formed groups.
func (r *Runner) stateOf(run *murphyv1.Run) *runState { return r.headState(fsm.HeadOf(run)) }

func (r *Runner) headState(h fsm.RunHead) *runState {
	if rs := r.runs[h.ID]; rs != nil {
		return rs
	}
	ended := fsm.Terminal(h.Phase)
	rs := &runState{probesStopped: ended, fanoutRecorded: ended}
	r.runs[h.ID] = rs
	return rs
}

// rebuild adopts what a new leader must carry on from the FSM: the active runs, and the
// runs that ended within the halt window, whose halts, rollbacks, final summaries and
// probe stops may be unfinished.
func (r *Runner) rebuild() {
	for _, run := range r.cfg.FSM.ActiveRuns() {
		r.stateOf(run)
	}
	for _, run := range r.cfg.FSM.EndedSince(r.cfg.Now().Add(-HaltWindow)) {
		rs := r.stateOf(run)
		rs.probesStopped, rs.fanoutRecorded = false, false
	}
}

// heldEnded lists the held runs among the runs that ended since since, oldest first.
func (r *Runner) heldEnded(since time.Time) []*murphyv1.Run {
	ended := r.cfg.FSM.EndedSince(since)
	return slices.DeleteFunc(ended, func(run *murphyv1.Run) bool { return r.runs[run.Id] == nil })
}

// dropFinished forgets the runs whose end-of-run work is done, and what was sent for them.
// The runs in active were active at this tick's start and are not looked at again.
func (r *Runner) dropFinished(active []*murphyv1.Run, now time.Time) {
	if len(r.runs) == len(active) {
		return // every held run is active
	}
	live := make(map[string]bool, len(active))
	for _, run := range active {
		live[run.Id] = true
	}
	for id, rs := range r.runs {
		if live[id] || !r.finished(r.cfg.FSM.Run(id), rs, now) {
			continue
		}
		delete(r.runs, id)
		for k := range r.sent {
			if k.run == id {
				delete(r.sent, k)
			}
		}
		for k := range r.sentOn {
			if k.run == id {
				delete(r.sentOn, k)
			}
		}
		r.status.mu.Lock()
		delete(r.status.by, id)
		r.status.mu.Unlock()
	}
}

// finished reports whether nothing is left to do for a run: it ended, every report about
// it is committed, and its end-of-run work is done: probes stopped, every member's halt
// acknowledged, every rollback step's result and the final summaries committed, every
// fault confirmed reverted. Past the halt window only unconfirmed faults are still asked
// about, and past unconfirmedHorizon nothing is.
func (r *Runner) finished(run *murphyv1.Run, rs *runState, now time.Time) bool {
	if run == nil {
		return true
	}
	if !fsm.Terminal(run.Phase) || len(rs.windows) > 0 {
		return false
	}
	since := now.Sub(run.GetEndedAt().AsTime())
	unconfirmed := unconfirmedWindows(run)
	switch {
	case since > unconfirmedHorizon:
		return true
	case unconfirmed:
		return false
	case since > HaltWindow:
		return true
	}
	if !rs.probesStopped || len(rs.reverts) > 0 || len(rs.rollbacks) > 0 {
		return false
	}
	if run.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED && !haltAcked(run) {
		return false
	}
	if run.Groups != nil {
		if _, final := r.cfg.FSM.SummaryProgress(run.Id); !final {
			return false
		}
	}
	return !r.rollbacksOutstanding(run)
}

// unconfirmedWindows reports whether a fault of run was never confirmed reverted.
func unconfirmedWindows(run *murphyv1.Run) bool {
	for _, st := range run.GetSteps() {
		for _, w := range st.Windows {
			if w.RevertedAt == nil {
				return true
			}
		}
	}
	return false
}

// haltAcked reports whether every member acknowledged the run's halt.
func haltAcked(run *murphyv1.Run) bool {
	acked := map[string]bool{}
	for _, rv := range run.Halt.GetReverts() {
		acked[rv.WorkerId] = true
	}
	return len(acked) >= len(fsm.GroupWorkers(run.GetGroups()))
}

// rollbacksOutstanding reports whether an experimental worker has a rollback step of
// an ended run with no result committed.
func (r *Runner) rollbacksOutstanding(run *murphyv1.Run) bool {
	sp, err := r.specOf(run)
	if err != nil || len(sp.Rollbacks) == 0 {
		return false
	}
	done := map[rollbackStep]bool{}
	for _, res := range run.Rollbacks {
		done[rollbackStep{int(res.Index), res.WorkerId}] = true
	}
	for _, w := range run.Groups.GetExperiment() {
		for i := range sp.Rollbacks {
			if !done[rollbackStep{i, w}] {
				return true
			}
		}
	}
	return false
}

// rollbackStep is one worker's part in one rollback step.
type rollbackStep struct {
	index  int
	worker string
}
