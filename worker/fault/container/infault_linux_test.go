package container

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/moby/moby/client"

	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/network"
	"github.com/murphy-chaos/murphy/worker/fault/process"
	"github.com/murphy-chaos/murphy/worker/fault/stress"
)

// TestNetworkFaultFollowsTheContainer: a network fault aimed at a container by name or
// labels acts in the container's namespace, found through the engine at inject and
// again at revert. A container restarted while the fault is active comes back in a new
// namespace with no rule, and the revert afterwards succeeds with nothing left anywhere;
// a container paused at revert time still has its rule removed.
func TestNetworkFaultFollowsTheContainer(t *testing.T) {
	testenv.RequireRoot(t, "network faults in a container's namespace need CAP_NET_ADMIN")
	tc := newCase(t)
	fam := network.New(network.Config{Containers: func(ctx context.Context, place catalogue.Place, revert bool) ([]string, error) {
		sel := Selector{Name: place.Container, Labels: place.ContainerLabels}
		if revert {
			return NetNSToRevert(ctx, tc.cli, sel)
		}
		p, err := NetNS(ctx, tc.cli, sel)
		return []string{p}, err
	}})
	if p := fam.Probe(); p.Err != nil {
		testenv.Skip(t, testenv.Kernel, "network faults: "+p.Err.Error())
	}
	partition := executorOf(t, fam.Executors(), network.KindPartition)
	name := tc.run("netfault")
	ctx := context.Background()
	// hasTable looks in a container's current namespace.
	hasTable := func(container, id string) bool {
		t.Helper()
		return strings.Contains(nftTables(t, "/proc/"+itoa(tc.state(container).Pid)+"/ns/net"), network.TableName(id))
	}
	inject := func(t *testing.T, container, id string, params map[string]string) fault.Fault {
		t.Helper()
		f := fault.Fault{AssignmentID: id, Kind: network.KindPartition, Params: catalogue.MustDecode(network.KindPartition, params),
			Deadline: time.Now().Add(time.Minute)}
		if err := partition.Inject(ctx, f); err != nil {
			t.Fatalf("inject %s: %v", f.Params, err)
		}
		if !hasTable(container, id) {
			t.Fatalf("%s: no table %s in the container's namespace", f.Params, network.TableName(id))
		}
		if strings.Contains(nftTables(t, ""), network.TableName(id)) {
			t.Fatalf("%s: the table is in the worker's own namespace", f.Params)
		}
		return f
	}

	t.Run("restarted while active", func(t *testing.T) {
		f := inject(t, name, "restart", map[string]string{"cidrs": "192.0.2.1", "container": name})
		before := tc.state(name).Pid
		grace := 1
		if _, err := tc.cli.ContainerRestart(ctx, name, client.ContainerRestartOptions{Timeout: &grace}); err != nil {
			t.Fatal(err)
		}
		tc.waitFor("the container back with a new process", func() bool { s := tc.state(name); return s.Running && s.Pid != before })
		if hasTable(name, "restart") {
			t.Error("the restarted container's new namespace holds the fault's table")
		}
		if _, err := os.Stat("/proc/" + itoa(before) + "/ns/net"); err == nil {
			t.Errorf("the old namespace's process %d is still there", before)
		}
		if err := partition.Revert(ctx, f); err != nil {
			t.Errorf("revert after the restart: %v", err)
		}
	})

	t.Run("paused at revert", func(t *testing.T) {
		f := inject(t, name, "paused", map[string]string{"cidrs": "192.0.2.1", "containerLabels": tc.labels("netfault")})
		if _, err := tc.cli.ContainerPause(ctx, name, client.ContainerPauseOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := partition.Revert(ctx, f); err != nil {
			t.Errorf("revert of a paused container: %v", err)
		}
		if _, err := tc.cli.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{}); err != nil {
			t.Fatal(err)
		}
		if hasTable(name, "paused") {
			t.Error("the table outlived the revert of the paused container")
		}
	})

	t.Run("removed before revert", func(t *testing.T) {
		other := tc.run("gone")
		f := inject(t, other, "removed", map[string]string{"cidrs": "192.0.2.1", "container": other})
		if _, err := tc.cli.ContainerRemove(ctx, other, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		if err := partition.Revert(ctx, f); err != nil {
			t.Errorf("revert after the container was removed: %v", err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		tc.run("twin")
		tc.run("twin")
		for _, c := range []struct {
			params map[string]string
			want   string
		}{
			{map[string]string{"cidrs": "192.0.2.1", "container": "murphy-no-such-container"}, "no container with name or ID"},
			{map[string]string{"cidrs": "192.0.2.1", "containerLabels": tc.labels("twin")}, "needs exactly one"},
		} {
			err := partition.Inject(ctx, fault.Fault{AssignmentID: "refused", Kind: network.KindPartition,
				Params: catalogue.MustDecode(network.KindPartition, c.params), Deadline: time.Now().Add(time.Minute)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: got %v, want an error with %q", c.params, err, c.want)
			}
		}
	})
}

// TestProcessFaultInTheContainer: process.stop with a container keeps to that
// container's processes: a process of the same name on the host is left running, the
// container's is stopped and resumed on revert.
func TestProcessFaultInTheContainer(t *testing.T) {
	testenv.RequireRoot(t, "stopping a container's processes needs CAP_KILL")
	tc := newCase(t)
	name := tc.run("procfault")
	execs, err := process.Executors(process.Config{RecordDir: t.TempDir(), Containers: func(ctx context.Context, place catalogue.Place) (int, error) {
		return InitPID(ctx, tc.cli, Selector{Name: place.Container, Labels: place.ContainerLabels})
	}})
	if err != nil {
		t.Fatal(err)
	}
	stop := execs[1]
	// A host process with the container's process name ("app").
	dir := t.TempDir()
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app"), sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	host := exec.Command(filepath.Join(dir, "app"), "60")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	state := func(pid int) string {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return f[0]
	}
	ctx := context.Background()
	f := fault.Fault{AssignmentID: "stop-in-container", Kind: stop.Kind(),
		Params: catalogue.MustDecode(stop.Kind(), map[string]string{"name": "app", "container": name}), Deadline: time.Now().Add(time.Minute)}
	if err := stop.Inject(ctx, f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	inside := tc.state(name).Pid
	if s := state(inside); s != "T" {
		t.Errorf("the container's app is in state %s, want stopped (T)", s)
	}
	if s := state(host.Process.Pid); s == "T" {
		t.Error("the host's process of the same name was stopped")
	}
	if err := stop.Revert(ctx, f); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if s := state(inside); s == "T" {
		t.Error("the container's app is still stopped after the revert")
	}

	// Only the container: without a name, every process of the container is matched.
	all := fault.Fault{AssignmentID: "stop-container", Kind: stop.Kind(),
		Params: catalogue.MustDecode(stop.Kind(), map[string]string{"containerLabels": tc.labels("procfault")}), Deadline: time.Now().Add(time.Minute)}
	if err := stop.Inject(ctx, all); err != nil {
		t.Fatalf("inject %s: %v", all.Params, err)
	}
	if s := state(inside); s != "T" {
		t.Errorf("the container's app is in state %s, want stopped (T)", s)
	}
	if err := stop.Revert(ctx, all); err != nil {
		t.Fatalf("revert: %v", err)
	}
	bad := fault.Fault{AssignmentID: "stop-missing", Kind: stop.Kind(),
		Params: catalogue.MustDecode(stop.Kind(), map[string]string{"name": "app", "container": "murphy-no-such-container"}), Deadline: time.Now().Add(time.Minute)}
	if err := stop.Inject(ctx, bad); err == nil || !strings.Contains(err.Error(), "no container with name or ID") {
		t.Errorf("a missing container: got %v", err)
	}
}

// TestStressInTheContainer: stress.cpu with a container runs its burner in the
// container's cgroups, so the container's own CPU accounting carries the load, and the
// revert ends it there.
func TestStressInTheContainer(t *testing.T) {
	testenv.RequireRoot(t, "placing a burner in a container's cgroups needs write access to the cgroup filesystem")
	tc := newCase(t)
	name := tc.run("stress")
	cpu := stress.Executors(stress.Config{Containers: func(ctx context.Context, place catalogue.Place) (int, error) {
		return InitPID(ctx, tc.cli, Selector{Name: place.Container, Labels: place.ContainerLabels})
	}})[0]
	acct := containerCPUAccounting(t, tc.state(name).Pid)
	usage := func() time.Duration { return acct.cpuTime(t) }
	procs := func() int { return len(acct.processes(t)) }
	over := func(d time.Duration) time.Duration {
		u0 := usage()
		time.Sleep(d)
		return usage() - u0
	}
	idle := over(500 * time.Millisecond)
	f := fault.Fault{AssignmentID: "stress-in-container", Kind: cpu.Kind(),
		Params: catalogue.MustDecode(cpu.Kind(), map[string]string{"cores": "1", "container": name}), Deadline: time.Now().Add(time.Minute)}
	if err := cpu.Inject(context.Background(), f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	if n := procs(); n < 2 {
		t.Errorf("the container's cgroup holds %d process(es), want its own and the burner", n)
	}
	acct.checkCharged(t, tc.state(name).Pid)
	t.Logf("the container's CPU time over 0.5 s idle: %v", idle)
	if err := cpu.Revert(context.Background(), f); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if n := procs(); n != 1 {
		t.Errorf("the container's cgroup holds %d processes after the revert, want its own", n)
	}
	if after := over(time.Second); after > 100*time.Millisecond {
		t.Errorf("the container's CPU time rose by %v over 1 s after the revert", after)
	}
}

type cpuAccounting struct {
	usage, procs string
	v2           bool
}

// cpuTime is the cgroup's CPU time so far.
func (a cpuAccounting) cpuTime(t *testing.T) time.Duration {
	t.Helper()
	v := strings.TrimSpace(readFile(t, a.usage))
	if a.v2 {
		for line := range strings.SplitSeq(v, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
				us, _ := strconv.ParseInt(f[1], 10, 64)
				return time.Duration(us) * time.Microsecond
			}
		}
		t.Fatalf("no usage_usec in %s", a.usage)
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns)
}

// processes are the cgroup's processes.
func (a cpuAccounting) processes(t *testing.T) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(readFile(t, a.procs)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// checkCharged finds the burner among the cgroup's processes (all but init) and checks
// over a second that what it runs is charged to the cgroup. On a shared machine the burner
// may get far less than the core it asks, so the check is that the cgroup's CPU time rises
// by at least the burner's own, and that the burner ran.
func (a cpuAccounting) checkCharged(t *testing.T, init int) {
	t.Helper()
	burner := 0
	for _, pid := range a.processes(t) {
		if pid != init {
			burner = pid
		}
	}
	if burner == 0 {
		t.Fatal("no burner in the cgroup")
	}
	b0, u0 := processCPU(t, burner), a.cpuTime(t)
	time.Sleep(time.Second)
	own, busy := processCPU(t, burner)-b0, a.cpuTime(t)-u0
	t.Logf("the cgroup's CPU time rose by %v over 1 s with a one-core burner that ran %v", busy, own)
	if own < 50*time.Millisecond {
		t.Errorf("the burner ran only %v in 1 s", own)
	}
	if busy < own*9/10 {
		t.Errorf("the cgroup's CPU time rose by %v over 1 s, less than the burner's own %v: the burner is not charged to it", busy, own)
	}
}

// containerCPUAccounting finds where the kernel accounts process pid's CPU time.
func containerCPUAccounting(t *testing.T, pid int) cpuAccounting {
	t.Helper()
	dir, v2 := cgroupDir(t, pid, "cpuacct", "cpu.stat", "cpuacct.usage")
	if v2 {
		return cpuAccounting{usage: filepath.Join(dir, "cpu.stat"), procs: filepath.Join(dir, "cgroup.procs"), v2: true}
	}
	return cpuAccounting{usage: filepath.Join(dir, "cpuacct.usage"), procs: filepath.Join(dir, "cgroup.procs")}
}

// cgroupDir finds the directory of process pid's cgroup that holds v2file (cgroup v2)
// or, under v1, v1file in the hierarchy of controller; v2 says which it found.
func cgroupDir(t *testing.T, pid int, controller, v2file, v1file string) (dir string, v2 bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if d := filepath.Join("/sys/fs/cgroup", parts[2]); parts[0] == "0" && parts[1] == "" && exists(filepath.Join(d, v2file)) {
			return d, true
		}
		if slices.Contains(strings.Split(parts[1], ","), controller) {
			for _, root := range []string{parts[1], controller} {
				if d := filepath.Join("/sys/fs/cgroup", root, parts[2]); exists(filepath.Join(d, v1file)) {
					return d, false
				}
			}
		}
	}
	t.Fatalf("no %s or %s for process %d in:\n%s", v2file, v1file, pid, b)
	return "", false
}

// TestStressMemoryInTheContainer: stress.memory with a container holds its memory in
// the container's cgroups: the container's memory use rises by it and falls back at
// revert, and a request beyond the container's limit fails at inject, saying so.
func TestStressMemoryInTheContainer(t *testing.T) {
	testenv.RequireRoot(t, "placing a process in a container's cgroups needs write access to the cgroup filesystem")
	tc := newCase(t)
	name := tc.runLimited("memstress", 64<<20)
	mem := stress.Executors(stress.Config{Containers: func(ctx context.Context, place catalogue.Place) (int, error) {
		return InitPID(ctx, tc.cli, Selector{Name: place.Container, Labels: place.ContainerLabels})
	}})[1]
	current := containerMemory(t, tc.state(name).Pid)
	used := func() int64 {
		t.Helper()
		b, err := os.ReadFile(current)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ctx := context.Background()
	before := used()
	f := fault.Fault{AssignmentID: "mem-in-container", Kind: mem.Kind(),
		Params: catalogue.MustDecode(mem.Kind(), map[string]string{"bytes": "32MiB", "container": name}), Deadline: time.Now().Add(time.Minute)}
	if err := mem.Inject(ctx, f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	during := used()
	if err := mem.Revert(ctx, f); err != nil {
		t.Fatalf("revert: %v", err)
	}
	after := used()
	t.Logf("the container's memory: %d KiB before, %d KiB holding 32 MiB, %d KiB after the revert", before>>10, during>>10, after>>10)
	if during-before < 30<<20 {
		t.Errorf("the container's memory rose by %d KiB holding 32 MiB", (during-before)>>10)
	}
	if during-after < 30<<20 {
		t.Errorf("the container's memory fell by only %d KiB at the revert", (during-after)>>10)
	}

	over := fault.Fault{AssignmentID: "mem-over-limit", Kind: mem.Kind(),
		Params: catalogue.MustDecode(mem.Kind(), map[string]string{"bytes": "128MiB", "container": name}), Deadline: time.Now().Add(time.Minute)}
	if err := mem.Inject(ctx, over); err == nil || !strings.Contains(err.Error(), "memory limit") {
		t.Errorf("128 MiB in a container limited to 64 MiB: got %v, want the inject to fail naming the limit", err)
	}
	if !tc.state(name).Running {
		t.Error("the container's own process did not survive its limit being reached by the fault")
	}
}

// containerMemory finds the file holding process pid's cgroup memory use.
func containerMemory(t *testing.T, pid int) string {
	t.Helper()
	dir, v2 := cgroupDir(t, pid, "memory", "memory.current", "memory.usage_in_bytes")
	if v2 {
		return filepath.Join(dir, "memory.current")
	}
	return filepath.Join(dir, "memory.usage_in_bytes")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// nftTables lists the nftables tables of a namespace ("" for the worker's own).
func nftTables(t *testing.T, path string) string {
	t.Helper()
	var opts []nftables.ConnOption
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTables()
	if err != nil {
		t.Fatalf("list the tables of %q: %v", path, err)
	}
	var names []string
	for _, tb := range ts {
		names = append(names, tb.Name)
	}
	return strings.Join(names, " ")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// processCPU is the time process pid's threads have spent on a CPU (the sum of
// /proc/PID/task/*/schedstat, in ns: a Go burner spins on whichever thread it is given).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of process %d: %v", pid, err)
	}
	var sum time.Duration
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that ended since the glob
		}
		ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += time.Duration(ns)
	}
	return sum
}
