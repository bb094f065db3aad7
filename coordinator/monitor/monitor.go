// Package monitor decides, while faults are active, whether a run must halt. It evaluates
// the spec's guardrails on the samples the leader receives: absolute thresholds (above or
// below, held for a duration) on the experimental group, relative deviation of the
// experimental group from the control group through the anytime-valid count test in
// analysis (so looking every tick does not inflate false halts), and missing data. It is
// pure: the runner feeds it points and the time, and commits what it decides.
package monitor

import (
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// HaltAlpha is the budget for false halts per run, split across deviation guardrails.
const HaltAlpha = 0.01

// Group is the side of the comparison a point came from.
type Group int

const (
	Control Group = iota
	Experiment
)

// Decision is a halt the monitor asks for, with its evidence.
type Decision struct {
	Reason      string
	Metric      string
	Guardrail   string
	Values      []float64
	Threshold   float64
	FirstBreach time.Time
}

type guard struct {
	cond      spec.AbortCondition
	dir       spec.Direction
	text      string
	window    time.Duration // absolute guardrails aggregate the experimental points in it
	missing   time.Duration // silence that counts as missing data
	recentExp []fleet.Point // experimental points in the window, oldest first
	breach    time.Time     // first breaching sample of the current breach, zero when none
	aggregate float64

	// Deviation: bad events are points beyond ref in the harmful direction.
	e       *analysis.EProcess
	ref     float64
	refSet  bool
	badE    int64
	badC    int64
	lastExp time.Time
	lastCtl time.Time
}

// Monitor holds one run's guardrail state. Not safe for concurrent use.
type Monitor struct {
	guards   []*guard
	baseline map[string][]float64 // control values before the first fault, per metric
	started  time.Time            // when faults became active; zero before
	first    time.Time            // this monitor's first evaluation
	evals    int64
}

// New prepares the guardrails of sp for groups of the given sizes.
func New(sp *spec.Experiment, nControl, nExperiment int) (*Monitor, error) {
	m := &Monitor{baseline: map[string][]float64{}}
	metrics := map[string]spec.Metric{}
	for _, mt := range sp.Hypothesis.Metrics {
		metrics[mt.Name] = mt
	}
	nDev := 0
	for _, a := range sp.Abort {
		if a.Deviation != nil {
			nDev++
		}
	}
	for _, a := range sp.Abort {
		mt, ok := metrics[a.Metric]
		if !ok {
			return nil, fmt.Errorf("monitor: guardrail on unknown metric %q", a.Metric)
		}
		interval := sourceInterval(mt)
		g := &guard{
			cond:    a,
			dir:     mt.Direction,
			text:    a.String(),
			window:  max(2*interval, time.Second),
			missing: max(3*interval, 3*time.Second),
		}
		if a.Deviation != nil {
			share := float64(nExperiment) / float64(nControl+nExperiment)
			e, err := analysis.NewEProcess(analysis.EConfig{Share: share, Alpha: HaltAlpha / float64(nDev), ToleranceRatio: 1})
			if err != nil {
				return nil, fmt.Errorf("monitor: %s: %w", a.Metric, err)
			}
			g.e = e
		}
		m.guards = append(m.guards, g)
	}
	return m, nil
}

func sourceInterval(mt spec.Metric) time.Duration {
	switch {
	case mt.Source.Probe != nil && mt.Source.Probe.HTTP != nil:
		return time.Duration(mt.Source.Probe.HTTP.Interval)
	case mt.Source.Prometheus != nil:
		return time.Duration(mt.Source.Prometheus.Interval)
	}
	return time.Second
}

// Evaluations is how many guardrail evaluations the monitor has made.
func (m *Monitor) Evaluations() int64 { return m.evals }

// Observe feeds new points of one metric and group. active says whether faults are
// active: before they are, control points only build the deviation reference.
func (m *Monitor) Observe(metric string, g Group, pts []fleet.Point, active bool) {
	if len(pts) == 0 {
		return
	}
	if !active {
		if g == Control {
			for _, p := range pts {
				if len(m.baseline[metric]) < 100_000 {
					m.baseline[metric] = append(m.baseline[metric], p.Value)
				}
			}
		}
		return
	}
	for _, gd := range m.guards {
		if gd.cond.Metric != metric {
			continue
		}
		last := pts[len(pts)-1].At
		if g == Experiment {
			gd.recentExp = append(gd.recentExp, pts...)
			if last.After(gd.lastExp) {
				gd.lastExp = last
			}
		} else if last.After(gd.lastCtl) {
			gd.lastCtl = last
		}
		if gd.e == nil {
			continue
		}
		if !gd.refSet {
			base := m.baseline[metric]
			if len(base) == 0 && g == Control {
				base = values(pts)
			}
			if len(base) == 0 {
				continue // no reference yet: experimental points before any control
			}
			gd.ref = median(base)
			gd.refSet = true
		}
		bad := int64(0)
		for _, p := range pts {
			if gd.isBad(p.Value) {
				bad++
			}
		}
		if g == Experiment {
			gd.badE += bad
			gd.e.Update(bad, 0)
		} else {
			gd.badC += bad
			gd.e.Update(0, bad)
		}
	}
}

// isBad reports whether v lies beyond the deviation tolerance around the reference, in
// the harmful direction.
func (gd *guard) isBad(v float64) bool {
	t := gd.cond.Deviation
	var up, down float64
	if t.Relative != nil {
		up, down = gd.ref*(1+*t.Relative), gd.ref*(1-*t.Relative)
		if gd.ref < 0 {
			up, down = down, up
		}
	} else {
		up, down = gd.ref+*t.Absolute, gd.ref-*t.Absolute
	}
	switch gd.dir {
	case spec.DirectionIncrease:
		return v > up
	case spec.DirectionDecrease:
		return v < down
	default:
		return v > up || v < down
	}
}

// Start marks when faults became active; missing-data clocks start there.
func (m *Monitor) Start(at time.Time) {
	if m.started.IsZero() {
		m.started = at
	}
}

// Evaluate checks every guardrail at now and returns the first halt decision, if any,
// with the status of every guardrail.
func (m *Monitor) Evaluate(now time.Time) (*Decision, []*murphyv1.GuardrailStatus) {
	var halt *Decision
	var status []*murphyv1.GuardrailStatus
	if m.first.IsZero() {
		m.first = now
	}
	for _, gd := range m.guards {
		m.evals++
		d, st := m.evaluate(gd, now)
		status = append(status, st...)
		if halt == nil && d != nil {
			halt = d
		}
	}
	return halt, status
}

func (m *Monitor) evaluate(gd *guard, now time.Time) (*Decision, []*murphyv1.GuardrailStatus) {
	var out []*murphyv1.GuardrailStatus
	var halt *Decision
	// Absolute thresholds on the experimental group's recent points.
	cut := now.Add(-gd.window)
	i := 0
	for i < len(gd.recentExp) && gd.recentExp[i].At.Before(cut) {
		i++
	}
	gd.recentExp = gd.recentExp[i:]
	if gd.cond.Above != nil || gd.cond.Below != nil {
		st := &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: gd.absText()}
		if len(gd.recentExp) > 0 {
			gd.aggregate = mean(gd.recentExp)
			th, breaching := gd.threshold(gd.aggregate)
			st.Value, st.Threshold = gd.aggregate, th
			st.Closeness = closeness(gd.aggregate, th, gd.cond.Above != nil && th == *gd.cond.Above)
			if breaching {
				if gd.breach.IsZero() {
					gd.breach = firstBreach(gd)
				}
				st.BreachingSince = tsOrNil(gd.breach)
				held := now.Sub(gd.breach)
				if held >= time.Duration(gd.cond.For) {
					halt = &Decision{
						Reason: fmt.Sprintf("%s: experimental group at %.4g for %s, guardrail %s", gd.cond.Metric, gd.aggregate, held.Round(time.Millisecond), gd.absText()),
						Metric: gd.cond.Metric, Guardrail: gd.absText(), Values: tail(values(gd.recentExp), 20),
						Threshold: th, FirstBreach: gd.breach,
					}
					st.Closeness = 1
				} else if gd.cond.For > 0 {
					st.Closeness = max(st.Closeness, float64(held)/float64(gd.cond.For))
				}
			} else {
				gd.breach = time.Time{}
			}
		}
		out = append(out, st)
	}
	if gd.e != nil {
		st := &murphyv1.GuardrailStatus{
			Metric: gd.cond.Metric, Guardrail: "deviation " + gd.cond.Deviation.String(),
			Value: gd.e.LogE(), Threshold: gd.e.Threshold(), BadControl: gd.badC, BadExperiment: gd.badE,
		}
		st.Closeness = max(0, math.Min(1, gd.e.LogE()/gd.e.Threshold()))
		if halt == nil && gd.e.LogE() >= gd.e.Threshold() {
			halt = &Decision{
				Reason: fmt.Sprintf("%s: the experimental group deviates from control beyond %s (%d bad samples in experiment vs %d in control, reference %.4g; log e-value %.2f ≥ %.2f)",
					gd.cond.Metric, gd.cond.Deviation, gd.badE, gd.badC, gd.ref, gd.e.LogE(), gd.e.Threshold()),
				Metric: gd.cond.Metric, Guardrail: st.Guardrail, Values: []float64{float64(gd.badE), float64(gd.badC), gd.ref},
				Threshold: gd.e.Threshold(), FirstBreach: now,
			}
		}
		out = append(out, st)
	}
	// Missing data, once faults have been active long enough to expect points. The clock
	// starts no earlier than this monitor's first look: a leader that took over mid-run
	// has not yet received the samples workers replay to it.
	since := latest(m.started, m.first)
	if !m.started.IsZero() && now.Sub(since) > gd.missing {
		expSilent := now.Sub(latest(gd.lastExp, since)) > gd.missing
		ctlSilent := now.Sub(latest(gd.lastCtl, since)) > gd.missing
		switch {
		case expSilent && !ctlSilent:
			out = append(out, &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: "missing data", Closeness: 1})
			if halt == nil {
				halt = &Decision{
					Reason:    fmt.Sprintf("%s: the experimental group stopped reporting (last sample %s ago) while the control group still reports", gd.cond.Metric, now.Sub(latest(gd.lastExp, since)).Round(time.Millisecond)),
					Metric:    gd.cond.Metric,
					Guardrail: "missing data", FirstBreach: latest(gd.lastExp, since),
				}
			}
		case expSilent && ctlSilent:
			out = append(out, &murphyv1.GuardrailStatus{Metric: gd.cond.Metric, Guardrail: "missing data (" + string(gd.cond.OnMissing) + ")", Closeness: 1})
			if halt == nil && gd.cond.OnMissing != spec.MissingHold {
				halt = &Decision{
					Reason:    fmt.Sprintf("%s: no samples from either group for %s (onMissing: halt)", gd.cond.Metric, now.Sub(latest(latest(gd.lastExp, gd.lastCtl), since)).Round(time.Millisecond)),
					Metric:    gd.cond.Metric,
					Guardrail: "missing data", FirstBreach: latest(latest(gd.lastExp, gd.lastCtl), since),
				}
			}
		}
	}
	return halt, out
}

func (gd *guard) absText() string {
	var s string
	if gd.cond.Above != nil {
		s = fmt.Sprintf("above %g", *gd.cond.Above)
	}
	if gd.cond.Below != nil {
		if s != "" {
			s += " or "
		}
		s += fmt.Sprintf("below %g", *gd.cond.Below)
	}
	if gd.cond.For > 0 {
		s += " for " + gd.cond.For.String()
	}
	return s
}

// threshold returns the relevant threshold for v and whether v breaches it.
func (gd *guard) threshold(v float64) (float64, bool) {
	if gd.cond.Above != nil && v > *gd.cond.Above {
		return *gd.cond.Above, true
	}
	if gd.cond.Below != nil && v < *gd.cond.Below {
		return *gd.cond.Below, true
	}
	if gd.cond.Above != nil {
		return *gd.cond.Above, false
	}
	return *gd.cond.Below, false
}

// closeness maps a value to [0,1] against a threshold it approaches from below (above
// guardrails) or from above (below guardrails).
func closeness(v, th float64, above bool) float64 {
	if th == 0 {
		if (above && v > 0) || (!above && v < 0) {
			return 1
		}
		return 0
	}
	c := v / th
	if !above {
		if v <= 0 {
			return 1
		}
		c = th / v
	}
	return max(0, math.Min(1, c))
}

// firstBreach is the time of the oldest point in the window that is itself beyond the
// threshold: detection is measured from the first bad sample, not from the evaluation.
func firstBreach(gd *guard) time.Time {
	for _, p := range gd.recentExp {
		if _, b := gd.threshold(p.Value); b {
			return p.At
		}
	}
	return gd.recentExp[len(gd.recentExp)-1].At
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func tsOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func values(pts []fleet.Point) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.Value
	}
	return out
}

func mean(pts []fleet.Point) float64 {
	s := 0.0
	for _, p := range pts {
		s += p.Value
	}
	return s / float64(len(pts))
}

func median(xs []float64) float64 {
	c := slices.Clone(xs)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func tail(xs []float64, n int) []float64 {
	if len(xs) > n {
		return xs[len(xs)-n:]
	}
	return xs
}
