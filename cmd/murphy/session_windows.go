package main

import "syscall"

// ownSession: Windows has no sessions to leave; the guardian is Linux's anyway.
func ownSession() *syscall.SysProcAttr { return nil }
