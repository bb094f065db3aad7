package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// The target-level analysis. A fault is applied per target (a host, a pod) and targets
// differ from each other, so a target's samples are not independent evidence about its
// group: the targets are. Each target is summarised per window, its change is taken
// against its own baseline (so fixed target offsets cancel), and the experimental
// group's mean change is compared with the control group's (so a shock that hits both
// groups cancels too). DESIGN.md records the alternatives measured and rejected.

// Scale is the scale a target's level is summarised and compared on.
type Scale string

const (
	// ScaleLog summarises a target by the trimmed mean of the logarithms of its values
	// and compares log ratios: the effect is a ratio, as a relative tolerance means.
	ScaleLog Scale = "log"
	// ScaleLinear summarises in metric units (a share for proportions) and compares
	// differences, as an absolute tolerance means.
	ScaleLinear Scale = "linear"
)

// Methods of the target-level analysis, as reported in verdicts.
const (
	// MethodTargetDiD is Welch's t on each target's change against its own baseline:
	// a difference in differences with the target as the unit.
	MethodTargetDiD = "target-did-welch"
	// MethodTargetLevels is Welch's t on the targets' window levels, used when the
	// targets have no baseline.
	MethodTargetLevels = "target-levels-welch"
	// MethodTargetSingle compares a group of one target with the other group's spread
	// (the single-case t of Crawford and Howell: the pooled t with one group of one), for
	// a wave that faults one host.
	MethodTargetSingle = "target-did-single-case"
)

// trimFraction is cut from each end before a target's values are averaged: a 20%
// trimmed mean keeps about 94% of the mean's efficiency on normal data (the log of a
// lognormal latency) while a few timeouts or GC pauses cannot move it far.
const trimFraction = 0.2

// MinTargets is the fewest targets per group Welch's t can work with: one target gives
// no estimate of how its group varies. A group of one is still judged against the other
// group's spread (MethodTargetSingle) when that group has MinTargets.
const MinTargets = 2

// maxTargetsNeeded caps the planning figure.
const maxTargetsNeeded = 100_000

// planPower is the power the targets-needed figure plans for.
const planPower = 0.8

// ErrTooFewTargets means a group has fewer targets with data than a target-level test
// needs.
var ErrTooFewTargets = errors.New("analysis: too few targets")

// Target is one unit of analysis — a worker's host, or a pod — with its values in time
// order: Baseline before any fault, Window over the analysed window. For a continuous
// metric the values are the successful samples only (a request that failed fast is not a
// fast request; its failure belongs to the success metric). For a proportion metric the
// values are 1 (success, or the event counted) and 0.
type Target struct {
	ID       string
	Baseline []float64
	Window   []float64
}

// TargetData is one metric's observations, target by target.
type TargetData struct {
	Control, Experiment []Target
	// Proportion marks a 0/1 metric (a probe's success, an error flag). Its levels are
	// shares, always compared as differences of shares, and each target's binomial
	// sampling variance bounds the between-target variance from below, so a group whose
	// targets all succeeded every time still has an honest, non-zero uncertainty.
	Proportion bool
}

// TargetSummary is one target's part in a target-level comparison.
type TargetSummary struct {
	ID         string
	Experiment bool
	// NBaseline and NWindow are the values the levels were computed from.
	NBaseline, NWindow int
	// Baseline and Window are the target's levels in metric units: the trimmed geometric
	// mean on the log scale, the trimmed mean on the linear scale, the share for a
	// proportion. Baseline is zero without a baseline.
	Baseline, Window float64
	// Change is the target's own change: window over baseline minus one on the log scale
	// (0.12 = +12%), window minus baseline in metric units on the linear scale. Without
	// a baseline the baseline counts as 1 on the log scale and 0 on the linear scale, so
	// Change is the window level minus one, or the window level.
	Change float64
	// Beyond marks an experimental target whose change, net of the control group's mean
	// change, lies beyond the tolerance in the harmful direction: the targets that drove
	// a deviation.
	Beyond bool
}

// TargetResult is a target-level comparison of one metric.
type TargetResult struct {
	Method string
	Scale  Scale
	// NControl and NExperiment count the targets compared.
	NControl, NExperiment int
	// Effect is the experimental group's mean change minus the control group's, on the
	// analysis scale (a log ratio, or metric units); Low and High its interval at the
	// requested confidence (Welch's t).
	Effect, Low, High float64
	// RelChange, RelLow and RelHigh are the effect and interval as relative changes:
	// exp(x) − 1 on the log scale (a ratio, 0.12 = +12%), x over the control group's
	// baseline level on the linear scale (zero, with RelDefined false, when that level
	// is zero).
	RelChange, RelLow, RelHigh float64
	RelDefined                 bool
	// Up and Down are the tolerance boundaries on the analysis scale: the effect may
	// rise to Up and fall to Down and still count as steady.
	Up, Down float64
	// ControlLevel and ExperimentLevel are the groups' mean window levels in metric
	// units; ControlBase is the control group's mean baseline level.
	ControlLevel, ExperimentLevel, ControlBase float64
	// SE, T and DF are Welch's standard error, statistic (against no change) and
	// Welch–Satterthwaite degrees of freedom.
	SE, T, DF float64
	// P tests "no change" in the harmful direction; PTolerance tests "the change stays
	// within the tolerance" in the harmful direction (the decision's test).
	P, PTolerance float64
	// SDControl and SDExperiment are the between-target standard deviations of the
	// changes (after the binomial floor for proportions); WithinSD is the typical
	// standard deviation of one target's change from sampling alone.
	SDControl, SDExperiment, WithinSD float64
	// TargetsNeeded is the targets per group at which, with the variation observed and
	// no true change, the interval would land inside the tolerance with 80% chance.
	// Zero when it cannot be estimated; maxTargetsNeeded when no number of targets will.
	TargetsNeeded int
	Targets       []TargetSummary
	Warnings      []string
}

// unit is one target reduced to what the tests use.
type unit struct {
	sum    TargetSummary
	d      float64 // change on the analysis scale
	within float64 // sampling variance of d
	base   float64 // baseline level on the analysis scale (0 without a baseline)
}

// CompareTargets compares the groups target by target: each target's change against
// its own baseline (or its window level, when no target has a baseline), then Welch's t
// on the experimental group's mean change minus the control group's, with the interval
// at the given confidence and the test against the tolerance boundary in the harmful
// direction. It needs MinTargets targets with data per group.
func CompareTargets(d TargetData, dir Direction, tol Tolerance, confidence float64) (TargetResult, error) {
	if !dir.valid() {
		return TargetResult{}, fmt.Errorf("%w: direction %v", ErrInvalidArgument, dir)
	}
	if !(confidence > 0 && confidence < 1) {
		return TargetResult{}, fmt.Errorf("%w: confidence %v must lie strictly between 0 and 1", ErrInvalidArgument, confidence)
	}
	out := TargetResult{Scale: chooseScale(d, tol), Method: MethodTargetDiD}
	withBaseline := hasBaselines(d)
	if !withBaseline {
		out.Method = MethodTargetLevels
		out.Warnings = append(out.Warnings, "no target has a baseline, so targets are compared on their window levels and their own differences do not cancel")
	}
	ctl, warnC, err := reduce(d.Control, false, out.Scale, d.Proportion, withBaseline)
	if err != nil {
		return TargetResult{}, err
	}
	exp, warnE, err := reduce(d.Experiment, true, out.Scale, d.Proportion, withBaseline)
	if err != nil {
		return TargetResult{}, err
	}
	out.Warnings = append(out.Warnings, warnC...)
	out.Warnings = append(out.Warnings, warnE...)
	out.NControl, out.NExperiment = len(ctl), len(exp)
	if min(len(ctl), len(exp)) < 1 || max(len(ctl), len(exp)) < MinTargets {
		return out, fmt.Errorf("%w: %d control and %d experimental targets have data; at least %d per group are needed (or one against %d)",
			ErrTooFewTargets, len(ctl), len(exp), MinTargets, MinTargets)
	}
	single := min(len(ctl), len(exp)) == 1
	if single && withBaseline {
		out.Method = MethodTargetSingle
		out.Warnings = append(out.Warnings, "one target in a group: it is judged against the other group's spread, assuming targets vary alike in both groups")
	}
	out.ControlLevel, out.ExperimentLevel = groupLevel(ctl, out.Scale, false), groupLevel(exp, out.Scale, false)
	out.ControlBase = groupLevel(ctl, out.Scale, true)
	if !withBaseline {
		out.ControlBase = out.ControlLevel
	}
	out.Up, out.Down = boundaries(tol, out.Scale, out.ControlBase)

	mC, vC := changeStats(ctl, d.Proportion)
	mE, vE := changeStats(exp, d.Proportion)
	out.SDControl, out.SDExperiment = math.Sqrt(vC), math.Sqrt(vE)
	out.WithinSD = math.Sqrt((sumWithin(ctl) + sumWithin(exp)) / float64(len(ctl)+len(exp)))
	nC, nE := float64(len(ctl)), float64(len(exp))
	sc, se := vC/nC, vE/nE
	if sc+se == 0 {
		return out, fmt.Errorf("%w: every target changed by exactly the same amount", ErrNoVariation)
	}
	out.Effect = mE - mC
	out.SE = math.Sqrt(sc + se)
	out.DF = (sc + se) * (sc + se) / (sc*sc/(nC-1) + se*se/(nE-1))
	if single {
		// A group of one has no spread of its own: the other group's (the pooled
		// variance, to which the single target adds nothing) stands for both.
		out.DF = nC + nE - 2
		s2 := ((nC-1)*vC + (nE-1)*vE) / out.DF
		if d.Proportion {
			s2 = math.Max(s2, (sumWithin(ctl)+sumWithin(exp))/(nC+nE))
		}
		out.SE = math.Sqrt(s2 * (1/nC + 1/nE))
		if out.SE == 0 {
			return out, fmt.Errorf("%w: every target changed by exactly the same amount", ErrNoVariation)
		}
	}
	q := StudentTQuantile(1-(1-confidence)/2, out.DF)
	out.Low, out.High = out.Effect-q*out.SE, out.Effect+q*out.SE
	out.T = out.Effect / out.SE
	out.P = harmfulP(out.T, out.DF, dir)
	out.PTolerance = toleranceTP(out.Effect, out.SE, out.DF, out.Up, out.Down, dir)
	out.RelChange, out.RelLow, out.RelHigh, out.RelDefined = relative(out.Effect, out.Low, out.High, out.Scale, out.ControlBase)
	if !out.RelDefined {
		out.Warnings = append(out.Warnings, "the control group's level is zero; relative change is undefined")
	}
	pooledSD := math.Sqrt(((nC-1)*vC + (nE-1)*vE) / (nC + nE - 2))
	out.TargetsNeeded = targetsNeeded(pooledSD, distance(out.Up, out.Down, dir), confidence)
	for _, u := range append(ctl, exp...) {
		s := u.sum
		if s.Experiment {
			s.Beyond = beyond(u.d-mC, out.Up, out.Down, dir)
		}
		out.Targets = append(out.Targets, s)
	}
	return out, nil
}

// chooseScale: ratios when the tolerance is relative and every value is positive (the log
// needs it), differences otherwise. Proportions are always differences of shares.
func chooseScale(d TargetData, tol Tolerance) Scale {
	if d.Proportion || !tol.IsRelative {
		return ScaleLinear
	}
	for _, ts := range [][]Target{d.Control, d.Experiment} {
		for _, t := range ts {
			for _, xs := range [][]float64{t.Baseline, t.Window} {
				for _, v := range xs {
					if !(v > 0) {
						return ScaleLinear
					}
				}
			}
		}
	}
	return ScaleLog
}

// hasBaselines reports whether any target with window data has a baseline; when some
// do, those without are dropped by reduce rather than mixing two kinds of unit.
func hasBaselines(d TargetData) bool {
	for _, ts := range [][]Target{d.Control, d.Experiment} {
		for _, t := range ts {
			if len(t.Window) > 0 && len(t.Baseline) > 0 {
				return true
			}
		}
	}
	return false
}

func reduce(ts []Target, experiment bool, scale Scale, proportion, withBaseline bool) ([]unit, []string, error) {
	var out []unit
	var warnings []string
	ids := map[string]bool{}
	for _, t := range ts {
		if ids[t.ID] {
			return nil, nil, fmt.Errorf("%w: target %q listed twice", ErrInvalidArgument, t.ID)
		}
		ids[t.ID] = true
		if err := finite(t); err != nil {
			return nil, nil, err
		}
		if len(t.Window) == 0 {
			warnings = append(warnings, fmt.Sprintf("target %s sent no samples in the window and is left out", t.ID))
			continue
		}
		if withBaseline && len(t.Baseline) == 0 {
			warnings = append(warnings, fmt.Sprintf("target %s has no baseline and is left out", t.ID))
			continue
		}
		u := unit{sum: TargetSummary{ID: t.ID, Experiment: experiment, NBaseline: len(t.Baseline), NWindow: len(t.Window)}}
		wLevel, wVar := summarise(t.Window, scale, proportion)
		u.sum.Window = toUnits(wLevel, scale)
		u.d, u.within = wLevel, wVar
		if withBaseline {
			bLevel, bVar := summarise(t.Baseline, scale, proportion)
			u.sum.Baseline = toUnits(bLevel, scale)
			u.d, u.within, u.base = wLevel-bLevel, wVar+bVar, bLevel
		}
		u.sum.Change = u.d
		if scale == ScaleLog {
			u.sum.Change = math.Expm1(u.d)
		}
		out = append(out, u)
	}
	return out, warnings, nil
}

func finite(t Target) error {
	for _, xs := range [][]float64{t.Baseline, t.Window} {
		for _, v := range xs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: target %s", ErrNonFinite, t.ID)
			}
		}
	}
	return nil
}

// summarise returns a target's level on the analysis scale and the sampling variance of
// that level. For a proportion the level is the share and the variance binomial, with
// half a success and half a failure added so that a target that never failed still has
// some uncertainty. Otherwise the level is the trimmed mean (of logs on the log scale)
// and the variance the winsorised variance over (1 − 2γ)²·n, the usual estimate for a
// trimmed mean; it ignores autocorrelation, which the between-target variance the tests
// use does not.
func summarise(xs []float64, scale Scale, proportion bool) (level, variance float64) {
	n := float64(len(xs))
	if proportion {
		s := 0.0
		for _, v := range xs {
			if v != 0 {
				s++
			}
		}
		pt := (s + 0.5) / (n + 1)
		return s / n, pt * (1 - pt) / n
	}
	v := slices.Clone(xs)
	if scale == ScaleLog {
		for i := range v {
			v[i] = math.Log(v[i])
		}
	}
	slices.Sort(v)
	g := int(trimFraction * n)
	sum := 0.0
	for _, x := range v[g : len(v)-g] {
		sum += x
	}
	level = sum / float64(len(v)-2*g)
	if len(v) < 2 {
		return level, 0
	}
	lo, hi := v[g], v[len(v)-1-g]
	wm, ws := 0.0, 0.0
	for _, x := range v {
		wm += math.Min(math.Max(x, lo), hi)
	}
	wm /= n
	for _, x := range v {
		d := math.Min(math.Max(x, lo), hi) - wm
		ws += d * d
	}
	keep := 1 - 2*float64(g)/n
	return level, ws / (n - 1) / (keep * keep * n)
}

func toUnits(level float64, scale Scale) float64 {
	if scale == ScaleLog {
		return math.Exp(level)
	}
	return level
}

// groupLevel is the mean of the targets' levels in metric units, geometric on the log
// scale.
func groupLevel(us []unit, scale Scale, baseline bool) float64 {
	s := 0.0
	for _, u := range us {
		l := u.sum.Window
		if baseline {
			l = u.sum.Baseline
		}
		if scale == ScaleLog {
			l = math.Log(l)
		}
		s += l
	}
	return toUnits(s/float64(len(us)), scale)
}

// changeStats returns the mean and variance of the targets' changes. For proportions the
// variance is at least the mean binomial sampling variance: the sample variance estimates
// that plus the between-target part, so falling below it is chance, and with shares near
// 0 or 1 it is often exactly zero.
func changeStats(us []unit, proportion bool) (mean, variance float64) {
	ds := make([]float64, len(us))
	for i, u := range us {
		ds[i] = u.d
	}
	mean, variance = meanVar(ds)
	if proportion {
		variance = math.Max(variance, sumWithin(us)/float64(len(us)))
	}
	return mean, variance
}

func sumWithin(us []unit) float64 {
	s := 0.0
	for _, u := range us {
		s += u.within
	}
	return s
}

// boundaries maps the tolerance onto the analysis scale. A relative tolerance is a ratio
// on the log scale (+10% is ln 1.1 up and ln 0.9 down) and a share of the control
// group's baseline level on the linear scale.
func boundaries(tol Tolerance, scale Scale, base float64) (up, down float64) {
	switch {
	case tol.IsRelative && scale == ScaleLog:
		up = math.Log1p(tol.Relative)
		down = math.Inf(-1)
		if tol.Relative < 1 {
			down = math.Log1p(-tol.Relative)
		}
		return up, down
	case tol.IsRelative:
		return tol.Relative * math.Abs(base), -tol.Relative * math.Abs(base)
	}
	return tol.Absolute, -tol.Absolute
}

func relative(est, lo, hi float64, scale Scale, base float64) (r, rl, rh float64, ok bool) {
	if scale == ScaleLog {
		return math.Expm1(est), math.Expm1(lo), math.Expm1(hi), true
	}
	b := math.Abs(base)
	if b == 0 {
		return 0, 0, 0, false
	}
	return est / b, lo / b, hi / b, true
}

// harmfulP is the one-sided p of t in the harmful direction (two-sided for either).
func harmfulP(t, df float64, dir Direction) float64 {
	switch dir {
	case DirectionIncrease:
		return studentTUpper(t, df)
	case DirectionDecrease:
		return studentTUpper(-t, df)
	}
	return math.Min(1, 2*studentTUpper(math.Abs(t), df))
}

// toleranceTP tests "the harmful change is at most the tolerance": one-sided t against
// the boundary, both boundaries with the smaller p doubled for either. By duality it is
// at most a exactly when the one-sided 1 − a bound clears the boundary.
func toleranceTP(est, se, df, up, down float64, dir Direction) float64 {
	pUp := studentTUpper((est-up)/se, df)
	pDown := 1.0
	if !math.IsInf(down, -1) {
		pDown = studentTUpper((down-est)/se, df)
	}
	switch dir {
	case DirectionIncrease:
		return pUp
	case DirectionDecrease:
		return pDown
	}
	return math.Min(1, 2*math.Min(pUp, pDown))
}

func beyond(x, up, down float64, dir Direction) bool {
	switch dir {
	case DirectionIncrease:
		return x > up
	case DirectionDecrease:
		return x < down
	}
	return x > up || x < down
}

// distance from no change to the nearest boundary that matters for dir.
func distance(up, down float64, dir Direction) float64 {
	switch dir {
	case DirectionIncrease:
		return up
	case DirectionDecrease:
		return -down
	}
	return math.Min(up, -down)
}

// targetsNeeded is the smallest n per group for which, with between-target standard
// deviation sd and no true change, the interval at confidence lands inside a tolerance
// at distance delta with probability planPower: (t_{1−α/2} + t_{power})·sd·√(2/n) ≤ δ,
// with 2n − 2 degrees of freedom.
func targetsNeeded(sd, delta, confidence float64) int {
	if !(sd > 0) || math.IsNaN(delta) {
		return 0
	}
	if !(delta > 0) {
		return maxTargetsNeeded
	}
	enough := func(n int) bool {
		df := float64(2*n - 2)
		q := StudentTQuantile(1-(1-confidence)/2, df) + StudentTQuantile(planPower, df)
		return q*sd*math.Sqrt(2/float64(n)) <= delta
	}
	hi := MinTargets
	for !enough(hi) {
		if hi >= maxTargetsNeeded {
			return maxTargetsNeeded
		}
		hi = min(2*hi, maxTargetsNeeded)
	}
	lo := hi / 2 // enough(lo) is false, or lo < MinTargets
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if mid >= MinTargets && enough(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return max(hi, MinTargets)
}

// Plan is the futility check made at the end of the baseline, before any fault: can
// groups of the configured sizes settle the question at the tolerance?
type Plan struct {
	Scale Scale
	// CanDecide is false when, with the variation seen in the baseline and no true
	// change, the interval is expected to be wider than the tolerance: the run could not
	// show the steady state held even if it did.
	CanDecide bool
	// HalfWidth is the expected half-width of the interval with the configured groups,
	// and Distance the distance from no change to the nearest tolerance boundary, both
	// on the analysis scale.
	HalfWidth, Distance float64
	// TargetsNeeded per group for 80% chance of an interval inside the tolerance.
	TargetsNeeded int
	Reason        string
}

// PlanTargets predicts, from the baseline values alone, whether the configured groups
// can decide. Each target's baseline is split in halves; the change between the halves
// is a change with no fault, and its variance, scaled from half-baselines to a whole
// baseline and a window windowOverBaseline times as long, predicts the variance of the
// changes the verdict will compare. It is a planning figure: the fault window brings
// drift the baseline has not seen, so it errs towards letting a run go ahead.
func PlanTargets(d TargetData, dir Direction, tol Tolerance, confidence, windowOverBaseline float64) (Plan, error) {
	if !dir.valid() {
		return Plan{}, fmt.Errorf("%w: direction %v", ErrInvalidArgument, dir)
	}
	if !(confidence > 0 && confidence < 1) || !(windowOverBaseline > 0) {
		return Plan{}, fmt.Errorf("%w: confidence %v, window/baseline %v", ErrInvalidArgument, confidence, windowOverBaseline)
	}
	// Scale as the verdict will choose it, from the baseline alone.
	probe := TargetData{Proportion: d.Proportion}
	for _, t := range d.Control {
		probe.Control = append(probe.Control, Target{ID: t.ID, Window: t.Baseline})
	}
	for _, t := range d.Experiment {
		probe.Experiment = append(probe.Experiment, Target{ID: t.ID, Window: t.Baseline})
	}
	p := Plan{Scale: chooseScale(probe, tol)}
	var halves [2][]float64 // per group: changes between baseline halves
	var floor, base []float64
	for g, ts := range [][]Target{d.Control, d.Experiment} {
		for _, t := range ts {
			n := len(t.Baseline)
			if n < 4 {
				continue
			}
			a, _ := summarise(t.Baseline[:n/2], p.Scale, d.Proportion)
			b, _ := summarise(t.Baseline[n/2:], p.Scale, d.Proportion)
			halves[g] = append(halves[g], b-a)
			whole, vw := summarise(t.Baseline, p.Scale, d.Proportion)
			base = append(base, whole)
			if d.Proportion {
				// Binomial variance of a baseline level and of a window level.
				floor = append(floor, vw*(1+1/windowOverBaseline))
			}
		}
	}
	nC, nE := len(halves[0]), len(halves[1])
	if nC < MinTargets || nE < MinTargets {
		p.Reason = fmt.Sprintf("%d control and %d experimental targets have a baseline; at least %d per group are needed", nC, nE, MinTargets)
		return p, nil
	}
	_, v0 := meanVar(halves[0])
	_, v1 := meanVar(halves[1])
	vHalf := ((float64(nC)-1)*v0 + (float64(nE)-1)*v1) / float64(nC+nE-2)
	// A half-baseline level has twice the variance of a whole one: var(halves) = 4c/m
	// for a level variance c/m, so a change over a whole baseline and a window of
	// ratio·m values has variance vHalf/4·(1 + 1/ratio).
	v := vHalf / 4 * (1 + 1/windowOverBaseline)
	if d.Proportion {
		v = math.Max(v, mean(floor))
	}
	bl := mean(base)
	up, down := boundaries(tol, p.Scale, toUnits(bl, p.Scale))
	p.Distance = distance(up, down, dir)
	df := float64(nC + nE - 2)
	p.HalfWidth = StudentTQuantile(1-(1-confidence)/2, df) * math.Sqrt(v*(1/float64(nC)+1/float64(nE)))
	p.TargetsNeeded = targetsNeeded(math.Sqrt(v), p.Distance, confidence)
	p.CanDecide = p.HalfWidth < p.Distance || v == 0
	if !p.CanDecide {
		p.Reason = fmt.Sprintf("with the variation seen in the baseline, %d vs %d targets give an interval about ±%s wide against a tolerance of %s",
			nC, nE, scaleText(p.HalfWidth, p.Scale), scaleText(p.Distance, p.Scale))
	}
	return p, nil
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// scaleText renders a distance on the analysis scale for people: a percentage on the
// log scale, metric units otherwise.
func scaleText(x float64, scale Scale) string {
	if scale == ScaleLog {
		return pct(math.Expm1(x))
	}
	return trimFloat(x)
}
