package runner

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Rollbacks are the spec's explicit undo steps (Chaos Toolkit's rollbacks). They run on
// every experimental worker once the run has ended, whatever the ending: completed,
// failed or halted. They come after Murphy's own reverts: a completed run reverted its
// last step before it ended, a failed run sent its reverts before the failure was
// committed, and a halted run's worker gets its rollbacks only once it acknowledged the
// halt. A worker handles its stream's messages in order, so the reverts are done when
// the rollbacks start.
//
// Delivery is at least once: the results are committed (RecordRollback), and a new
// leader resends any step no result was committed for, for rollbackWindow after the end.

// rollbackWindow bounds how long after a run's end its rollbacks are still delivered.
const rollbackWindow = HaltWindow

// rollbackID names one worker's part in one rollback step. Its assignment carries the
// step as -1-i, so the runs' steps (0 and up) and the rollbacks never share a number.
func rollbackID(run string, i int, worker string) string {
	return run + "/rollback-" + strconv.Itoa(i) + "/" + worker
}

// rollbackIndex is the rollback step a status reports on, or false when it reports on a
// run's step.
func rollbackIndex(worker string, st *murphyv1.StepStatus) (int, bool) {
	i := int(-1 - st.GetStep())
	return i, i >= 0 && st.GetAssignmentId() == rollbackID(st.GetRunId(), i, worker)
}

// rollbackStatus files a worker's report about a rollback assignment; it reports
// whether the status was one.
func (r *Runner) rollbackStatus(worker string, st *murphyv1.StepStatus) bool {
	i, ok := rollbackIndex(worker, st)
	if !ok {
		return false
	}
	switch st.State {
	case murphyv1.FaultState_FAULT_STATE_INJECTED, murphyv1.FaultState_FAULT_STATE_FAILED:
	default:
		return true // the revert of a rollback step (exec's no-op) is of no interest
	}
	run := r.cfg.FSM.Run(st.RunId)
	if run == nil {
		return true
	}
	var f *murphyv1.FaultSpec
	if sp, err := r.specOf(run); err == nil && i < len(sp.Rollbacks) {
		s := sp.Rollbacks[i]
		f = proto.Clone(s.Fault).(*murphyv1.FaultSpec)
	}
	at := st.At
	if at == nil {
		at = timestamppb.New(r.cfg.Now())
	}
	ok = st.State == murphyv1.FaultState_FAULT_STATE_INJECTED
	rs := r.stateOf(run)
	rs.rollbacks = append(rs.rollbacks, &murphyv1.RollbackResult{
		Index: int32(i), WorkerId: worker, Fault: f, Ok: ok, Error: st.Error, At: at,
	})
	if ok && !catalogue.IsInstant(f.GetKind()) {
		// The step did its work at inject; its revert only closes the assignment.
		r.cfg.Fleet.Send(worker, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{
			RunId: st.RunId, AssignmentIds: []string{st.AssignmentId}, Cause: murphyv1.RevertCause_REVERT_CAUSE_COMPLETED,
		}}})
	}
	if !ok {
		r.log.Warn("rollback failed", "run", st.RunId, "worker", worker, "step", i, "error", st.Error)
	}
	return true
}

// finishRollbacks commits rollback results and sends every rollback step of recently
// ended runs that has no result yet.
func (r *Runner) finishRollbacks(ctx context.Context) {
	now := r.cfg.Now()
	for _, run := range r.heldEnded(now.Add(-rollbackWindow)) {
		sp, err := r.specOf(run)
		if err != nil || len(sp.Rollbacks) == 0 {
			continue
		}
		rs := r.stateOf(run)
		if p := rs.rollbacks; len(p) > 0 {
			rs.rollbacks = nil
			if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordRollback{RecordRollback: &murphyv1.RecordRollback{RunId: run.Id, Results: p}}}); err != nil {
				r.log.Error("record rollbacks", "run", run.Id, "error", err)
				continue
			}
			run = r.cfg.FSM.Run(run.Id)
		}
		done := map[rollbackStep]bool{}
		for _, res := range run.Rollbacks {
			done[rollbackStep{int(res.Index), res.WorkerId}] = true
		}
		acked := map[string]bool{}
		for _, rv := range run.Halt.GetReverts() {
			acked[rv.WorkerId] = true
		}
		for _, w := range run.Groups.GetExperiment() {
			if run.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED && !acked[w] {
				continue // its halt reverts come first
			}
			for i, s := range sp.Rollbacks {
				if done[rollbackStep{i, w}] {
					continue
				}
				hold := s.Fault.GetDuration().AsDuration()
				if hold == 0 {
					hold = time.Second
				}
				r.sendOnce(msgKey{kind: msgRollback, run: run.Id, rollback: i, worker: w}, w, fleet.Outbound{Msg: &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Assign{Assign: &murphyv1.Assign{
					AssignmentId: rollbackID(run.Id, i, w), RunId: run.Id, Step: int32(-1 - i),
					Fault:    proto.Clone(s.Fault).(*murphyv1.FaultSpec),
					Deadline: timestamppb.New(now.Add(hold + r.cfg.Grace)),
				}}}})
			}
		}
	}
}

// RollbackSummary is a one-line account of a run's rollbacks for the CLI.
func RollbackSummary(run *murphyv1.Run, steps int) string {
	if steps == 0 {
		return ""
	}
	ok, failed := 0, 0
	for _, res := range run.Rollbacks {
		if res.Ok {
			ok++
		} else {
			failed++
		}
	}
	want := steps * len(run.Groups.GetExperiment())
	return fmt.Sprintf("rollbacks: %d of %d succeeded, %d failed", ok, want, failed)
}
