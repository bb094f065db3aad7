package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/network"
	"github.com/murphy-chaos/murphy/worker/fault/process"
	"github.com/murphy-chaos/murphy/worker/fault/stress"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The pod tests run a containerd of their own with its CRI plugin on, beside (never
// instead of) the Docker engine the other tests share: its own socket, root and state in a
// temporary directory, a bridge CNI network of its own, and the test image (built through
// Docker, exported and imported) as both the pause image and the pods' container. They
// create pods through CRI exactly as a kubelet does, so what Murphy resolves is what it
// would find on a Kubernetes node whose runtime is containerd.

// criEnv is the test binary's containerd.
type criEnv struct {
	dir    string // short: a unix socket path has at most 107 bytes
	sock   string
	cmd    *exec.Cmd
	rt     criv1.RuntimeServiceClient
	image  string
	cri    *CRI
	bridge string // the CNI bridge, which the bridge plugin never deletes
}

var (
	criOnce   sync.Once
	criShared *criEnv
	criErr    error
	criSkip   string
)

// criFor returns the shared containerd, starting it on first use. It skips, visibly, when
// containerd, runc or the CNI plugins are missing.
func criFor(t *testing.T) *criEnv {
	t.Helper()
	testenv.RequireRoot(t, "a containerd with CRI runs as root")
	cli, image := docker(t)
	criOnce.Do(func() {
		if criSkip = testenv.ContainerdMissing(); criSkip != "" {
			return
		}
		criShared, criErr = startCRI(cli, image)
	})
	if criSkip != "" {
		testenv.Skip(t, testenv.Containerd, criSkip)
	}
	if criErr != nil {
		t.Fatal(criErr)
	}
	return criShared
}

func startCRI(cli *client.Client, image string) (*criEnv, error) {
	dir, err := os.MkdirTemp("", "murphy-cri-")
	if err != nil {
		return nil, err
	}
	e := &criEnv{dir: dir, sock: filepath.Join(dir, "c.sock"), image: image}
	// A subnet and bridge of this binary's own, so a leftover from a killed run or another
	// checkout's tests never collides with it.
	n := os.Getpid()%200 + 20
	e.bridge = fmt.Sprintf("murphycri%d", n)
	config, err := testenv.WriteContainerdConfig(dir, e.sock, image, e.bridge, fmt.Sprintf("10.231.%d.0/24", n))
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	e.cmd = exec.Command("containerd", "--config", config)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	if err := testenv.StartChild(e.cmd); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		e.cri, err = DialCRI(ctx, e.sock)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return e, fmt.Errorf("containerd's CRI did not answer (log %s): %w", log.Name(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.rt = e.cri.rt
	// The image goes from Docker to containerd as an archive.
	archive := filepath.Join(dir, "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		return e, err
	}
	rc, err := cli.ImageSave(ctx, []string{image})
	if err != nil {
		f.Close()
		return e, fmt.Errorf("save the test image: %w", err)
	}
	_, err = f.ReadFrom(rc)
	rc.Close()
	f.Close()
	if err != nil {
		return e, err
	}
	if out, err := exec.CommandContext(ctx, "ctr", "-a", e.sock, "-n", "k8s.io", "images", "import", archive).CombinedOutput(); err != nil {
		return e, fmt.Errorf("import the test image into containerd: %v\n%s", err, out)
	}
	return e, nil
}

// stopCRI removes every pod (their shims outlive containerd otherwise), then containerd
// and its directory.
func stopCRI() {
	e := criShared
	if e == nil || e.cmd == nil {
		return
	}
	if e.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if list, err := e.rt.ListPodSandbox(ctx, &criv1.ListPodSandboxRequest{}); err == nil {
			for _, sb := range list.Items {
				_, _ = e.rt.StopPodSandbox(ctx, &criv1.StopPodSandboxRequest{PodSandboxId: sb.Id})
				_, _ = e.rt.RemovePodSandbox(ctx, &criv1.RemovePodSandboxRequest{PodSandboxId: sb.Id})
			}
		}
		cancel()
		e.cri.Close()
	}
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
	_ = exec.Command("ip", "link", "delete", e.bridge).Run()
	_ = os.RemoveAll(e.dir)
}

// pod is a pod the test runs through CRI, as a kubelet would.
type pod struct {
	ns, name, uid string
	sandbox       string
	cfg           *criv1.PodSandboxConfig
}

func (p pod) ref() string { return p.ns + "/" + p.name }

// runPod starts a sandbox and one container "app" for ns/name with uid (attempt counts
// the sandboxes of the same pod, as the kubelet's restarts do).
func (e *criEnv) runPod(t *testing.T, ns, name, uid string, attempt uint32, hostNetwork bool) pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := &criv1.PodSandboxConfig{
		Metadata:     &criv1.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid, Attempt: attempt},
		Hostname:     name,
		LogDirectory: filepath.Join(e.dir, "logs", uid),
		Labels:       map[string]string{"io.kubernetes.pod.uid": uid, "io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns},
	}
	if hostNetwork {
		// As the kubelet does, a pod on the node's network keeps the node's host name.
		cfg.Hostname = ""
		cfg.Linux = &criv1.LinuxPodSandboxConfig{SecurityContext: &criv1.LinuxSandboxSecurityContext{
			NamespaceOptions: &criv1.NamespaceOption{Network: criv1.NamespaceMode_NODE}}}
	}
	sb, err := e.rt.RunPodSandbox(ctx, &criv1.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("run pod %s/%s: %v", ns, name, err)
	}
	t.Cleanup(func() { e.removePod(sb.PodSandboxId) })
	c, err := e.rt.CreateContainer(ctx, &criv1.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg,
		Config: &criv1.ContainerConfig{Metadata: &criv1.ContainerMetadata{Name: "app", Attempt: attempt}, Image: &criv1.ImageSpec{Image: e.image}, LogPath: "app.log"}})
	if err != nil {
		t.Fatalf("create the container of %s/%s: %v", ns, name, err)
	}
	if _, err := e.rt.StartContainer(ctx, &criv1.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatalf("start the container of %s/%s: %v", ns, name, err)
	}
	return pod{ns: ns, name: name, uid: uid, sandbox: sb.PodSandboxId, cfg: cfg}
}

func (e *criEnv) removePod(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = e.rt.StopPodSandbox(ctx, &criv1.StopPodSandboxRequest{PodSandboxId: id})
	_, _ = e.rt.RemovePodSandbox(ctx, &criv1.RemovePodSandboxRequest{PodSandboxId: id})
}

// sandboxInfo is what the runtime reports of a sandbox, read here independently of the
// code under test: its process and the network namespace its spec names.
func (e *criEnv) sandboxInfo(t *testing.T, id string) (state criv1.PodSandboxState, pid int, netns string) {
	t.Helper()
	st, err := e.rt.PodSandboxStatus(context.Background(), &criv1.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatalf("sandbox %s: %v", id, err)
	}
	v, err := parseVerbose(st.Info)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range v.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			netns = ns.Path
		}
	}
	return st.Status.State, v.PID, netns
}

// TestNetworkFaultFollowsThePod: a network fault aimed at a pod by namespace/name or UID
// acts in its sandbox's network namespace, found through CRI at inject and again at
// revert. A pod replaced (new UID) or restarted (new sandbox, same UID) while the fault is
// active comes back in a new namespace with no rule; a sandbox whose process died, and
// whose namespace the runtime still holds, has its rule removed at revert; a pod on the
// node's network is refused.
func TestNetworkFaultFollowsThePod(t *testing.T) {
	e := criFor(t)
	fam := network.New(network.Config{Containers: func(ctx context.Context, place catalogue.Place, revert bool) ([]string, error) {
		if place.Pod == "" {
			return nil, fmt.Errorf("the test resolves pods only")
		}
		return PodNamespaces(ctx, e.sock, place.Pod, revert)
	}})
	if p := fam.Probe(); p.Err != nil {
		testenv.Skip(t, testenv.Kernel, "network faults: "+p.Err.Error())
	}
	partition := executorOf(t, fam.Executors(), network.KindPartition)
	ctx := context.Background()
	hasTable := func(netns, id string) bool {
		t.Helper()
		return strings.Contains(nftTables(t, netns), network.TableName(id))
	}
	inject := func(t *testing.T, p pod, ref, id string) fault.Fault {
		t.Helper()
		f := fault.Fault{AssignmentID: id, Kind: network.KindPartition,
			Params:   catalogue.MustDecode(network.KindPartition, map[string]string{"cidrs": "192.0.2.1", "pod": ref}),
			Deadline: time.Now().Add(time.Minute)}
		if err := partition.Inject(ctx, f); err != nil {
			t.Fatalf("inject %s: %v", f.Params, err)
		}
		_, _, netns := e.sandboxInfo(t, p.sandbox)
		if !hasTable(netns, id) {
			t.Fatalf("%s: no table %s in the pod's namespace %s", f.Params, network.TableName(id), netns)
		}
		if hasTable("", id) {
			t.Fatalf("%s: the table is in the worker's own namespace", f.Params)
		}
		return f
	}

	t.Run("replaced while active", func(t *testing.T) {
		old := e.runPod(t, "shop", "checkout-1", "11111111-1111-4111-8111-111111111111", 0, false)
		f := inject(t, old, old.ref(), "replaced")
		_, _, oldNetns := e.sandboxInfo(t, old.sandbox)
		e.removePod(old.sandbox)
		// The workload's controller makes a new pod of the same name: a new UID, sandbox
		// and namespace.
		p := e.runPod(t, "shop", "checkout-1", "22222222-2222-4222-8222-222222222222", 0, false)
		_, _, netns := e.sandboxInfo(t, p.sandbox)
		if netns == oldNetns || hasTable(netns, "replaced") {
			t.Errorf("the replacement pod's namespace %s holds the fault's table (old %s)", netns, oldNetns)
		}
		if err := partition.Revert(ctx, f); err != nil {
			t.Errorf("revert after the pod was replaced: %v", err)
		}
	})

	t.Run("sandbox died at revert", func(t *testing.T) {
		p := e.runPod(t, "shop", "cart-1", "33333333-3333-4333-8333-333333333333", 0, false)
		f := inject(t, p, p.uid, "died")
		_, pid, netns := e.sandboxInfo(t, p.sandbox)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if st, _, _ := e.sandboxInfo(t, p.sandbox); st == criv1.PodSandboxState_SANDBOX_NOTREADY {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the sandbox is still ready 30 s after its process was killed")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !hasTable(netns, "died") {
			t.Fatalf("the runtime's pinned namespace %s lost the table before the revert; the case tests nothing", netns)
		}
		if err := partition.Revert(ctx, f); err != nil {
			t.Errorf("revert with the sandbox dead: %v", err)
		}
		if hasTable(netns, "died") {
			t.Errorf("the table outlived the revert in the dead sandbox's namespace %s, which a restart could reuse", netns)
		}
	})

	t.Run("restarted while active", func(t *testing.T) {
		uid := "44444444-4444-4444-8444-444444444444"
		p := e.runPod(t, "shop", "search-1", uid, 0, false)
		f := inject(t, p, p.uid, "restarted")
		// The kubelet replaces a dead sandbox with a new one of the same pod: same UID,
		// the next attempt.
		if _, err := e.rt.StopPodSandbox(ctx, &criv1.StopPodSandboxRequest{PodSandboxId: p.sandbox}); err != nil {
			t.Fatal(err)
		}
		next := e.runPod(t, "shop", "search-1", uid, 1, false)
		_, _, netns := e.sandboxInfo(t, next.sandbox)
		if hasTable(netns, "restarted") {
			t.Error("the restarted pod's new namespace holds the fault's table")
		}
		if err := partition.Revert(ctx, f); err != nil {
			t.Errorf("revert after the restart: %v", err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		e.runPod(t, "shop", "node-agent", "55555555-5555-4555-8555-555555555555", 0, true)
		for _, c := range []struct{ pod, want string }{
			{"shop/node-agent", "node's network"},
			{"shop/no-such-pod", `no running pod "shop/no-such-pod"`},
		} {
			err := partition.Inject(ctx, fault.Fault{AssignmentID: "refused", Kind: network.KindPartition,
				Params:   catalogue.MustDecode(network.KindPartition, map[string]string{"cidrs": "192.0.2.1", "pod": c.pod}),
				Deadline: time.Now().Add(time.Minute)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("pod %s: got %v, want an error with %q", c.pod, err, c.want)
			}
		}
		if hasTable("", "refused") {
			t.Error("a refused fault left a table in the worker's namespace")
		}
	})
}

// TestProcessFaultInThePod: process.stop with a pod and its container's name stops that
// container's process, found through CRI, and the revert resumes it.
func TestProcessFaultInThePod(t *testing.T) {
	e := criFor(t)
	p := e.runPod(t, "shop", "payments-1", "66666666-6666-4666-8666-666666666666", 0, false)
	execs, err := process.Executors(process.Config{RecordDir: t.TempDir(), Containers: func(ctx context.Context, place catalogue.Place) (int, error) {
		return PodProcess(ctx, e.sock, place.Pod, place.Container)
	}})
	if err != nil {
		t.Fatal(err)
	}
	stop := executorOf(t, execs, "process.stop")
	pid, err := PodProcess(context.Background(), e.sock, p.ref(), "app")
	if err != nil {
		t.Fatal(err)
	}
	state := func() string {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// The state follows the command name in parentheses.
		s := string(b)
		return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
	}
	f := fault.Fault{AssignmentID: "pod-stop", Kind: "process.stop",
		Params:   catalogue.MustDecode("process.stop", map[string]string{"name": "app", "pod": p.ref(), "container": "app"}),
		Deadline: time.Now().Add(time.Minute)}
	ctx := context.Background()
	if err := stop.Inject(ctx, f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	if s := state(); s != "T" {
		t.Errorf("the pod's process %d is in state %s after process.stop, want T (stopped)", pid, s)
	}
	if err := stop.Revert(ctx, f); err != nil {
		t.Fatal(err)
	}
	if s := state(); s == "T" {
		t.Errorf("the pod's process %d is still stopped after the revert", pid)
	}
	_, err = PodProcess(ctx, e.sock, p.ref(), "sidecar")
	if err == nil || !strings.Contains(err.Error(), `runs no container "sidecar" (running: app)`) {
		t.Errorf("a missing container: got %v", err)
	}
}

// TestStressInThePod: stress.cpu with a pod runs its burner in the cgroups of the pod's
// container, found through CRI, so the pod's accounting and limits carry the load, and the
// revert ends it there.
func TestStressInThePod(t *testing.T) {
	e := criFor(t)
	p := e.runPod(t, "shop", "reports-1", "77777777-7777-4777-8777-777777777777", 0, false)
	cpu := stress.Executors(stress.Config{Containers: func(ctx context.Context, place catalogue.Place) (int, error) {
		return PodProcess(ctx, e.sock, place.Pod, place.Container)
	}})[0]
	ctx := context.Background()
	app, err := PodProcess(ctx, e.sock, p.ref(), "")
	if err != nil {
		t.Fatal(err)
	}
	acct := containerCPUAccounting(t, app)
	f := fault.Fault{AssignmentID: "stress-in-pod", Kind: cpu.Kind(),
		Params: catalogue.MustDecode(cpu.Kind(), map[string]string{"cores": "1", "pod": p.ref()}), Deadline: time.Now().Add(time.Minute)}
	if err := cpu.Inject(ctx, f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	if n := len(acct.processes(t)); n != 2 {
		t.Errorf("the pod container's cgroup holds %d process(es), want its own and the burner", n)
	}
	acct.checkCharged(t, app)
	if err := cpu.Revert(ctx, f); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if n := len(acct.processes(t)); n != 1 {
		t.Errorf("the pod container's cgroup holds %d processes after the revert, want its own", n)
	}
}

// podFreezer is where the kernel freezes process pid, read here independently of the code
// under test: the unified hierarchy's cgroup.events or the v1 freezer's state.
type podFreezer struct {
	dir string
	v2  bool
}

func freezerFor(t *testing.T, pid int) podFreezer {
	t.Helper()
	dir, v2 := cgroupDir(t, pid, "freezer", "cgroup.freeze", "freezer.state")
	return podFreezer{dir: dir, v2: v2}
}

// frozen reports the cgroup's state; a cgroup that is gone is not frozen.
func (f podFreezer) frozen(t *testing.T) bool {
	t.Helper()
	file := "freezer.state"
	if f.v2 {
		file = "cgroup.events"
	}
	b, err := os.ReadFile(filepath.Join(f.dir, file))
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if f.v2 {
		return strings.Contains(string(b), "frozen 1")
	}
	return strings.TrimSpace(string(b)) != "THAWED"
}

// burnerIn starts a one-core stress.cpu burner charged to p's container, so the test has
// a process of the container that advances whenever it is not frozen, and returns its
// PID; the cleanup ends it.
func (e *criEnv) burnerIn(t *testing.T, p pod, init int) int {
	t.Helper()
	cpu := stress.Executors(stress.Config{Containers: func(ctx context.Context, place catalogue.Place) (int, error) {
		return PodProcess(ctx, e.sock, place.Pod, place.Container)
	}})[0]
	f := fault.Fault{AssignmentID: "burner-" + p.name, Kind: cpu.Kind(),
		Params: catalogue.MustDecode(cpu.Kind(), map[string]string{"cores": "1", "pod": p.ref()}), Deadline: time.Now().Add(time.Minute)}
	if err := cpu.Inject(context.Background(), f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	t.Cleanup(func() {
		if err := cpu.Revert(context.Background(), f); err != nil {
			t.Errorf("revert the burner: %v", err)
		}
	})
	for _, pid := range containerCPUAccounting(t, init).processes(t) {
		if pid != init {
			return pid
		}
	}
	t.Fatal("no burner in the container's cgroup")
	return 0
}

// procState is the state letter of /proc/PID/stat, "" once the process is gone.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// TestPauseInThePod: container.pause with a pod freezes its container's cgroup, so its
// processes stop running, and the revert thaws it. The revert is run by a family with no
// record of the inject, as the guardian or a restarted worker would from the journal
// alone. A container replaced while paused, or a pod gone, leaves nothing frozen and the
// revert succeeds.
func TestPauseInThePod(t *testing.T) {
	e := criFor(t)
	ctx := context.Background()
	pauser := func() fault.Executor {
		return executorOf(t, New(nil, t.TempDir(), nil).WithCRI(e.sock).Executors(), KindPause)
	}
	pause := func(id string, p pod) fault.Fault {
		return fault.Fault{AssignmentID: id, Kind: KindPause,
			Params:   catalogue.MustDecode(KindPause, map[string]string{"pod": p.ref(), "container": "app"}),
			Deadline: time.Now().Add(time.Minute)}
	}
	// ran is how long pid ran on a CPU over d.
	ran := func(pid int, d time.Duration) time.Duration {
		c0 := processCPU(t, pid)
		time.Sleep(d)
		return processCPU(t, pid) - c0
	}

	t.Run("frozen, then thawed from the params alone", func(t *testing.T) {
		p := e.runPod(t, "shop", "ledger-1", "88888888-8888-4888-8888-888888888881", 0, false)
		init, err := PodProcess(ctx, e.sock, p.ref(), "app")
		if err != nil {
			t.Fatal(err)
		}
		burner := e.burnerIn(t, p, init)
		fr := freezerFor(t, init)
		f := pause("pod-pause", p)
		if s := f.Params.String(); !strings.Contains(s, `container "app" of pod "shop/ledger-1"`) {
			t.Errorf("the fault reads %q", s)
		}
		inj := pauser()
		if err := inj.Inject(ctx, f); err != nil {
			t.Fatalf("inject %s: %v", f.Params, err)
		}
		if !fr.frozen(t) {
			t.Fatalf("the container's cgroup %s is not frozen after the inject", fr.dir)
		}
		if err := inj.Inject(ctx, f); err != nil {
			t.Errorf("a second inject of the same assignment: %v", err)
		}
		frozenRan := ran(burner, 500*time.Millisecond)
		t.Logf("frozen: the burner ran %v over 0.5 s; states init %s, burner %s (cgroup %s, v2 %v)",
			frozenRan, procState(init), procState(burner), fr.dir, fr.v2)
		if frozenRan > 5*time.Millisecond {
			t.Errorf("the burner ran %v over 0.5 s while its container was paused", frozenRan)
		}
		if err := pauser().Revert(ctx, f); err != nil {
			t.Fatalf("revert: %v", err)
		}
		if fr.frozen(t) {
			t.Errorf("the container's cgroup %s is still frozen after the revert", fr.dir)
		}
		if d := runsAgain(t, burner, 20*time.Millisecond); d > 0 {
			t.Errorf("the burner ran less than 20ms in the %v after the revert", d)
		}
		// The record the inject kept goes with the first family's revert too.
		if err := inj.Revert(ctx, f); err != nil {
			t.Errorf("revert by the injecting family: %v", err)
		}
	})

	t.Run("replaced while paused", func(t *testing.T) {
		p := e.runPod(t, "shop", "ledger-2", "88888888-8888-4888-8888-888888888882", 0, false)
		init, err := PodProcess(ctx, e.sock, p.ref(), "app")
		if err != nil {
			t.Fatal(err)
		}
		old := freezerFor(t, init)
		f := pause("pod-pause-replaced", p)
		if err := pauser().Inject(ctx, f); err != nil {
			t.Fatalf("inject %s: %v", f.Params, err)
		}
		if !old.frozen(t) {
			t.Fatal("the container is not frozen; the case tests nothing")
		}
		// The kubelet stops a container that fails its probes and starts the next
		// attempt in the same sandbox: a new container ID and cgroup.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		list, err := e.rt.ListContainers(sctx, &criv1.ListContainersRequest{Filter: &criv1.ContainerFilter{PodSandboxId: p.sandbox}})
		if err != nil || len(list.Containers) != 1 {
			t.Fatalf("the pod's containers: %v %v", list, err)
		}
		start := time.Now()
		if _, err := e.rt.StopContainer(sctx, &criv1.StopContainerRequest{ContainerId: list.Containers[0].Id, Timeout: 1}); err != nil {
			t.Fatalf("stop the paused container as the kubelet would: %v", err)
		}
		t.Logf("the runtime stopped the paused container in %v", time.Since(start).Round(time.Millisecond))
		c, err := e.rt.CreateContainer(sctx, &criv1.CreateContainerRequest{PodSandboxId: p.sandbox, SandboxConfig: p.cfg,
			Config: &criv1.ContainerConfig{Metadata: &criv1.ContainerMetadata{Name: "app", Attempt: 1}, Image: &criv1.ImageSpec{Image: e.image}, LogPath: "app.1.log"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.rt.StartContainer(sctx, &criv1.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatal(err)
		}
		next, err := PodProcess(ctx, e.sock, p.ref(), "app")
		if err != nil {
			t.Fatal(err)
		}
		nfr := freezerFor(t, next)
		if nfr.dir == old.dir {
			t.Fatalf("the new container shares the old one's cgroup %s", old.dir)
		}
		t.Logf("before the revert: old cgroup present %v, frozen %v; new cgroup frozen %v",
			exists(old.dir), old.frozen(t), nfr.frozen(t))
		if err := pauser().Revert(ctx, f); err != nil {
			t.Errorf("revert after the container was replaced: %v", err)
		}
		for _, fr := range []podFreezer{old, nfr} {
			if fr.frozen(t) {
				t.Errorf("the cgroup %s is frozen after the revert", fr.dir)
			}
		}
		if s := procState(next); s == "" || s == "D" {
			t.Errorf("the new container's process %d is in state %q after the revert", next, s)
		}
	})

	t.Run("runtime unreachable at revert", func(t *testing.T) {
		p := e.runPod(t, "shop", "ledger-4", "88888888-8888-4888-8888-888888888884", 0, false)
		init, err := PodProcess(ctx, e.sock, p.ref(), "app")
		if err != nil {
			t.Fatal(err)
		}
		fr := freezerFor(t, init)
		dir := t.TempDir()
		f := pause("pod-pause-unreachable", p)
		if err := executorOf(t, New(nil, dir, nil).WithCRI(e.sock).Executors(), KindPause).Inject(ctx, f); err != nil {
			t.Fatalf("inject %s: %v", f.Params, err)
		}
		// The same records, a runtime that does not answer: the cgroup the inject
		// recorded is thawed at once, and the revert fails so that it is retried.
		blind := executorOf(t, New(nil, dir, nil).WithCRI("unix:///nonexistent/murphy/containerd.sock").Executors(), KindPause)
		if err := blind.Revert(ctx, f); err == nil || !errors.Is(err, ErrNoCRI) {
			t.Errorf("revert with the runtime unreachable: %v, want an error to retry on", err)
		}
		if fr.frozen(t) {
			t.Errorf("the recorded cgroup %s is still frozen", fr.dir)
		}
		if err := executorOf(t, New(nil, dir, nil).WithCRI(e.sock).Executors(), KindPause).Revert(ctx, f); err != nil {
			t.Errorf("the retried revert: %v", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("the fault's record outlived its revert: %d file(s)", len(ents))
		}
	})

	t.Run("pod gone", func(t *testing.T) {
		p := e.runPod(t, "shop", "ledger-3", "88888888-8888-4888-8888-888888888883", 0, false)
		f := pause("pod-pause-gone", p)
		if err := pauser().Inject(ctx, f); err != nil {
			t.Fatalf("inject %s: %v", f.Params, err)
		}
		e.removePod(p.sandbox)
		if err := pauser().Revert(ctx, f); err != nil {
			t.Errorf("revert with the pod gone: %v", err)
		}
	})
}

// TestKillInThePod: container.kill with a pod signals its container's main process,
// found through CRI; the container exits, as the runtime reports, and the revert starts
// nothing (the kubelet would). A resent inject of the same assignment kills nothing more.
func TestKillInThePod(t *testing.T) {
	e := criFor(t)
	ctx := context.Background()
	p := e.runPod(t, "shop", "billing-1", "99999999-9999-4999-8999-999999999999", 0, false)
	kill := executorOf(t, New(nil, t.TempDir(), nil).WithCRI(e.sock).Executors(), KindKill)
	pid, err := PodProcess(ctx, e.sock, p.ref(), "")
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.rt.ListContainers(ctx, &criv1.ListContainersRequest{Filter: &criv1.ContainerFilter{PodSandboxId: p.sandbox}})
	if err != nil || len(list.Containers) != 1 {
		t.Fatalf("the pod's containers: %v %v", list, err)
	}
	id := list.Containers[0].Id
	f := fault.Fault{AssignmentID: "pod-kill", Kind: KindKill,
		Params: catalogue.MustDecode(KindKill, map[string]string{"pod": p.uid}), Deadline: time.Now().Add(time.Minute)}
	if s := f.Params.String(); !strings.Contains(s, "SIGKILL") || !strings.Contains(s, "orchestrator") {
		t.Errorf("the fault reads %q; it must name the signal and say the orchestrator brings the container back", s)
	}
	if err := kill.Inject(ctx, f); err != nil {
		t.Fatalf("inject %s: %v", f.Params, err)
	}
	state := func() criv1.ContainerState {
		st, err := e.rt.ContainerStatus(ctx, &criv1.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		return st.Status.State
	}
	deadline := time.Now().Add(10 * time.Second)
	for state() != criv1.ContainerState_CONTAINER_EXITED {
		if time.Now().After(deadline) {
			t.Fatalf("the container is %s 10 s after container.kill", state())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := e.rt.ContainerStatus(ctx, &criv1.ContainerStatusRequest{ContainerId: id})
	if code := st.Status.ExitCode; code != 128+int32(syscall.SIGKILL) {
		t.Errorf("the container exited with %d, want %d (SIGKILL)", code, 128+int32(syscall.SIGKILL))
	}
	if s := procState(pid); s != "" {
		t.Errorf("the container's process %d is still there, in state %s", pid, s)
	}
	if err := kill.Inject(ctx, f); err != nil {
		t.Errorf("a resent inject of the same assignment: %v", err)
	}
	if err := kill.Revert(ctx, f); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if s := state(); s != criv1.ContainerState_CONTAINER_EXITED {
		t.Errorf("the container is %s after the revert; the revert must leave it to the kubelet", s)
	}
	// A container this worker runs in, or a pod's unknown container, is refused.
	err = kill.Inject(ctx, fault.Fault{AssignmentID: "pod-kill-none", Kind: KindKill,
		Params: catalogue.MustDecode(KindKill, map[string]string{"pod": p.ref(), "container": "sidecar"}), Deadline: time.Now().Add(time.Minute)})
	if err == nil {
		t.Error("a kill of a container the pod does not run succeeded")
	}
}
