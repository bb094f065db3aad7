package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Tolerance is how far a metric may move in its harmful direction before the steady
// state counts as broken: relative to the control level (0.10 = 10%) or in the
// metric's own units.
type Tolerance struct {
	Relative   float64
	Absolute   float64
	IsRelative bool
}

// Metric is one steady-state metric of an experiment. Exactly one of three inputs is
// set. Targets, the one runs use, holds each target's baseline and window values: the
// target (host, pod) is the unit of analysis. Control and Experiment hold samples that are
// each independent evidence (in time order: the autocorrelation guard reads the order);
// Counts holds per-request bad events and totals.
type Metric struct {
	Name      string
	Direction Direction
	Tolerance Tolerance
	// Critical metrics are named first when they refute the hypothesis. Every metric,
	// critical or not, shares FamilyAlpha through Holm–Bonferroni, so the chance of a
	// false "refuted" stays at most FamilyAlpha whatever the spec lists.
	Critical            bool
	Control, Experiment []float64
	// Counts, when set, makes this a count metric judged on the rate ratio. For an
	// absolute tolerance the unit is the rate (bad/total), e.g. 0.001 = 0.1 points.
	Counts *Counts
	// Targets, when set, makes this a target-level metric (see CompareTargets).
	Targets *TargetData
}

// Options tune Judge. Zero values mean the defaults.
type Options struct {
	// Confidence of the intervals the decisions are taken on; default 0.95.
	Confidence float64
	// FamilyAlpha bounds the chance of a false "refuted" verdict (Holm–Bonferroni over
	// all metrics); default 0.05.
	FamilyAlpha float64
}

// MetricOutcome is the verdict on one metric.
type MetricOutcome string

const (
	MetricDeviated        MetricOutcome = "deviated"
	MetricWithinTolerance MetricOutcome = "within_tolerance"
	MetricInconclusive    MetricOutcome = "inconclusive"
)

// Outcome is the verdict on the whole hypothesis.
type Outcome string

const (
	OutcomeUpheld       Outcome = "upheld"
	OutcomeRefuted      Outcome = "refuted"
	OutcomeInconclusive Outcome = "inconclusive"
)

// Metric kinds reported in MetricVerdict.Kind.
const (
	KindContinuous = "continuous"
	KindCount      = "count"
	// KindProportion is a 0/1 metric judged on shares per target.
	KindProportion = "proportion"
)

// Units of analysis reported in MetricVerdict.Unit.
const (
	UnitTarget = "target"
	UnitSample = "sample"
)

// PooledView is the secondary, clearly labelled view of a target-level metric that pools
// every window sample of a group as if each were independent: Mann-Whitney and the
// Hodges-Lehmann shift. It is useful inside one target and as a cross-check; it never
// decides, because host-to-host differences make it flag changes far too readily.
type PooledView struct {
	Method                          string
	NControl, NExperiment           int
	ControlMedian, ExperimentMedian float64
	U, P                            float64
	Shift, ShiftLow, ShiftHigh      float64
	RelChange, RelLow, RelHigh      float64
	Coverage                        float64
	BatchSize                       int
}

// MetricVerdict keeps every number the decision used, so a verdict can be audited
// without the raw samples.
type MetricVerdict struct {
	Name    string
	Kind    string
	Outcome MetricOutcome
	// Method is the Mann-Whitney method (exact, exact-ties, asymptotic) or
	// "conditional-binomial" for count metrics; IntervalMethod is how the interval was
	// formed.
	Method, IntervalMethod string
	Critical               bool
	// NControl and NExperiment are raw sample sizes (totals for count metrics).
	NControl, NExperiment           int
	ControlMedian, ExperimentMedian float64
	// P tests "no change" in the harmful direction (Mann-Whitney or exact binomial).
	U, P float64
	// PTolerance tests "the change stays within the tolerance" in the harmful direction;
	// it is what the decision uses. Equal to P when the tolerance is zero.
	PTolerance float64
	// Alpha is the Holm–Bonferroni level PTolerance was compared with; Significant means
	// Holm rejected "within tolerance" for this metric.
	Alpha       float64
	Significant bool
	// Shift is the Hodges-Lehmann shift, ShiftLow/ShiftHigh its interval (continuous).
	Shift, ShiftLow, ShiftHigh float64
	// RelChange and its interval: relative to the control median (continuous) or rate
	// ratio − 1 (count). Unbounded marks an interval open to +∞.
	RelChange, RelLow, RelHigh float64
	// Confidence is the interval's requested level; Coverage what it achieves.
	Confidence, Coverage float64
	// ToleranceValue is the tolerance in the unit the decision used: metric units for
	// continuous metrics, relative change for counts.
	ToleranceValue                         float64
	WelchT, WelchDF, WelchP                float64
	Lag1Control, Lag1Experiment            float64
	BatchSize                              int
	ControlRate, ExperimentRate, RateRatio float64
	// SamplesNeeded, for inconclusive metrics, is the per-group sample count (totals for
	// counts) at which the interval would likely settle the question; 0 when unknown.
	SamplesNeeded int
	// Unit is what the decision counted as independent evidence: UnitTarget or
	// UnitSample.
	Unit string
	// Target is the target-level comparison, for Unit "target": the method, the scale,
	// each target's summary and the variation between and within targets.
	Target *TargetResult
	// TargetsNeeded, for target-level metrics, is the targets per group at which the
	// interval would likely land inside the tolerance; 0 when unknown.
	TargetsNeeded int
	// ControlLevel and ExperimentLevel are the groups' window levels in metric units
	// (target-level metrics: the mean of the targets' levels, a share for proportions).
	ControlLevel, ExperimentLevel float64
	// Pooled is the every-sample-independent view of a target-level continuous metric.
	Pooled *PooledView
	// dec is what decide compares: the estimate, its interval and the tolerance
	// boundaries, all on the scale the decision is taken on.
	dec decision
	// Reason is one plain sentence for humans.
	Reason   string
	Warnings []string
}

// decision is a metric's estimate, interval and tolerance boundaries on one scale.
type decision struct {
	est, lo, hi, up, down float64
}

// Verdict is the overall outcome with the per-metric details.
type Verdict struct {
	Outcome Outcome
	Metrics []MetricVerdict
	Reason  string
}

const maxSamplesNeeded = 1 << 30

// Judge decides whether the experiment kept the steady state. It returns an error only
// for a malformed request (no metrics, duplicate or empty names, bad direction,
// tolerance or options); problems with a metric's data make that metric inconclusive.
//
// Per metric: deviated when the test of "within tolerance" (PTolerance) is rejected by
// Holm–Bonferroni across all metrics at FamilyAlpha and the interval lies entirely
// beyond the tolerance in the harmful direction; within_tolerance when the interval lies
// entirely inside the tolerance; inconclusive otherwise. Any deviated metric refutes the
// hypothesis, so a false "refuted" has probability at most FamilyAlpha; it is upheld
// only when every metric is within tolerance.
func Judge(metrics []Metric, opts Options) (Verdict, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Verdict{}, err
	}
	if len(metrics) == 0 {
		return Verdict{}, fmt.Errorf("%w: no metrics to judge", ErrInvalidArgument)
	}
	seen := make(map[string]bool, len(metrics))
	for _, m := range metrics {
		if err := m.validate(); err != nil {
			return Verdict{}, err
		}
		if seen[m.Name] {
			return Verdict{}, fmt.Errorf("%w: metric %q listed twice", ErrInvalidArgument, m.Name)
		}
		seen[m.Name] = true
	}

	v := Verdict{Metrics: make([]MetricVerdict, len(metrics))}
	ok := make([]bool, len(metrics)) // the metric has a p-value and an interval
	for i, m := range metrics {
		v.Metrics[i], ok[i] = measure(m, opts.Confidence)
	}
	assignLevels(v.Metrics, ok, opts.FamilyAlpha)
	for i, m := range metrics {
		if ok[i] {
			decide(m, &v.Metrics[i])
		}
	}
	v.Outcome, v.Reason = overall(v.Metrics)
	return v, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Confidence == 0 {
		o.Confidence = 0.95
	}
	if o.FamilyAlpha == 0 {
		o.FamilyAlpha = 0.05
	}
	if !(o.Confidence > 0 && o.Confidence < 1) {
		return o, fmt.Errorf("%w: confidence %v must lie strictly between 0 and 1", ErrInvalidArgument, o.Confidence)
	}
	if !(o.FamilyAlpha > 0 && o.FamilyAlpha < 1) {
		return o, fmt.Errorf("%w: family alpha %v must lie strictly between 0 and 1", ErrInvalidArgument, o.FamilyAlpha)
	}
	return o, nil
}

func (m Metric) validate() error {
	if strings.TrimSpace(m.Name) == "" {
		return fmt.Errorf("%w: a metric has no name", ErrInvalidArgument)
	}
	if !m.Direction.valid() {
		return fmt.Errorf("%w: metric %q: direction %v", ErrInvalidArgument, m.Name, m.Direction)
	}
	tol := m.Tolerance.Absolute
	if m.Tolerance.IsRelative {
		tol = m.Tolerance.Relative
	}
	if math.IsNaN(tol) || math.IsInf(tol, 0) || tol < 0 {
		return fmt.Errorf("%w: metric %q: tolerance %v must be a finite, non-negative number", ErrInvalidArgument, m.Name, tol)
	}
	inputs := 0
	if m.Counts != nil {
		inputs++
	}
	if m.Targets != nil {
		inputs++
	}
	if len(m.Control) > 0 || len(m.Experiment) > 0 {
		inputs++
	}
	if inputs > 1 {
		return fmt.Errorf("%w: metric %q has more than one of samples, counts and targets", ErrInvalidArgument, m.Name)
	}
	return nil
}

// measure computes the statistics of one metric. ok is false when the data do not
// allow a decision; the verdict is then inconclusive with the reason filled in.
func measure(m Metric, confidence float64) (mv MetricVerdict, ok bool) {
	mv = MetricVerdict{Name: m.Name, Critical: m.Critical, Confidence: confidence, Outcome: MetricInconclusive}
	switch {
	case m.Counts != nil:
		return measureCounts(m, mv)
	case m.Targets != nil:
		return measureTargets(m, mv)
	}
	mv.Kind, mv.Unit = KindContinuous, UnitSample
	mv.NControl, mv.NExperiment = len(m.Control), len(m.Experiment)
	c, err := compare(m.Control, m.Experiment, m.Direction, confidence, m.Tolerance, true)
	if err != nil {
		mv.Reason = dataProblem(m.Name, err)
		return mv, false
	}
	mv.Method, mv.IntervalMethod = string(c.MannWhitney.Method), "hodges-lehmann "+string(c.HL.Method)
	mv.ControlMedian, mv.ExperimentMedian = c.ControlMedian, c.ExperimentMedian
	mv.U, mv.P, mv.PTolerance = c.MannWhitney.U, c.MannWhitney.P, c.PTolerance
	mv.Shift, mv.ShiftLow, mv.ShiftHigh = c.HL.Shift, c.HL.Low, c.HL.High
	mv.RelChange, mv.RelLow, mv.RelHigh = c.RelChange, c.RelLow, c.RelHigh
	mv.Coverage = c.HL.Coverage
	mv.WelchT, mv.WelchDF, mv.WelchP = c.Welch.T, c.Welch.DF, c.Welch.P
	mv.Lag1Control, mv.Lag1Experiment, mv.BatchSize = c.Lag1Control, c.Lag1Experiment, c.BatchSize
	mv.Warnings = c.Warnings
	if m.Tolerance.IsRelative {
		if !c.RelDefined {
			mv.Reason = fmt.Sprintf("%s has a zero control median, so a relative tolerance cannot be applied", m.Name)
			return mv, false
		}
		mv.ToleranceValue = m.Tolerance.Relative * c.RelBase
	} else {
		mv.ToleranceValue = m.Tolerance.Absolute
	}
	mv.dec = decision{mv.Shift, mv.ShiftLow, mv.ShiftHigh, mv.ToleranceValue, -mv.ToleranceValue}
	return mv, true
}

// measureTargets is the target-level path: CompareTargets decides, the pooled view is
// reported beside it.
func measureTargets(m Metric, mv MetricVerdict) (MetricVerdict, bool) {
	td := m.Targets
	mv.Kind, mv.Unit = KindContinuous, UnitTarget
	if td.Proportion {
		mv.Kind = KindProportion
	}
	var ctlRaw, expRaw []float64
	for _, t := range td.Control {
		ctlRaw = append(ctlRaw, t.Window...)
	}
	for _, t := range td.Experiment {
		expRaw = append(expRaw, t.Window...)
	}
	mv.NControl, mv.NExperiment = len(ctlRaw), len(expRaw)
	if !td.Proportion {
		if c, err := compare(ctlRaw, expRaw, m.Direction, mv.Confidence, Tolerance{}, false); err == nil {
			mv.Pooled = &PooledView{
				Method: string(c.MannWhitney.Method), NControl: c.NControl, NExperiment: c.NExperiment,
				ControlMedian: c.ControlMedian, ExperimentMedian: c.ExperimentMedian,
				U: c.MannWhitney.U, P: c.MannWhitney.P,
				Shift: c.HL.Shift, ShiftLow: c.HL.Low, ShiftHigh: c.HL.High,
				RelChange: c.RelChange, RelLow: c.RelLow, RelHigh: c.RelHigh,
				Coverage: c.HL.Coverage, BatchSize: c.BatchSize,
			}
			mv.ControlMedian, mv.ExperimentMedian, mv.U = c.ControlMedian, c.ExperimentMedian, c.MannWhitney.U
		}
	}
	r, err := CompareTargets(*td, m.Direction, m.Tolerance, mv.Confidence)
	mv.Target = &r
	mv.Method, mv.IntervalMethod = r.Method, "welch-t on target changes"
	mv.ControlLevel, mv.ExperimentLevel = r.ControlLevel, r.ExperimentLevel
	if td.Proportion {
		mv.ControlMedian, mv.ExperimentMedian = r.ControlLevel, r.ExperimentLevel
	}
	mv.Warnings = append(mv.Warnings, r.Warnings...)
	if err != nil {
		if errors.Is(err, ErrTooFewTargets) {
			mv.TargetsNeeded = MinTargets
			mv.Reason = fmt.Sprintf("%s cannot be judged: %s", m.Name, trimPrefix(err))
		} else {
			mv.Reason = dataProblem(m.Name, err)
		}
		return mv, false
	}
	mv.Coverage = mv.Confidence // Welch's t interval is built for its nominal level
	mv.P, mv.PTolerance = r.P, r.PTolerance
	mv.WelchT, mv.WelchDF, mv.WelchP = r.T, r.DF, math.Min(1, 2*studentTUpper(math.Abs(r.T), r.DF))
	mv.RelChange, mv.RelLow, mv.RelHigh = r.RelChange, r.RelLow, r.RelHigh
	if m.Tolerance.IsRelative && !r.RelDefined {
		mv.Reason = fmt.Sprintf("%s has a zero control level, so a relative tolerance cannot be applied", m.Name)
		return mv, false
	}
	// Shift is the effect in metric units: the difference itself on the linear scale,
	// the ratio applied to the control group's baseline level on the log scale.
	mv.Shift, mv.ShiftLow, mv.ShiftHigh = r.Effect, r.Low, r.High
	if r.Scale == ScaleLog {
		mv.Shift, mv.ShiftLow, mv.ShiftHigh = r.RelChange*r.ControlBase, r.RelLow*r.ControlBase, r.RelHigh*r.ControlBase
	}
	mv.ToleranceValue = r.Up
	mv.dec = decision{r.Effect, r.Low, r.High, r.Up, r.Down}
	return mv, true
}

func measureCounts(m Metric, mv MetricVerdict) (MetricVerdict, bool) {
	mv.Kind, mv.Method, mv.IntervalMethod = KindCount, "conditional-binomial", "clopper-pearson"
	mv.NControl, mv.NExperiment = int(m.Counts.TotalControl), int(m.Counts.TotalExperiment)
	r, err := CompareCounts(*m.Counts, m.Direction, mv.Confidence)
	if err != nil {
		mv.Reason = dataProblem(m.Name, err)
		return mv, false
	}
	mv.P = r.P
	mv.ControlRate, mv.ExperimentRate, mv.RateRatio = r.ControlRate, r.ExperimentRate, r.RateRatio
	mv.RelChange, mv.RelLow, mv.RelHigh = minusOne(r.RateRatio), minusOne(r.RatioLow), minusOne(r.RatioHigh)
	mv.Coverage = mv.Confidence // Clopper-Pearson is conservative: at least this.
	if m.Counts.BadControl+m.Counts.BadExperiment == 0 {
		mv.Reason = fmt.Sprintf("%s had no bad events in either group, so the rate ratio is unknown", m.Name)
		return mv, false
	}
	if m.Tolerance.IsRelative {
		mv.ToleranceValue = m.Tolerance.Relative
	} else {
		if r.ControlRate == 0 {
			mv.Reason = fmt.Sprintf("%s had no bad events in the control group, so an absolute rate tolerance cannot be mapped to a ratio", m.Name)
			return mv, false
		}
		// The control rate is treated as known when mapping the absolute tolerance onto
		// the ratio scale; with the counts large enough for a verdict it varies little.
		mv.ToleranceValue = m.Tolerance.Absolute / r.ControlRate
	}
	mv.PTolerance = mv.P
	if mv.ToleranceValue > 0 {
		mv.PTolerance = countsToleranceP(*m.Counts, m.Direction, mv.ToleranceValue)
	}
	mv.dec = decision{mv.RelChange, mv.RelLow, mv.RelHigh, mv.ToleranceValue, -mv.ToleranceValue}
	return mv, true
}

func minusOne(r float64) float64 {
	if r == Unbounded {
		return Unbounded
	}
	return r - 1
}

func dataProblem(name string, err error) string {
	switch {
	case errors.Is(err, ErrEmptySample):
		return fmt.Sprintf("%s is missing data: %v", name, trimPrefix(err))
	case errors.Is(err, ErrTooFewSamples):
		return fmt.Sprintf("%s has too few samples to judge: %v", name, trimPrefix(err))
	case errors.Is(err, ErrNonFinite):
		return fmt.Sprintf("%s has broken samples: %v", name, trimPrefix(err))
	case errors.Is(err, ErrNoVariation):
		return fmt.Sprintf("%s did not vary at all in either group, so no interval can be formed", name)
	}
	return fmt.Sprintf("%s could not be analysed: %v", name, trimPrefix(err))
}

func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "analysis: ")
}

// assignLevels sets Alpha and Significant by Holm–Bonferroni over every metric with
// data (step-down: the i-th smallest of m p-values is compared with α/(m−i), and
// testing stops at the first failure). The p-values are those against the tolerance
// boundary, so a rejection means "beyond the tolerance" at the family-wise level, which
// is what a false "refuted" is. Critical metrics are not given a level of their own:
// that would make the family-wise error α·(1 + number of critical metrics).
func assignLevels(mvs []MetricVerdict, ok []bool, alpha float64) {
	var family []int
	for i := range mvs {
		if ok[i] {
			family = append(family, i)
		}
	}
	// Stable order keeps ties between equal p-values deterministic.
	slices.SortStableFunc(family, func(a, b int) int {
		switch {
		case mvs[a].PTolerance < mvs[b].PTolerance:
			return -1
		case mvs[a].PTolerance > mvs[b].PTolerance:
			return 1
		}
		return 0
	})
	stopped := false
	for rank, i := range family {
		mvs[i].Alpha = alpha / float64(len(family)-rank)
		if !stopped && mvs[i].PTolerance <= mvs[i].Alpha {
			mvs[i].Significant = true
		} else {
			stopped = true
		}
	}
}

// decide applies the interval rule on the scale the tolerance is expressed in.
func decide(m Metric, mv *MetricVerdict) {
	d := mv.dec
	var beyond, inside bool
	switch m.Direction {
	case DirectionIncrease:
		beyond, inside = d.lo > d.up, d.hi <= d.up
	case DirectionDecrease:
		beyond, inside = d.hi < d.down, d.lo >= d.down
	case DirectionEither:
		beyond, inside = d.lo > d.up || d.hi < d.down, d.lo >= d.down && d.hi <= d.up
	}
	interval := describe(m, mv)
	switch {
	case mv.Coverage < mv.Confidence-1e-9:
		// An interval that cannot reach its nominal coverage would decide more often
		// than the confidence promises: it is shown, never decided on.
		mv.Outcome = MetricInconclusive
		mv.Reason = fmt.Sprintf("%s; with so few samples the interval covers only %.1f%%, short of the %.0f%% asked, so it cannot decide",
			interval, 100*mv.Coverage, 100*mv.Confidence)
	case beyond && mv.Significant:
		mv.Outcome = MetricDeviated
		mv.Reason = fmt.Sprintf("%s, beyond the %s tolerance", interval, tolText(m))
	case inside:
		mv.Outcome = MetricWithinTolerance
		mv.Reason = fmt.Sprintf("%s, within the %s tolerance", interval, tolText(m))
	case beyond:
		mv.Outcome = MetricInconclusive
		mv.Reason = fmt.Sprintf("%s, beyond the %s tolerance but not significant at level %.3g (p = %.3g against the tolerance)",
			interval, tolText(m), mv.Alpha, mv.PTolerance)
	case mv.Unit == UnitTarget:
		mv.Outcome = MetricInconclusive
		mv.TargetsNeeded = mv.Target.TargetsNeeded
		more := ""
		switch {
		case mv.TargetsNeeded >= maxTargetsNeeded:
			more = "; no realistic number of targets would settle it at this tolerance"
		case mv.TargetsNeeded > 0:
			more = fmt.Sprintf("; about %d targets per group would likely settle it (it has %d experimental and %d control)",
				mv.TargetsNeeded, mv.Target.NExperiment, mv.Target.NControl)
		}
		mv.Reason = fmt.Sprintf("%s, which straddles the %s tolerance%s", interval, tolText(m), more)
	default:
		mv.Outcome = MetricInconclusive
		mv.SamplesNeeded = samplesNeeded(m, mv, d.est, d.lo, d.hi, d.up)
		more := ""
		if mv.SamplesNeeded > 0 {
			unit := "samples"
			if mv.Kind == KindCount {
				unit = "observations"
			}
			more = fmt.Sprintf("; about %d %s per group would likely settle it", mv.SamplesNeeded, unit)
		}
		mv.Reason = fmt.Sprintf("%s, which straddles the %s tolerance%s", interval, tolText(m), more)
	}
}

// samplesNeeded scales the current sample size by the square of the ratio between the
// interval's half-width and the distance from the estimate to the tolerance boundary it
// has to clear, since interval widths shrink like 1/sqrt(n). It is a planning figure,
// not a promise: the estimate itself will move.
func samplesNeeded(m Metric, mv *MetricVerdict, est, lo, hi, tol float64) int {
	if hi == Unbounded {
		return 0
	}
	var d float64
	switch m.Direction {
	case DirectionIncrease:
		d = math.Abs(est - tol)
	case DirectionDecrease:
		d = math.Abs(est + tol)
	default:
		d = math.Abs(math.Abs(est) - tol)
	}
	half := (hi - lo) / 2
	if d == 0 || half <= 0 {
		mv.Warnings = append(mv.Warnings, "the estimate sits on the tolerance boundary; more samples are unlikely to settle it")
		return 0
	}
	n := float64(min(mv.NControl, mv.NExperiment))
	need := math.Ceil(n * (half / d) * (half / d))
	if need > maxSamplesNeeded {
		return maxSamplesNeeded
	}
	return max(int(need), min(mv.NControl, mv.NExperiment)+1)
}

// describe renders the change and its interval, e.g.
// "latency rose 34% (95% CI 28% to 41%)".
func describe(m Metric, mv *MetricVerdict) string {
	conf := pct(mv.Confidence) + " CI"
	targets := ""
	if mv.Unit == UnitTarget {
		targets = fmt.Sprintf(", %d vs %d targets", mv.Target.NExperiment, mv.Target.NControl)
	}
	if mv.Kind == KindCount || m.Tolerance.IsRelative {
		return fmt.Sprintf("%s %s %s (%s %s to %s%s)", m.Name, verb(mv.RelChange), pct(math.Abs(mv.RelChange)),
			conf, pct(mv.RelLow), pct(mv.RelHigh), targets)
	}
	return fmt.Sprintf("%s %s by %s (%s %s to %s%s)", m.Name, verb(mv.Shift), trimFloat(math.Abs(mv.Shift)),
		conf, trimFloat(mv.ShiftLow), trimFloat(mv.ShiftHigh), targets)
}

func verb(change float64) string {
	switch {
	case change > 0:
		return "rose"
	case change < 0:
		return "fell"
	}
	return "changed"
}

func tolText(m Metric) string {
	if m.Tolerance.IsRelative {
		return pct(m.Tolerance.Relative)
	}
	return trimFloat(m.Tolerance.Absolute)
}

func pct(f float64) string {
	if f == Unbounded {
		return "unbounded"
	}
	p := 100 * f
	a := math.Abs(p)
	switch {
	case a >= 10:
		return fmt.Sprintf("%.0f%%", p)
	case a >= 1:
		return trimZeros(fmt.Sprintf("%.1f", p)) + "%"
	}
	return fmt.Sprintf("%.2g%%", p)
}

// trimFloat prints three significant figures without exponent noise for everyday sizes.
func trimFloat(f float64) string {
	if f == Unbounded {
		return "unbounded"
	}
	a := math.Abs(f)
	switch {
	case a == 0:
		return "0"
	case a >= 1000 || a < 1e-3:
		return fmt.Sprintf("%.3g", f)
	case a >= 100:
		return fmt.Sprintf("%.0f", f)
	case a >= 10:
		return trimZeros(fmt.Sprintf("%.1f", f))
	}
	return trimZeros(fmt.Sprintf("%.3f", f))
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// overall aggregates: any deviation refutes (critical metrics listed first in the
// reason), upheld needs every metric within tolerance, anything else is inconclusive.
func overall(mvs []MetricVerdict) (Outcome, string) {
	var deviated, inconclusive []MetricVerdict
	for _, mv := range mvs {
		switch mv.Outcome {
		case MetricDeviated:
			deviated = append(deviated, mv)
		case MetricInconclusive:
			inconclusive = append(inconclusive, mv)
		}
	}
	slices.SortStableFunc(deviated, func(a, b MetricVerdict) int {
		switch {
		case a.Critical && !b.Critical:
			return -1
		case b.Critical && !a.Critical:
			return 1
		}
		return 0
	})
	switch {
	case len(deviated) > 0:
		return OutcomeRefuted, fmt.Sprintf("%d of %d metrics deviated: %s", len(deviated), len(mvs), deviated[0].Reason)
	case len(inconclusive) > 0:
		return OutcomeInconclusive, fmt.Sprintf("%d of %d metrics inconclusive: %s", len(inconclusive), len(mvs), inconclusive[0].Reason)
	}
	return OutcomeUpheld, fmt.Sprintf("all %d metrics stayed within tolerance", len(mvs))
}
