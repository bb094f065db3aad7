package cluster

import "syscall"

// A test binary killed by `go test -timeout` or ^C must not leave an apiserver holding
// its port: the kernel kills the child when the test process goes.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
