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
// Tolerances follow chaoslib's own reading of them (chaoslib/hypothesis.py): a tolerance
// chaoslib could never find met on a provider's result (a boolean or a string compared
// with the whole result mapping, a range or a regex without a target) is refused with
// that reason rather than given a meaning chaoslib does not give it. A ${name} that is a
// field's whole value takes the variable's declared type, as chaoslib substitutes it.
//
// The Prometheus driver's query and query_interval probes become metrics with a
// Prometheus source (prometheus.go); in the method or the rollbacks they only record a
// result, so they are left out. The Kubernetes driver's (chaosk8s) common actions become
// Murphy's Kubernetes kinds (pod.delete, workload.scale, workload.restart, node.cordon,
// node.drain; an uncordon_node or scale-back rollback is the revert of those) and its
// Deployment probes metrics of the kubernetes probe (kubernetes.go), each difference in
// meaning noted. Other Python activities (chaosaws, chaosk8s's other functions...)
// cannot run on Murphy's workers: they fail the conversion, naming the activity, module
// and function, unless Options.SkipUnsupported drops them (each drop is reported).
//
// The package is pure: the environment is read only through Options.LookupEnv.
package chaostoolkit
