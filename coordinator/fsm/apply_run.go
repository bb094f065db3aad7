package fsm

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// phaseOrder ranks the non-terminal phases: a run only moves forward.
var phaseOrder = map[murphyv1.RunPhase]int{
	murphyv1.RunPhase_RUN_PHASE_PENDING:   1,
	murphyv1.RunPhase_RUN_PHASE_BASELINE:  2,
	murphyv1.RunPhase_RUN_PHASE_INJECTING: 3,
	murphyv1.RunPhase_RUN_PHASE_COOLDOWN:  4,
	murphyv1.RunPhase_RUN_PHASE_ANALYSING: 5,
}

// activeRun returns the run if it exists and is not finished.
func (f *FSM) activeRun(id string) (*murphyv1.Run, error) {
	r, ok := f.runs[id]
	if !ok {
		return nil, fmt.Errorf("%w: run %q", ErrNotFound, id)
	}
	if Terminal(r.Phase) {
		return nil, fmt.Errorf("%w: run %q is %s", ErrRunFinished, id, PhaseName(r.Phase))
	}
	return r, nil
}

func (f *FSM) applyCreateRun(cmd *murphyv1.Command, c *murphyv1.CreateRun) (Change, error) {
	ch := Change{RunID: c.RunId}
	if c.RunId == "" || c.Spec == nil && c.SpecJson == "" {
		return ch, fmt.Errorf("%w: run needs an id and a spec", ErrInvalid)
	}
	if _, ok := f.runs[c.RunId]; ok {
		return ch, fmt.Errorf("%w: run %q", ErrExists, c.RunId)
	}
	if f.halt != nil {
		return ch, fmt.Errorf("%w since %s by %s (%s): no run starts until `murphy resume`", ErrHalted,
			f.halt.At.AsTime().Format("2006-01-02 15:04:05Z07:00"), f.halt.By, f.halt.Reason)
	}
	f.runs[c.RunId] = &murphyv1.Run{
		Id:          c.RunId,
		Experiment:  c.Experiment,
		Phase:       murphyv1.RunPhase_RUN_PHASE_PENDING,
		CreatedAt:   cmd.At,
		PhaseSince:  cmd.At,
		Spec:        c.Spec,
		SpecJson:    c.SpecJson,
		SpecDigest:  c.SpecDigest,
		SubmittedBy: cmd.By,
		StepIndex:   -1,
	}
	return ch, nil
}

func (f *FSM) applyStartRun(cmd *murphyv1.Command, c *murphyv1.StartRun) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	if r.Phase != murphyv1.RunPhase_RUN_PHASE_PENDING {
		return ch, fmt.Errorf("%w: run %q is already %s", ErrBadPhase, c.RunId, PhaseName(r.Phase))
	}
	if len(c.GetGroups().GetExperiment()) == 0 {
		return ch, fmt.Errorf("%w: run %q has an empty experimental group", ErrInvalid, c.RunId)
	}
	if err := checkUnitWorkers(c.GetGroups()); err != nil {
		return ch, fmt.Errorf("%w: run %q: %v", ErrInvalid, c.RunId, err)
	}
	r.Groups = proto.CloneOf(c.Groups)
	r.Phase = murphyv1.RunPhase_RUN_PHASE_BASELINE
	r.PhaseSince = cmd.At
	r.PhaseDeadline = c.PhaseDeadline
	r.WaveLevel = c.WaveLevel
	return ch, nil
}

// applyNextWave closes the judged wave of an escalating run and opens the next one. It
// is the only way a run goes back to its baseline.
func (f *FSM) applyNextWave(cmd *murphyv1.Command, c *murphyv1.NextWave) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	if r.WaveLevel == "" || r.Phase != murphyv1.RunPhase_RUN_PHASE_ANALYSING {
		return ch, fmt.Errorf("%w: run %q is %s and not escalating", ErrBadPhase, c.RunId, PhaseName(r.Phase))
	}
	if c.Verdict == nil || c.Level == "" || len(c.GetGroups().GetExperiment()) == 0 {
		return ch, fmt.Errorf("%w: a next wave needs the last verdict, a level and groups", ErrInvalid)
	}
	archiveWave(r, c.Verdict)
	r.WaveLevel = c.Level
	r.Groups = proto.CloneOf(c.Groups)
	r.Steps, r.StepIndex = nil, -1
	r.Phase = murphyv1.RunPhase_RUN_PHASE_BASELINE
	r.PhaseSince = cmd.At
	r.PhaseDeadline = c.PhaseDeadline
	return ch, nil
}

func archiveWave(r *murphyv1.Run, v *murphyv1.Verdict) {
	r.Waves = append(r.Waves, &murphyv1.Wave{Level: r.WaveLevel, Groups: r.Groups, Steps: r.Steps, Verdict: proto.CloneOf(v)})
}

func (f *FSM) applyAdvanceRun(cmd *murphyv1.Command, c *murphyv1.AdvanceRun) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	to, ok := phaseOrder[c.Phase]
	if !ok || to <= phaseOrder[murphyv1.RunPhase_RUN_PHASE_PENDING] {
		return ch, fmt.Errorf("%w: cannot advance to %s", ErrBadPhase, PhaseName(c.Phase))
	}
	// Re-entering INJECTING starts the next step; every other move is strictly forward.
	if to < phaseOrder[r.Phase] || (to == phaseOrder[r.Phase] && c.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING) {
		return ch, fmt.Errorf("%w: run %q cannot go from %s to %s", ErrBadPhase, c.RunId, PhaseName(r.Phase), PhaseName(c.Phase))
	}
	r.Phase = c.Phase
	r.PhaseSince = cmd.At
	r.PhaseDeadline = c.PhaseDeadline
	return ch, nil
}

func (f *FSM) applyRecordStep(cmd *murphyv1.Command, c *murphyv1.RecordStep) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	if c.Start {
		if c.Index != int32(len(r.Steps)) {
			return ch, fmt.Errorf("%w: run %q cannot start step %d, next is %d", ErrBadPhase, c.RunId, c.Index, len(r.Steps))
		}
		r.Steps = append(r.Steps, &murphyv1.StepState{Index: c.Index, Fault: c.Fault, StartedAt: cmd.At})
		r.StepIndex = c.Index
	}
	if c.Index < 0 || int(c.Index) >= len(r.Steps) {
		return ch, fmt.Errorf("%w: run %q has no step %d", ErrNotFound, c.RunId, c.Index)
	}
	s := r.Steps[c.Index]
	s.Injected = union(s.Injected, c.Injected)
	s.Failed = union(s.Failed, c.Failed)
	if c.Error != "" {
		s.Error = c.Error
	}
	if c.End && s.EndedAt == nil {
		s.EndedAt = cmd.At
	}
	return ch, nil
}

func (f *FSM) applyHaltRun(cmd *murphyv1.Command, c *murphyv1.HaltRun) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	haltRun(r, cmd, c)
	return ch, nil
}

func haltRun(r *murphyv1.Run, cmd *murphyv1.Command, c *murphyv1.HaltRun) {
	r.Phase = murphyv1.RunPhase_RUN_PHASE_HALTED
	r.PhaseSince = cmd.At
	r.PhaseDeadline = nil
	r.EndedAt = cmd.At
	r.Halt = &murphyv1.HaltRecord{
		Reason: c.Reason, By: cmd.By, At: cmd.At, Metric: c.Metric, Values: c.Values,
		Guardrail: c.Guardrail, Threshold: c.Threshold, FirstBreach: c.FirstBreach,
		Targets: cloneTargets(c.Targets), Scale: c.Scale, Samples: c.Samples,
	}
	for _, s := range r.Steps {
		if s.EndedAt == nil {
			s.EndedAt = cmd.At
		}
	}
}

// applyRecordRevert keeps the first confirmation per worker: later ones are retries.
func (f *FSM) applyRecordRevert(c *murphyv1.RecordRevert) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, ok := f.runs[c.RunId]
	if !ok {
		return ch, fmt.Errorf("%w: run %q", ErrNotFound, c.RunId)
	}
	if r.Halt == nil {
		return ch, fmt.Errorf("%w: run %q was not halted", ErrBadPhase, c.RunId)
	}
	for _, rv := range c.Reverts {
		if !slices.ContainsFunc(r.Halt.Reverts, func(x *murphyv1.WorkerRevert) bool { return x.WorkerId == rv.WorkerId }) {
			r.Halt.Reverts = append(r.Halt.Reverts, proto.CloneOf(rv))
		}
	}
	return ch, nil
}

func (f *FSM) applyRecordVerdict(cmd *murphyv1.Command, c *murphyv1.RecordVerdict) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	if c.Verdict == nil {
		return ch, fmt.Errorf("%w: empty verdict", ErrInvalid)
	}
	// A verdict is recorded after analysis, or at the end of the baseline when the run
	// cannot settle its question and so injects nothing.
	switch {
	case c.Verdict.BeforeFault && (r.Phase != murphyv1.RunPhase_RUN_PHASE_BASELINE || len(r.Steps) > 0):
		return ch, fmt.Errorf("%w: run %q is %s: a verdict before any fault needs a run still in its baseline", ErrBadPhase, c.RunId, PhaseName(r.Phase))
	case !c.Verdict.BeforeFault && r.Phase != murphyv1.RunPhase_RUN_PHASE_ANALYSING:
		return ch, fmt.Errorf("%w: run %q is %s, not analysing", ErrBadPhase, c.RunId, PhaseName(r.Phase))
	}
	if c.LastWave != nil && r.WaveLevel != "" {
		archiveWave(r, c.LastWave)
	}
	r.Verdict = proto.CloneOf(c.Verdict)
	r.Phase = murphyv1.RunPhase_RUN_PHASE_COMPLETED
	r.PhaseSince = cmd.At
	r.PhaseDeadline = nil
	r.EndedAt = cmd.At
	return ch, nil
}

func (f *FSM) applyFailRun(cmd *murphyv1.Command, c *murphyv1.FailRun) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, err := f.activeRun(c.RunId)
	if err != nil {
		return ch, err
	}
	r.Phase = murphyv1.RunPhase_RUN_PHASE_FAILED
	r.PhaseSince = cmd.At
	r.PhaseDeadline = nil
	r.EndedAt = cmd.At
	r.Error = c.Error
	for _, s := range r.Steps {
		if s.EndedAt == nil {
			s.EndedAt = cmd.At
		}
	}
	return ch, nil
}

// union appends the members of add missing from set, keeping set's order.
func union(set, add []string) []string {
	for _, a := range add {
		if !slices.Contains(set, a) {
			set = append(set, a)
		}
	}
	return set
}

// PhaseName is the lower-case name operators see ("baseline", "injecting").
func PhaseName(p murphyv1.RunPhase) string {
	name, ok := phaseNames[p]
	if !ok {
		return p.String()
	}
	return name
}

var phaseNames = map[murphyv1.RunPhase]string{
	murphyv1.RunPhase_RUN_PHASE_PENDING:   "pending",
	murphyv1.RunPhase_RUN_PHASE_BASELINE:  "baseline",
	murphyv1.RunPhase_RUN_PHASE_INJECTING: "injecting",
	murphyv1.RunPhase_RUN_PHASE_COOLDOWN:  "cooldown",
	murphyv1.RunPhase_RUN_PHASE_ANALYSING: "analysing",
	murphyv1.RunPhase_RUN_PHASE_COMPLETED: "completed",
	murphyv1.RunPhase_RUN_PHASE_HALTED:    "halted",
	murphyv1.RunPhase_RUN_PHASE_FAILED:    "failed",
}

func cloneTargets(ts []*murphyv1.TargetSummary) []*murphyv1.TargetSummary {
	out := make([]*murphyv1.TargetSummary, 0, len(ts))
	for _, t := range ts {
		out = append(out, proto.CloneOf(t))
	}
	return out
}

// applyRecordWindows merges workers' reports of their fault windows into the run's
// steps. An injection opens a window unless one is already open for that worker and step
// (a re-sent acknowledgement); a revert closes the latest open window and keeps the
// first confirmation. Reports for unknown steps are ignored, not errors: a worker may
// report after a leader change about a step the log already recorded differently, and a
// window must never block the entries batched with it.
func (f *FSM) applyRecordWindows(c *murphyv1.RecordWindows) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, ok := f.runs[c.RunId]
	if !ok {
		return ch, fmt.Errorf("%w: run %q", ErrNotFound, c.RunId)
	}
	for _, w := range c.Windows {
		if w.Step < 0 || int(w.Step) >= len(r.Steps) || w.WorkerId == "" {
			continue
		}
		st := r.Steps[w.Step]
		open := -1
		for i, x := range st.Windows {
			if x.WorkerId == w.WorkerId && x.RevertedAt == nil {
				open = i
			}
		}
		switch {
		case w.InjectedAt != nil && w.RevertedAt == nil:
			if open < 0 {
				st.Windows = append(st.Windows, &murphyv1.FaultWindow{WorkerId: w.WorkerId, Step: w.Step, InjectedAt: w.InjectedAt})
			}
			// An injection report is the worker's acknowledgement: recorded with its
			// window, one entry, so no leader can die between the two.
			st.Injected = union(st.Injected, []string{w.WorkerId})
		case w.RevertedAt != nil:
			if open >= 0 {
				st.Windows[open].RevertedAt, st.Windows[open].Cause = w.RevertedAt, w.Cause
				continue
			}
			// A revert with nothing open: either a retry of a recorded one, or a fault the
			// leader never heard injected (its acknowledgement was lost with a leader).
			// The latter is recorded whole when the worker says when it injected (and
			// that is its acknowledgement), or without a start when the step's record
			// already names the worker; otherwise the worker is only saying it holds
			// nothing.
			// A retry carries the revert time it was first recorded with, whatever start
			// it names (a worker of an older version names the start of its inject, not
			// the end its injection report gave).
			if slices.ContainsFunc(st.Windows, func(x *murphyv1.FaultWindow) bool {
				return x.WorkerId == w.WorkerId && (w.InjectedAt == nil || x.InjectedAt == nil || x.InjectedAt.AsTime().Equal(w.InjectedAt.AsTime()) ||
					x.RevertedAt != nil && x.RevertedAt.AsTime().Equal(w.RevertedAt.AsTime()))
			}) {
				continue
			}
			if w.InjectedAt != nil || slices.Contains(st.Injected, w.WorkerId) {
				st.Windows = append(st.Windows, &murphyv1.FaultWindow{WorkerId: w.WorkerId, Step: w.Step, InjectedAt: w.InjectedAt, RevertedAt: w.RevertedAt, Cause: w.Cause})
				if w.InjectedAt != nil {
					st.Injected = union(st.Injected, []string{w.WorkerId})
				}
			}
		}
	}
	return ch, nil
}
