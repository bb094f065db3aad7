package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/scheduler"
	"github.com/murphy-chaos/murphy/coordinator/selector"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// advance moves one active run forward as far as the clock allows.
func (r *Runner) advance(ctx context.Context, run *murphyv1.Run) error {
	sp, err := r.specOf(run)
	if err != nil {
		return r.fail(ctx, run, err.Error())
	}
	now := r.cfg.Now()
	if run.Phase == murphyv1.RunPhase_RUN_PHASE_PENDING {
		return r.start(ctx, run, sp)
	}
	r.ensureProbes(run, sp)
	r.ensureCollectors(ctx, run, sp)
	if err := r.monitorRun(ctx, run, sp); err != nil {
		return err
	}
	if run = r.cfg.FSM.Run(run.Id); run == nil || fsm.Terminal(run.Phase) {
		return nil
	}
	deadline := run.GetPhaseDeadline().AsTime()
	switch run.Phase {
	case murphyv1.RunPhase_RUN_PHASE_BASELINE:
		if !now.Before(deadline) {
			if r.awaitingMembers(run) {
				return nil
			}
			if v := Futility(sp, run, r.cfg.Fleet.Samples(), now); v != nil {
				return r.endUnderpowered(ctx, run, v)
			}
			return r.startStep(ctx, run, sp, 0)
		}
	case murphyv1.RunPhase_RUN_PHASE_INJECTING:
		if stop, err := r.windowClosed(ctx, run); stop {
			return err
		}
		if err := r.commitAcks(ctx, run); err != nil {
			return err
		}
		if run = r.cfg.FSM.Run(run.Id); run == nil || run.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING {
			return nil
		}
		// Each active step ends at its own time; parallel steps may end apart.
		for _, st := range activeSteps(run) {
			if !now.Before(stepDeadline(st)) {
				if err := r.endStep(ctx, run, st.Index); err != nil {
					return err
				}
			}
		}
		if run = r.cfg.FSM.Run(run.Id); run == nil || run.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING {
			return nil
		}
		if len(activeSteps(run)) == 0 {
			return r.afterSteps(ctx, run, sp)
		}
		r.ensureAssigned(run)
	case murphyv1.RunPhase_RUN_PHASE_COOLDOWN:
		if !now.Before(deadline) {
			return r.advanceTo(ctx, run, murphyv1.RunPhase_RUN_PHASE_ANALYSING, r.cfg.Settle)
		}
	case murphyv1.RunPhase_RUN_PHASE_ANALYSING:
		if !now.Before(deadline) {
			return r.analyse(ctx, run, sp)
		}
	}
	return nil
}

// start forms the groups of a pending run, or fails it once WaitForWorkers has passed.
func (r *Runner) start(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment) error {
	if stop, err := r.scheduledStart(ctx, run, sp); stop {
		return err
	}
	busy := busyOf(r.cfg.FSM, run.Id)
	pool := poolOf(r.cfg.FSM, r.cfg.Fleet, sp, busy, false)
	free := pool.Candidates
	seed := r.cfg.Seed()
	if sp.Targets.Seed != nil {
		seed = uint64(*sp.Targets.Seed)
	}
	level := ""
	if len(sp.Escalate) > 0 {
		level = sp.Escalate[0]
	}
	plan, err := planGroups(sp, free, level, "", seed)
	if err != nil {
		// Would the run fit if no other run held workers? Then it is a conflict, which
		// the spec says how to handle, not a shortage. Whatever the error on the free
		// workers alone: a blast radius is a share of the whole selection, so a plan
		// squeezed into what another run left over can breach it where the real one
		// would not.
		conflict := false
		if len(busy) > 0 {
			_, alone := planGroups(sp, Candidates(r.cfg.FSM, r.cfg.Fleet, sp, nil), level, "", seed)
			conflict = alone == nil
		}
		// Would it fit once every registered worker is connected again? Workers
		// reconnect after a failover or a stalled heartbeat; a plan that breaks only
		// for want of one waits for it like a shortage does.
		reconnecting := false
		if !conflict && !errors.Is(err, scheduler.ErrTooFewWorkers) {
			_, whole := planGroups(sp, poolOf(r.cfg.FSM, r.cfg.Fleet, sp, busy, true).Candidates, level, "", seed)
			reconnecting = whole == nil
		}
		switch {
		case conflict && sp.Targets.OnConflict == spec.ConflictRefuse:
			return r.fail(ctx, run, fmt.Sprintf("its workers are busy in %s and onConflict is refuse", strings.Join(busyRuns(busy), ", ")))
		case conflict:
			// Queued: wait as long as the other runs take; runs never overlap.
			err = fmt.Errorf("queued behind %s", strings.Join(busyRuns(busy), ", "))
		case !errors.Is(err, scheduler.ErrTooFewWorkers) && !reconnecting:
			return r.fail(ctx, run, err.Error())
		case r.cfg.Now().Sub(run.CreatedAt.AsTime()) >= r.cfg.WaitForWorkers:
			return r.fail(ctx, run, fmt.Sprintf("%v (waited %s for workers)", err, r.cfg.WaitForWorkers))
		}
		if rs := r.stateOf(run); rs.waiting != err.Error() {
			rs.waiting = err.Error()
			r.log.Info("run waiting for workers", "run", run.Id, "reason", err)
		}
		return nil
	}
	r.stateOf(run).waiting = ""
	r.log.Info("run started", "run", run.Id, "experiment", len(plan.Experiment), "control", len(plan.Control), "seed", plan.Seed, "pods", sp.Targets.GetKubernetes() != nil)
	return r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{
		RunId:         run.Id,
		Groups:        pool.groupsOf(plan),
		PhaseDeadline: timestamppb.New(r.cfg.Now().Add(sp.Baseline.AsDuration())),
		WaveLevel:     level,
	}}})
}

// planGroups forms the groups of a run, or of one wave of an escalating run.
func planGroups(sp *spec.Experiment, cands []scheduler.Candidate, level, anchor string, seed uint64) (scheduler.Plan, error) {
	if level != "" {
		return scheduler.PlanWave(sp.Targets, cands, level, anchor, seed)
	}
	return scheduler.Split(PlanTargets(sp.Targets), cands, seed)
}

func busyRuns(busy map[string]string) []string {
	var out []string
	for _, r := range busy {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// ensureProbes tells every member of the run to probe, once per connection.
func (r *Runner) ensureProbes(run *murphyv1.Run, sp *spec.Experiment) {
	probes := Probes(sp)
	if len(probes) == 0 {
		return
	}
	until := timestamppb.New(r.cfg.Now().Add(remaining(run, sp, r.cfg.Now()) + time.Minute))
	units := probeUnits(run)
	for _, w := range fsm.GroupWorkers(run.GetGroups()) {
		if r.cfg.Fleet.Probing(w, run.Id) || !r.cfg.Fleet.Connected(w) {
			continue
		}
		// A node's worker probes each of the run's pods on its node, in one message.
		msg := &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StartProbes{StartProbes: &murphyv1.StartProbes{RunId: run.Id, Probes: probes, Until: until, Units: units[w]}}}
		if r.cfg.Fleet.Send(w, msg) {
			r.cfg.Fleet.SetProbing(w, run.Id, true)
		}
	}
}

// stepTargets lists the experimental units a step applies to: all of them, or those
// matching the step's where (so one step can take out a data centre in one region while
// another region is only observed).
func (r *Runner) stepTargets(run *murphyv1.Run, i int32) []string {
	sp, err := r.specOf(run)
	if err != nil || int(i) >= len(sp.Steps) || len(sp.Steps[i].Where) == 0 {
		return run.Groups.GetExperiment()
	}
	where := selector.FromMap(sp.Steps[i].Where)
	var out []string
	for _, id := range run.Groups.GetExperiment() {
		if l := r.unitLabels(run, id); l != nil && where.Matches(l) {
			out = append(out, id)
		}
	}
	return out
}

func (r *Runner) startStep(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment, i int) error {
	if stop, err := r.stepOutsideWindow(ctx, run, sp, i); stop {
		return err
	}
	// A step and the parallel steps that follow it start together.
	group := []int{i}
	for j := i + 1; j < len(sp.Steps) && sp.Steps[j].Parallel; j++ {
		group = append(group, j)
	}
	longest := time.Duration(0)
	for _, k := range group {
		st := sp.Steps[k]
		if len(st.Where) > 0 && len(r.stepTargets(run, int32(k))) == 0 {
			return r.fail(ctx, run, fmt.Sprintf("step %d (%s) has where %s but no experimental worker matches it", k+1, st.Fault.GetKind(), selector.FromMap(st.Where)))
		}
		fault := proto.Clone(st.Fault).(*murphyv1.FaultSpec)
		// A previous leader may have recorded the start and died before the phase
		// moved on: the step stands as recorded, with its start time.
		if k >= len(run.Steps) {
			if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: run.Id, Index: int32(k), Fault: fault, Start: true}}}); err != nil {
				return err
			}
		}
		longest = max(longest, st.Fault.GetDuration().AsDuration())
	}
	if err := r.advanceTo(ctx, run, murphyv1.RunPhase_RUN_PHASE_INJECTING, longest); err != nil {
		return err
	}
	if run = r.cfg.FSM.Run(run.Id); run != nil {
		r.ensureAssigned(run)
	}
	return nil
}

// activeSteps are the started steps not yet ended.
func activeSteps(run *murphyv1.Run) []*murphyv1.StepState {
	var out []*murphyv1.StepState
	for _, st := range run.Steps {
		if st.EndedAt == nil {
			out = append(out, st)
		}
	}
	return out
}

// stepDeadline is when a step's own duration ends.
func stepDeadline(st *murphyv1.StepState) time.Time {
	return st.StartedAt.AsTime().Add(st.GetFault().GetDuration().AsDuration())
}

// assignmentID names one worker's part in one step. An escalating run repeats its steps
// in every wave, and a worker never re-injects an ID it has finished, so the wave is part
// of the name.
func assignmentID(run *murphyv1.Run, step int32, worker string) string {
	return headAssignmentID(fsm.HeadOf(run), step, worker)
}

func headAssignmentID(h fsm.RunHead, step int32, worker string) string {
	if h.WaveLevel != "" {
		return fmt.Sprintf("%s/w%d/%d/%s", h.ID, h.Waves, step, worker)
	}
	return fmt.Sprintf("%s/%d/%s", h.ID, step, worker)
}

// ensureAssigned sends the current step to every experimental worker that does not
// report it active, has not failed it, and was not just sent it. After a failover this
// re-injects faults that a worker's dead-man's switch reverted.
func (r *Runner) ensureAssigned(run *murphyv1.Run) {
	for _, step := range activeSteps(run) {
		r.ensureStepAssigned(run, step)
	}
}

func (r *Runner) ensureStepAssigned(run *murphyv1.Run, step *murphyv1.StepState) {
	i := step.Index
	deadline := timestamppb.New(assignDeadline(run, stepDeadline(step).Add(r.cfg.Grace)))
	for _, u := range r.stepTargets(run, i) {
		id := assignmentID(run, i, u)
		w := workerOf(run, u)
		if slices.Contains(step.Failed, u) || !r.cfg.Fleet.Connected(w) {
			continue
		}
		if af, ok := r.cfg.Fleet.ActiveFaults(w)[id]; ok {
			// In force, by the worker's own hello: if the acknowledgement died with the
			// previous leader, record it now, or the run would say the step was
			// injected nowhere.
			if !slices.Contains(step.Injected, u) && !r.acked(run, i, u) {
				r.fileAck(run, i, u, af.GetInjectedAt())
			}
			continue
		}
		if !r.due(assignKey(msgAssign, run, i, u)) {
			continue
		}
		r.cfg.Fleet.Send(w, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Assign{Assign: &murphyv1.Assign{
			AssignmentId: id, RunId: run.Id, Step: i, Fault: unitFault(step.Fault, u), Deadline: deadline,
		}}})
	}
}

// commitAcks records injection results; a step that failed on every worker fails the run.
func (r *Runner) commitAcks(ctx context.Context, run *murphyv1.Run) error {
	rs := r.stateOf(run)
	steps := rs.acks
	rs.acks = nil
	for _, idx := range slices.Sorted(maps.Keys(steps)) {
		a := steps[idx]
		if int(idx) >= len(run.Steps) || (len(a.injected) == 0 && len(a.failed) == 0) {
			continue
		}
		if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{
			RunId: run.Id, Index: a.step, Injected: a.injected, Failed: a.failed, Error: strings.Join(a.errors, "; "),
		}}}); err != nil {
			return err
		}
		cur := r.cfg.FSM.Run(run.Id)
		step := cur.Steps[idx]
		if len(step.Failed) == len(r.stepTargets(cur, idx)) {
			return r.fail(ctx, cur, fmt.Sprintf("step %d (%s) failed on every experimental worker: %s", idx+1, step.Fault.GetKind(), step.Error))
		}
	}
	return nil
}

// endStep reverts one step at the end of its duration and records it.
func (r *Runner) endStep(ctx context.Context, run *murphyv1.Run, idx int32) error {
	r.revertStep(run, idx, murphyv1.RevertCause_REVERT_CAUSE_COMPLETED)
	return r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: run.Id, Index: idx, End: true}}})
}

// afterSteps moves on once every started step has ended: the next step (and its parallel
// companions), the cooldown, or analysis.
func (r *Runner) afterSteps(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment) error {
	next := len(run.Steps)
	switch {
	case next < len(sp.Steps):
		return r.startStep(ctx, run, sp, next)
	case sp.Cooldown.AsDuration() > 0:
		return r.advanceTo(ctx, run, murphyv1.RunPhase_RUN_PHASE_COOLDOWN, sp.Cooldown.AsDuration())
	default:
		return r.advanceTo(ctx, run, murphyv1.RunPhase_RUN_PHASE_ANALYSING, r.cfg.Settle)
	}
}

func (r *Runner) revertStep(run *murphyv1.Run, idx int32, cause murphyv1.RevertCause) {
	targets := r.stepTargets(run, idx)
	var ids []string
	for _, w := range targets {
		ids = append(ids, assignmentID(run, idx, w))
	}
	for i, u := range targets {
		r.cfg.Fleet.Send(workerOf(run, u), &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{RunId: run.Id, AssignmentIds: ids[i : i+1], Cause: cause}}})
	}
}

func (r *Runner) advanceTo(ctx context.Context, run *murphyv1.Run, phase murphyv1.RunPhase, d time.Duration) error {
	return r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{
		RunId: run.Id, Phase: phase, PhaseDeadline: timestamppb.New(r.cfg.Now().Add(d)),
	}}})
}

func (r *Runner) fail(ctx context.Context, run *murphyv1.Run, reason string) error {
	r.log.Warn("run failed", "run", run.Id, "reason", reason)
	for _, w := range experimentWorkers(run) {
		r.cfg.Fleet.Send(w, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{RunId: run.Id, Cause: murphyv1.RevertCause_REVERT_CAUSE_RECONCILE}}})
	}
	err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_FailRun{FailRun: &murphyv1.FailRun{RunId: run.Id, Error: reason}}})
	r.stopProbes(run)
	return err
}

func (r *Runner) stopProbes(run *murphyv1.Run) {
	rs := r.stateOf(run)
	if rs.probesStopped {
		return
	}
	rs.probesStopped = true
	for _, w := range fsm.GroupWorkers(run.GetGroups()) {
		r.cfg.Fleet.Send(w, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_StopProbes{StopProbes: &murphyv1.StopProbes{RunId: run.Id}}})
		r.cfg.Fleet.SetProbing(w, run.Id, false)
	}
}

// HaltWindow is how long after a halt the leader keeps delivering it to workers that have
// not acknowledged. Past it, workers that never answered have reverted by their own
// dead-man's switch or deadline.
const HaltWindow = 10 * time.Minute

// finishHalts delivers committed halts to every member that has not acknowledged and
// commits the acknowledgements. A new leader does the same for halts committed under the
// old one.
func (r *Runner) finishHalts(ctx context.Context) {
	r.finishRollbacks(ctx)
	for _, run := range r.heldEnded(r.cfg.Now().Add(-HaltWindow)) {
		if run.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
			continue
		}
		rs := r.stateOf(run)
		if pending := rs.reverts; len(pending) > 0 {
			rs.reverts = nil
			if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordRevert{RecordRevert: &murphyv1.RecordRevert{RunId: run.Id, Reverts: pending}}}); err != nil {
				r.log.Error("record reverts", "run", run.Id, "error", err)
				continue
			}
			run = r.cfg.FSM.Run(run.Id)
		}
		r.deliverHalt(run)
		r.stopProbes(run)
	}
}

// deliverHalt sends the run's halt to every member that has not acknowledged it, and
// records the fan-out time once every member has.
func (r *Runner) deliverHalt(run *murphyv1.Run) {
	acked := map[string]bool{}
	for _, rv := range run.Halt.GetReverts() {
		acked[rv.WorkerId] = true
	}
	all := fsm.GroupWorkers(run.GetGroups())
	if len(acked) >= len(all) {
		rs := r.stateOf(run)
		if !rs.fanoutRecorded && r.cfg.Metrics != nil && len(run.Halt.GetReverts()) > 0 {
			last := run.Halt.Reverts[0].At.AsTime()
			for _, rv := range run.Halt.Reverts {
				last = latest(last, rv.At.AsTime())
			}
			r.cfg.Metrics.HaltFanout.Observe(last.Sub(run.Halt.At.AsTime()).Seconds())
		}
		rs.fanoutRecorded = true
		return
	}
	if r.cfg.NodesDeliverHalts {
		return
	}
	msg := fleet.NewShared(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{RunId: run.Id, Reason: run.Halt.GetReason()}}}).Outbound()
	for _, w := range all {
		if !acked[w] {
			r.sendOnce(msgKey{kind: msgHalt, run: run.Id, worker: w}, w, msg)
		}
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// reconcile reverts any fault a worker reports that no injecting step accounts for: left
// over from a finished run, an ended step, or a previous leader's decisions.
func (r *Runner) reconcile() {
	// One copy of each run per pass: FSM.Run copies the whole run, members and fault
	// windows included, and a pass asks once per active fault, so a copy per question made
	// a tick quadratic in the fleet (2,000 targets: a thousand copies of a run of 2,000
	// members every tick, which left the guardrail evaluated a third as often as planned
	// and the fault step ending seconds late).
	runs := map[string]*murphyv1.Run{}
	for _, w := range r.cfg.Fleet.ConnectedIDs() {
		for id, af := range r.cfg.Fleet.ActiveFaults(w) {
			run, seen := runs[af.RunId]
			if !seen {
				run = r.cfg.FSM.Run(af.RunId)
				runs[af.RunId] = run
			}
			if run != nil && run.Phase == murphyv1.RunPhase_RUN_PHASE_INJECTING && int(af.Step) < len(run.Steps) &&
				run.Steps[af.Step].EndedAt == nil && ownAssignment(run, af.Step, w, id) {
				continue
			}
			if run != nil && run.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED {
				continue // finishHalts owns these
			}
			if !r.due(msgKey{kind: msgReconcile, worker: w, assignment: id}) {
				continue
			}
			r.cfg.Fleet.Send(w, &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Revert{Revert: &murphyv1.Revert{RunId: af.RunId, AssignmentIds: []string{id}, Cause: murphyv1.RevertCause_REVERT_CAUSE_RECONCILE}}})
		}
	}
	for _, run := range r.heldEnded(r.cfg.Now().Add(-HaltWindow)) {
		if (run.Phase == murphyv1.RunPhase_RUN_PHASE_COMPLETED || run.Phase == murphyv1.RunPhase_RUN_PHASE_FAILED) && !r.stateOf(run).probesStopped {
			r.stopProbes(run)
		}
	}
}

// remaining estimates the time left in the run from the current phase on.
func remaining(run *murphyv1.Run, sp *spec.Experiment, now time.Time) time.Duration {
	left := time.Duration(0)
	if run.PhaseDeadline != nil {
		left = max(0, run.PhaseDeadline.AsTime().Sub(now))
	}
	switch run.Phase {
	case murphyv1.RunPhase_RUN_PHASE_PENDING:
		left = sp.Baseline.AsDuration()
		for _, st := range sp.Steps {
			left += st.Fault.GetDuration().AsDuration()
		}
		left += sp.Cooldown.AsDuration()
	case murphyv1.RunPhase_RUN_PHASE_BASELINE:
		for _, st := range sp.Steps {
			left += st.Fault.GetDuration().AsDuration()
		}
		left += sp.Cooldown.AsDuration()
	case murphyv1.RunPhase_RUN_PHASE_INJECTING:
		for _, st := range sp.Steps[min(len(sp.Steps), int(run.StepIndex)+1):] {
			left += st.Fault.GetDuration().AsDuration()
		}
		left += sp.Cooldown.AsDuration()
	}
	return left
}
