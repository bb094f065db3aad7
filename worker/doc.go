// Package worker is the Murphy worker agent. It keeps one bidirectional gRPC stream to
// the coordinator leader (following redirects, reconnecting with jittered backoff), applies
// the faults it is assigned through the executors of worker/fault, runs the steady-state
// probes of worker/probe, and guarantees that every fault ends: the intent is journaled
// before the fault is applied (worker/journal), each fault has a hard local deadline, a
// dead-man's switch reverts everything when the coordinator goes quiet for longer than its
// lease, leftovers are reverted at start-up, and Run reverts everything on return.
//
// See DESIGN.md for the decisions and the alternatives rejected.
package worker
