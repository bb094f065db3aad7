package coordinator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/coordinator/spec/chaostoolkit"
	"github.com/murphy-chaos/murphy/internal/logging"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// ctkExperiment has http and process probes, an http action and a process action in the
// method, and an http and a process rollback. Three http probes have jsonpath
// tolerances on what the workers' upstream answers (see startPolicyWorkers): one needs a
// header, one sends a JSON body that is echoed back, and one can never hold. %s is the
// address of a server that counts the calls.
const ctkExperiment = `{
  "title": "Demo keeps answering",
  "description": "The demo service answers while an admin endpoint is called.",
  "configuration": {"admin": "http://%s"},
  "extensions": [{"name": "murphy", "selector": {"service": "demo"}, "experiment": {"count": 2}, "baseline": "2s", "hold": "2s"}],
  "steady-state-hypothesis": {"title": "answers", "probes": [
    {"type": "probe", "name": "demo-answers", "tolerance": 200, "provider": {"type": "http", "url": "http://{{proxy}}/"}},
    {"type": "probe", "name": "true-exits-0", "tolerance": 0, "provider": {"type": "process", "path": "true"}},
    {"type": "probe", "name": "demo-healthy", "tolerance": {"type": "jsonpath", "path": "$.deps[?@.up == true].name", "expect": "db", "target": "body"},
     "provider": {"type": "http", "url": "http://{{proxy}}/health", "headers": {"X-Probe": "murphy"}}},
    {"type": "probe", "name": "demo-echoes", "tolerance": {"type": "jsonpath", "path": "$.got.sku", "expect": ["A-1"], "target": "body"},
     "provider": {"type": "http", "url": "http://{{proxy}}/echo", "method": "POST", "headers": {"Content-Type": "application/json"}, "arguments": {"sku": "A-1"}}},
    {"type": "probe", "name": "demo-degraded", "tolerance": {"type": "jsonpath", "path": "$.status", "expect": "degraded", "target": "body"},
     "provider": {"type": "http", "url": "http://{{proxy}}/health", "headers": {"X-Probe": "murphy"}}}
  ]},
  "method": [
    {"type": "action", "name": "poke-admin", "provider": {"type": "http", "url": "${admin}/poke", "method": "POST"}},
    {"type": "action", "name": "run-true", "provider": {"type": "process", "path": "true"}, "pauses": {"after": 2}}
  ],
  "rollbacks": [
    {"type": "action", "name": "undo-admin", "provider": {"type": "http", "url": "${admin}/undo"}},
    {"type": "action", "name": "true-again", "provider": {"type": "process", "path": "true"}}
  ]
}`

// startPolicyWorkers runs n workers allowed the kinds a converted experiment uses.
func startPolicyWorkers(t *testing.T, c *testCluster, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/health":
				if r.Header.Get("X-Probe") != "murphy" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintln(w, `{"status": "ok", "deps": [{"name": "db", "up": true}, {"name": "cache", "up": false}]}`)
			case "/echo":
				var got any
				if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&got) != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				json.NewEncoder(w).Encode(map[string]any{"got": got})
			default:
				fmt.Fprintln(w, "ok")
			}
		}))
		t.Cleanup(up.Close)
		id := fmt.Sprintf("w%d", i+1)
		a, err := worker.New(worker.Config{
			ID:           id,
			Labels:       map[string]string{"service": "demo", "region": "r1", "datacenter": fmt.Sprintf("dc%d", i%2), "host": id},
			Coordinators: c.addrs(), DialOptions: workerDial(t, id),
			DataDir: t.TempDir(),
			Proxies: []worker.ProxyConfig{{Listen: "127.0.0.1:0", Upstream: up.URL}},
			Logger:  logging.Discard(),
			Lease:   3 * time.Second,
			Policy:  fault.Policy{Allowed: []string{"exec", "http.call", "http.delay"}, MaxDuration: time.Hour},
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("worker %s: %v", id, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitUntil(t, 15*time.Second, "workers connected", func() bool {
		conn := 0
		for _, w := range c.nodes[c.leader()].FSM().Workers() {
			if w.State == murphyv1.WorkerState_WORKER_STATE_CONNECTED {
				conn++
			}
		}
		return conn == n
	})
}

// TestChaosToolkitRun converts a Chaos Toolkit experiment and runs it on a real cluster:
// the probes run in both groups (the jsonpath tolerances evaluated on the bodies the
// workers' upstream answers), the method on the experimental group, its background
// action beside the next one, the verdict holds both the statistics and the Chaos
// Toolkit tolerances, and the rollbacks run on every experimental worker after the run.
func TestChaosToolkitRun(t *testing.T) {
	var pokes, undos atomic.Int32
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/poke" && r.Method == http.MethodPost:
			pokes.Add(1)
		case r.URL.Path == "/undo":
			undos.Add(1)
		}
	}))
	defer admin.Close()

	doc := strings.Replace(fmt.Sprintf(ctkExperiment, strings.TrimPrefix(admin.URL, "http://")),
		`"name": "poke-admin",`, `"name": "poke-admin", "background": true,`, 1)
	res, err := chaostoolkit.Convert([]byte(doc), "ctk.json", chaostoolkit.Options{Spec: specOptions()})
	if err != nil {
		t.Fatal(err)
	}
	converted, err := res.Render("yaml")
	if err != nil {
		t.Fatal(err)
	}

	c := startCluster(t, 3)
	startPolicyWorkers(t, c, 4)
	id := submit(t, c.nodes[c.follower()].GRPCAddr(), string(converted))
	run := waitPhase(t, c, id, 40*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	if got := pokes.Load(); got != 2 {
		t.Errorf("the http action reached the admin server %d times, want once per experimental worker (2)", got)
	}
	if len(run.Steps) != 2 || !run.Steps[1].GetStartedAt().IsValid() {
		t.Fatalf("steps %v", run.Steps)
	}
	if gap := run.Steps[1].StartedAt.AsTime().Sub(run.Steps[0].StartedAt.AsTime()); gap > 500*time.Millisecond {
		t.Errorf("the step after the background action started %s after it; want them together", gap)
	}
	v := run.Verdict
	if v.Outcome == murphyv1.VerdictOutcome_VERDICT_OUTCOME_UNSPECIFIED || len(v.Metrics) != 5 {
		t.Fatalf("verdict %v", v)
	}
	for _, m := range v.Metrics {
		tc := m.CtkTolerance
		if tc == nil {
			t.Fatalf("metric %s has no Chaos Toolkit tolerance result", m.Name)
		}
		if m.NControl == 0 || m.NExperiment == 0 || tc.ControlTotal == 0 || tc.ExperimentTotal == 0 || tc.BaselineTotal == 0 {
			t.Errorf("metric %s: statistics n=%d/%d, tolerance checked on %d/%d samples, baseline %d", m.Name, m.NControl, m.NExperiment, tc.ControlTotal, tc.ExperimentTotal, tc.BaselineTotal)
		}
		if m.Name == "demo-degraded" {
			// The service answers "ok", so a jsonpath that expects "degraded" must fail on
			// every sample: the tolerance is evaluated, not stood in for by the status.
			if tc.MetBefore || tc.MetAfter || tc.BaselineMet != 0 || tc.ControlMet != 0 || tc.ExperimentMet != 0 {
				t.Errorf("metric %s: tolerance %s met on a body that does not satisfy it: %v", m.Name, tc.Tolerance, tc)
			}
			continue
		}
		if !tc.MetBefore || !tc.MetAfter || tc.ExperimentMet != tc.ExperimentTotal {
			t.Errorf("metric %s: tolerance %s not met on a healthy service: %v", m.Name, tc.Tolerance, tc)
		}
	}
	// Generous: a CI run on a machine also building Kubernetes took longer than 15 s.
	waitUntil(t, 30*time.Second, "rollbacks recorded", func() bool {
		r := c.run(id)
		return r != nil && len(r.Rollbacks) == 4
	})
	for _, rb := range c.run(id).Rollbacks {
		if !rb.Ok {
			t.Errorf("rollback %d on %s failed: %s", rb.Index, rb.WorkerId, rb.Error)
		}
	}
	if got := undos.Load(); got != 2 {
		t.Errorf("the http rollback reached the admin server %d times, want 2", got)
	}
}

// TestChaosToolkitRollbacksAfterHalt halts a converted run mid-step: its rollbacks still
// run, after the workers acknowledged the halt.
func TestChaosToolkitRollbacksAfterHalt(t *testing.T) {
	var undos atomic.Int32
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/undo" {
			undos.Add(1)
		}
	}))
	defer admin.Close()
	doc := strings.Replace(fmt.Sprintf(ctkExperiment, strings.TrimPrefix(admin.URL, "http://")), `"after": 2`, `"after": 60`, 1)
	res, err := chaostoolkit.Convert([]byte(doc), "ctk.json", chaostoolkit.Options{Spec: specOptions()})
	if err != nil {
		t.Fatal(err)
	}
	converted, _ := res.Render("json")
	c := startCluster(t, 3)
	startPolicyWorkers(t, c, 4)
	id := submit(t, c.nodes[c.leader()].GRPCAddr(), string(converted))
	waitUntil(t, 20*time.Second, "second step injecting", func() bool {
		r := c.run(id)
		return r != nil && r.Phase == murphyv1.RunPhase_RUN_PHASE_INJECTING && r.StepIndex == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[c.leader()].GRPCAddr())).Halt(ctx, &murphyv1.HaltRequest{RunId: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "rollbacks recorded after the halt", func() bool {
		r := c.run(id)
		return r != nil && len(r.Rollbacks) == 4
	})
	r := c.run(id)
	if r.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
		t.Fatalf("phase %v", r.Phase)
	}
	acked := map[string]time.Time{}
	for _, rv := range r.Halt.Reverts {
		acked[rv.WorkerId] = rv.At.AsTime()
	}
	for _, rb := range r.Rollbacks {
		if at, ok := acked[rb.WorkerId]; !ok || rb.At.AsTime().Before(at) {
			t.Errorf("rollback on %s at %v came before its halt revert (%v)", rb.WorkerId, rb.At.AsTime(), at)
		}
	}
	if got := undos.Load(); got != 2 {
		t.Errorf("the http rollback ran %d times, want 2", got)
	}
}

func specOptions() spec.Options {
	return coordinator.CatalogueSpecOptions()
}

// TestChaosToolkitRunWithoutHypothesis runs a converted experiment that has no
// steady-state hypothesis, which chaoslib accepts: its method and rollbacks run on the
// experimental group, the run completes, and its verdict says there was nothing to judge.
func TestChaosToolkitRunWithoutHypothesis(t *testing.T) {
	var pokes, undos atomic.Int32
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/poke":
			pokes.Add(1)
		case "/undo":
			undos.Add(1)
		}
	}))
	defer admin.Close()
	doc := fmt.Sprintf(`{"title": "Poke without a hypothesis", "configuration": {"admin": "%s"},
  "extensions": [{"name": "murphy", "selector": {"service": "demo"}, "experiment": {"count": 2}, "baseline": "1s", "hold": "1s"}],
  "method": [{"type": "action", "name": "poke", "provider": {"type": "http", "url": "${admin}/poke", "method": "POST"}}],
  "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "http", "url": "${admin}/undo"}}]}`, admin.URL)
	res, err := chaostoolkit.Convert([]byte(doc), "ctk.json", chaostoolkit.Options{Spec: specOptions()})
	if err != nil {
		t.Fatal(err)
	}
	converted, _ := res.Render("yaml")
	c := startCluster(t, 3)
	startPolicyWorkers(t, c, 4)
	id := submit(t, c.nodes[c.leader()].GRPCAddr(), string(converted))
	run := waitPhase(t, c, id, 40*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	if v := run.Verdict; v.GetOutcome() != murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE || v.GetReason() != runner.NothingToJudge || len(v.GetMetrics()) != 0 {
		t.Errorf("verdict %v; want inconclusive, nothing to judge", v)
	}
	if got := pokes.Load(); got != 2 {
		t.Errorf("the action reached the admin server %d times, want once per experimental worker (2)", got)
	}
	waitUntil(t, 30*time.Second, "rollbacks recorded", func() bool {
		r := c.run(id)
		return r != nil && len(r.Rollbacks) == 2
	})
	if got := undos.Load(); got != 2 {
		t.Errorf("the rollback reached the admin server %d times, want 2", got)
	}
}

// TestChaosToolkitPrometheus runs a converted experiment whose steady state is a
// chaosprometheus query, against a real Prometheus scraping a service's error gauge:
// the count query is evaluated by the leader, and the Chaos Toolkit tolerance (no series
// above 0) holds over the baseline and breaks once the method makes the service report
// errors.
func TestChaosToolkitPrometheus(t *testing.T) {
	var errorsNow atomic.Int32
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE demo_errors gauge\ndemo_errors %d\n", errorsNow.Load())
	}))
	defer service.Close()
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/break":
			errorsNow.Store(1)
		case "/mend":
			errorsNow.Store(0)
		}
	}))
	defer admin.Close()
	url := startPrometheus(t, []string{strings.TrimPrefix(service.URL, "http://")})
	waitScraped(t, url, 1)

	doc := fmt.Sprintf(`{"title": "Errors stay at zero", "configuration": {"admin": "%s", "prometheus_base_url": "%s"},
  "extensions": [{"name": "murphy", "selector": {"service": "demo"}, "experiment": {"count": 2}, "baseline": "4s", "hold": "4s"}],
  "steady-state-hypothesis": {"title": "no errors", "probes": [
    {"type": "probe", "name": "no-errors", "tolerance": {"type": "jsonpath", "path": "$.data.result[?(@.value[1] != \"0\")]", "count": 0},
     "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query", "arguments": {"query": "demo_errors{job=\"demo\"}"}}}]},
  "method": [{"type": "action", "name": "break", "provider": {"type": "http", "url": "${admin}/break", "method": "POST"}}],
  "rollbacks": [{"type": "action", "name": "mend", "provider": {"type": "http", "url": "${admin}/mend"}}]}`, admin.URL, url)
	res, err := chaostoolkit.Convert([]byte(doc), "ctk.json", chaostoolkit.Options{Spec: specOptions()})
	if err != nil {
		t.Fatal(err)
	}
	converted, _ := res.Render("yaml")
	c := promCluster(t, url, 3)
	startPolicyWorkers(t, c, 4)
	id := submit(t, c.nodes[c.leader()].GRPCAddr(), string(converted))
	run := waitPhase(t, c, id, 60*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	ms := run.GetVerdict().GetMetrics()
	if len(ms) != 1 || ms[0].CtkTolerance == nil {
		t.Fatalf("verdict %v", run.Verdict)
	}
	tc := ms[0].CtkTolerance
	t.Logf("tolerance %s: %v", tc.Tolerance, tc)
	if tc.BaselineTotal == 0 || !tc.MetBefore {
		t.Errorf("before the method: %d of %d baseline samples met; want all of at least one", tc.BaselineMet, tc.BaselineTotal)
	}
	if tc.ExperimentTotal == 0 || tc.MetAfter || tc.ExperimentMet == tc.ExperimentTotal {
		t.Errorf("after the method broke the service: %d of %d samples met; want some not met", tc.ExperimentMet, tc.ExperimentTotal)
	}
}
