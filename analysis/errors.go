package analysis

import "errors"

// Sentinel errors. Callers match them with errors.Is; the wrapped message says which
// group or metric was at fault.
var (
	// ErrEmptySample means a group has no observations at all.
	ErrEmptySample = errors.New("analysis: empty sample")
	// ErrTooFewSamples means a group has fewer observations than the statistic needs.
	ErrTooFewSamples = errors.New("analysis: too few samples")
	// ErrNonFinite means a sample contains NaN or ±Inf; such values are dropped upstream
	// or the metric is reported as broken, never silently ignored here.
	ErrNonFinite = errors.New("analysis: sample contains NaN or Inf")
	// ErrNoVariation means every observation in both groups is identical, so no
	// rank test or interval can be formed.
	ErrNoVariation = errors.New("analysis: no variation in either group")
	// ErrExactTooLarge means an exact distribution was requested for samples too large
	// to enumerate in reasonable time and memory.
	ErrExactTooLarge = errors.New("analysis: samples too large for the exact distribution")
	// ErrInvalidArgument covers misuse: bad confidence level, unknown direction, etc.
	ErrInvalidArgument = errors.New("analysis: invalid argument")
)
