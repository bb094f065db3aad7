//go:build linux

package process

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/murphy-chaos/murphy/worker/fault"
)

// murphyRoles are the subcommands of Murphy's long-running processes. A process whose
// argv[0] is called murphy and that names one of them is part of the fleet's control
// plane: freezing another worker would freeze its faults' reverts, freezing a coordinator
// a Raft member, freezing the guardian the last line of revert.
var murphyRoles = []string{"worker", "coordinator", "dev", "guardian"}

// maxAncestors bounds the walk up the parent chain; real chains are a handful deep, and
// a bound keeps a /proc that changes under us from looping.
const maxAncestors = 64

// fileID is a file's identity: device and inode, which a copy or a rename does not fool.
type fileID struct{ dev, ino uint64 }

// exeID returns the identity of the executable /proc/<who>/exe points at. Another
// user's process hides its exe link from an unprivileged worker (EACCES); it then has
// no identity and only its argv can tell it is Murphy.
func exeID(who string) (fileID, bool) {
	fi, err := os.Stat(filepath.Join(procRoot, who, "exe"))
	if err != nil {
		return fileID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// guard decides which processes are off limits, whatever a selector or the coordinator
// says. It is built for one selection, so the worker's ancestors are those of the moment
// (a parent may exit and the worker be re-parented).
type guard struct {
	pol       fault.Policy
	self      fileID
	selfOK    bool
	ancestors map[int]bool
}

func newGuard(pol fault.Policy) guard {
	g := guard{pol: pol, ancestors: map[int]bool{}}
	// /proc/self/exe rather than os.Executable's path: the link still points at the
	// running file after an upgrade replaced the path, so the worker's siblings started
	// from the same file stay recognised.
	g.self, g.selfOK = exeID("self")
	pid := os.Getppid()
	for range maxAncestors {
		if pid <= 0 || g.ancestors[pid] {
			break
		}
		g.ancestors[pid] = true
		p, err := readProc(pid)
		if err != nil {
			break
		}
		pid = p.PPID
	}
	return g
}

// protects returns why p must be left alone, or nil.
func (g guard) protects(p proc) error {
	if err := g.pol.ProtectsPID(p.PID); err != nil {
		return err
	}
	if g.ancestors[p.PID] {
		return fmt.Errorf("pid %d is an ancestor of the worker (its supervisor, shell or container init), which is always protected", p.PID)
	}
	if err := g.murphy(p); err != nil {
		return err
	}
	for _, n := range g.pol.ProtectedNames {
		if p.nameIs(n) {
			return g.pol.ProtectsName(n)
		}
	}
	return nil
}

// protectsPID is protects for a pid a selector names; a pid that does not exist is not
// protected (the selection will say it found nothing).
func (g guard) protectsPID(pid int) error {
	if err := g.pol.ProtectsPID(pid); err != nil {
		return err
	}
	p, err := readProc(pid)
	if err != nil {
		return nil
	}
	return g.protects(p)
}

// murphy returns why p is a Murphy process, or nil. Two independent signs, so neither a
// renamed binary nor a separately installed copy (another container image, an upgrade)
// slips through: the same executable file as this worker, or argv[0] called murphy with
// a role subcommand anywhere in the arguments (global flags may come before it).
func (g guard) murphy(p proc) error {
	if g.selfOK && p.PID != os.Getpid() {
		if id, ok := exeID(strconv.Itoa(p.PID)); ok && id == g.self {
			return fmt.Errorf("pid %d runs the worker's own executable (a Murphy process), which is always protected", p.PID)
		}
	}
	if len(p.Cmdline) > 0 && (filepath.Base(p.Cmdline[0]) == "murphy" || p.Comm == "murphy") {
		for _, a := range p.Cmdline[1:] {
			if slices.Contains(murphyRoles, a) {
				return fmt.Errorf("pid %d is a Murphy %s, which is always protected", p.PID, a)
			}
		}
	}
	return nil
}
