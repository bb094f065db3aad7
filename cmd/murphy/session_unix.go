//go:build unix

package main

import "syscall"

// ownSession starts a process in a session of its own, so it outlives its parent's
// process group.
func ownSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
