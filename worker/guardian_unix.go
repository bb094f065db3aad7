//go:build unix

package worker

import (
	"errors"
	"os"
	"syscall"
)

// errNoProcess is what killing a process that is already gone returns.
var errNoProcess = syscall.ESRCH

func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// lockFile takes an exclusive lock on f without waiting; ok is false when another
// process holds it.
func lockFile(f *os.File) (ok bool, err error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
