// Package chaostoolkit converts Chaos Toolkit experiments (JSON or YAML) into murphy/v1
// specs, so their authors can run them on Murphy, across many workers, with a control
// group and statistics.
//
// It owns the mapping and nothing else: Convert reads the document, resolves
// configuration and secrets, maps the steady-state hypothesis to metrics (keeping each
// Chaos Toolkit tolerance next to a statistical one), the method to steps and the
// rollbacks to rollback steps, and reports every element it mapped approximately or
// ignored. Errors name the element and its path in the Chaos Toolkit document
// ("method[2].provider") with its line, in the form spec.Error uses, so the CLI prints
// both alike.
//
// Python activities (chaosk8s, chaosaws, ...) cannot run on Murphy's workers: they fail
// the conversion, naming the module and function, unless Options.SkipUnsupported drops
// them (each drop is reported).
//
// The package is pure: the environment is read only through Options.LookupEnv.
package chaostoolkit
