//go:build e2e

package e2e

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// runID names everything this test binary creates: images are tagged with it, and every
// compose project's name (the murphy.e2e label value) starts with it.
var runID = fmt.Sprintf("e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)

var (
	repoRoot    string
	composeFile string
	composeCmd  []string
	stackSeq    atomic.Int32

	figuresMu sync.Mutex
	figures   []string
)

// figure records a measured figure for the summary TestMain prints at the end.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%-28s ", t.Name()) + fmt.Sprintf(format, args...)
	t.Log("FIGURE " + line)
	figuresMu.Lock()
	figures = append(figures, line)
	figuresMu.Unlock()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := exec.LookPath("docker"); err != nil {
		fmt.Println("deploy/e2e: skipped: no docker CLI on PATH")
		return 0
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	repoRoot = root
	composeFile = filepath.Join(root, "deploy", "compose", "compose.yaml")
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fmt.Printf("deploy/e2e: the Docker engine does not answer: %v\n%s", err, out)
		return 1
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		composeCmd = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		composeCmd = []string{"docker-compose"}
	} else {
		fmt.Println("deploy/e2e: neither `docker compose` nor `docker-compose` is installed")
		return 1
	}
	sweepStale()
	start := time.Now()
	if err := buildImages(); err != nil {
		fmt.Println("deploy/e2e:", err)
		removeImages()
		return 1
	}
	fmt.Printf("deploy/e2e: images %s built in %s; compose: %s\n", runID, time.Since(start).Round(time.Millisecond), strings.Join(composeCmd, " "))
	code := m.Run()
	sweep(func(v string) bool { return strings.HasPrefix(v, runID) })
	removeImages()
	figuresMu.Lock()
	fmt.Printf("\ndeploy/e2e: measured figures (%d)\n", len(figures))
	for _, f := range figures {
		fmt.Println("  " + f)
	}
	figuresMu.Unlock()
	return code
}

// buildImages builds the static binary (or takes MURPHY_E2E_BIN) and the images of
// deploy/images, tagged runID.
func buildImages() error {
	dir, err := os.MkdirTemp("", "murphy-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin := os.Getenv("MURPHY_E2E_BIN"); bin != "" && static(bin) {
		// `make e2e` passes the binary it built (CGO_ENABLED=0).
		data, err := os.ReadFile(bin)
		if err != nil {
			return fmt.Errorf("MURPHY_E2E_BIN: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "murphy"), data, 0o755); err != nil {
			return err
		}
	} else {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "murphy"), "./cmd/murphy")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build murphy: %v\n%s", err, out)
		}
	}
	for image, file := range map[string]string{"murphy-chaos/murphy": "murphy.Dockerfile", "murphy-chaos/demo": "demo.Dockerfile"} {
		cmd := exec.Command("docker", "build", "-q", "--label", "murphy.e2e="+runID, "-t", image+":"+runID,
			"-f", filepath.Join(repoRoot, "deploy", "images", file), dir)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT="+buildKit())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("docker build %s: %v\n%s", file, err, out)
		}
	}
	return nil
}

// static reports whether bin is an ELF executable without a dynamic loader: a FROM
// scratch image has no libc. (Another build into bin/ may have replaced a static one.)
func static(bin string) bool {
	f, err := elf.Open(bin)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			fmt.Printf("deploy/e2e: %s is dynamically linked; building a static binary instead\n", bin)
			return false
		}
	}
	return true
}

// buildKit is "1" where the buildx plugin exists and "0" (the classic builder, which
// needs nothing for FROM scratch) where it does not.
func buildKit() string {
	if exec.Command("docker", "buildx", "version").Run() == nil {
		return "1"
	}
	return "0"
}

func removeImages() {
	_ = exec.Command("docker", "rmi", "-f", "murphy-chaos/murphy:"+runID, "murphy-chaos/demo:"+runID).Run()
}

// sweep removes the containers, networks and volumes whose murphy.e2e label value match
// accepts.
func sweep(match func(string) bool) {
	list := func(args ...string) []string {
		out, _ := exec.Command("docker", args...).Output()
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			id, val, ok := strings.Cut(line, " ")
			if ok && match(val) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	if ids := list("ps", "-a", "--filter", "label=murphy.e2e", "--format", `{{.ID}} {{.Label "murphy.e2e"}}`); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f", "-v"}, ids...)...).Run()
	}
	if ids := list("network", "ls", "--filter", "label=murphy.e2e", "--format", `{{.ID}} {{.Label "murphy.e2e"}}`); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
	if ids := list("volume", "ls", "--filter", "label=murphy.e2e", "--format", `{{.Name}} {{.Label "murphy.e2e"}}`); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"volume", "rm", "-f"}, ids...)...).Run()
	}
}

// sweepStale removes what earlier e2e runs left behind when they were killed: projects
// named e2e-<pid>-... whose process is gone. Runs still alive (another checkout's) are
// left alone.
func sweepStale() {
	sweep(func(v string) bool {
		rest, ok := strings.CutPrefix(v, "e2e-")
		if !ok {
			return false
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil {
			return false
		}
		_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
		return errors.Is(err, os.ErrNotExist)
	})
	out, _ := exec.Command("docker", "images", "--filter", "label=murphy.e2e", "--format", `{{.Repository}}:{{.Tag}} {{.Label "murphy.e2e"}}`).Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ref, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		rest, _ := strings.CutPrefix(val, "e2e-")
		if pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0]); err == nil {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
				_ = exec.Command("docker", "rmi", "-f", ref).Run()
			}
		}
	}
}

// Regions and their coordinators, as in deploy/compose/compose.yaml.
var (
	regions = []string{"eu-west", "us-east", "ap-south"}
	nodes   = []string{"n1", "n2", "n3"}
)

func nodeRegion(node string) string { return regions[slices.Index(nodes, node)] }

// workerService is the compose service of a worker ID (eu-west-1 -> worker-eu-west-1).
func workerService(id string) string { return "worker-" + id }

// workerRegion is the region of a worker ID.
func workerRegion(id string) string { return id[:strings.LastIndex(id, "-")] }

// stack is one copy of the compose project.
type stack struct {
	t       *testing.T
	project string
	net     string // first two octets of the subnets
	env     []string
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
}

// newStack brings up the compose project with the given profiles and waits for a leader
// and every worker; it is removed when the test ends.
func newStack(t *testing.T, profiles ...string) *stack {
	t.Helper()
	seq := stackSeq.Add(1)
	s := &stack{t: t, project: fmt.Sprintf("%s-%d", runID, seq), conns: map[string]*grpc.ClientConn{}}
	t.Cleanup(s.down)
	start := time.Now()
	var lastErr error
	// A subnet another engine user holds fails the network creation: try another.
	for attempt := range 6 {
		s.net = fmt.Sprintf("10.%d", 130+(os.Getpid()*7+int(seq)*13+attempt*29)%120)
		s.env = append(os.Environ(),
			"MURPHY_TAG="+runID, "MURPHY_E2E="+s.project, "MURPHY_NET="+s.net,
			"MURPHY_PORT_EU=", "MURPHY_PORT_US=", "MURPHY_PORT_AP=",
			"MURPHY_HTTP_PORT_EU=", "MURPHY_HTTP_PORT_US=", "MURPHY_HTTP_PORT_AP=", "MURPHY_PROMETHEUS_PORT=")
		args := []string{}
		for _, p := range profiles {
			args = append(args, "--profile", p)
		}
		_, lastErr = s.compose(append(args, "up", "-d")...)
		if lastErr == nil {
			break
		}
		if !strings.Contains(lastErr.Error(), "overlap") {
			t.Fatalf("compose up: %v", lastErr)
		}
		s.compose("down", "-v", "--remove-orphans")
	}
	if lastErr != nil {
		t.Fatalf("compose up: %v", lastErr)
	}
	leader := s.waitLeader(nodes, 30*time.Second)
	want := 6
	if slices.Contains(profiles, "docker-faults") {
		want = 8
	}
	s.waitWorkers(nodes, want, 30*time.Second)
	t.Logf("stack %s (subnets %s.0.0/22) up in %s, leader %s", s.project, s.net, time.Since(start).Round(time.Millisecond), leader)
	return s
}

func (s *stack) compose(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append(slices.Clone(composeCmd[1:]), "-p", s.project, "-f", composeFile)
	cmd := exec.CommandContext(ctx, composeCmd[0], append(full, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", strings.Join(composeCmd, " "), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// down removes the project; on failure it first logs the coordinators' and workers' last
// lines.
func (s *stack) down() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if s.t.Failed() {
		out, _ := s.compose("logs", "--no-color", "--tail", "40")
		s.t.Logf("logs of %s:\n%s", s.project, out)
	}
	if _, err := s.compose("down", "-v", "--remove-orphans", "-t", "2"); err != nil {
		s.t.Logf("compose down: %v", err)
	}
	sweep(func(v string) bool { return v == s.project })
}

// docker runs a docker CLI command and fails the test on error.
func (s *stack) docker(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// container is the ID of a service's container.
func (s *stack) container(service string) string {
	s.t.Helper()
	id := s.docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+service)
	if id == "" || strings.Contains(id, "\n") {
		s.t.Fatalf("service %s: want one container, have %q", service, id)
	}
	return id
}

// network is the Docker name of one of the project's networks.
func (s *stack) network(name string) string { return s.project + "_" + name }

// ip is a service's address on one of the project's networks.
func (s *stack) ip(service, network string) string {
	s.t.Helper()
	return s.docker("inspect", "-f", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, s.network(network)), s.container(service))
}

// coordIP is a coordinator's fixed address on the wan network.
func (s *stack) coordIP(node string) string {
	return fmt.Sprintf("%s.0.%d", s.net, 11+slices.Index(nodes, node))
}

// disconnect cuts a service off one network; reconnect undoes it, keeping a
// coordinator's fixed address.
func (s *stack) disconnect(service, network string) {
	s.docker("network", "disconnect", s.network(network), s.container(service))
}

func (s *stack) reconnect(service, network string) {
	args := []string{"network", "connect"}
	if n, ok := strings.CutPrefix(service, "coord-"); ok && network == "wan" {
		args = append(args, "--ip", s.coordIP(nodes[slices.Index(regions, n)]))
	}
	s.docker(append(args, s.network(network), s.container(service))...)
}

func (s *stack) conn(node string) *grpc.ClientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[node]; ok {
		return c
	}
	c, err := grpc.NewClient(s.coordIP(node)+":7400", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.conns[node] = c
	return c
}

// regionGRPC reaches a coordinator from the host through its address on its region's
// network, which stays connected when wan is cut.
func (s *stack) regionGRPC(node string) *grpc.ClientConn {
	addr := s.ip("coord-"+nodeRegion(node), nodeRegion(node)) + ":7400"
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *stack) regionConn(node string) murphyv1.ClusterServiceClient {
	return murphyv1.NewClusterServiceClient(s.regionGRPC(node))
}

func (s *stack) cluster(node string) murphyv1.ClusterServiceClient {
	return murphyv1.NewClusterServiceClient(s.conn(node))
}

func (s *stack) exp(node string) murphyv1.ExperimentServiceClient {
	return murphyv1.NewExperimentServiceClient(s.conn(node))
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 3*time.Second)
}

// status asks one node for its view; an error means it did not answer.
func status(c murphyv1.ClusterServiceClient) (*murphyv1.StatusResponse, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return c.Status(ctx, &murphyv1.StatusRequest{})
}

// leader is the node among among that says it leads, or "".
func (s *stack) leader(among []string) string {
	for _, n := range among {
		if st, err := status(s.cluster(n)); err == nil && st.State == "Leader" {
			return n
		}
	}
	return ""
}

// poll calls cond every interval until it is true or timeout passes, and says which.
func poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

func (s *stack) waitLeader(among []string, timeout time.Duration) string {
	s.t.Helper()
	var l string
	if !poll(timeout, 50*time.Millisecond, func() bool { l = s.leader(among); return l != "" }) {
		s.t.Fatalf("no leader among %v within %s", among, timeout)
	}
	return l
}

// workers lists the workers as the node via answers (forwarded to the leader).
func (s *stack) workers(via string) ([]*murphyv1.Worker, error) {
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := s.cluster(via).ListWorkers(ctx, &murphyv1.ListWorkersRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Workers, nil
}

// waitWorkers waits until n workers are connected, as any node of via reports it.
func (s *stack) waitWorkers(via []string, n int, timeout time.Duration) {
	s.t.Helper()
	var last string
	ok := poll(timeout, 200*time.Millisecond, func() bool {
		var ws []*murphyv1.Worker
		var err error
		for _, node := range via {
			if ws, err = s.workers(node); err == nil {
				break
			}
		}
		if err != nil {
			last = err.Error()
			return false
		}
		c := 0
		for _, w := range ws {
			if w.State == murphyv1.WorkerState_WORKER_STATE_CONNECTED {
				c++
			}
		}
		last = fmt.Sprintf("%d of %d connected", c, len(ws))
		return c == n
	})
	if !ok {
		s.t.Fatalf("workers: want %d connected within %s, have %s", n, timeout, last)
	}
}

// submit starts a run of spec through node via.
func (s *stack) submit(via, spec string) string {
	s.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := s.exp(via).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec), Filename: "e2e.yaml"})
	if err != nil {
		s.t.Fatalf("submit: %v", err)
	}
	return resp.Run.Id
}

func (s *stack) getRun(via, id string) (*murphyv1.Run, error) {
	ctx, cancel := callCtx()
	defer cancel()
	resp, err := s.exp(via).GetRun(ctx, &murphyv1.GetRunRequest{RunId: id})
	if err != nil {
		return nil, err
	}
	return resp.Run, nil
}

// waitRun polls the run through any of via until cond holds.
func (s *stack) waitRun(via []string, id string, timeout time.Duration, what string, cond func(*murphyv1.Run) bool) *murphyv1.Run {
	s.t.Helper()
	var run *murphyv1.Run
	var last error
	ok := poll(timeout, 100*time.Millisecond, func() bool {
		for _, n := range via {
			r, err := s.getRun(n, id)
			if err != nil {
				last = err
				continue
			}
			run = r
			return cond(r)
		}
		return false
	})
	if !ok {
		s.t.Fatalf("run %s: not %s within %s (last %v, %v)", id, what, timeout, describe(run), last)
	}
	return run
}

func describe(r *murphyv1.Run) string {
	if r == nil {
		return "nothing"
	}
	return fmt.Sprintf("phase %s, step %d, error %q", r.Phase, r.StepIndex, r.Error)
}

func terminal(r *murphyv1.Run) bool {
	switch r.Phase {
	case murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_FAILED:
		return true
	}
	return false
}

// injected reports whether the run is injecting and every experimental worker has
// acknowledged the current step.
func injected(r *murphyv1.Run) bool {
	if r.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING || r.StepIndex < 0 || int(r.StepIndex) >= len(r.Steps) {
		return false
	}
	return len(r.Steps[r.StepIndex].Injected) == len(r.Groups.GetExperiment())
}

// latency is one request's time through a worker's proxy, from the host over the
// worker's region network (which stays connected when wan is cut).
func (s *stack) latency(addr string) (time.Duration, error) {
	c := http.Client{Timeout: 3 * time.Second}
	start := time.Now()
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return time.Since(start), nil
}

// quickest is the fastest of five requests: a fault delays every one, while a loaded
// machine delays some (a single request took 75 ms with nothing left to delay it).
func (s *stack) quickest(addr string) (time.Duration, error) {
	best := time.Duration(-1)
	var last error
	for range 5 {
		d, err := s.latency(addr)
		if err != nil {
			last = err
			continue
		}
		if best < 0 || d < best {
			best = d
		}
	}
	if best < 0 {
		return 0, last
	}
	return best, nil
}

func (s *stack) proxyAddr(workerID string) string {
	return s.ip(workerService(workerID), workerRegion(workerID)) + ":9100"
}

// noFaultsLeft checks that no worker reports an active fault and that every demo
// worker's proxy answers without the delay.
func (s *stack) noFaultsLeft(via []string, timeout time.Duration) {
	s.t.Helper()
	var last string
	ok := poll(timeout, 250*time.Millisecond, func() bool {
		for _, n := range via {
			ws, err := s.workers(n)
			if err != nil {
				last = err.Error()
				continue
			}
			for _, w := range ws {
				if w.ActiveFaults != 0 || w.State != murphyv1.WorkerState_WORKER_STATE_CONNECTED {
					last = fmt.Sprintf("worker %s: %s, %d faults", w.Id, w.State, w.ActiveFaults)
					return false
				}
			}
			return true
		}
		return false
	})
	if !ok {
		s.t.Fatalf("faults left behind after %s: %s", timeout, last)
	}
	for _, r := range regions {
		for i := 1; i <= 2; i++ {
			id := fmt.Sprintf("%s-%d", r, i)
			d, err := s.quickest(s.proxyAddr(id))
			if err != nil || d > 50*time.Millisecond {
				s.t.Errorf("worker %s's proxy: %v, %v (want a fast answer: no delay left)", id, d, err)
			}
		}
	}
}

// spec is an experiment across the three regions: one experimental and one control
// worker per region, an http.delay of delay for step.
func spec(name string, baseline, step, delay time.Duration) string {
	return fmt.Sprintf(`apiVersion: murphy/v1
name: %s
description: e2e across three regions
targets:
  selector: {service: demo}
  experiment: {count: 3}
  control: {count: 3}
  stratify: [region]
  blastRadius: {maxWorkers: 3, maxPercentPerDatacenter: 50}
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: "http://{{proxy}}/", interval: 100ms, timeout: 1s}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.10}
  # Three hosts per group on a shared Docker host exercise the fault path; they are too
  # few to settle a 10%% tolerance, which the futility check would otherwise refuse.
  allowUnderpowered: true
baseline: %s
steps:
  - fault: http.delay
    params: {delay: %s, percent: 100}
    duration: %s
`, name, baseline, delay, step)
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
