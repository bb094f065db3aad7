package spec

import (
	"time"

	"github.com/murphy-chaos/murphy/analysis"
)

// Proportion reports whether the metric is a 0/1 measure (a probe's success): its
// samples are shares to compare, never medians.
func Proportion(m *Metric) bool {
	return m.GetSource().GetProbe().GetMeasure() == MeasureSuccess
}

// SuccessesOnly reports whether only successful samples measure the metric: a failed
// request's latency is the time until it failed (a fault that makes requests fail fast
// would otherwise read as faster), and a failed command prints no number. Failures
// belong to the success metric.
func SuccessesOnly(m *Metric) bool {
	switch m.GetSource().GetProbe().GetMeasure() {
	case MeasureLatency, MeasureNumber:
		return true
	}
	return false
}

// FaultDuration is how long faults are planned to be active: sequential steps add up,
// a parallel step overlaps the one before it.
func FaultDuration(e *Experiment) time.Duration {
	total, group := time.Duration(0), time.Duration(0)
	for i, st := range e.Steps {
		if i > 0 && !st.Parallel {
			total += group
			group = 0
		}
		group = max(group, st.GetFault().GetDuration().AsDuration())
	}
	return total + group
}

// ForAnalysis is the tolerance as the analysis package takes it; a tolerance with neither
// field set is zero (any change counts).
func ForAnalysis(t *Tolerance) analysis.Tolerance {
	switch {
	case t == nil:
		return analysis.Tolerance{}
	case t.Relative != nil:
		return analysis.Tolerance{Relative: *t.Relative, IsRelative: true}
	case t.Absolute != nil:
		return analysis.Tolerance{Absolute: *t.Absolute}
	}
	return analysis.Tolerance{}
}
