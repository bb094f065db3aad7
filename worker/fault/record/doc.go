// Package record keeps what an executor must remember about an active fault to revert it
// after the worker crashed: the processes process.stop froze (with their start times),
// that an exec command ran, the containers a container fault touched. The agent's journal holds each fault's kind and params; a
// record holds what only the executor learnt while injecting it.
//
// One small JSON file per assignment, written to a temporary name, fsynced, renamed and
// the directory fsynced, so a record is either whole or absent after a crash. Executors
// write the record before they touch the host and delete it after a successful revert.
package record
