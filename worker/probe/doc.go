// Package probe owns the worker's steady-state probes, taken on their own interval
// during a run and turned into murphyv1.Samples with a sequence number per
// (run, metric), and the bounded Buffer that keeps a run's samples until the coordinator
// no longer needs them, so they can be replayed to a new leader after a failover.
//
// Probe kinds: http (a request with optional headers and body; latency, status,
// status_class, success, with an optional regular expression and an optional JSONPath
// check on the response body), tcp (a connect; latency, success), grpc (grpc.health.v1
// Check over plaintext; latency, success) and command (a program run without a shell;
// latency, success, exit_code, number, with an optional JSONPath check on its standard
// output) and kubernetes (a Deployment followed through the API server's watch;
// ready_replicas, ready_fraction, restarts, time_to_recover, success, latency; see
// Recovery). JSONPath checks are RFC 9535 queries with Chaos Toolkit's jsonpath tolerance
// semantics (see jsonCheck). A failed check still yields a sample: Ok false
// and the value its measure defines for failure (see the Measure constants), so a
// service that stops answering shows up in the data instead of as a gap. Command probes
// run only when Options.AllowCommands says the worker's operator allows them. With
// Options.Unit a Set probes for one unit of a run (a pod): TargetPlaceholder in a URL or
// address becomes the unit's address.
package probe
