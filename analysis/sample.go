package analysis

import (
	"fmt"
	"math"
	"slices"
)

// checkSample rejects inputs that would otherwise leak NaN into a verdict.
func checkSample(group string, x []float64) error {
	if len(x) == 0 {
		return fmt.Errorf("%w: %s group has no observations", ErrEmptySample, group)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %s group, observation %d is %v", ErrNonFinite, group, i, v)
		}
	}
	return nil
}

// sortedCopy leaves the caller's slice untouched: callers keep their samples in time
// order, which the autocorrelation guard needs.
func sortedCopy(x []float64) []float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s
}

// medianSorted is the sample median of an already sorted, non-empty slice.
func medianSorted(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}

// Median returns the sample median of x (any order). It returns an error for empty or
// non-finite input.
func Median(x []float64) (float64, error) {
	if err := checkSample("input", x); err != nil {
		return 0, err
	}
	return medianSorted(sortedCopy(x)), nil
}

// meanVar returns the mean and the unbiased variance (two-pass, for accuracy when the
// mean is large compared with the spread, as with latencies in microseconds).
func meanVar(x []float64) (mean, variance float64) {
	n := float64(len(x))
	for _, v := range x {
		mean += v
	}
	mean /= n
	if len(x) < 2 {
		return mean, 0
	}
	var ss, comp float64
	for _, v := range x {
		d := v - mean
		ss += d * d
		comp += d
	}
	// The compensation term removes the rounding error left in the mean.
	variance = (ss - comp*comp/n) / (n - 1)
	return mean, variance
}

// Lag1 returns the lag-1 autocorrelation of x taken in the order given (time order).
// It returns 0 when it is undefined (fewer than 3 points or no variation), because a
// series without variation cannot be autocorrelated in any useful sense.
func Lag1(x []float64) float64 {
	if len(x) < 3 {
		return 0
	}
	mean, _ := meanVar(x)
	var num, den float64
	for i, v := range x {
		d := v - mean
		den += d * d
		if i > 0 {
			num += d * (x[i-1] - mean)
		}
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// BatchMeans averages consecutive blocks of size b (in time order). A trailing partial
// block is dropped so every batch mean has the same variance.
func BatchMeans(x []float64, b int) []float64 {
	if b <= 1 {
		return slices.Clone(x)
	}
	out := make([]float64, 0, len(x)/b)
	for i := 0; i+b <= len(x); i += b {
		var s float64
		for _, v := range x[i : i+b] {
			s += v
		}
		out = append(out, s/float64(b))
	}
	return out
}
