// Package spec owns the experiment spec: the declarative, versioned
// (apiVersion murphy/v1) document a user writes to describe one chaos
// experiment, and everything needed to turn its bytes into a trusted value.
//
// It owns:
//
//   - the spec's own names for the experiment model, which is the contract's
//     (proto/murphy/v1/spec.proto): Experiment and its parts are the generated
//     messages, so the value Parse returns is the value the cluster commits and
//     the probes and faults workers receive;
//   - Parse, which reads YAML or JSON, validates the whole document and fills
//     in the safe defaults;
//   - the validation errors (Error, Problem), which name the field and the
//     line of every problem found, not only the first, so that a user fixes a
//     spec in one round trip;
//   - Of, which reads the spec a run or schedule was committed with, and the one
//     compatibility path for those committed as canonical JSON before the spec
//     was typed;
//   - the readings every consumer shares: Digest, the JSON view, the one-line
//     texts (Summary, GuardrailText, ToleranceText, SourceText) and the
//     analysis-facing helpers (ForAnalysis, Proportion, FaultDuration).
//
// YAML anchors, aliases and merge keys ("<<: *base") work anywhere; top-level
// fields starting with "x-" are ignored, as in Compose files, to give
// anchors a home.
//
// Validation walks the yaml.Node tree by hand instead of unmarshalling into
// structs: the library's messages speak about Go types ("cannot unmarshal
// !!str into int"), lose positions, and stop at the first error.
//
// The package is pure: no I/O, no clock, no randomness. It does not know the
// fault catalogue either; the coordinator passes Options.ValidateFault, so
// the spec stays free of worker code and the worker stays the single owner of
// what a fault kind accepts.
package spec
