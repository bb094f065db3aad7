package coordinator_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/internal/testenv"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// startPrometheus runs Debian's prometheus on loopback scraping targets every 500ms. CI
// sets MURPHY_REQUIRE_PROMETHEUS so a missing binary fails there instead of skipping.
// Prometheus listens on port 0 and the test reads the port it got from its "Listening on"
// log line: a port picked beforehand could be taken by another test while Prometheus starts.
func startPrometheus(t *testing.T, targets []string) string {
	t.Helper()
	bin := testenv.LookPath(t, testenv.Prometheus, "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['%s']\n", strings.Join(targets, "','"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0", "--log.level=info")
	logPath := filepath.Join(dir, "prometheus.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	var addr string
	waitUntil(t, 30*time.Second, "prometheus to say where it listens", func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus exited while starting:\n%s", b)
		default:
		}
		b, _ := os.ReadFile(logPath)
		if m := promListening.FindSubmatch(b); m != nil {
			addr = string(m[1])
		}
		return addr != ""
	})
	return "http://" + addr
}

// promListening finds the bound address in Prometheus's log (its web package logs the
// listener's own address, so port 0 shows as the port it got).
var promListening = regexp.MustCompile(`msg="Listening on"[^\n]*\baddress=(127\.0\.0\.1:[1-9][0-9]*)`)

const promSpec = `apiVersion: murphy/v1
name: prom-test
targets:
  selector: {service: demo}
  experiment: {count: 2}
  control: {count: 2}
  stratify: []
  blastRadius: {maxWorkers: 2, maxPercentPerDatacenter: 100}
hypothesis:
  metrics:
    - name: up
      source: {prometheus: {query: 'up{job="demo",instance=~"{{.Instances}}"}', interval: 500ms}}
      direction: decrease
      tolerance: {absolute: 0.1}
abort:
  - metric: up
    below: 0.5
    for: 1s
baseline: 2s
steps:
  - fault: http.abort
    params: {status: 503}
    duration: 30s
`

// TestPrometheusGuardrail uses a real Prometheus as the steady-state source: it scrapes
// every worker through its proxy, so aborting the experimental group's requests turns
// their `up` to 0; the templated query separates the groups, and the guardrail halts.
func TestPrometheusGuardrail(t *testing.T) {
	proxies := []string{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)}
	url := startPrometheus(t, proxies)
	c := promCluster(t, url, 3)
	ws := startWorkersOn(t, c, proxies)
	waitScraped(t, url, len(proxies))

	id := submit(t, c.nodes[0].GRPCAddr(), promSpec)
	run := waitHalted(t, c, id, 30*time.Second, "the Prometheus guardrail")
	h := run.Halt
	if h.Metric != "up" || h.Guardrail != "below 0.5 for 1s" || len(h.Values) == 0 {
		t.Errorf("evidence %v", h)
	}
	for _, v := range h.Values {
		if v != 0 {
			t.Errorf("experimental up values %v: the query mixed in the control group", h.Values)
			break
		}
	}
	waitUntil(t, 5*time.Second, "reverts", func() bool { return len(c.run(id).GetHalt().GetReverts()) == 4 })
	for _, w := range ws {
		if s := proxyStatus(t, w); s != http.StatusOK {
			t.Errorf("worker %s answers %d after the halt", w.id, s)
		}
	}
}

// waitHalted waits for the run to end and fails the test unless by (a guardrail) halted it.
func waitHalted(t *testing.T, c *testCluster, id string, timeout time.Duration, by string) *murphyv1.Run {
	t.Helper()
	run := waitPhase(t, c, id, timeout, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
		// The verdict's per-target changes say why the guardrail saw no deviation.
		for _, m := range run.GetVerdict().GetMetrics() {
			t.Logf("verdict %s: %s, %s", m.Name, m.Outcome, m.Reason)
		}
		t.Fatalf("run ended %v (%s), want halted by %s", run.Phase, run.Error, by)
	}
	t.Logf("halt: %s", run.Halt.Reason)
	return run
}

// promCluster starts n coordinators that read steady-state metrics from the Prometheus
// at url.
func promCluster(t *testing.T, url string, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	for i := range n {
		cfg := nodeConfig(t, fmt.Sprintf("n%d", i+1), t.TempDir())
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = []string{c.nodes[0].GRPCAddr()}
		}
		cfg.Prometheus = promsrc.Config{URL: url, Timeout: time.Second}
		s := c.start(cfg)
		if i == 0 {
			waitUntil(t, 10*time.Second, "n1 leads", s.IsLeader)
		}
	}
	return c
}

const promHostsSpec = `apiVersion: murphy/v1
name: prom-hosts
targets:
  selector: {service: demo}
  experiment: {count: 4}
  control: {count: 4}
  stratify: []
  blastRadius: {maxWorkers: 4, maxPercentPerDatacenter: 100}
hypothesis:
  metrics:
    - name: scrape
      source: {prometheus: {query: 'scrape_duration_seconds{job="demo",instance=~"{{.Instances}}"}', interval: 500ms}}
      direction: increase
      tolerance: {relative: 0.5}
      critical: true
    - name: scrape_avg
      source: {prometheus: {query: 'avg(scrape_duration_seconds{job="demo",instance=~"{{.Instances}}"})', interval: 500ms}}
      direction: increase
      tolerance: {relative: 0.5}
baseline: 4s
steps:
  - fault: http.delay
    params: {delay: 200ms}
    duration: 8s
`

// TestPrometheusPerTarget: Prometheus scrapes eight hosts whose services answer its
// scrapes in 40 to 110 ms (hosts that differ in level), and a 200 ms delay on the four
// experimental hosts' proxies slows their scrapes. A query that keeps the instance label
// is judged per target (4 vs 4, each host against its own baseline) and detects the
// fault; the same query averaged over the instances falls back to one series per group,
// with its warning at submission and in the verdict.
func TestPrometheusPerTarget(t *testing.T) {
	c := slowScrapeHosts(t, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[0].GRPCAddr())).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(promHostsSpec), Filename: "t.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if !slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.HasPrefix(w, "metric scrape_avg: avg(...) without a by clause") }) ||
		slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.HasPrefix(w, "metric scrape:") }) {
		t.Errorf("submission warnings %q, want one about scrape_avg only", resp.Warnings)
	}
	run := waitPhase(t, c, resp.Run.Id, 60*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED || run.Verdict == nil {
		t.Fatalf("run ended %v (%s) without a verdict", run.Phase, run.Error)
	}
	v := run.Verdict
	t.Logf("verdict: %s", v.Reason)
	byName := map[string]*murphyv1.MetricVerdict{}
	for _, m := range v.Metrics {
		byName[m.Name] = m
		t.Logf("%s: %s per %s, %s; warnings %q", m.Name, m.Outcome, m.Unit, m.Reason, m.Warnings)
	}
	pooling := func(m *murphyv1.MetricVerdict) bool {
		return slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, "no instance label") })
	}

	m := byName["scrape"]
	if m.Unit != "target" || m.TargetsControl != 4 || m.TargetsExperiment != 4 || pooling(m) {
		t.Fatalf("scrape judged per %s with %d vs %d targets (pooling warning %v), want per target, 4 vs 4", m.Unit, m.TargetsExperiment, m.TargetsControl, pooling(m))
	}
	if m.Outcome != murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED || v.Outcome != murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED {
		t.Errorf("scrape %v, verdict %v: want the delay detected", m.Outcome, v.Outcome)
	}
	// Each summary is a member's own series, and the hosts' levels differ as served.
	members := map[string]bool{}
	for _, id := range append(slices.Clone(run.Groups.Control), run.Groups.Experiment...) {
		members[id] = true
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, ts := range m.Targets {
		if !members[ts.Id] || ts.NBaseline == 0 || ts.NWindow == 0 {
			t.Errorf("target summary %v: not a member with samples in both windows", ts)
		}
		lo, hi = min(lo, ts.Baseline), max(hi, ts.Baseline)
	}
	if len(m.Targets) != 8 || hi < 1.5*lo {
		t.Errorf("%d target summaries with baselines %g to %g, want 8 that differ by at least 1.5x", len(m.Targets), lo, hi)
	}

	agg := byName["scrape_avg"]
	if agg.Unit != "sample" || !pooling(agg) || agg.NControl == 0 || agg.NExperiment == 0 {
		t.Errorf("scrape_avg judged per %s on %d vs %d samples, warnings %q: want the per-group fallback with its warning", agg.Unit, agg.NExperiment, agg.NControl, agg.Warnings)
	}
}

// slowScrapeHosts starts a coordinator and eight workers whose services answer
// Prometheus's scrapes through their proxies in 40 ms plus step per host: hosts that
// differ in level.
func slowScrapeHosts(t *testing.T, step time.Duration) *testCluster {
	t.Helper()
	proxies := make([]string, 8)
	for i := range proxies {
		proxies[i] = freeAddr(t)
	}
	url := startPrometheus(t, proxies)
	c := promCluster(t, url, 1)
	startWorkersServing(t, c, proxies, func(i int) http.Handler {
		slow := 40*time.Millisecond + time.Duration(i)*step
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/metrics" {
				time.Sleep(slow)
				fmt.Fprintln(w, "# TYPE demo_ok gauge\ndemo_ok 1")
				return
			}
			fmt.Fprintln(w, "ok")
		})
	})
	waitScraped(t, url, len(proxies))
	return c
}

// TestPrometheusDeviationGuardrail: a deviation guardrail on a Prometheus metric compares
// targets, each against its own baseline, and halts the 200 ms delay on the experimental
// hosts with every member's change as its evidence.
func TestPrometheusDeviationGuardrail(t *testing.T) {
	// Hosts 2 ms apart: a delay added to every scrape is nearly the same ratio on each,
	// so the experimental hosts' changes are tight and a loaded machine's noise in the
	// control hosts does not hide them (10 ms apart, the changes span 2.8x to 6x).
	c := slowScrapeHosts(t, 2*time.Millisecond)
	sp := strings.Replace(promHostsSpec, "baseline: 4s", "abort:\n  - metric: scrape\n    deviation: {relative: 0.5}\nbaseline: 4s", 1)
	sp = strings.Replace(sp, "duration: 8s", "duration: 60s", 1)
	id := submit(t, c.nodes[0].GRPCAddr(), sp)
	// Later looks see more of the fault; a loaded machine may need one.
	run := waitHalted(t, c, id, 90*time.Second, "the deviation guardrail")
	h := run.Halt
	if h.Metric != "scrape" || !strings.HasPrefix(h.Guardrail, "deviation") || !strings.Contains(h.Reason, "4 vs 4 targets") {
		t.Errorf("halt %q by %q, want the deviation guardrail on scrape with 4 vs 4 targets", h.Reason, h.Guardrail)
	}
	members := map[string]murphyv1.Group{}
	for _, id := range run.Groups.Control {
		members[id] = murphyv1.Group_GROUP_CONTROL
	}
	for _, id := range run.Groups.Experiment {
		members[id] = murphyv1.Group_GROUP_EXPERIMENT
	}
	if len(h.Targets) != 8 {
		t.Errorf("evidence of %d targets, want 8", len(h.Targets))
	}
	for _, ts := range h.Targets {
		if g, ok := members[ts.Id]; !ok || g != ts.Group {
			t.Errorf("evidence %v: not a member of its group", ts)
		}
	}
}

// waitScraped waits until Prometheus sees every target up.
func waitScraped(t *testing.T, url string, n int) {
	t.Helper()
	client, err := promsrc.New(promsrc.Config{URL: url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "prometheus scraping every target", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := client.Instant(ctx, `up{job="demo"} == 1`, time.Now())
		return err == nil && len(s) == n
	})
}
