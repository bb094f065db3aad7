// Package command implements the exec fault kind, Murphy's escape hatch: one command
// runs at inject, another at revert. Commands run without a shell unless shell: true,
// in a clean environment (a system PATH plus the env param; nothing of the worker's own
// environment, which may hold credentials), in their own process group, which is killed
// whole when the command's timeout passes.
//
// Before the inject command starts, a record (worker/fault/record) notes that it did, so
// a worker restarted after a crash runs the revert command for it, and only for it. The
// revert command may therefore run after an inject command that was cut short, and must
// be safe to run twice.
//
// The worker's policy refuses exec unless it is listed under allow.
package command
