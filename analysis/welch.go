package analysis

import (
	"fmt"
	"math"
)

// WelchResult is Welch's unequal-variance t test (a secondary view: it compares means,
// which latency tails move more than the medians the rank methods look at).
type WelchResult struct {
	T, DF float64
	// P is two-sided, P(|T| ≥ |t|).
	P float64
}

// Welch computes Welch's t statistic for experiment − control, the Welch–Satterthwaite
// degrees of freedom and the two-sided p-value.
func Welch(control, experiment []float64) (WelchResult, error) {
	if err := checkPair(control, experiment); err != nil {
		return WelchResult{}, err
	}
	mc, vc := meanVar(control)
	me, ve := meanVar(experiment)
	nc, ne := float64(len(control)), float64(len(experiment))
	sc, se := vc/nc, ve/ne
	if sc+se == 0 {
		return WelchResult{}, fmt.Errorf("%w: both groups are constant, Welch's t is undefined", ErrNoVariation)
	}
	t := (me - mc) / math.Sqrt(sc+se)
	df := (sc + se) * (sc + se) / (sc*sc/(nc-1) + se*se/(ne-1))
	return WelchResult{T: t, DF: df, P: studentTTwoSided(t, df)}, nil
}
