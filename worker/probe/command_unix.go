//go:build unix

package probe

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// ownGroup starts the command in a process group of its own and makes cancellation kill
// the whole group, so a timed-out "sh -c 'sleep 60'" leaves no sleep behind.
//
// The group id is the leader's pid. While the leader is not yet reaped the id cannot be
// reused; Cancel checks that first (through the process handle, not the bare pid), which
// leaves only the instant between that check and the kill, far too short for the pid
// space to wrap around.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
			return err
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
