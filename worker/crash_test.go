//go:build linux

package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/murphy-chaos/murphy/internal/testenv"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// Environment of TestHelperWorkerProcess, which runs a real worker in a child process.
const (
	envWorkerDir   = "MURPHY_TEST_WORKER_DIR"
	envWorkerCoord = "MURPHY_TEST_WORKER_COORD"
	envWorkerProxy = "MURPHY_TEST_WORKER_PROXY"
)

// TestHelperWorkerProcess is not a test: re-executed by TestCrashRevertsBeforeHello with
// the environment above, it is the worker that gets killed with SIGKILL.
func TestHelperWorkerProcess(t *testing.T) {
	dir := os.Getenv(envWorkerDir)
	if dir == "" {
		t.Skip("only runs as the crash test's worker process")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	a, err := New(Config{ID: "crashy", DataDir: dir, Coordinators: []string{os.Getenv(envWorkerCoord)},
		Proxies:    []ProxyConfig{{Listen: os.Getenv(envWorkerProxy), Upstream: up.URL}},
		Policy:     fault.DefaultPolicy(),
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// target is a process the test freezes and thaws.
type target struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{cmd: exec.Command("sleep", "300"), done: make(chan struct{})}
	if err := tg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { tg.cmd.Wait(); close(tg.done) }()
	t.Cleanup(func() {
		tg.cmd.Process.Signal(syscall.SIGCONT)
		tg.cmd.Process.Kill()
		<-tg.done
	})
	return tg
}

// state is the target's state letter in /proc/PID/stat: 'T' while stopped.
func (tg *target) state() byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tg.cmd.Process.Pid))
	if err != nil {
		return '-'
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return '?'
	}
	return b[i+2]
}

// helloHook wraps a fake coordinator and calls onHello with each Hello as it arrives,
// before the fake answers it.
type helloHook struct {
	*fakeCoord
	onHello func(*murphyv1.Hello)
}

type hookStream struct {
	murphyv1.WorkerService_ConnectServer
	onHello func(*murphyv1.Hello)
}

func (s hookStream) Recv() (*murphyv1.ConnectRequest, error) {
	m, err := s.WorkerService_ConnectServer.Recv()
	if err == nil && m.GetHello() != nil {
		s.onHello(m.GetHello())
	}
	return m, err
}

func (h *helloHook) Connect(stream murphyv1.WorkerService_ConnectServer) error {
	return h.fakeCoord.Connect(hookStream{stream, h.onHello})
}

// startHooked is startFake with a hook on every Hello.
func startHooked(t *testing.T, onHello func(*murphyv1.Hello)) *fakeCoord {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCoord{addr: ln.Addr().String(), srv: grpc.NewServer(), lease: 5 * time.Second, hb: 50 * time.Millisecond,
		push: make(chan *murphyv1.ConnectResponse, 16)}
	murphyv1.RegisterWorkerServiceServer(f.srv, &helloHook{fakeCoord: f, onHello: onHello})
	go f.srv.Serve(ln)
	t.Cleanup(f.srv.Stop)
	return f
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startWorkerProcess runs TestHelperWorkerProcess in a child process.
func startWorkerProcess(t *testing.T, dir, coord, proxy string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envWorkerDir+"="+dir, envWorkerCoord+"="+coord, envWorkerProxy+"="+proxy)
	log, err := os.Create(dir + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(dir + ".log")
			t.Logf("worker log %s:\n%s", dir, b)
		}
	})
	return cmd, done
}

// timedGet returns how long a GET through the worker's proxy took.
func timedGet(t *testing.T, proxy string) time.Duration {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	start := time.Now()
	resp, err := c.Get("http://" + proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start)
}

// netPair is two network namespaces joined by a veth pair: a (10.197.77.1 on va) and b
// (10.197.77.2 on vb).
type netPair struct{ a, b string }

// newNetPair creates the namespaces with ip(8); nil when the host will not.
func newNetPair(t *testing.T) *netPair {
	t.Helper()
	base := fmt.Sprintf("murphy-crash-%d", os.Getpid())
	np := &netPair{a: base + "-a", b: base + "-b"}
	for _, n := range []string{np.a, np.b} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Logf("no network namespace (%v: %s): network.delay left out of the crash test", err, out)
			return nil
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	for _, args := range [][]string{
		{"-n", np.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", np.b},
		{"-n", np.a, "addr", "add", "10.197.77.1/24", "dev", "va"},
		{"-n", np.b, "addr", "add", "10.197.77.2/24", "dev", "vb"},
		{"-n", np.a, "link", "set", "va", "up"},
		{"-n", np.b, "link", "set", "vb", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	return np
}

// connectTime measures a TCP connect from a to b: the SYN leaves a through va, where
// network.delay acts.
func (np *netPair) connectTime(t *testing.T) time.Duration {
	t.Helper()
	var ln net.Listener
	if err := testenv.InNetns(np.b, func() (err error) { ln, err = net.Listen("tcp", "10.197.77.2:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var d time.Duration
	err := testenv.InNetns(np.a, func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		d = time.Since(start)
		return c.Close()
	})
	if err != nil {
		t.Fatalf("connect from %s to %s: %v", np.a, np.b, err)
	}
	return d
}

// queueRules says whether namespace a still holds an NFQUEUE rule.
func (np *netPair) queueRules(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", np.a, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	return strings.Contains(string(out), "queue")
}

// TestCrashRevertsBeforeHello: a worker killed with SIGKILL while process.stop,
// network.delay and http.delay are active reverts them all when it starts again on the
// same data dir, before its first Hello.
func TestCrashRevertsBeforeHello(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	tg := startTarget(t)
	var np *netPair
	if os.Geteuid() == 0 {
		np = newNetPair(t)
	} else {
		t.Log("not root: network.delay left out of the crash test")
	}
	dir := t.TempDir() + "/data"
	proxy := freePort(t)

	f1 := startFake(t, "127.0.0.1:0")
	w1, w1done := startWorkerProcess(t, dir, f1.addr, proxy)
	f1.await(t, "hello from the first worker", isHello)
	pid := strconv.Itoa(tg.cmd.Process.Pid)
	f1.push <- assign("stop-1", "r1", time.Hour, "process.stop", map[string]string{"pid": pid})
	f1.push <- assign("delay-1", "r1", time.Hour, "http.delay", map[string]string{"delay": "300ms"})
	f1.await(t, "process.stop injected", isStatus("stop-1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	f1.await(t, "http.delay injected", isStatus("delay-1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	if np != nil {
		f1.push <- assign("net-1", "r1", time.Hour, "network.delay",
			map[string]string{"interface": "va", "delay": "100ms", "netns": "/var/run/netns/" + np.a})
		f1.await(t, "network.delay injected", isStatus("net-1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
		if d := np.connectTime(t); d < 90*time.Millisecond {
			t.Fatalf("connect took %s with 100ms delay on va", d)
		}
	}
	if st := tg.state(); st != 'T' {
		t.Fatalf("target in state %c after process.stop, want T", st)
	}
	if d := timedGet(t, proxy); d < 300*time.Millisecond {
		t.Fatalf("request through the proxy took %s with a 300ms delay active", d)
	}

	w1.Process.Signal(syscall.SIGKILL)
	<-w1done
	time.Sleep(100 * time.Millisecond)
	if st := tg.state(); st != 'T' {
		t.Fatalf("target in state %c after the worker's crash; the test needs it still stopped", st)
	}
	if np != nil && !np.queueRules(t) {
		t.Fatal("no NFQUEUE rule left after the worker's crash; the test needs one to revert")
	}

	var mu sync.Mutex
	var helloState byte
	var helloAt time.Time
	var hello *murphyv1.Hello
	var helloQueue bool
	f2 := startHooked(t, func(h *murphyv1.Hello) {
		mu.Lock()
		defer mu.Unlock()
		if hello == nil {
			hello, helloState, helloAt = h, tg.state(), time.Now()
			if np != nil {
				out, _ := exec.Command("ip", "netns", "exec", np.a, "nft", "list", "ruleset").CombinedOutput()
				helloQueue = strings.Contains(string(out), "queue")
			}
		}
	})
	start := time.Now()
	resumed := make(chan time.Time, 1)
	go func() {
		for tg.state() == 'T' && time.Since(start) < 20*time.Second {
			time.Sleep(time.Millisecond)
		}
		resumed <- time.Now()
	}()
	startWorkerProcess(t, dir, f2.addr, proxy)
	f2.await(t, "hello from the restarted worker", isHello)
	resumedAt := <-resumed
	mu.Lock()
	defer mu.Unlock()
	t.Logf("restart: target resumed %s after the worker process started, first Hello %s after",
		resumedAt.Sub(start).Round(time.Millisecond), helloAt.Sub(start).Round(time.Millisecond))
	if helloState == 'T' {
		t.Fatal("the restarted worker said Hello while the target was still stopped")
	}
	if helloQueue {
		t.Fatal("the restarted worker said Hello while its NFQUEUE delay rule was still there")
	}
	if len(hello.ActiveFaults) != 0 {
		t.Fatalf("restarted worker reports active faults %v", hello.ActiveFaults)
	}
	startup := murphyv1.RevertCause_REVERT_CAUSE_STARTUP
	f2.await(t, "process.stop reported reverted", isStatus("stop-1", murphyv1.FaultState_FAULT_STATE_REVERTED, startup))
	f2.await(t, "http.delay reported reverted", isStatus("delay-1", murphyv1.FaultState_FAULT_STATE_REVERTED, startup))
	if np != nil {
		f2.await(t, "network.delay reported reverted", isStatus("net-1", murphyv1.FaultState_FAULT_STATE_REVERTED, startup))
		if np.queueRules(t) {
			t.Fatal("the NFQUEUE rule is still there after the restart")
		}
		if d := np.connectTime(t); d > 50*time.Millisecond {
			t.Fatalf("connect took %s after the restart", d)
		}
	}
	if d := timedGet(t, proxy); d >= 300*time.Millisecond {
		t.Fatalf("request through the restarted proxy took %s", d)
	}
	if st := tg.state(); st == 'T' {
		t.Fatal("target stopped again")
	}
}

// TestDeadmanRevertsProcessStop: a worker cut from its coordinator resumes the process
// it stopped within the lease.
func TestDeadmanRevertsProcessStop(t *testing.T) {
	tg := startTarget(t)
	f := startFake(t, "127.0.0.1:0")
	const lease = time.Second
	f.lease = lease
	startAgent(t, []string{f.addr}, nil)
	f.push <- assign("s1", "r1", time.Hour, "process.stop", map[string]string{"pid": strconv.Itoa(tg.cmd.Process.Pid)})
	f.await(t, "s1 injected", isStatus("s1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	if st := tg.state(); st != 'T' {
		t.Fatalf("target in state %c, want T", st)
	}
	// Let a few heartbeats pass under the lease the Welcome set.
	n := f.count(isHeartbeat)
	eventually(t, "heartbeats", func() bool { return f.count(isHeartbeat) >= n+3 })

	cut := time.Now()
	f.srv.Stop() // the coordinator is gone
	eventually(t, "the dead-man's switch to resume the target", func() bool { return tg.state() != 'T' })
	took := time.Since(cut)
	t.Logf("dead-man's switch: target resumed %s after the coordinator stopped (lease %s)", took.Round(time.Millisecond), lease)
	// Contact was at most one heartbeat interval (50ms) before the cut; the watchdog
	// looks every 25ms.
	if took < lease-100*time.Millisecond || took > lease+300*time.Millisecond {
		t.Fatalf("reverted %s after the cut, want about the lease (%s)", took, lease)
	}
}

// TestAgentProcessKillAndRefusals: an instantaneous kind needs no duration; steps the
// policy refuses fail with the reason and change nothing.
func TestAgentProcessKillAndRefusals(t *testing.T) {
	tg := startTarget(t)
	f := startFake(t, "127.0.0.1:0")
	startAgent(t, []string{f.addr}, func(c *Config) { c.Policy = fault.DefaultPolicy() })
	h := f.await(t, "hello", isHello).GetHello()
	if slices.Contains(h.Capabilities, "exec") || !slices.Contains(h.Capabilities, "process.kill") {
		t.Fatalf("capabilities %v: want process.kill, and no exec without the policy's consent", h.Capabilities)
	}
	pid := strconv.Itoa(tg.cmd.Process.Pid)
	f.push <- assign("k1", "r1", 0, "process.kill", map[string]string{"pid": pid, "signal": "TERM"})
	f.await(t, "k1 injected", isStatus("k1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
	eventually(t, "the target to die", func() bool {
		select {
		case <-tg.done:
			return true
		default:
			return false
		}
	})
	f.await(t, "k1 done", isStatus("k1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_DEADLINE))

	other := startTarget(t)
	tests := []struct {
		name   string
		kind   string
		params map[string]string
		want   string
	}{
		{"the worker itself", "process.stop", map[string]string{"pid": strconv.Itoa(os.Getpid())}, "is the worker itself, which is always protected"},
		{"init", "process.kill", map[string]string{"pid": "1"}, "pid 1 (init) is always protected"},
		{"sshd", "process.kill", map[string]string{"name": "sshd"}, `process name "sshd" is protected`},
		{"empty selector", "process.stop", map[string]string{"count": "1"}, "empty selector"},
		{"exec", "exec", map[string]string{"inject": "true", "revert": "true"}, "refused unless this worker's policy lists it under allow"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("bad-%d", i)
			f.push <- assign(id, "r1", time.Minute, tt.kind, tt.params)
			st := f.await(t, id+" failed", isStatus(id, murphyv1.FaultState_FAULT_STATE_FAILED, 0)).GetStepStatus()
			if !strings.Contains(st.Error, tt.want) {
				t.Fatalf("error %q, want %q", st.Error, tt.want)
			}
			if s := other.state(); s == 'T' || s == '-' {
				t.Fatalf("a process in state %c after a refused step", s)
			}
		})
	}
}
