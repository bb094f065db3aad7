package runner

import (
	"context"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Summaries are what every coordinator can draw a run's charts from: per metric, per
// group, per interval counts, mean, extremes and quantiles, computed by the leader from
// the samples in its fleet and committed in batches. They hold no raw samples.
//
// The summariser keeps no state of its own: where a run's summaries stand is read back
// from the FSM, so a new leader carries on where the old one stopped (from the samples
// the workers replay to it). The interval width depends only on the spec, and intervals
// are aligned to multiples of it, so every leader cuts the same intervals.
const (
	// summaryTarget is about how many intervals a run's planned duration is cut into,
	// well below fsm.MaxIntervalsPerSeries so a run that overruns its plan still fits.
	summaryTarget = 240
	// summaryBatch is how much closed time a batch covers before it is committed: one
	// log entry per run every few seconds, not one per interval.
	summaryBatch = 5 * time.Second
	// summaryLag lets samples in flight arrive before their interval is closed.
	summaryLag = time.Second
	// finalSettle is how long after a run ends its final batch waits for the workers'
	// last samples (a halt stops probes; what they buffered arrives after).
	finalSettle = 2 * time.Second
)

// SummaryWidth is the interval width for a run of this spec: at least a second, and a
// whole number of seconds.
func SummaryWidth(sp *spec.Experiment) time.Duration {
	total := sp.Baseline.AsDuration() + sp.Cooldown.AsDuration()
	for _, st := range sp.Steps {
		total += st.Fault.GetDuration().AsDuration()
	}
	w := (total / summaryTarget).Round(time.Second)
	return max(w, time.Second)
}

// summarize commits the closed intervals of every run under observation, at most once a
// second per run, and the final batch (with the verdict window's distributions) of runs
// that ended recently.
func (r *Runner) summarize(ctx context.Context) {
	now := r.cfg.Now()
	if now.Sub(r.lastSummaries) < r.cfg.Resend {
		return
	}
	r.lastSummaries = now
	for _, run := range r.cfg.FSM.ActiveRuns() {
		if run.Groups == nil {
			continue
		}
		if err := r.summarizeRun(ctx, run, now); err != nil && ctx.Err() == nil {
			r.log.Warn("record summaries", "run", run.Id, "error", err)
		}
	}
	for _, run := range r.heldEnded(now.Add(-HaltWindow)) {
		if run.Groups == nil {
			continue
		}
		if err := r.summarizeRun(ctx, run, now); err != nil && ctx.Err() == nil {
			r.log.Warn("record final summaries", "run", run.Id, "error", err)
		}
	}
}

func (r *Runner) summarizeRun(ctx context.Context, run *murphyv1.Run, now time.Time) error {
	progress, final := r.cfg.FSM.SummaryProgress(run.Id)
	if final {
		return nil
	}
	sp, err := r.specOf(run)
	if err != nil {
		return err
	}
	width := SummaryWidth(sp)
	ended := fsm.Terminal(run.Phase)
	if ended && now.Before(run.EndedAt.AsTime().Add(finalSettle)) {
		// The final batch waits for the samples still on their way: a halted run's last
		// intervals (the ones that show the breach) were recorded empty when it was cut
		// at once.
		return nil
	}
	from, ok := summaryFrom(run, sp, progress, width)
	if !ok {
		return nil
	}
	to := now.Add(-summaryLag).Truncate(width)
	if ended {
		// Everything up to the end, the last interval included even if cut short.
		to = run.EndedAt.AsTime().Add(width - 1).Truncate(width)
	} else if to.Sub(from) < summaryBatch {
		return nil
	}
	batch := Summarize(run, sp, r.cfg.Fleet.Samples(), from, to, width)
	if ended {
		batch = append(batch, windowSummaries(run, sp, r.cfg.Fleet.Samples())...)
	}
	if len(batch) == 0 && !ended {
		return nil
	}
	return r.apply(ctx, &murphyv1.Command{Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{
		RunId: run.Id, Summaries: batch, Final: ended,
	}}})
}

// summaryFrom is the start of the first interval not yet recorded for every series, or
// the aligned start of the baseline when nothing is recorded.
func summaryFrom(run *murphyv1.Run, sp *spec.Experiment, progress map[string]int64, width time.Duration) (time.Time, bool) {
	if len(progress) > 0 {
		var next time.Time
		first := true
		for _, m := range sp.Hypothesis.Metrics {
			for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
				last, ok := progress[m.Name+"\x00"+g.String()]
				if !ok {
					continue
				}
				t := time.Unix(0, last).Add(width)
				if first || t.Before(next) {
					next, first = t, false
				}
			}
		}
		if !first {
			return next, true
		}
	}
	var start time.Time
	switch {
	case len(run.Steps) > 0:
		start = run.Steps[0].StartedAt.AsTime().Add(-sp.Baseline.AsDuration())
	case run.Phase == murphyv1.RunPhase_RUN_PHASE_BASELINE:
		start = run.PhaseSince.AsTime()
	case run.EndedAt != nil:
		start = run.EndedAt.AsTime().Add(-sp.Baseline.AsDuration())
	default:
		return time.Time{}, false
	}
	return start.Truncate(width), true
}

// Summarize cuts [from, to) into intervals of width and summarises each group's samples
// of every hypothesis metric in each; intervals without samples are recorded with a zero
// count, so a chart shows the gap.
func Summarize(run *murphyv1.Run, sp *spec.Experiment, samples *fleet.Samples, from, to time.Time, width time.Duration) []*murphyv1.IntervalSummary {
	var out []*murphyv1.IntervalSummary
	for t := from; t.Before(to); t = t.Add(width) {
		for _, m := range sp.Hypothesis.Metrics {
			for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
				xs := samples.Values(run.Id, m.Name, sources(run, g), t, t.Add(width), spec.SuccessesOnly(m))
				out = append(out, summary(m.Name, g, t, t.Add(width), xs))
			}
		}
	}
	return out
}

// windowSummaries describe both groups' samples over the window the verdict compared (or,
// for a run without a verdict, from the first fault to the end), percentiles included.
func windowSummaries(run *murphyv1.Run, sp *spec.Experiment, samples *fleet.Samples) []*murphyv1.IntervalSummary {
	var from, to time.Time
	switch {
	case run.Verdict.GetWindowStart() != nil:
		from, to = run.Verdict.WindowStart.AsTime(), run.Verdict.WindowEnd.AsTime()
	case len(run.Steps) > 0:
		from, to = run.Steps[0].StartedAt.AsTime(), run.EndedAt.AsTime()
	default:
		return nil
	}
	var out []*murphyv1.IntervalSummary
	for _, m := range sp.Hypothesis.Metrics {
		for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
			xs := samples.Values(run.Id, m.Name, sources(run, g), from, to, spec.SuccessesOnly(m))
			s := summary(m.Name, g, from, to, xs)
			s.Window = true
			if len(xs) > 0 {
				s.Percentiles = make([]float64, fsm.Percentiles)
				for i := range s.Percentiles {
					s.Percentiles[i] = quantile(xs, float64(i)/float64(fsm.Percentiles-1))
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// summary sorts xs in place and describes it.
func summary(metric string, g murphyv1.Group, from, to time.Time, xs []float64) *murphyv1.IntervalSummary {
	s := &murphyv1.IntervalSummary{Metric: metric, Group: g, Start: timestamppb.New(from), End: timestamppb.New(to), Count: int64(len(xs))}
	if len(xs) == 0 {
		return s
	}
	slices.Sort(xs)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	s.Min, s.Max = xs[0], xs[len(xs)-1]
	s.P50, s.P90, s.P99 = quantile(xs, 0.5), quantile(xs, 0.9), quantile(xs, 0.99)
	return s
}

// quantile of sorted xs by linear interpolation between closest ranks (Hyndman and Fan
// type 7, the default of R and NumPy).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
