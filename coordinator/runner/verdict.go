package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// replayTime is how long a worker's stream must have been attached before its replayed
// samples are taken to have arrived (the replay is sent first thing, in batches).
const replayTime = 500 * time.Millisecond

// awaitingMembers reports whether a member of the run has not yet reconnected to this
// leader and replayed its samples. After a failover some workers reach the new leader
// late (their first try may go to the dead one); judging without them would lose their
// samples. The wait is bounded by LostAfter: a worker silent that long is lost anyway.
func (r *Runner) awaitingMembers(run *murphyv1.Run) bool {
	now := r.cfg.Now()
	if now.Sub(run.PhaseSince.AsTime()) >= r.cfg.LostAfter {
		return false
	}
	for _, w := range fsm.GroupWorkers(run.GetGroups()) {
		if rec := r.cfg.FSM.Worker(w); rec != nil && rec.State == murphyv1.WorkerState_WORKER_STATE_LOST {
			continue
		}
		if since := r.cfg.Fleet.ConnectedSince(w); since.IsZero() || now.Sub(since) < replayTime {
			if rs := r.stateOf(run); rs.waiting != "replay/"+w {
				rs.waiting = "replay/" + w
				r.log.Info("verdict waits for a member's samples", "run", run.Id, "worker", w)
			}
			return true
		}
	}
	return false
}

// analyse compares the groups over the fault window and commits the verdict.
func (r *Runner) analyse(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment) error {
	if r.awaitingMembers(run) {
		return nil
	}
	from, to := faultWindow(run)
	r.refreshFromRange(ctx, run, sp, from, to)
	v, err := Judge(sp, run, r.cfg.Fleet.Samples(), from, to)
	if err != nil {
		return r.fail(ctx, run, fmt.Sprintf("analysis: %v", err))
	}
	v.DecidedAt = timestamppb.New(r.cfg.Now())
	if run.WaveLevel != "" {
		return r.judgeWave(ctx, run, sp, v)
	}
	r.log.Info("verdict", "run", run.Id, "outcome", v.Outcome, "reason", v.Reason)
	if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: run.Id, Verdict: v}}}); err != nil {
		return err
	}
	r.stopProbes(run)
	return nil
}

// faultWindow spans the first step's start to the last step's end. An instantaneous last
// step (process.kill) has no duration of its own: its effects are what the cooldown
// observes, so the window runs until analysis began.
func faultWindow(run *murphyv1.Run) (time.Time, time.Time) {
	if len(run.Steps) == 0 {
		return time.Time{}, time.Time{}
	}
	from := run.Steps[0].StartedAt.AsTime()
	last := run.Steps[len(run.Steps)-1]
	// Parallel steps may end in any order: the window closes with the last to end.
	to := time.Time{}
	for _, st := range run.Steps {
		if e := st.GetEndedAt().AsTime(); e.After(to) {
			to = e
		}
	}
	if last.GetFault().GetDuration().AsDuration() == 0 && run.Phase == murphyv1.RunPhase_RUN_PHASE_ANALYSING {
		to = run.PhaseSince.AsTime()
	}
	return from, to
}

// NothingToJudge is the reason of the verdict of a run whose spec declares no steady
// state (metrics: []).
const NothingToJudge = "no steady-state hypothesis: nothing to judge; the steps and rollbacks ran"

// Judge builds the analysis input from the samples of both groups and converts the
// result to the wire form. Metrics are judged target by target: each worker's samples in
// [from, to) against its own baseline (the samples before from), since the fault is
// applied per target and targets differ. A Prometheus metric's samples are filed per
// worker by their instance label; only a query that keeps no instance label leaves one
// series per group, which is judged on samples, and its verdict says so.
func Judge(sp *spec.Experiment, run *murphyv1.Run, samples *fleet.Samples, from, to time.Time) (*murphyv1.Verdict, error) {
	if len(sp.Hypothesis.Metrics) == 0 {
		// metrics: [] declares no steady state: the steps ran, and there is nothing to
		// judge either way.
		return &murphyv1.Verdict{
			Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE, Reason: NothingToJudge,
			WindowStart: timestamppb.New(from), WindowEnd: timestamppb.New(to), Confidence: sp.Hypothesis.Confidence,
		}, nil
	}
	var metrics []analysis.Metric
	perTarget := make([]bool, len(sp.Hypothesis.Metrics))
	for i, m := range sp.Hypothesis.Metrics {
		am, err := analysisMetric(m)
		if err != nil {
			return nil, err
		}
		perTarget[i] = !groupSeries(run, m, samples)
		if perTarget[i] {
			am.Targets = targetData(run, m, samples, from, to, sp.Baseline.AsDuration())
		} else {
			am.Control = samples.Values(run.Id, m.Name, sources(run, murphyv1.Group_GROUP_CONTROL), from, to, spec.SuccessesOnly(m))
			am.Experiment = samples.Values(run.Id, m.Name, sources(run, murphyv1.Group_GROUP_EXPERIMENT), from, to, spec.SuccessesOnly(m))
		}
		metrics = append(metrics, am)
	}
	v, err := analysis.Judge(metrics, analysis.Options{Confidence: sp.Hypothesis.Confidence})
	if err != nil {
		return nil, err
	}
	out := &murphyv1.Verdict{
		Outcome:     outcomes[v.Outcome],
		Reason:      v.Reason,
		WindowStart: timestamppb.New(from),
		WindowEnd:   timestamppb.New(to),
		Confidence:  sp.Hypothesis.Confidence,
	}
	for i, mv := range v.Metrics {
		m := sp.Hypothesis.Metrics[i]
		pm := &murphyv1.MetricVerdict{
			Name:             mv.Name,
			Outcome:          metricOutcomes[mv.Outcome],
			Method:           mv.Method,
			Direction:        string(m.Direction),
			Tolerance:        toleranceText(m.Tolerance),
			Critical:         mv.Critical,
			NControl:         int64(mv.NControl),
			NExperiment:      int64(mv.NExperiment),
			ControlMedian:    mv.ControlMedian,
			ExperimentMedian: mv.ExperimentMedian,
			U:                mv.U,
			P:                mv.P,
			Shift:            mv.Shift,
			ShiftLow:         mv.ShiftLow,
			ShiftHigh:        mv.ShiftHigh,
			RelChange:        mv.RelChange,
			RelLow:           mv.RelLow,
			RelHigh:          mv.RelHigh,
			WelchT:           mv.WelchT,
			WelchDf:          mv.WelchDF,
			WelchP:           mv.WelchP,
			Lag1Control:      mv.Lag1Control,
			Lag1Experiment:   mv.Lag1Experiment,
			SamplesNeeded:    int64(mv.SamplesNeeded),
			Reason:           mv.Reason,
			Warnings:         mv.Warnings,
			Unit:             mv.Unit,
			Kind:             mv.Kind,
			TargetsNeeded:    int64(mv.TargetsNeeded),
			ControlLevel:     mv.ControlLevel,
			ExperimentLevel:  mv.ExperimentLevel,
		}
		if t := mv.Target; t != nil {
			pm.Scale = string(t.Scale)
			pm.TargetsControl, pm.TargetsExperiment = int64(t.NControl), int64(t.NExperiment)
			pm.BetweenSdControl, pm.BetweenSdExperiment, pm.WithinSd = t.SDControl, t.SDExperiment, t.WithinSD
			pm.Targets = TargetSummaries(t.Targets)
			if m.GetSource().GetProbe().GetMeasure() == spec.MeasureTimeToRecover {
				addRecoveries(pm.Targets, metrics[i].Targets)
			}
		}
		if !perTarget[i] {
			pm.Warnings = append(pm.Warnings, "the Prometheus query's result has no instance label, so it gives one series per group, not per target, and every sample was treated as independent; "+
				"host-to-host differences can look like an effect. Keep the instance label (e.g. sum by (instance) (...)) to judge targets")
		}
		if p := mv.Pooled; p != nil {
			pm.Pooled = &murphyv1.PooledView{
				Method: p.Method, NControl: int64(p.NControl), NExperiment: int64(p.NExperiment),
				ControlMedian: p.ControlMedian, ExperimentMedian: p.ExperimentMedian, U: p.U, P: p.P,
				Shift: p.Shift, ShiftLow: p.ShiftLow, ShiftHigh: p.ShiftHigh,
				RelChange: p.RelChange, RelLow: p.RelLow, RelHigh: p.RelHigh,
			}
		}
		out.Metrics = append(out.Metrics, pm)
	}
	checkTolerances(out, sp, run, samples, from, to)
	if ws := windowWarnings(run, from, to); len(ws) > 0 {
		// Metrics are in the spec's order; only those judged per target hear about hosts.
		for i, pm := range out.Metrics {
			if perTarget[i] {
				pm.Warnings = append(pm.Warnings, ws...)
			}
		}
	}
	return out, nil
}

// groupSeries reports whether a metric's samples are one series per group: those of a
// Prometheus query whose result keeps no instance label, filed under the groups'
// pseudo-sources (promFeed).
func groupSeries(run *murphyv1.Run, m *spec.Metric, samples *fleet.Samples) bool {
	if m.Source.Prometheus == nil {
		return false
	}
	return samples.Count(run.Id, m.Name, []string{PseudoSource(murphyv1.Group_GROUP_CONTROL), PseudoSource(murphyv1.Group_GROUP_EXPERIMENT)}) > 0
}

// analysisMetric is a spec metric's direction, tolerance and criticality for analysis.
func analysisMetric(m *spec.Metric) (analysis.Metric, error) {
	dir, err := analysis.ParseDirection(string(m.Direction))
	if err != nil {
		return analysis.Metric{}, err
	}
	return analysis.Metric{Name: m.Name, Direction: dir, Tolerance: spec.ForAnalysis(m.Tolerance), Critical: m.Critical}, nil
}

// targetData is each member's samples of a probe metric: the baseline (the baseline
// period before from) and [from, to). Latency-like measures keep successes only.
func targetData(run *murphyv1.Run, m *spec.Metric, samples *fleet.Samples, from, to time.Time, baseline time.Duration) *analysis.TargetData {
	td := &analysis.TargetData{Proportion: spec.Proportion(m)}
	values := func(w string, a, b time.Time) []float64 {
		var out []float64
		for _, p := range samples.Points(run.Id, m.Name, w, a, b) {
			if p.OK || !spec.SuccessesOnly(m) {
				out = append(out, p.Value)
			}
		}
		return out
	}
	for _, w := range run.Groups.GetControl() {
		td.Control = append(td.Control, analysis.Target{ID: w, Baseline: values(w, from.Add(-baseline), from), Window: values(w, from, to)})
	}
	// An experimental host counts only while it was faulted: from its injection to its
	// early revert when the fault ended before its time. A host that was never faulted
	// is no experimental target at all.
	wins, _, known := workerWindows(run, from, to)
	for _, w := range run.Groups.GetExperiment() {
		lo, hi := from, to
		if span, ok := wins[w]; known && ok {
			if !span[1].After(span[0]) {
				continue
			}
			lo, hi = span[0], span[1]
		}
		td.Experiment = append(td.Experiment, analysis.Target{ID: w, Baseline: values(w, from.Add(-baseline), from), Window: values(w, lo, hi)})
	}
	return td
}

// windowWarnings says which experimental hosts were judged on less than the fault window,
// and why: a reader must know a host's fault ended early before trusting its change.
func windowWarnings(run *murphyv1.Run, from, to time.Time) []string {
	wins, early, known := workerWindows(run, from, to)
	if !known {
		return nil
	}
	var out []string
	for _, w := range run.Groups.GetExperiment() {
		span, ok := wins[w]
		switch {
		case !ok:
		case !span[1].After(span[0]):
			out = append(out, fmt.Sprintf("%s was never faulted (its injection failed) and was left out of the experimental group", w))
		case early[w] != murphyv1.RevertCause_REVERT_CAUSE_UNSPECIFIED:
			out = append(out, fmt.Sprintf("%s's fault ended %s early (%s): only its %s while faulted count",
				w, to.Sub(span[1]).Round(time.Second), causeWords(early[w]), span[1].Sub(span[0]).Round(time.Second)))
		}
	}
	return out
}

// causeWords names a revert cause for people.
func causeWords(c murphyv1.RevertCause) string {
	switch c {
	case murphyv1.RevertCause_REVERT_CAUSE_COMPLETED:
		return "the step completed"
	case murphyv1.RevertCause_REVERT_CAUSE_HALT:
		return "halt"
	case murphyv1.RevertCause_REVERT_CAUSE_DEADLINE:
		return "the worker's own deadline"
	case murphyv1.RevertCause_REVERT_CAUSE_DEADMAN:
		return "the worker's dead-man's switch: it lost the coordinators"
	case murphyv1.RevertCause_REVERT_CAUSE_STARTUP:
		return "the worker restarted and reverted it"
	case murphyv1.RevertCause_REVERT_CAUSE_RECONCILE:
		return "reconciled by the leader"
	case murphyv1.RevertCause_REVERT_CAUSE_GUARDIAN:
		return "the host's guardian: the worker was dead or frozen"
	}
	return "unknown cause"
}

// addRecoveries gives each target of a time_to_recover metric its outages in the window,
// read from its samples: the probe reports an outage's length so far while it lasts and
// its whole length once, in the first sample after it ended, then 0.
func addRecoveries(ts []*murphyv1.TargetSummary, td *analysis.TargetData) {
	if td == nil {
		return
	}
	window := map[string][]float64{}
	for _, group := range [][]analysis.Target{td.Control, td.Experiment} {
		for _, t := range group {
			window[t.ID] = t.Window
		}
	}
	for _, t := range ts {
		t.Recoveries, t.Unrecovered = Recoveries(window[t.Id])
	}
}

// Recoveries splits a time_to_recover series into the lengths of the outages that ended
// (each the last positive sample of a run of them, followed by a 0, or by a smaller
// value: a new outage that began before a sample could report the end of the last) and
// the length by the last sample of one still open at the end.
func Recoveries(values []float64) (ended []float64, open float64) {
	last := 0.0
	for _, v := range values {
		if v > 0 {
			if v < last {
				ended = append(ended, last)
			}
			last = v
			continue
		}
		if last > 0 {
			ended = append(ended, last)
		}
		last = 0
	}
	return ended, last
}

// TargetSummaries converts analysis target summaries to the wire form.
func TargetSummaries(ts []analysis.TargetSummary) []*murphyv1.TargetSummary {
	out := make([]*murphyv1.TargetSummary, 0, len(ts))
	for _, t := range ts {
		g := murphyv1.Group_GROUP_CONTROL
		if t.Experiment {
			g = murphyv1.Group_GROUP_EXPERIMENT
		}
		out = append(out, &murphyv1.TargetSummary{
			Id: t.ID, Group: g, NBaseline: int64(t.NBaseline), NWindow: int64(t.NWindow),
			Baseline: t.Baseline, Window: t.Window, Change: t.Change, Beyond: t.Beyond,
		})
	}
	return out
}

var outcomes = map[analysis.Outcome]murphyv1.VerdictOutcome{
	analysis.OutcomeUpheld:       murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD,
	analysis.OutcomeRefuted:      murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED,
	analysis.OutcomeInconclusive: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE,
}

var metricOutcomes = map[analysis.MetricOutcome]murphyv1.MetricOutcome{
	analysis.MetricWithinTolerance: murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE,
	analysis.MetricDeviated:        murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED,
	analysis.MetricInconclusive:    murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE,
}

func toleranceText(t *spec.Tolerance) string {
	switch {
	case t.Relative != nil:
		return fmt.Sprintf("relative %g", *t.Relative)
	case t.Absolute != nil:
		return fmt.Sprintf("absolute %g", *t.Absolute)
	}
	return ""
}

// Progress reports live sample counts and medians per metric and group for a run the
// leader is driving.
func Progress(run *murphyv1.Run, sp *spec.Experiment, samples *fleet.Samples) []*murphyv1.MetricProgress {
	var out []*murphyv1.MetricProgress
	for _, m := range sp.Hypothesis.Metrics {
		ctl := samples.Values(run.Id, m.Name, sources(run, murphyv1.Group_GROUP_CONTROL), time.Time{}, time.Time{}, spec.SuccessesOnly(m))
		exp := samples.Values(run.Id, m.Name, sources(run, murphyv1.Group_GROUP_EXPERIMENT), time.Time{}, time.Time{}, spec.SuccessesOnly(m))
		out = append(out, &murphyv1.MetricProgress{
			Metric:           m.Name,
			Control:          int64(len(ctl)),
			Experiment:       int64(len(exp)),
			ControlMedian:    fleet.Median(ctl),
			ExperimentMedian: fleet.Median(exp),
		})
	}
	return out
}

// Remaining is the time left in the current phase and in the whole run.
func Remaining(run *murphyv1.Run, sp *spec.Experiment, now time.Time) (phase, total time.Duration) {
	if run.PhaseDeadline != nil {
		phase = max(0, run.PhaseDeadline.AsTime().Sub(now))
	}
	return phase, remaining(run, sp, now)
}

// Describe is a one-line summary of the verdict for logs and the CLI.
func Describe(v *murphyv1.Verdict) string {
	if v == nil {
		return "no verdict"
	}
	return strings.ToLower(strings.TrimPrefix(v.Outcome.String(), "VERDICT_OUTCOME_")) + ": " + v.Reason
}

// sources lists where a group's samples come from: its workers and the leader's own
// queries for the group.
func sources(run *murphyv1.Run, g murphyv1.Group) []string {
	ids := run.Groups.GetExperiment()
	if g == murphyv1.Group_GROUP_CONTROL {
		ids = run.Groups.GetControl()
	}
	return append(append([]string(nil), ids...), PseudoSource(g))
}
