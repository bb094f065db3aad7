package reliability

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/murphy-chaos/murphy/internal/testenv"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// proc is a process the suite started, with its log.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t *testing.T, logPath, bin string, args ...string) *proc {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	return p
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

// stop ends the process: SIGCONT first (a frozen process cannot act on SIGTERM), then
// SIGTERM, then SIGKILL after a grace period.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
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

// relay forwards TCP connections to one coordinator's gRPC address. Coordinators
// advertise their relay to workers and workers dial relays, so cutting the relays cuts
// every worker off from the control plane while the suite's own client, which dials the
// coordinators directly, keeps working.
type relay struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cut      bool
	conns    map[net.Conn]bool
}

func newRelay(t *testing.T, upstream string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	go r.serve()
	t.Cleanup(func() { ln.Close(); r.setCut(true) })
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.cut {
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.mu.Unlock()
		go r.pipe(c)
	}
}

func (r *relay) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", r.upstream, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	r.conns[c], r.conns[up] = true, true
	r.mu.Unlock()
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

// setCut cuts (closing every relayed connection and refusing new ones) or restores.
func (r *relay) setCut(cut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = cut
	if cut {
		for c := range r.conns {
			c.Close()
		}
		r.conns = map[net.Conn]bool{}
	}
}

// node is one coordinator process.
type node struct {
	id, grpc, raft, http, dir string
	relay                     *relay
	args                      []string
	p                         *proc
	conn                      *grpc.ClientConn
}

type cluster struct {
	t     *testing.T
	bin   string
	dir   string
	nodes []*node
}

func startCluster(t *testing.T, bin, dir string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: bin, dir: dir}
	for i := range 3 {
		n := &node{id: fmt.Sprintf("n%d", i+1), grpc: freePort(t), raft: freePort(t), http: freePort(t), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		n.relay = newRelay(t, n.grpc)
		n.args = []string{"coordinator", "--insecure", "--node-id", n.id, "--data-dir", n.dir,
			"--grpc-addr", n.grpc, "--grpc-advertise", n.relay.addr(), "--raft-addr", n.raft, "--http-addr", n.http,
			// A short lease keeps the cut-off trials short; lost after 2 leases.
			"--worker-lease", "2s"}
		if i == 0 {
			n.args = append(n.args, "--bootstrap")
		} else {
			n.args = append(n.args, "--join", c.nodes[0].grpc)
		}
		conn, err := grpc.NewClient(n.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		n.conn = conn
		c.nodes = append(c.nodes, n)
		c.startNode(n)
		if i == 0 {
			c.waitLeader(30 * time.Second)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.p.stop()
			n.conn.Close()
		}
	})
	if !poll(60*time.Second, func() bool {
		st, err := c.status(c.nodes[0])
		return err == nil && len(st.Nodes) == 3 && c.leader() != nil
	}) {
		t.Fatal("the three coordinators did not form a cluster")
	}
	return c
}

func (c *cluster) startNode(n *node) {
	n.p = start(c.t, n.dir+".log", c.bin, n.args...)
}

func (c *cluster) status(n *node) (*murphyv1.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return murphyv1.NewClusterServiceClient(n.conn).Status(ctx, &murphyv1.StatusRequest{})
}

// leader is the node that says it leads, or nil.
func (c *cluster) leader() *node {
	for _, n := range c.nodes {
		if !n.p.alive() {
			continue
		}
		if st, err := c.status(n); err == nil && strings.EqualFold(st.State, "leader") {
			return n
		}
	}
	return nil
}

func (c *cluster) waitLeader(timeout time.Duration) *node {
	var l *node
	if !poll(timeout, func() bool { l = c.leader(); return l != nil }) {
		c.t.Fatal("no leader")
	}
	return l
}

// any returns a live node other than not.
func (c *cluster) other(not *node) *node {
	for _, n := range c.nodes {
		if n != not && n.p.alive() {
			return n
		}
	}
	return nil
}

func (c *cluster) exp(n *node) murphyv1.ExperimentServiceClient {
	return murphyv1.NewExperimentServiceClient(n.conn)
}

// run reads a run from the leader, or from any node when there is none.
func (c *cluster) run(id string) *murphyv1.Run {
	for _, n := range c.nodes {
		if !n.p.alive() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := c.exp(n).GetRun(ctx, &murphyv1.GetRunRequest{RunId: id})
		cancel()
		if err == nil {
			return resp.Run
		}
	}
	return nil
}

func (c *cluster) cut(on bool) {
	for _, n := range c.nodes {
		n.relay.setCut(on)
	}
}

func (c *cluster) relays() string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.relay.addr())
	}
	return strings.Join(out, ",")
}

func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// host is one trial's piece of a machine: a pair of network namespaces joined by a veth
// (faults act in a, traffic goes to b), a process to stop, a directory to fill.
type host struct {
	a, b, addrA, addrB string
	echo               net.Listener
	victim             *proc
	disk               string
	// container is a running container to pause, when the suite has Docker.
	container string
}

func newHost(t *testing.T, n int) *host {
	t.Helper()
	base := fmt.Sprintf("mrel%d-%d", os.Getpid()%100000, n)
	h := &host{a: base + "a", b: base + "b", addrA: fmt.Sprintf("10.198.%d.1", n%250), addrB: fmt.Sprintf("10.198.%d.2", n%250)}
	for _, ns := range []string{h.a, h.b} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
	}
	for _, args := range [][]string{
		{"-n", h.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", h.b},
		{"-n", h.a, "addr", "add", h.addrA + "/24", "dev", "va"},
		{"-n", h.b, "addr", "add", h.addrB + "/24", "dev", "vb"},
		{"-n", h.a, "link", "set", "va", "up"},
		{"-n", h.b, "link", "set", "vb", "up"},
		{"-n", h.a, "link", "set", "lo", "up"},
		{"-n", h.b, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	if err := testenv.InNetns(h.b, func() (err error) { h.echo, err = net.Listen("tcp", h.addrB+":8080"); return err }); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := h.echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	h.victim = start(t, os.DevNull, "sleep", "600")
	h.disk = t.TempDir()
	return h
}

// withContainer starts a container from image for the trial to pause.
func (h *host) withContainer(t *testing.T, image string) {
	t.Helper()
	name := h.a + "-c"
	out, err := exec.Command("docker", "run", "-d", "--rm", "--name", name, "--network", "none", image, "demo-service", "--listen", "127.0.0.1:8080").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	h.container = name
}

// paused reports whether the trial's container is paused.
func (h *host) paused() bool {
	if h.container == "" {
		return false
	}
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Paused}}", h.container).CombinedOutput()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// dockerImage builds a FROM scratch image of the binary under test, or returns "" when
// there is no Docker engine (the container trials are then left out).
func dockerImage(t *testing.T) string {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Logf("no Docker engine: container.pause left out (%v)", err)
		return ""
	}
	// The image holds nothing but the binary, so it must be static whatever bin is.
	ctx := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(ctx, "murphy"), "github.com/murphy-chaos/murphy/cmd/murphy")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build for the container image: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY murphy /murphy\nENTRYPOINT [\"/murphy\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "murphy-reliability:" + strconv.Itoa(os.Getpid())
	cmd := exec.Command("docker", "build", "-q", "-t", image, ctx)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("docker build failed: container.pause left out: %v: %s", err, out)
		return ""
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })
	return image
}

func (h *host) close() {
	if h.container != "" {
		exec.Command("docker", "rm", "-f", h.container).Run()
	}
	h.echo.Close()
	h.victim.signal(syscall.SIGCONT)
	h.victim.signal(syscall.SIGKILL)
	<-h.victim.done
	for _, ns := range []string{h.a, h.b} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// roundTrip is one TCP connect, write and echo from a to b.
func (h *host) roundTrip(timeout time.Duration) (time.Duration, error) {
	var d time.Duration
	err := testenv.InNetns(h.a, func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp", h.addrB+":8080", timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(start.Add(timeout))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			return err
		}
		d = time.Since(start)
		return nil
	})
	return d, err
}

// stopped reports whether the victim is stopped (state T in /proc/PID/stat).
func (h *host) stopped() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.victim.cmd.Process.Pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'T'
}

func (h *host) fillFiles() []string {
	m, _ := filepath.Glob(filepath.Join(h.disk, "murphy-stress-disk-*"))
	return m
}

// residue is what the host still holds of any fault: nftables tables and qdiscs in the
// fault's namespace, a stopped process, fill files.
func (h *host) residue() []string {
	var out []string
	if b, err := exec.Command("ip", "netns", "exec", h.a, "nft", "list", "tables").CombinedOutput(); err == nil && strings.TrimSpace(string(b)) != "" {
		out = append(out, "nftables: "+strings.Join(strings.Fields(string(b)), " "))
	}
	if b, err := exec.Command("ip", "-n", h.a, "-o", "link", "show", "va").CombinedOutput(); err == nil && !strings.Contains(string(b), "qdisc noqueue") {
		if q, err := exec.Command("tc", "-n", h.a, "qdisc", "show", "dev", "va").CombinedOutput(); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(q)), "\n") {
				if l != "" && !strings.HasPrefix(l, "qdisc noqueue") {
					out = append(out, "qdisc: "+l)
				}
			}
		}
	}
	if h.stopped() {
		out = append(out, "process "+strconv.Itoa(h.victim.cmd.Process.Pid)+" stopped")
	}
	if f := h.fillFiles(); len(f) > 0 {
		out = append(out, "files: "+strings.Join(f, " "))
	}
	if h.paused() {
		out = append(out, "container "+h.container+" paused")
	}
	return out
}

// killGuardians ends the guardians watching dir: they outlive their workers by design.
func killGuardians(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 3 && args[1] == "guardian" && args[3] == dir {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
