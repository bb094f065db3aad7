// Package spawn starts Murphy's child processes (a stress burner, a test's containerd or
// apiserver) so that the kernel kills them when Murphy's process ends, however it ends,
// and not before.
package spawn

import (
	"os/exec"
	"runtime"
	"sync"
)

// spawner is one OS thread, locked and never released, that forks every child of
// StartChild. On Linux the kernel sends a child's death signal when the thread that
// forked it exits, not the process; and the Go runtime ends a thread whose goroutine
// returns while locked to it, which Murphy's network code does after entering a network
// namespace (the network faults and probes, the netlink libraries). A child forked from
// such a thread dies early: an apiserver of the Kubernetes tier did, in the middle of a
// test, and a stress burner could end before its fault.
var spawner = sync.OnceValue(func() chan<- func() {
	c := make(chan func())
	go spawn(c)
	return c
})

// Spawner names the spawner's goroutine, which lives as long as the process, for a
// leak check to ignore (goleak.IgnoreTopFunction).
const Spawner = "github.com/murphy-chaos/murphy/internal/spawn.spawn"

func spawn(c <-chan func()) {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	for f := range c {
		f()
	}
}

// Start starts cmd so that the kernel kills it when this process ends, however it ends
// (a crash, SIGKILL, a test's -timeout), and not before. Elsewhere than on Linux it is
// cmd.Start.
func Start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = deathSignal()
	done := make(chan error, 1)
	spawner() <- func() { done <- cmd.Start() }
	return <-done
}
