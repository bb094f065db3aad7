// Package spec owns the experiment spec: the declarative, versioned
// (apiVersion murphy/v1) document a user writes to describe one chaos
// experiment, and everything needed to turn its bytes into a trusted value.
//
// It owns:
//
//   - the Go types of the spec (Experiment and its parts);
//   - Parse, which reads YAML or JSON, validates the whole document and fills
//     in the safe defaults;
//   - the validation errors (Error, Problem), which name the field and the
//     line of every problem found, not only the first, so that a user fixes a
//     spec in one round trip;
//   - the canonical JSON form (Experiment.Canonical), which is what the
//     coordinator stores in the Raft log and shows back to users, so that two
//     coordinators always agree on what was submitted.
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
