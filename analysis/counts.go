package analysis

import (
	"fmt"
	"math"
)

// Counts are bad events and totals per group for a count metric (errors, failed
// requests, SLO-breaching requests).
type Counts struct {
	BadControl, TotalControl       int64
	BadExperiment, TotalExperiment int64
}

// Unbounded stands in for +∞ in interval bounds so a verdict always encodes as JSON.
const Unbounded = math.MaxFloat64

// CountResult is the exact conditional-binomial view of a count metric: given the bad
// events observed in both groups, each belongs to the experiment with probability
// θ = rρ/(rρ + 1 − ρ), where ρ is the experiment's share of the totals and r the rate
// ratio. This is the same statistic the halt e-process uses, so halts and verdicts agree.
type CountResult struct {
	ControlRate, ExperimentRate float64
	// Share is ρ, the experiment's share of all observations.
	Share float64
	// RateRatio is experiment rate / control rate; RatioLow and RatioHigh its
	// Clopper-Pearson interval mapped from θ. Unbounded replaces +∞ (no control events).
	RateRatio, RatioLow, RatioHigh float64
	// P tests "no difference" (r = 1) in the harmful direction, exactly.
	P float64
}

func (c Counts) validate() error {
	if c.TotalControl <= 0 || c.TotalExperiment <= 0 {
		return fmt.Errorf("%w: count totals must be positive (control %d, experiment %d)",
			ErrEmptySample, c.TotalControl, c.TotalExperiment)
	}
	if c.BadControl < 0 || c.BadControl > c.TotalControl || c.BadExperiment < 0 || c.BadExperiment > c.TotalExperiment {
		return fmt.Errorf("%w: bad events must lie between 0 and the total (control %d/%d, experiment %d/%d)",
			ErrInvalidArgument, c.BadControl, c.TotalControl, c.BadExperiment, c.TotalExperiment)
	}
	return nil
}

// CompareCounts computes rates, the rate ratio with its interval at the given
// confidence, and the exact conditional binomial p-value in the harmful direction. The
// conditional view assumes bad events are rare within each total (Poisson-like), which
// holds for error and SLO-breach rates.
func CompareCounts(c Counts, dir Direction, confidence float64) (CountResult, error) {
	if !dir.valid() {
		return CountResult{}, fmt.Errorf("%w: direction %v", ErrInvalidArgument, dir)
	}
	if !(confidence > 0 && confidence < 1) {
		return CountResult{}, fmt.Errorf("%w: confidence %v must lie strictly between 0 and 1", ErrInvalidArgument, confidence)
	}
	if err := c.validate(); err != nil {
		return CountResult{}, err
	}
	nE, nC := float64(c.TotalExperiment), float64(c.TotalControl)
	x, b := float64(c.BadExperiment), float64(c.BadExperiment+c.BadControl)
	rho := nE / (nE + nC)
	res := CountResult{
		ControlRate:    float64(c.BadControl) / nC,
		ExperimentRate: x / nE,
		Share:          rho,
	}
	toRatio := func(theta float64) float64 {
		if theta >= 1 {
			return Unbounded
		}
		return theta * (1 - rho) / (rho * (1 - theta))
	}
	switch {
	case b == 0:
		res.RateRatio = 1 // no events anywhere: no evidence of any difference
	case c.BadControl == 0:
		res.RateRatio = Unbounded
	default:
		res.RateRatio = res.ExperimentRate / res.ControlRate
	}
	alpha := 1 - confidence
	thetaLow, thetaHigh := 0.0, 1.0
	if x > 0 {
		thetaLow = betaQuantile(alpha/2, x, b-x+1)
	}
	if x < b {
		thetaHigh = betaQuantile(1-alpha/2, x+1, b-x)
	}
	res.RatioLow, res.RatioHigh = toRatio(thetaLow), toRatio(thetaHigh)

	ge := 1.0 // P(X ≥ x | b, ρ)
	if x > 0 {
		ge = incBeta(rho, x, b-x+1)
	}
	le := 1.0 // P(X ≤ x | b, ρ)
	if x < b {
		le = incBeta(1-rho, b-x, x+1)
	}
	switch dir {
	case DirectionIncrease:
		res.P = ge
	case DirectionDecrease:
		res.P = le
	default:
		res.P = math.Min(1, 2*math.Min(ge, le))
	}
	return res, nil
}

// countsToleranceP is the exact conditional binomial p-value of "the rate ratio stays
// within the tolerance" in the harmful direction, tol being the allowed relative change
// (0.2 = 20%). Clopper-Pearson intervals invert exactly these tests, so the p-value is
// at most a precisely when the one-sided 1 − a bound clears the tolerance.
func countsToleranceP(c Counts, dir Direction, tol float64) float64 {
	nE, nC := float64(c.TotalExperiment), float64(c.TotalControl)
	x, b := float64(c.BadExperiment), float64(c.BadExperiment+c.BadControl)
	rho := nE / (nE + nC)
	theta := func(r float64) float64 { return r * rho / (r*rho + 1 - rho) }
	// P(X ≥ x | b, θ) at the upper boundary r = 1 + tol.
	ge := func() float64 {
		if x == 0 {
			return 1
		}
		return incBeta(theta(1+tol), x, b-x+1)
	}
	// P(X ≤ x | b, θ) at the lower boundary r = 1 − tol; a ratio cannot fall below 0.
	le := func() float64 {
		if tol >= 1 || x == b {
			return 1
		}
		return incBeta(1-theta(1-tol), b-x, x+1)
	}
	switch dir {
	case DirectionIncrease:
		return ge()
	case DirectionDecrease:
		return le()
	}
	return math.Min(1, 2*math.Min(ge(), le()))
}
