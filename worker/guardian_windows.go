package worker

import (
	"errors"
	"os"
)

// The guardian watches a worker, which runs on Linux only; on Windows the binary is a
// client, and these keep it building.
var errNoProcess = errors.New("no such process")

func killProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return errNoProcess
	}
	return p.Kill()
}

func lockFile(*os.File) (bool, error) {
	return false, errors.New("the guardian needs Linux")
}
