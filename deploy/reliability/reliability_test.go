package reliability

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The control-plane failures a trial injects while a fault is in force.
const (
	failFrozen     = "worker frozen (SIGSTOP) past the deadline"
	failKilled     = "worker killed (SIGKILL), never restarted"
	failCutOff     = "worker cut off from the coordinators"
	failLeaderInj  = "leader killed during the inject"
	failLeaderHalt = "leader killed during a halt"
)

var failures = []string{failFrozen, failKilled, failCutOff, failLeaderInj, failLeaderHalt}

// faultKinds are the faults a trial draws from: the kernel expires the network ones, the
// guardian reverts the others when the worker cannot. container.pause joins them when the
// host has a Docker engine.
var faultKinds = []string{"network.delay", "network.loss", "network.partition", "process.stop", "stress.disk"}

const (
	stepDuration = 3 * time.Second
	// grace is the coordinators' default grace: a worker's hard deadline is the step's end
	// plus this.
	grace = 2 * time.Second
	// leftAfter is how long past its deadline a fault may still show before it counts
	// as left behind.
	leftAfter = 10 * time.Second
	slowRTT   = 80 * time.Millisecond // network.delay adds 100 ms
)

type trialResult struct {
	n       int
	failure string
	kind    string
	runID   string
	phase   murphyv1.RunPhase
	effect  time.Duration // from the deadline to the end of the fault's last effect (negative: before)
	// afterFailure is from the failure (or the halt) to the end of the fault's effect.
	afterFailure time.Duration
	left         []string // what was still on the host at the end
	// untruthful: the run's record of the experimental worker's fault window is wrong.
	untruthful bool
	note       string
}

func TestReliability(t *testing.T) {
	bin := os.Getenv("MURPHY_E2E_BIN")
	if bin == "" {
		t.Skip("set MURPHY_E2E_BIN to a built murphy binary (make e2e, make bench)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and nftables")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("no ip netns: %v %s", err, out)
	}
	trials := 10
	if v, err := strconv.Atoi(os.Getenv("MURPHY_RELIABILITY_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("MURPHY_RELIABILITY_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("%d trials, seed %d (MURPHY_RELIABILITY_SEED to repeat)", trials, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6d7572706879))

	dir := t.TempDir()
	if keep := os.Getenv("MURPHY_RELIABILITY_KEEP"); keep != "" {
		dir = keep // logs of every process stay there
		_ = os.MkdirAll(dir, 0o755)
	}
	kinds := slices.Clone(faultKinds)
	image := dockerImage(t)
	if image != "" {
		kinds = append(kinds, "container.pause")
	}
	if only := os.Getenv("MURPHY_RELIABILITY_KIND"); only != "" {
		kinds = []string{only}
	}
	c := startCluster(t, bin, dir)
	demo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer demo.Close()

	var results []trialResult
	var submitted []string
	for n := range trials {
		// Every failure equally often, in a random order; kinds at random.
		if n%len(failures) == 0 {
			rng.Shuffle(len(failures), func(i, j int) { failures[i], failures[j] = failures[j], failures[i] })
		}
		failure := failures[n%len(failures)]
		if only := os.Getenv("MURPHY_RELIABILITY_ONLY"); only != "" && !strings.Contains(failure, only) {
			continue
		}
		kind := kinds[rng.IntN(len(kinds))]
		r := runTrial(t, c, bin, dir, demo.URL, image, n, failure, kind, rng)
		if r.runID != "" {
			submitted = append(submitted, r.runID)
		}
		results = append(results, r)
		t.Logf("trial %3d: %-45s %-18s run %s %s, effect ended %+.2fs from the deadline, %.2fs after the failure; left %v %s",
			n, r.failure, r.kind, r.runID, strings.TrimPrefix(r.phase.String(), "RUN_PHASE_"), r.effect.Seconds(), r.afterFailure.Seconds(), r.left, r.note)
	}

	// No acknowledged run is lost: every submitted run is on the cluster, and ended.
	lost, unfinished := 0, 0
	for _, id := range submitted {
		var run *murphyv1.Run
		poll(30*time.Second, func() bool {
			run = c.run(id)
			return run != nil && terminal(run.Phase)
		})
		switch {
		case run == nil:
			lost++
			t.Errorf("run %s was acknowledged and is gone", id)
		case !terminal(run.Phase):
			unfinished++
			t.Errorf("run %s still %v", id, run.Phase)
		}
	}
	report(t, results, len(submitted), lost, unfinished)
}

func terminal(p murphyv1.RunPhase) bool {
	switch p {
	case murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED:
		return true
	}
	return false
}

// report prints the README's table: trials, faults left behind, runs lost, and per
// failure the worst time from the deadline to the end of the fault's effect.
func report(t *testing.T, rs []trialResult, submitted, lost, unfinished int) {
	left, untruthful := 0, 0
	worst := map[string]time.Duration{}
	worstAfter := map[string]time.Duration{}
	count := map[string]int{}
	for _, r := range rs {
		if len(r.left) > 0 {
			left++
			t.Errorf("trial %d (%s, %s) left %v behind", r.n, r.failure, r.kind, r.left)
		}
		if r.untruthful {
			untruthful++
		}
		count[r.failure]++
		if w, ok := worst[r.failure]; !ok || r.effect > w {
			worst[r.failure] = r.effect
		}
		if w, ok := worstAfter[r.failure]; !ok || r.afterFailure > w {
			worstAfter[r.failure] = r.afterFailure
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nRELIABILITY trials=%d submitted=%d left_behind=%d runs_lost=%d unfinished=%d untruthful_records=%d\n", len(rs), submitted, left, lost, unfinished, untruthful)
	fmt.Fprintf(&b, "| failure | trials | worst end of the fault's effect, relative to its deadline | worst, after the failure (or the halt) |\n|---|---|---|---|\n")
	for _, f := range []string{failFrozen, failKilled, failCutOff, failLeaderInj, failLeaderHalt} {
		if count[f] == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %+.2f s | %.2f s |\n", f, count[f], worst[f].Seconds(), worstAfter[f].Seconds())
	}
	t.Log(b.String())
	if out := os.Getenv("MURPHY_RELIABILITY_REPORT"); out != "" {
		_ = os.WriteFile(out, []byte(b.String()), 0o644)
	}
}

func faultParams(kind string, h *host) map[string]string {
	ns := "/var/run/netns/" + h.a
	switch kind {
	case "network.delay":
		return map[string]string{"interface": "va", "delay": "100ms", "netns": ns}
	case "network.loss":
		return map[string]string{"interface": "va", "percent": "100", "netns": ns}
	case "network.partition":
		return map[string]string{"cidrs": h.addrB + "/32", "netns": ns}
	case "process.stop":
		return map[string]string{"pid": strconv.Itoa(h.victim.cmd.Process.Pid)}
	case "stress.disk":
		return map[string]string{"path": h.disk, "bytes": "1MiB"}
	case "container.pause":
		return map[string]string{"name": h.container}
	}
	panic(kind)
}

func spec(n int, probeURL, kind string, params map[string]string, step time.Duration) string {
	var p []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		p = append(p, fmt.Sprintf("%s: %q", k, params[k]))
	}
	return fmt.Sprintf(`apiVersion: murphy/v1
name: reliability-%d
targets:
  selector: {trial: "%d"}
  experiment: {count: 1}
  control: {count: 1}
  stratify: []
  blastRadius: {maxWorkers: 1, maxPercentPerDatacenter: 100}
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: %q, interval: 200ms, timeout: 1s}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.5}
  allowUnderpowered: true
baseline: 1s
steps:
  - fault: %s
    params: {%s}
    duration: %s
`, n, n, probeURL, kind, strings.Join(p, ", "), step)
}

// effectBad says whether the fault's effect shows on the host now.
func effectBad(kind string, h *host) bool {
	switch kind {
	case "network.delay":
		d, err := h.roundTrip(time.Second)
		return err != nil || d >= slowRTT
	case "network.loss", "network.partition":
		_, err := h.roundTrip(300 * time.Millisecond)
		return err != nil
	case "process.stop":
		return h.stopped()
	case "stress.disk":
		return len(h.fillFiles()) > 0
	case "container.pause":
		return h.paused()
	}
	return false
}

func runTrial(t *testing.T, c *cluster, bin, dir, probeURL, image string, n int, failure, kind string, rng *rand.Rand) (res trialResult) {
	res = trialResult{n: n, failure: failure, kind: kind}
	h := newHost(t, n)
	defer h.close()
	if kind == "container.pause" {
		h.withContainer(t, image)
	}

	// Two fresh workers per trial: the experimental one is broken, the other is control.
	var workers []*proc
	var dataDirs []string
	ids := map[string]*proc{}
	for i, role := range []string{"a", "b"} {
		id := fmt.Sprintf("t%d-%s", n, role)
		wd := filepath.Join(dir, id)
		p := start(t, wd+".log", bin, "worker", "--insecure", "--coordinators", c.relays(), "--id", id,
			"--labels", fmt.Sprintf("region=r1,datacenter=dc%d,host=%s,trial=%d", i, id, n),
			"--data-dir", wd, "--http-addr", "")
		workers, dataDirs, ids[id] = append(workers, p), append(dataDirs, wd), p
	}
	defer func() {
		c.cut(false)
		for _, p := range workers {
			p.stop()
		}
		for _, d := range dataDirs {
			killGuardians(d)
		}
		if len(h.residue()) > 0 {
			// Leave the next trial a clean machine whatever this one left.
			exec.Command("ip", "netns", "exec", h.a, "nft", "flush", "ruleset").Run()
		}
	}()
	if !poll(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l := c.leader()
		if l == nil {
			return false
		}
		resp, err := murphyv1.NewClusterServiceClient(l.conn).ListWorkers(ctx, &murphyv1.ListWorkersRequest{})
		if err != nil {
			return false
		}
		up := 0
		for _, w := range resp.Workers {
			if ids[w.Id] != nil && w.State == murphyv1.WorkerState_WORKER_STATE_CONNECTED {
				up++
			}
		}
		return up == 2
	}) {
		res.note = "workers did not connect"
		t.Errorf("trial %d: workers did not connect", n)
		return res
	}

	// Each trial starts on a whole cluster with a leader: the last trial may have
	// restarted a node.
	c.waitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	via := c.nodes[rng.IntN(3)]
	if !via.p.alive() {
		via = c.other(nil)
	}
	// A failover takes a few seconds of the step: give it room to be seen in force.
	step := stepDuration
	if failure == failLeaderInj {
		step = 3 * stepDuration
	}
	var resp *murphyv1.SubmitResponse
	var err error
	for {
		// As a user would: Unavailable (an election under way) is retried.
		resp, err = c.exp(via).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec(n, probeURL, kind, faultParams(kind, h), step)), Filename: "r.yaml"})
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err != nil {
		res.note = "submit: " + err.Error()
		t.Errorf("trial %d: submit: %v", n, err)
		return res
	}
	res.runID = resp.Run.Id

	var run *murphyv1.Run
	if failure == failLeaderInj {
		// Kill the leader the moment the step starts: the inject is in flight.
		if !poll(30*time.Second, func() bool {
			run = c.run(res.runID)
			return run != nil && (len(run.Steps) > 0 || terminal(run.Phase))
		}) {
			t.Errorf("trial %d: the step never started", n)
			return res
		}
		l := c.leader()
		if l != nil {
			l.p.signal(syscall.SIGKILL)
			<-l.p.done
			defer func() { c.startNode(l) }()
		}
	}
	// The experimental worker has the fault in force.
	if !poll(30*time.Second, func() bool {
		run = c.run(res.runID)
		return run != nil && (terminal(run.Phase) || (len(run.Steps) > 0 && len(run.Steps[0].Injected) > 0))
	}) {
		t.Errorf("trial %d: the fault was never injected", n)
		return res
	}
	if terminal(run.Phase) && (len(run.Steps) == 0 || len(run.Steps[0].Injected) == 0) {
		res.phase, res.note = run.Phase, "ended before injecting: "+run.Error
		t.Logf("trial %d: run ended with nothing injected: %v", n, run.Steps)
		res.left = h.residue()
		return res
	}
	exp := ids[run.Groups.Experiment[0]]
	deadline := run.Steps[0].StartedAt.AsTime().Add(step + grace)
	// The fault must be seen in force before the control plane is broken, or the trial
	// proves nothing.
	if failure != failLeaderInj && !poll(2*time.Second, func() bool { return effectBad(kind, h) }) {
		res.note = "fault not seen in force before the failure"
		t.Errorf("trial %d: %s acknowledged but not in force on the host", n, kind)
	}
	failedAt := time.Now()

	switch failure {
	case failFrozen:
		exp.signal(syscall.SIGSTOP)
	case failKilled:
		exp.signal(syscall.SIGKILL)
	case failCutOff:
		c.cut(true)
	case failLeaderHalt:
		l := c.leader()
		f := c.other(l)
		hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		for {
			// As an operator would: Unavailable (an election under way) is retried.
			_, err = c.exp(f).Halt(hctx, &murphyv1.HaltRequest{RunId: res.runID, Reason: "reliability trial"})
			if status.Code(err) != codes.Unavailable || hctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		hcancel()
		if err != nil {
			res.note = "halt: " + err.Error()
		}
		if l != nil {
			l.p.signal(syscall.SIGKILL)
			<-l.p.done
			defer func() { c.startNode(l) }()
		}
	}

	// Watch the host until the fault's effect has been gone for a second and nothing
	// is left, or until leftAfter past the deadline.
	var lastBad time.Time
	var goodSince time.Time
	for {
		now := time.Now()
		if effectBad(kind, h) {
			lastBad, goodSince = time.Now(), time.Time{}
		} else if goodSince.IsZero() {
			goodSince = now
		}
		if !goodSince.IsZero() && time.Since(goodSince) > time.Second && len(h.residue()) == 0 {
			break
		}
		if now.After(deadline.Add(leftAfter)) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lastBad.IsZero() {
		lastBad = failedAt // gone before the first look after the failure
	}
	res.effect = lastBad.Sub(deadline)
	res.afterFailure = lastBad.Sub(failedAt)
	res.left = h.residue()
	if strings.HasPrefix(kind, "network.") && (failure == failFrozen || failure == failKilled) && res.effect > time.Second {
		t.Errorf("trial %d: %s with the %s: effect lasted %v past the deadline, want at most 1s", n, kind, failure, res.effect)
	}
	c.cut(false)
	if poll(40*time.Second, func() bool { run = c.run(res.runID); return run != nil && terminal(run.Phase) }) {
		res.phase = run.Phase
	}
	// The record tells the truth: a worker that lived through the trial confirms its
	// revert with a cause; one killed or frozen (then killed by its guardian) and never
	// restarted shows its fault unconfirmed.
	expID := run.Groups.Experiment[0]
	wantOpen := failure == failKilled || failure == failFrozen
	if !poll(15*time.Second, func() bool {
		run = c.run(res.runID)
		w := window(run, expID)
		return w != nil && (w.RevertedAt == nil) == wantOpen
	}) {
		res.untruthful = true
		t.Errorf("trial %d (%s): the run's record of %s's fault is %v, want it %s", n, failure, expID, window(run, expID),
			map[bool]string{true: "injected and not confirmed reverted", false: "injected and reverted with a cause"}[wantOpen])
	}
	return res
}

// window is worker's fault window of the run's first step, or nil.
func window(run *murphyv1.Run, worker string) *murphyv1.FaultWindow {
	if run == nil || len(run.Steps) == 0 {
		return nil
	}
	for _, w := range run.Steps[0].Windows {
		if w.WorkerId == worker {
			return w
		}
	}
	return nil
}
