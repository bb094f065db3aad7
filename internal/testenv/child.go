package testenv

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
// such a thread dies in the middle of the test: an apiserver of the Kubernetes tier did.
var spawner = sync.OnceValue(func() chan<- func() {
	c := make(chan func())
	go spawn(c)
	return c
})

// Spawner names the spawner's goroutine, which lives as long as the process, for a
// leak check to ignore (goleak.IgnoreTopFunction).
const Spawner = "github.com/murphy-chaos/murphy/internal/testenv.spawn"

func spawn(c <-chan func()) {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	for f := range c {
		f()
	}
}

// StartChild starts cmd (a containerd, an apiserver) so that the kernel kills it when
// the test process ends, however it ends (a -timeout, ^C), and not before. Elsewhere
// than on Linux it is cmd.Start.
func StartChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = deathSignal()
	done := make(chan error, 1)
	spawner() <- func() { done <- cmd.Start() }
	return <-done
}
