// Package coordinator is one node of Murphy's replicated control plane. It wires Raft
// (hashicorp/raft with bbolt log and stable stores and file snapshots) to the FSM, serves
// the experiment, worker and cluster gRPC services, forwards writes that reach a follower
// to the leader, and on the leader runs the runner that drives experiments. The HTTP side
// serves /metrics, /healthz and /readyz.
//
// Only the leader acts. A node that gains leadership waits for a raft barrier, so its FSM
// holds every committed decision, and then starts a fresh runner; a node that loses it
// stops the runner and drops its worker streams so the workers follow the new leader.
package coordinator
