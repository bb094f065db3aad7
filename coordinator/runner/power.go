package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/monitor"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// shortDeviationBaseline is the baseline below which a deviation guardrail is warned
// about: each host's change is measured against its baseline, and in the fleet
// simulation a 30 s baseline with autocorrelated probes left 6 hosts per group halting a
// 2x slowdown within 120 s in only two runs of three, where 2 minutes reached 97%.
const shortDeviationBaseline = 2 * time.Minute

// quickHaltTargets is the group size from which a deviation guardrail halts a 2x
// slowdown within 2 minutes in at least 90% of the fleet simulation's runs, whatever the
// hosts' spread and the probes' autocorrelation (README, "Statistics").
const quickHaltTargets = 6

// SpecWarnings are what a submitter should know before a run of sp with groups of the
// given sizes starts: Prometheus queries that cannot be judged per target, deviation guardrails that cannot test with so few targets (they
// then leave halting to the absolute guardrails), or that a short baseline makes slow.
func SpecWarnings(sp *spec.Experiment, nControl, nExperiment int) []string {
	out := QueryWarnings(sp)
	if h := sp.GetHypothesis(); h != nil && len(h.Metrics) == 0 {
		out = append(out, "the hypothesis has no metrics: the steps and rollbacks run, and the verdict will say there was nothing to judge")
	}
	short := false
	for _, a := range sp.Abort {
		if a.Deviation == nil {
			continue
		}
		if w := monitor.DeviationWarning(a.Metric, nControl, nExperiment); w != "" {
			out = append(out, w)
		} else if min(nControl, nExperiment) < quickHaltTargets {
			out = append(out, fmt.Sprintf("the deviation guardrail on %s can test %d control and %d experimental targets, but slowly: in the fleet simulation "+
				"4 hosts per group halted a 2x slowdown within 2 minutes in 67-74%% of runs when probes were autocorrelated, %d or more in at least 98%%",
				a.Metric, nControl, nExperiment, quickHaltTargets))
		}
		short = short || sp.Baseline.AsDuration() < shortDeviationBaseline
	}
	if short {
		out = append(out, fmt.Sprintf("deviation guardrails compare each host with its own baseline; a baseline of %s makes them slow to halt "+
			"when probes are noisy or autocorrelated (baseline: %s or more halts a 2x slowdown within 2 minutes in the fleet simulation)",
			sp.Baseline.AsDuration(), shortDeviationBaseline))
	}
	return out
}

// Futility is the check at the end of the baseline: with the variation the baseline
// showed, can the groups settle every metric judged per target at its tolerance? When one cannot, the
// run would break things without answering its question, so it ends inconclusive before
// any fault, with the targets it would need, unless the spec allows underpowered runs.
// It returns nil when the run should go ahead.
func Futility(sp *spec.Experiment, run *murphyv1.Run, samples *fleet.Samples, now time.Time) *murphyv1.Verdict {
	if sp.Hypothesis.AllowUnderpowered || run.WaveLevel != "" || sp.Baseline.AsDuration() <= 0 {
		return nil
	}
	base := sp.Baseline.AsDuration()
	window := spec.FaultDuration(sp)
	if window <= 0 {
		window = max(sp.Cooldown.AsDuration(), base)
	}
	var blocking []*murphyv1.MetricVerdict
	var all []*murphyv1.MetricVerdict
	for _, m := range sp.Hypothesis.Metrics {
		mv := &murphyv1.MetricVerdict{
			Name: m.Name, Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Direction: string(m.Direction),
			Tolerance: toleranceText(m.Tolerance), Critical: m.Critical, Unit: analysis.UnitTarget,
			Method: "baseline plan", Reason: "not measured: no fault was injected",
		}
		all = append(all, mv)
		// One series per group has no targets to plan with.
		if groupSeries(run, m, samples) {
			continue
		}
		am, err := analysisMetric(m)
		if err != nil {
			continue
		}
		// The baseline alone: both the "baseline" and "window" of targetData end at now.
		td := targetData(run, m, samples, now, now, base)
		plan, err := analysis.PlanTargets(*td, am.Direction, am.Tolerance, sp.Hypothesis.Confidence, float64(window)/float64(base))
		// Too few targets with a baseline (workers still replaying after a failover) is
		// no evidence of futility: the verdict will say what it lacks.
		if err != nil || plan.CanDecide || plan.HalfWidth == 0 {
			continue
		}
		mv.Scale = string(plan.Scale)
		mv.TargetsControl, mv.TargetsExperiment = int64(len(td.Control)), int64(len(td.Experiment))
		mv.TargetsNeeded = int64(plan.TargetsNeeded)
		mv.Reason = fmt.Sprintf("%s cannot be settled: %s; %s", m.Name, plan.Reason, neededText(plan.TargetsNeeded))
		blocking = append(blocking, mv)
	}
	if len(blocking) == 0 {
		return nil
	}
	names := make([]string, len(blocking))
	for i, mv := range blocking {
		names[i] = mv.Name
	}
	return &murphyv1.Verdict{
		Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE,
		Reason: fmt.Sprintf("nothing was injected: the groups are too small to settle %s at the tolerance. %s "+
			"(set hypothesis.allowUnderpowered: true to inject anyway)", strings.Join(names, ", "), blocking[0].Reason),
		Metrics:     all,
		DecidedAt:   timestamppb.New(now),
		WindowStart: timestamppb.New(now.Add(-base)),
		WindowEnd:   timestamppb.New(now),
		Confidence:  sp.Hypothesis.Confidence,
		BeforeFault: true,
	}
}

func neededText(n int) string {
	switch {
	case n >= 100_000:
		return "no realistic number of targets would settle it at this tolerance"
	case n > 0:
		return fmt.Sprintf("about %d targets per group would be needed", n)
	}
	return "the targets needed could not be estimated"
}

// endUnderpowered commits a before-fault verdict and stops the run's probes.
func (r *Runner) endUnderpowered(ctx context.Context, run *murphyv1.Run, v *murphyv1.Verdict) error {
	r.log.Info("run cannot settle its question: ending before any fault", "run", run.Id, "reason", v.Reason)
	if err := r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: run.Id, Verdict: v}}}); err != nil {
		return err
	}
	r.stopProbes(run)
	return nil
}
