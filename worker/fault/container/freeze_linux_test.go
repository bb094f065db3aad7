package container

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

func TestCgroupPathMapping(t *testing.T) {
	for _, c := range []struct {
		m         cgroupMount
		path, dir string
	}{
		{cgroupMount{root: "/", point: "/sys/fs/cgroup"}, "/kubepods/pod1/abc", "/sys/fs/cgroup/kubepods/pod1/abc"},
		{cgroupMount{root: "/", point: "/sys/fs/cgroup/freezer"}, "/", "/sys/fs/cgroup/freezer"},
		// A mount of part of the hierarchy shows only what is below its root.
		{cgroupMount{root: "/kubepods", point: "/host/cgroup"}, "/kubepods/pod1/abc", "/host/cgroup/pod1/abc"},
		{cgroupMount{root: "/kubepods", point: "/host/cgroup"}, "/system.slice/x", ""},
		{cgroupMount{root: "/kubepods", point: "/host/cgroup"}, "/kubepods-besteffort/x", ""},
		// A cgroup namespace of the worker's own shows the others' cgroups as "/..".
		{cgroupMount{root: "/", point: "/sys/fs/cgroup"}, "/../../kubepods/pod1/abc", ""},
	} {
		if got := c.m.under(c.path); got != c.dir {
			t.Errorf("%+v: %s maps to %q, want %q", c.m, c.path, got, c.dir)
		}
	}
	if got := unescapeMount(`/mnt/with\040space\134x`); got != `/mnt/with space\x` {
		t.Errorf("unescape: %q", got)
	}
	for in, want := range map[string]string{"": "killed", "SIGKILL": "killed", "9": "killed", "SIGTERM": "terminated", "15": "terminated"} {
		s, err := parseSignal(in)
		if err != nil || s.String() != want {
			t.Errorf("signal %q: %v %v, want %s", in, s, err, want)
		}
	}
	if _, err := parseSignal("SIGNOPE"); err == nil {
		t.Error("an unknown signal name was accepted")
	}
}

// runsAgain waits, up to 5 s on a loaded machine, for process pid to run for want; it
// returns 0 once it has, or how long it waited in vain.
func runsAgain(t *testing.T, pid int, want time.Duration) time.Duration {
	t.Helper()
	start, c0 := time.Now(), processCPU(t, pid)
	for processCPU(t, pid)-c0 < want {
		if time.Since(start) > 5*time.Second {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
}

// TestFreezer freezes a busy process in a cgroup of its own with each freezer this host
// mounts (the unified hierarchy's cgroup.freeze, the v1 freezer), checks that it stops
// running, thaws it and checks that it runs again; the pod tests cover the one the
// runtime's containers use here.
func TestFreezer(t *testing.T) {
	testenv.RequireRoot(t, "creating cgroups needs write access to the cgroup filesystem")
	v2m, v1m, err := cgroupMounts()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, c := range []struct {
		name string
		m    *cgroupMount
		v2   bool
	}{{"v2", v2m, true}, {"v1", v1m, false}} {
		t.Run(c.name, func(t *testing.T) {
			if c.m == nil {
				t.Skipf("no cgroup %s freezer is mounted here", c.name)
			}
			if c.v2 {
				if _, err := os.Stat(filepath.Join(c.m.point, "cgroup.procs")); err != nil {
					t.Skipf("the cgroup2 mount %s is unusable: %v", c.m.point, err)
				}
			}
			tried++
			dir := filepath.Join(c.m.point, fmt.Sprintf("murphy-freeze-test-%d", os.Getpid()))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			busy := exec.Command("sh", "-c", "while :; do :; done")
			if err := busy.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = busy.Process.Kill()
				_ = busy.Wait()
				// The cgroup empties once the killed process is reaped.
				for i := 0; i < 100 && os.Remove(dir) != nil; i++ {
					time.Sleep(20 * time.Millisecond)
				}
				if exists(dir) {
					t.Errorf("could not remove %s", dir)
				}
			})
			if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(busy.Process.Pid)), 0); err != nil {
				t.Fatal(err)
			}
			ran := func() time.Duration {
				c0 := processCPU(t, busy.Process.Pid)
				time.Sleep(300 * time.Millisecond)
				return processCPU(t, busy.Process.Pid) - c0
			}
			fr := freezer{dir: dir, v2: c.v2}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := fr.freeze(ctx); err != nil {
				t.Fatal(err)
			}
			if ok, err := fr.frozen(); !ok || err != nil {
				t.Fatalf("frozen: %v %v", ok, err)
			}
			if d := ran(); d > 5*time.Millisecond {
				t.Errorf("the frozen process ran %v over 0.3 s", d)
			}
			if thawed, err := fr.thaw(); !thawed || err != nil {
				t.Fatalf("thaw: %v %v", thawed, err)
			}
			if d := runsAgain(t, busy.Process.Pid, 10*time.Millisecond); d > 0 {
				t.Errorf("the thawed process ran less than 10ms in %v", d)
			}
			if thawed, err := fr.thaw(); thawed || err != nil {
				t.Errorf("a second thaw: %v %v, want nothing done", thawed, err)
			}
			// A cgroup that is gone has nothing to thaw.
			if thawed, err := (freezer{dir: dir + "-gone", v2: c.v2}).thaw(); thawed || err != nil {
				t.Errorf("thaw of a missing cgroup: %v %v", thawed, err)
			}
		})
	}
	// The worker's own cgroup is never frozen: it would freeze the revert.
	if _, err := freezerOf(os.Getpid()); err == nil || !(strings.Contains(err.Error(), "holds this worker") || strings.Contains(err.Error(), "root cgroup")) {
		t.Errorf("freezerOf the worker itself: %v", err)
	}
	if tried == 0 {
		testenv.Skip(t, testenv.Kernel, "no cgroup freezer is mounted")
	}
}
