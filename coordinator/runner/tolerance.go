package runner

import (
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// checkTolerances adds the Chaos Toolkit tolerance of every imported metric to its
// verdict: how many samples of each group met it in the verdict window [from, to), and
// how many of both groups met it during the baseline before from. Chaos Toolkit checks
// one result before and one after the method; Murphy checks every sample, so "met" means
// every sample met it. A Prometheus metric whose query keeps no instance label is
// counted on its groups' series (their pseudo-sources), like its verdict.
func checkTolerances(out *murphyv1.Verdict, sp *spec.Experiment, run *murphyv1.Run, samples *fleet.Samples, from, to time.Time) {
	baseFrom := from.Add(-sp.Baseline.AsDuration())
	for i, m := range sp.Hypothesis.Metrics {
		t := m.CtkTolerance
		if t == nil || i >= len(out.Metrics) {
			continue
		}
		c := &murphyv1.ToleranceCheck{Tolerance: t.Text}
		count := func(workers []string, lo, hi time.Time) (met, total int64) {
			for _, w := range workers {
				pts, _ := samples.Since(run.Id, m.Name, w, 0)
				for _, p := range pts {
					if p.At.Before(lo) || !p.At.Before(hi) {
						continue
					}
					total++
					if t.Meets(p.Value, p.OK) {
						met++
					}
				}
			}
			return met, total
		}
		ctl, exp := sources(run, murphyv1.Group_GROUP_CONTROL), sources(run, murphyv1.Group_GROUP_EXPERIMENT)
		c.ControlMet, c.ControlTotal = count(ctl, from, to)
		c.ExperimentMet, c.ExperimentTotal = count(exp, from, to)
		bm1, bt1 := count(ctl, baseFrom, from)
		bm2, bt2 := count(exp, baseFrom, from)
		c.BaselineMet, c.BaselineTotal = bm1+bm2, bt1+bt2
		c.MetBefore = c.BaselineTotal > 0 && c.BaselineMet == c.BaselineTotal
		c.MetAfter = c.ExperimentTotal > 0 && c.ExperimentMet == c.ExperimentTotal
		out.Metrics[i].CtkTolerance = c
	}
}
