// Package process implements the process fault family on Linux: process.kill sends a
// signal once; process.stop freezes processes with SIGSTOP and resumes them with SIGCONT
// on revert.
//
// Processes are found by scanning /proc and identified by (pid, start time): the start
// time, in clock ticks since boot from /proc/PID/stat, tells a process from a later one
// that reused its pid. process.stop writes the identities it is about to freeze to a
// record (worker/fault/record) before it sends SIGSTOP, so a worker restarted after a
// crash resumes exactly those processes and never a stranger with a recycled pid.
// Signals go through a pidfd (os.FindProcess), and the start time is checked after the
// pidfd is open, so no pid can be recycled between the check and the signal.
//
// The worker's safety policy is enforced here: the worker itself, every other Murphy
// process on the host (same executable file as the worker, or argv[0] "murphy" with a
// role subcommand: worker, coordinator, dev, guardian), the worker's ancestors, PID 1 and
// the configured protected processes are never selected. A selector that names one is
// refused; a wide one leaves them out, logs them, and fails if nothing else matched.
package process
