package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

const guardSpec = `apiVersion: murphy/v1
name: guard-test
targets:
  selector: {service: demo}
  experiment: {count: 2}
  control: {count: 2}
  stratify: []
  blastRadius: {maxWorkers: 2, maxPercentPerDatacenter: 100}
hypothesis:
  metrics:
    - name: ok
      source: {probe: {http: {url: "http://{{proxy}}/", interval: 50ms, timeout: 1s}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.05}
  # These tests exercise the fault path with two hosts per group, too few to settle
  # the question; the futility check would otherwise end them before any fault.
  allowUnderpowered: true
abort:
  - metric: ok
    below: 0.9
    for: 500ms
baseline: 1s
steps:
  - fault: %s
    params: {%s}
    duration: 20s
`

// proxyStatus sends one request through a worker's proxy and returns the status code.
func proxyStatus(t *testing.T, w *testWorker) int {
	t.Helper()
	resp, err := http.Get("http://" + w.agent.ProxyAddrs()[0] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestGuardrailHaltsRun drives the error rate past a guardrail with a real fault: the run
// halts on its own with the evidence, and every worker reverts.
func TestGuardrailHaltsRun(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	id := submit(t, c.nodes[0].GRPCAddr(), fmt.Sprintf(guardSpec, "http.abort", "status: 503, percent: 60"))
	run := waitPhase(t, c, id, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
		t.Fatalf("run ended %v, want halted by the guardrail", run.Phase)
	}
	h := run.Halt
	if h.By != "monitor" || h.Metric != "ok" || h.Guardrail != "below 0.9 for 500ms" || h.Threshold != 0.9 || h.FirstBreach == nil || len(h.Values) == 0 {
		t.Fatalf("halt evidence %v", h)
	}
	// The evidence says which experimental worker each sample came from, and when.
	if len(h.Samples) != len(h.Values) {
		t.Fatalf("%d samples with hosts for %d values", len(h.Samples), len(h.Values))
	}
	for i, s := range h.Samples {
		if !slices.Contains(run.Groups.Experiment, s.WorkerId) || s.Value != h.Values[i] || s.At.AsTime().After(h.At.AsTime()) {
			t.Errorf("sample %d %v: want an experimental worker's, value %v, before the halt", i, s, h.Values[i])
		}
	}
	detect := h.At.AsTime().Sub(h.FirstBreach.AsTime())
	t.Logf("halt: %s (first breach to commit %s)", h.Reason, detect)
	// At most one evaluation window past `for`: the mean crosses 0.9 a few samples in.
	if detect < 500*time.Millisecond || detect > 2*time.Second {
		t.Errorf("first breach to halt %s", detect)
	}
	waitUntil(t, 5*time.Second, "every worker's revert recorded", func() bool {
		r := c.run(id)
		return r != nil && len(r.Halt.GetReverts()) == 4
	})
	for _, w := range ws {
		for range 20 {
			if s := proxyStatus(t, w); s != http.StatusOK {
				t.Fatalf("worker %s still aborts (%d) after the halt", w.id, s)
			}
		}
	}
	// The charts' summaries show the breach: the experimental group's intervals between
	// the fault and the halt hold samples, and some fall below the guardrail.
	var sums *murphyv1.RunSummaries
	waitUntil(t, 15*time.Second, "the halted run's final summaries", func() bool {
		sums = c.nodes[c.leader()].FSM().Summaries(id)
		return sums != nil && sums.Final
	})
	from, to := run.Steps[0].StartedAt.AsTime(), h.At.AsTime()
	var all, counted, below int
	for _, iv := range sums.Intervals {
		// Intervals that overlap the fault by at least four probe intervals: one that
		// only grazes the halt may hold no sample, rightly.
		lo, hi := iv.Start.AsTime(), iv.End.AsTime()
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		overlap := hi.Sub(lo)
		if iv.Group != murphyv1.Group_GROUP_EXPERIMENT || iv.Metric != "ok" || overlap < 200*time.Millisecond {
			continue
		}
		all++
		if iv.Count > 0 {
			counted++
			if iv.Mean < 0.9 {
				below++
			}
		}
	}
	if all == 0 || counted < all || below == 0 {
		t.Errorf("the fault's %d intervals up to the halt: %d with samples, %d below the guardrail; want every one on record, and the breach", all, counted, below)
	}
}

// TestHaltCompletedByNextLeader commits a halt and kills the leader at once: the next
// leader delivers it, and every worker's revert is recorded.
func TestHaltCompletedByNextLeader(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	id := submit(t, c.nodes[0].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "60s"))
	waitUntil(t, 10*time.Second, "injections acknowledged", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	l := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[l].GRPCAddr())).Halt(ctx, &murphyv1.HaltRequest{RunId: id, Reason: "failover test"}); err != nil {
		t.Fatal(err)
	}
	c.stop(l)
	waitUntil(t, 20*time.Second, "the next leader records every revert", func() bool {
		r := c.run(id)
		return r != nil && r.Phase == murphyv1.RunPhase_RUN_PHASE_HALTED && len(r.Halt.GetReverts()) == 4
	})
	for _, w := range ws {
		if d := fastestLatency(t, w); d >= 30*time.Millisecond {
			t.Errorf("worker %s still delays (%s)", w.id, d)
		}
	}
}

// TestHaltAllAndResume presses the big red button: active runs halt, workers revert
// everything, new runs are refused with the reason until resume.
func TestHaltAllAndResume(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	id := submit(t, c.nodes[0].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "60s"))
	waitUntil(t, 10*time.Second, "injections acknowledged", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	exp := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[c.follower()].GRPCAddr()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := exp.HaltAll(ctx, &murphyv1.HaltAllRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("halt all without a reason: %v", err)
	}
	resp, err := exp.HaltAll(ctx, &murphyv1.HaltAllRequest{Reason: "incident 42"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.RunIds) != 1 || resp.RunIds[0] != id {
		t.Errorf("halted %v", resp.RunIds)
	}
	waitUntil(t, 5*time.Second, "reverts recorded", func() bool {
		r := c.run(id)
		return r != nil && len(r.Halt.GetReverts()) == 4
	})
	for _, w := range ws {
		if d := fastestLatency(t, w); d >= 30*time.Millisecond {
			t.Errorf("worker %s still delays after halt --all", w.id)
		}
	}
	_, err = exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "1s")})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "incident 42") || !strings.Contains(err.Error(), "murphy resume") {
		t.Fatalf("submit while halted: %v", err)
	}
	if _, err := exp.Resume(ctx, &murphyv1.ResumeRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "1s")}); err != nil {
		t.Fatalf("submit after resume: %v", err)
	}
}

// TestAANoFalseHalt runs an A/A experiment with a deviation guardrail evaluated every
// tick: both groups probe the same service directly, so the fault on the workers' proxies
// (real, 30 ms) cannot reach the metric, and the run must complete, not halt. (A "no-op"
// fault on the probed path is not A/A: even a 1 ns delay parks a goroutine per request,
// which against a sub-millisecond loopback baseline is a real effect the guardrail sees.)
func TestAANoFalseHalt(t *testing.T) {
	c := startCluster(t, 3)
	startWorkers(t, c, 4)
	spec := strings.Replace(fmt.Sprintf(testSpec, "2s", "8s"), "steps:", `abort:
  - metric: latency
    deviation: {relative: 0.5}
steps:`, 1)
	shared := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(shared.Close)
	spec = strings.Replace(spec, "http://{{proxy}}/", shared.URL+"/", 1)
	id := submit(t, c.nodes[0].GRPCAddr(), spec)
	run := waitPhase(t, c, id, 30*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("A/A run ended %v: %s %s", run.Phase, run.Halt.GetReason(), run.Error)
	}
}
