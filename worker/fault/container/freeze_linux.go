//go:build linux

package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// freezer is the cgroup that freezes one container: a directory of the unified hierarchy,
// frozen through cgroup.freeze (v2), or of the v1 freezer controller, frozen through
// freezer.state. Either freezes every process in it and in the cgroups below it.
type freezer struct {
	dir string
	v2  bool
}

func (f freezer) String() string {
	if f.v2 {
		return f.dir + " (cgroup v2)"
	}
	return f.dir + " (cgroup v1 freezer)"
}

// cgroupMount is a cgroup filesystem as this process sees it: root is the part of the
// hierarchy it shows (mountinfo's fourth field), point where it is mounted.
type cgroupMount struct {
	root, point string
}

// cgroupMounts finds the unified hierarchy and the v1 freezer's in this process's mount
// table; either may be missing.
func cgroupMounts() (v2, v1 *cgroupMount, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, fmt.Errorf("read the mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		m := &cgroupMount{root: unescapeMount(a[3]), point: unescapeMount(a[4])}
		switch {
		case b[0] == "cgroup2" && v2 == nil:
			v2 = m
		case b[0] == "cgroup" && v1 == nil && hasOption(b[2], "freezer"):
			v1 = m
		}
	}
	return v2, v1, sc.Err()
}

func hasOption(opts, name string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupPaths reads /proc/PID/cgroup: the unified hierarchy's path ("0::/...") and the
// v1 freezer's, each "" when the process has none.
func cgroupPaths(pid string) (unified, v1freezer string, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return "", "", err
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			unified = parts[2]
		case hasOption(parts[1], "freezer"):
			v1freezer = parts[2]
		}
	}
	return unified, v1freezer, nil
}

// under maps a path of /proc/PID/cgroup to its directory below the mount m, or "" when
// this process cannot see it (a cgroup namespace of its own shows other cgroups as
// "/../..." paths).
func (m *cgroupMount) under(path string) string {
	if strings.HasPrefix(path, "/..") {
		return ""
	}
	rel, ok := strings.CutPrefix(path, m.root)
	if !ok || (rel != "" && m.root != "/" && !strings.HasPrefix(rel, "/")) {
		return ""
	}
	return filepath.Join(m.point, rel)
}

// freezerOf finds the cgroup that freezes process pid, as the runtime itself does:
// the v1 freezer controller when the process has one (a hybrid node's unified hierarchy
// carries no controller, and a container's processes often sit at its root there), else
// the unified hierarchy's cgroup.freeze. It refuses a hierarchy's root, and a cgroup that
// holds the worker itself: freezing either would freeze the worker, and with it the
// revert.
func freezerOf(pid int) (freezer, error) {
	v2m, v1m, err := cgroupMounts()
	if err != nil {
		return freezer{}, err
	}
	unified, v1path, err := cgroupPaths(strconv.Itoa(pid))
	if err != nil {
		return freezer{}, fmt.Errorf("the cgroups of process %d: %w", pid, err)
	}
	ownUnified, ownV1, err := cgroupPaths("self")
	if err != nil {
		return freezer{}, fmt.Errorf("the worker's own cgroups: %w", err)
	}
	var f freezer
	var m *cgroupMount
	var own, file string
	switch {
	case v1path != "" && v1m != nil:
		f, m, own, file = freezer{dir: v1m.under(v1path)}, v1m, v1m.under(ownV1), "freezer.state"
	case unified != "" && v2m != nil:
		f, m, own, file = freezer{dir: v2m.under(unified), v2: true}, v2m, v2m.under(ownUnified), "cgroup.freeze"
	default:
		return freezer{}, fmt.Errorf("process %d has no freezer cgroup this worker can see (neither a cgroup v2 hierarchy nor the v1 freezer is mounted here)", pid)
	}
	if f.dir == "" {
		return freezer{}, fmt.Errorf("the cgroup of process %d is outside the one this worker sees (does it share the host's cgroup namespace and /sys/fs/cgroup?)", pid)
	}
	if filepath.Clean(f.dir) == filepath.Clean(m.point) {
		return freezer{}, fmt.Errorf("process %d is in the root cgroup %s; freezing it would freeze the whole node", pid, f.dir)
	}
	if own != "" && (own == f.dir || strings.HasPrefix(own, f.dir+"/")) {
		return freezer{}, fmt.Errorf("the cgroup %s of process %d holds this worker; freezing it would freeze the worker and its revert", f.dir, pid)
	}
	if _, err := os.Stat(filepath.Join(f.dir, file)); err != nil {
		return freezer{}, fmt.Errorf("the freezer of process %d: %w", pid, err)
	}
	return f, nil
}

// freeze freezes the cgroup and waits until every process in it is frozen, or ctx ends.
// A v1 freezer may report FREEZING for a while (a task in an uninterruptible sleep); the
// state is written again on every look, as the runtimes do.
func (f freezer) freeze(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var err error
		if f.v2 {
			err = os.WriteFile(filepath.Join(f.dir, "cgroup.freeze"), []byte("1"), 0)
		} else {
			err = os.WriteFile(filepath.Join(f.dir, "freezer.state"), []byte("FROZEN"), 0)
		}
		if err != nil {
			return fmt.Errorf("freeze %s: %w", f, err)
		}
		frozen, err := f.frozen()
		if err != nil {
			return err
		}
		if frozen {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("freeze %s: not frozen in time: %w", f, ctx.Err())
		case <-tick.C:
		}
	}
}

// frozen reports whether every process in the cgroup is frozen: cgroup.events "frozen 1"
// under v2, freezer.state FROZEN under v1.
func (f freezer) frozen() (bool, error) {
	if f.v2 {
		b, err := os.ReadFile(filepath.Join(f.dir, "cgroup.events"))
		if err != nil {
			return false, fmt.Errorf("read %s: %w", f, err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.TrimSpace(line) == "frozen 1" {
				return true, nil
			}
		}
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "freezer.state"))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", f, err)
	}
	return strings.TrimSpace(string(b)) == "FROZEN", nil
}

// thaw thaws the cgroup if it was frozen itself (not only through a parent), and
// reports whether it did. A cgroup that is gone holds nothing to thaw.
func (f freezer) thaw() (bool, error) {
	file, want, thawed := "freezer.state", "THAWED", "THAWED"
	if f.v2 {
		file, want, thawed = "cgroup.freeze", "0", "0"
	}
	path := filepath.Join(f.dir, file)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", f, err)
	}
	if strings.TrimSpace(string(b)) == thawed {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(want), 0); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
			return false, nil
		}
		return false, fmt.Errorf("thaw %s: %w", f, err)
	}
	return true, nil
}

// signalProcess sends sig ("SIGKILL", or a number) to pid.
func signalProcess(pid int, sig string) error {
	s, err := parseSignal(sig)
	if err != nil {
		return err
	}
	if err := unix.Kill(pid, s); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("process %d exited before the signal", pid)
		}
		return fmt.Errorf("send %s to process %d: %w", unix.SignalName(s), pid, err)
	}
	return nil
}

func parseSignal(sig string) (syscall.Signal, error) {
	if sig == "" {
		return unix.SIGKILL, nil
	}
	if n, err := strconv.Atoi(sig); err == nil {
		return syscall.Signal(n), nil
	}
	if s := unix.SignalNum(sig); s != 0 {
		return s, nil
	}
	return 0, fmt.Errorf("signal %q is not known on this system", sig)
}
