package analysis

import (
	"errors"
	"fmt"
	"math"
)

// Autocorrelation guard. Kayenta-style judges lose their error rate on correlated time
// buckets (5% nominal becomes ~24% at lag-1 correlation 0.5); batching until the batch
// means look independent restores it at the cost of sample size.
const (
	lag1Threshold = 0.2
	// minBatches keeps enough batches per group for the rank test to mean something.
	minBatches = 10
	// residualTarget is the lag-1 correlation left in the batch means that batching aims
	// for: at 0.1 an AR(1) series still pushed a 1.7% test to 2.5–3%; at 0.03 it stays
	// within simulation noise of nominal.
	residualTarget = 0.03
)

// Comparison is everything Murphy computes when comparing one continuous metric.
type Comparison struct {
	NControl, NExperiment int
	// Medians of the raw samples, for display.
	ControlMedian, ExperimentMedian float64
	MannWhitney                     MannWhitneyResult
	HL                              HLResult
	// RelChange, RelLow and RelHigh are the HL shift and its interval divided by the
	// absolute control median of the analysed series (0.34 = +34%). They are zero, with a
	// warning, when that median is zero.
	RelChange, RelLow, RelHigh float64
	RelDefined                 bool
	// RelBase is the absolute control median of the analysed series, the base of the
	// relative figures.
	RelBase float64
	// Welch is zero, with a warning, when both groups are constant.
	Welch WelchResult
	// Lag-1 autocorrelation of each raw series in the order given.
	Lag1Control, Lag1Experiment float64
	// BatchSize is 1 when the raw samples were analysed, b when the tests ran on means
	// of consecutive blocks of b samples because of autocorrelation.
	BatchSize int
	// AnalysedControl and AnalysedExperiment are the sample sizes the tests used.
	AnalysedControl, AnalysedExperiment int
	// PTolerance tests "the shift stays within the tolerance" in the harmful direction:
	// Mann-Whitney on the experiment moved back by the tolerance. Compare has no
	// tolerance, so there it equals MannWhitney.P; Judge decides on the tolerance's.
	PTolerance float64
	Warnings   []string
}

// Compare runs the full continuous comparison: autocorrelation guard, Mann-Whitney in
// the harmful direction, Hodges-Lehmann shift with its interval at the given confidence,
// relative change and Welch's t. The slices are read in time order and not modified.
func Compare(control, experiment []float64, dir Direction, confidence float64) (Comparison, error) {
	return compare(control, experiment, dir, confidence, Tolerance{}, true)
}

// compare is Compare plus the test against the tolerance boundary, which needs the
// analysed (possibly batched) samples and, for a relative tolerance, their median.
// Without guard it skips the autocorrelation guard: the pooled view of a target-level
// metric treats every sample as independent by definition, and its concatenated series
// would show the hosts' offsets as autocorrelation anyway.
func compare(control, experiment []float64, dir Direction, confidence float64, tol Tolerance, guard bool) (Comparison, error) {
	if !dir.valid() {
		return Comparison{}, fmt.Errorf("%w: direction %v", ErrInvalidArgument, dir)
	}
	if !(confidence > 0 && confidence < 1) {
		return Comparison{}, fmt.Errorf("%w: confidence %v must lie strictly between 0 and 1", ErrInvalidArgument, confidence)
	}
	if err := checkPair(control, experiment); err != nil {
		return Comparison{}, err
	}
	out := Comparison{
		NControl:       len(control),
		NExperiment:    len(experiment),
		Lag1Control:    Lag1(control),
		Lag1Experiment: Lag1(experiment),
		BatchSize:      1,
	}
	ac, ae := control, experiment
	if r := math.Max(out.Lag1Control, out.Lag1Experiment); guard && r > lag1Threshold {
		b, residual := batchForAR1(r, min(len(control), len(experiment)))
		switch {
		case b == 1:
			out.Warnings = append(out.Warnings, fmt.Sprintf(
				"samples are autocorrelated (lag-1 %.2f) and too few to batch; the test may flag changes too readily", r))
		case residual > 2*residualTarget:
			out.Warnings = append(out.Warnings, fmt.Sprintf(
				"samples are autocorrelated (lag-1 %.2f); analysed as means of %d consecutive samples, "+
					"but too few remain to remove the correlation (about %.2f left); the test may flag changes too readily", r, b, residual))
		default:
			out.Warnings = append(out.Warnings, fmt.Sprintf(
				"samples are autocorrelated (lag-1 %.2f); analysed as means of %d consecutive samples", r, b))
		}
		if b > 1 {
			out.BatchSize, ac, ae = b, BatchMeans(control, b), BatchMeans(experiment, b)
		}
	}
	out.AnalysedControl, out.AnalysedExperiment = len(ac), len(ae)

	sc, se := sortedCopy(control), sortedCopy(experiment)
	out.ControlMedian, out.ExperimentMedian = medianSorted(sc), medianSorted(se)
	if out.BatchSize > 1 {
		sc, se = sortedCopy(ac), sortedCopy(ae)
	}
	p := merge(sc, se, false)
	if p.allEqual() {
		return Comparison{}, fmt.Errorf("%w: every observation equals %v", ErrNoVariation, sc[0])
	}
	mw, err := mannWhitneySorted(&p, dir, MethodAuto, twoSidedAbs)
	if err != nil {
		return Comparison{}, err
	}
	out.MannWhitney = mw
	hl, err := hodgesLehmannSorted(&p, confidence, mw.dist)
	if err != nil {
		return Comparison{}, err
	}
	out.HL = hl
	if hl.Coverage < confidence {
		out.Warnings = append(out.Warnings, fmt.Sprintf(
			"samples too small for a %.0f%% interval; it covers only %.1f%%", 100*confidence, 100*hl.Coverage))
	}
	if base := math.Abs(medianSorted(sc)); base > 0 {
		out.RelDefined, out.RelBase = true, base
		out.RelChange, out.RelLow, out.RelHigh = hl.Shift/base, hl.Low/base, hl.High/base
	} else {
		out.Warnings = append(out.Warnings, "control median is zero; relative change is undefined")
	}
	out.PTolerance = mw.P
	tau := tol.Absolute
	if tol.IsRelative {
		tau = tol.Relative * out.RelBase // zero, and unused by Judge, when RelBase is undefined
	}
	if tau > 0 {
		if out.PTolerance, err = toleranceP(sc, se, dir, tau); err != nil {
			return Comparison{}, err
		}
	}
	w, err := Welch(ac, ae)
	switch {
	case errors.Is(err, ErrNoVariation):
		out.Warnings = append(out.Warnings, "both groups are constant; Welch's t is undefined")
	case err != nil:
		return Comparison{}, err
	default:
		out.Welch = w
	}
	return out, nil
}

// batchForAR1 picks the block size from the raw lag-1 estimate, modelling the series
// as AR(1) with φ = r: the lag-1 correlation of means of blocks of b is then
// φ(1−φ^b)² / (b(1−φ²) − 2φ(1−φ^b)). Re-estimating lag-1 on the batch means instead
// (the obvious loop) stops too early, because with 20 batches that estimate is noisy and
// biased low; the raw estimate uses every sample. The smallest b whose predicted
// residual is at most residualTarget wins, but never fewer than minBatches batches;
// then the residual is returned so the caller can warn.
func batchForAR1(r float64, n int) (b int, residual float64) {
	phi := math.Min(r, 0.99)
	best, bestRes := 1, phi
	for b := 2; n/b >= minBatches; b++ {
		pb := math.Pow(phi, float64(b))
		res := phi * (1 - pb) * (1 - pb) / (float64(b)*(1-phi*phi) - 2*phi*(1-pb))
		best, bestRes = b, res
		if res <= residualTarget {
			break
		}
	}
	return best, bestRes
}

// toleranceP is the p-value of "the harmful shift is at most tau" (tau > 0): the
// Mann-Whitney test of the experiment moved back by tau against the control. By the
// test–interval duality it is at most a exactly when the one-sided 1 − a bound of the
// Hodges-Lehmann interval clears the tolerance, so Holm's levels can be applied to it
// directly. For "either" both boundaries are tested and the smaller p doubled, which
// matches a two-sided interval lying wholly outside ±tau.
func toleranceP(sc, se []float64, dir Direction, tau float64) (float64, error) {
	moved := make([]float64, len(se))
	oneSided := func(sign float64, d Direction) (float64, error) {
		for i, v := range se {
			moved[i] = v - sign*tau // monotone, so moved stays sorted
		}
		p := merge(sc, moved, false)
		if p.allEqual() {
			return 1, nil
		}
		mw, err := mannWhitneySorted(&p, d, MethodAuto, twoSidedAbs)
		return mw.P, err
	}
	switch dir {
	case DirectionIncrease:
		return oneSided(1, DirectionIncrease)
	case DirectionDecrease:
		return oneSided(-1, DirectionDecrease)
	}
	up, err := oneSided(1, DirectionIncrease)
	if err != nil {
		return 0, err
	}
	down, err := oneSided(-1, DirectionDecrease)
	if err != nil {
		return 0, err
	}
	return math.Min(1, 2*math.Min(up, down)), nil
}
