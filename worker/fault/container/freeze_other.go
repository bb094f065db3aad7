//go:build !linux

package container

import (
	"context"
	"errors"
)

// freezer needs Linux's cgroups; elsewhere a pod's container is never found.
type freezer struct {
	dir string
	v2  bool
}

func (f freezer) String() string { return f.dir }

var errNoCgroups = errors.New("pod faults need Linux (cgroups, the host's PID namespace)")

func freezerOf(int) (freezer, error)         { return freezer{}, errNoCgroups }
func (freezer) freeze(context.Context) error { return errNoCgroups }
func (freezer) frozen() (bool, error)        { return false, errNoCgroups }
func (freezer) thaw() (bool, error)          { return false, nil }
func signalProcess(int, string) error        { return errNoCgroups }
