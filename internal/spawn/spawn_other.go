//go:build !linux

package spawn

import "syscall"

func deathSignal() *syscall.SysProcAttr { return nil }
