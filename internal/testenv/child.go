package testenv

import (
	"os/exec"

	"github.com/murphy-chaos/murphy/internal/spawn"
)

// Spawner names the goroutine that forks StartChild's children, for a leak check to
// ignore (goleak.IgnoreTopFunction).
const Spawner = spawn.Spawner

// StartChild starts cmd (a containerd, an apiserver) so that the kernel kills it when
// the test process ends, however it ends (a -timeout, ^C), and not before (spawn.Start).
func StartChild(cmd *exec.Cmd) error { return spawn.Start(cmd) }
