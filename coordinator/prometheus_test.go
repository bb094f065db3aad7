package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	for i := range 3 {
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
	ws := startWorkersOn(t, c, proxies)
	waitScraped(t, url, len(proxies))

	id := submit(t, c.nodes[0].GRPCAddr(), promSpec)
	run := waitPhase(t, c, id, 30*time.Second, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
		t.Fatalf("run ended %v (%s), want halted by the Prometheus guardrail", run.Phase, run.Error)
	}
	h := run.Halt
	t.Logf("halt: %s", h.Reason)
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
