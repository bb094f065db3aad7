//go:build linux

package process

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// selector picks processes; every field set must match. The catalogue decoded it; this
// package adds what needs the host: the guard and /proc.
type selector struct {
	catalogue.ProcessSelector
	// pidns, when set, is the PID namespace (its /proc/PID/ns/pid link) every match
	// must be in: a container's.
	pidns string
}

// pidNamespace identifies the PID namespace of a process.
func pidNamespace(pid int) (string, error) {
	return os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
}

// check refuses, without touching any process, a selector aimed at a protected process.
func (s selector) check(g guard) error {
	if s.PID != 0 {
		if err := g.protectsPID(s.PID); err != nil {
			return fmt.Errorf("params.pid: %w", err)
		}
	}
	if s.PIDFile != "" {
		if pid, err := fault.ReadPIDFile(s.PIDFile); err == nil {
			if err := g.protectsPID(pid); err != nil {
				return fmt.Errorf("params.pidfile: %w", err)
			}
		}
	}
	if s.Name != "" {
		if err := g.pol.ProtectsName(s.Name); err != nil {
			return fmt.Errorf("params.name: %w", err)
		}
	}
	return nil
}

// pick returns the processes to act on, at random when count is below the number of
// eligible matches, and the protected matches it left alone with the reason for each, so
// the caller can report them. eligible filters out processes the kind cannot act on,
// with a reason. No match is an error that says what was looked for and why every match
// was left alone.
func (s selector) pick(pol fault.Policy, eligible func(proc) error) (out []proc, protectedSkips []string, err error) {
	g := newGuard(pol)
	if err := s.check(g); err != nil {
		return nil, nil, err
	}
	pid := s.PID
	if s.PIDFile != "" {
		n, err := fault.ReadPIDFile(s.PIDFile)
		if err != nil {
			return nil, nil, fmt.Errorf("params.pidfile: %w", err)
		}
		if pid != 0 && pid != n {
			return nil, nil, fmt.Errorf("no process is %s: %s holds pid %d", s.Filters(), s.PIDFile, n)
		}
		pid = n
	}
	var all []proc
	if pid != 0 {
		p, err := readProc(pid)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		if err == nil {
			all = []proc{p}
		}
	} else {
		var err error
		if all, err = listProcs(); err != nil {
			return nil, nil, err
		}
	}
	var skipped []string
	for _, p := range all {
		if p.kernelThread() || p.gone() {
			continue
		}
		if (s.Name != "" && !p.nameIs(s.Name)) || (s.Cmdline != nil && !s.Cmdline.MatchString(strings.Join(p.Cmdline, " "))) {
			continue
		}
		if s.pidns != "" {
			if ns, err := pidNamespace(p.PID); err != nil || ns != s.pidns {
				continue
			}
		}
		if err := g.protects(p); err != nil {
			if pid != 0 {
				return nil, nil, err
			}
			skip := fmt.Sprintf("%s: %v", p, err)
			skipped = append(skipped, skip)
			protectedSkips = append(protectedSkips, skip)
			continue
		}
		if eligible != nil {
			if err := eligible(p); err != nil {
				skipped = append(skipped, fmt.Sprintf("%s: %v", p, err))
				continue
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		if len(protectedSkips) > 0 && len(protectedSkips) == len(skipped) {
			return nil, nil, fmt.Errorf("every process %s is protected (%d): %s",
				s.Filters(), len(skipped), strings.Join(skipped, "; "))
		}
		msg := "no process is " + s.Filters()
		if len(skipped) > 0 {
			msg += fmt.Sprintf("; %d matching left alone: %s", len(skipped), strings.Join(skipped, "; "))
		}
		return nil, nil, errors.New(msg)
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if s.Count > 0 && s.Count < len(out) {
		out = out[:s.Count]
	}
	return out, protectedSkips, nil
}

// send signals the process (pid, start). It returns false, and no error, when that
// process is gone or its pid now belongs to another one. The pidfd that os.FindProcess
// holds on Linux makes the start-time check and the signal refer to the same process.
func send(pid int, start uint64, sig syscall.Signal) (bool, error) {
	h, err := os.FindProcess(pid)
	if err != nil {
		return false, err
	}
	defer h.Release()
	cur, err := readProc(pid)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.Start != start || cur.gone() {
		return false, nil
	}
	if err := h.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		if errors.Is(err, syscall.EPERM) {
			return false, fmt.Errorf("signal %v to pid %d: %w (the worker needs root or CAP_KILL to signal other users' processes)", sig, pid, err)
		}
		return false, fmt.Errorf("signal %v to pid %d: %w", sig, pid, err)
	}
	return true, nil
}
