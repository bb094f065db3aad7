//go:build linux

package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// proc is one process as /proc shows it.
type proc struct {
	PID     int
	PPID    int
	State   byte
	Start   uint64 // clock ticks after boot; with PID, the process's identity
	Comm    string
	Cmdline []string
}

// procRoot is /proc; a variable so nothing else needs to know.
const procRoot = "/proc"

// readProc reads one process; an error wrapping os.ErrNotExist means it is gone.
func readProc(pid int) (proc, error) {
	p := proc{PID: pid}
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return p, fmt.Errorf("pid %d: %w", pid, os.ErrNotExist)
		}
		return p, err
	}
	if err := parseStat(stat, &p); err != nil {
		return p, fmt.Errorf("pid %d: %w", pid, err)
	}
	if cl, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		cl = bytes.TrimRight(cl, "\x00")
		if len(cl) > 0 {
			p.Cmdline = strings.Split(string(cl), "\x00")
		}
	}
	return p, nil
}

// parseStat reads /proc/PID/stat. The command name sits between the first '(' and the
// last ')' and may itself hold spaces and parentheses.
func parseStat(b []byte, p *proc) error {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return errors.New("malformed /proc stat")
	}
	p.Comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); field 4 is ppid; field 22 is starttime.
	if len(f) < 20 || len(f[0]) != 1 {
		return errors.New("malformed /proc stat")
	}
	p.State = f[0][0]
	var err1, err2 error
	p.PPID, err1 = strconv.Atoi(f[1])
	p.Start, err2 = strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return errors.New("malformed /proc stat")
	}
	return nil
}

// listProcs reads every process; processes that end during the scan are skipped.
func listProcs() ([]proc, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// kernelThread reports kthreadd and its children, which ignore signals anyway.
func (p proc) kernelThread() bool { return p.PID == 2 || p.PPID == 2 }

// gone reports zombies and dead processes: there is nothing left to signal.
func (p proc) gone() bool { return p.State == 'Z' || p.State == 'X' || p.State == 'x' }

// stopped reports a process already stopped or traced.
func (p proc) stopped() bool { return p.State == 'T' || p.State == 't' }

// nameIs matches the kernel's command name or the base name of argv[0]; comm is cut at
// 15 bytes, so long names match through argv[0].
func (p proc) nameIs(name string) bool {
	if p.Comm == name {
		return true
	}
	return len(p.Cmdline) > 0 && filepath.Base(p.Cmdline[0]) == name
}

func (p proc) String() string {
	cmd := strings.Join(p.Cmdline, " ")
	if len(cmd) > 80 {
		cmd = cmd[:77] + "..."
	}
	if cmd == "" {
		cmd = "[" + p.Comm + "]"
	}
	return fmt.Sprintf("%d (%s)", p.PID, cmd)
}
