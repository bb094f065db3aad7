//go:build linux

package stress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/murphy-chaos/murphy/internal/spawn"
)

// childEnv carries a burner's orders to a child process of the worker's own binary:
// "cpu <cores> <busy ns> <deadline unix ns>" or "memory <bytes> <deadline unix ns>".
// The child waits for "go" on its standard input, so that it burns or holds nothing
// before the worker has placed it in the container's cgroups, answers "ready" on its
// standard output once the load is in place, and exits at the deadline, when its
// standard input closes (the worker is gone) or when killed.
const childEnv = "MURPHY_STRESS_CHILD"

// RunChild runs a burner and exits when this process was started as one; otherwise it
// returns at once. The worker's binary (and any test binary that starts burners) calls it
// first thing in main.
func RunChild() {
	orders := os.Getenv(childEnv)
	if orders == "" {
		return
	}
	if err := runChild(orders, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "murphy stress burner:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runChild(orders string, in io.Reader, out io.Writer) error {
	f := strings.Fields(orders)
	var n int
	var busy, bytes, deadline int64
	var err error
	switch {
	case len(f) == 4 && f[0] == "cpu":
		var e1, e2, e3 error
		n, e1 = strconv.Atoi(f[1])
		busy, e2 = strconv.ParseInt(f[2], 10, 64)
		deadline, e3 = strconv.ParseInt(f[3], 10, 64)
		if err = errors.Join(e1, e2, e3); err == nil && n < 1 {
			err = errors.New("no cores")
		}
	case len(f) == 3 && f[0] == "memory":
		var e1, e2 error
		bytes, e1 = strconv.ParseInt(f[1], 10, 64)
		deadline, e2 = strconv.ParseInt(f[2], 10, 64)
		if err = errors.Join(e1, e2); err == nil && bytes < 1 {
			err = errors.New("no bytes")
		}
	default:
		err = errors.New("want cpu CORES BUSY_NS DEADLINE_NS or memory BYTES DEADLINE_NS")
	}
	if err != nil {
		return fmt.Errorf("orders %q: %v", orders, err)
	}
	r := bufio.NewReader(in)
	if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "go" {
		return nil // the worker gave up on us before placing us
	}
	stop := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(stop) }) }
	go func() { _, _ = io.Copy(io.Discard, r); end() }() // the worker is gone
	timer := time.AfterFunc(time.Until(time.Unix(0, deadline)), end)
	defer timer.Stop()
	if f[0] == "memory" {
		b, err := syscall.Mmap(-1, 0, int(bytes), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return fmt.Errorf("map %d bytes: %w", bytes, err)
		}
		page := os.Getpagesize()
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		fmt.Fprintln(out, "ready")
		<-stop
		return syscall.Munmap(b)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spin(stop, time.Duration(busy))
		}()
	}
	fmt.Fprintln(out, "ready")
	wg.Wait()
	return nil
}

// child is a burner process placed in a container's cgroups.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// startChild starts a burner with orders (see childEnv, without the deadline, which it
// appends) charged to the cgroups of process pid (a container's init), and returns
// once its load is in place there, or ctx ends.
func startChild(ctx context.Context, orders string, deadline time.Time, pid int) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the worker's binary for the burner: %w", err)
	}
	groups, err := cgroupDirs(pid)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", childEnv, orders, deadline.UnixNano()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Dies with the worker, whatever its fate, and not before: forked from a thread that
	// lives as long as the worker, since the kernel's death signal follows the forking
	// thread, and the network code's threads end.
	if err := spawn.Start(cmd); err != nil {
		return nil, fmt.Errorf("start the burner: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(c.done)
	}()
	for _, dir := range groups {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			c.kill()
			return nil, fmt.Errorf("place the burner in the container's cgroup %s: %w", dir, err)
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		c.kill()
		return nil, fmt.Errorf("start the burner: %w", err)
	}
	select {
	case ok := <-ready:
		if !ok {
			<-c.done
			return nil, fmt.Errorf("the burner ended before its load was in place (%v%s); a memory limit of the container's may be below it", cmd.ProcessState, strings.TrimSpace(" "+stderr.String()))
		}
		return c, nil
	case <-ctx.Done():
		c.kill()
		return nil, fmt.Errorf("the burner's load was not in place in time: %w", ctx.Err())
	}
}

// kill ends the burner and waits for it.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.stdin.Close()
	<-c.done
}

// cgroupRoot is where the cgroup filesystems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupDirs returns the cgroup directories of process pid, one per hierarchy: the one
// unified directory under cgroup v2, or one per mounted controller set under v1 (named
// "cpu,cpuacct" or mounted apart as "cpu" and "cpuacct", whichever exists here).
func cgroupDirs(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return nil, fmt.Errorf("the container's cgroups: %w", err)
	}
	dirs := cgroupDirsIn(b, cgroupRoot)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no cgroup directory of process %d under %s (a worker in a container needs the host's cgroup namespace and filesystem)", pid, cgroupRoot)
	}
	return dirs, nil
}

// cgroupDirsIn reads a /proc/PID/cgroup file against the cgroup filesystems at root.
func cgroupDirsIn(procCgroup []byte, root string) []string {
	var dirs []string
	seen := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(procCgroup)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, path := parts[1], parts[2]
		var candidates []string
		switch {
		case parts[0] == "0" && ctrls == "":
			candidates = []string{root}
		case strings.HasPrefix(ctrls, "name="):
			continue // named hierarchies (systemd) account nothing
		default:
			candidates = []string{filepath.Join(root, ctrls)}
			for c := range strings.SplitSeq(ctrls, ",") {
				candidates = append(candidates, filepath.Join(root, c))
			}
		}
		for _, r := range candidates {
			dir := filepath.Join(r, path)
			if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
				if real, err := filepath.EvalSymlinks(dir); err == nil && !seen[real] {
					seen[real] = true
					dirs = append(dirs, dir)
				}
				break
			}
		}
	}
	return dirs
}
