// Package analysis owns Murphy's statistics: the post-run verdict that compares an
// experimental group with its control group, and the anytime-valid halt test that is
// evaluated while a run is in progress.
//
// The package is pure. It does no I/O, reads no clock, draws no random numbers and keeps
// no global state, so the coordinator can call it from anywhere (including code that must
// be deterministic) and the same input always yields the same verdict.
//
// Entry points:
//
//   - [Judge] turns per-metric samples into a [Verdict] (upheld, refuted or inconclusive).
//   - [Compare] and [CompareCounts] are the per-metric building blocks Judge uses.
//   - [MannWhitney], [HodgesLehmann] and [Welch] are the individual tests.
//   - [EProcess] is the sequential halt test on bad-event counts.
//
// DESIGN.md in this folder explains the choices, the alternatives measured and rejected,
// and the reference values the tests use.
package analysis
