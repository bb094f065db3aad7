// Package fsm owns Murphy's durable state: coordinator nodes, worker identities and runs
// with their groups, steps, halts and verdicts. It is the raft.FSM; every change arrives as
// a murphyv1.Command in the replicated log.
//
// Determinism rules, which every apply function follows:
//   - no clock: the leader stamps Command.at and apply uses it;
//   - no randomness: IDs and seeds are decided by the leader and carried in the command;
//   - no map iteration whose order reaches the state or an output;
//   - no I/O beyond the FSM's own memory.
//
// A committed entry that cannot be decoded is a bug or corruption and panics, as does one
// of a kind this build does not know unless its proposer marked it ignorable (rolling
// upgrades: bookkeeping a newer leader adds is skipped by older followers); a command
// that breaks a business rule (halting a finished run) is rejected with an error value that
// the proposer receives as the Apply response, and the state is left unchanged.
package fsm
