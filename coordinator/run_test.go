package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/internal/logging"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
)

type testWorker struct {
	agent *worker.Agent
	id    string
	// stop ends this worker alone, as a host that goes away: it reverts its faults on
	// the way out but reports nothing, since its stream is gone.
	stop context.CancelFunc
}

// startWorkers runs n real worker agents, each with a proxy in front of its own
// upstream, connected to the cluster.
func startWorkers(t *testing.T, c *testCluster, n int) []*testWorker {
	t.Helper()
	// Port 0: each proxy binds a port of its own choosing (worker.Agent.ProxyAddrs).
	return startWorkersOn(t, c, slices.Repeat([]string{"127.0.0.1:0"}, n))
}

// startWorkersOn runs one worker per proxy address.
func startWorkersOn(t *testing.T, c *testCluster, proxies []string) []*testWorker {
	t.Helper()
	return startWorkersServing(t, c, proxies, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/metrics" {
				fmt.Fprintln(w, "# TYPE demo_ok gauge\ndemo_ok 1")
				return
			}
			fmt.Fprintln(w, "ok")
		})
	})
}

// startWorkersServing is startWorkersOn with worker i's service answered by upstream(i).
func startWorkersServing(t *testing.T, c *testCluster, proxies []string, upstream func(i int) http.Handler) []*testWorker {
	t.Helper()
	return startWorkersAt(t, c, proxies, upstream, func(int) []string { return c.addrs() })
}

// startWorkersAt is startWorkersServing with worker i given the coordinators coords(i).
func startWorkersAt(t *testing.T, c *testCluster, proxies []string, upstream func(i int) http.Handler, coords func(i int) []string) []*testWorker {
	t.Helper()
	n := len(proxies)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var out []*testWorker
	for i := range n {
		up := httptest.NewServer(upstream(i))
		t.Cleanup(up.Close)
		id := fmt.Sprintf("w%d", i+1)
		// A proxy address given beforehand is the worker's Prometheus instance: scraping
		// through the proxy makes its faults visible to Prometheus.
		proxy := proxies[i]
		labels := map[string]string{"service": "demo", "region": "r1", "datacenter": fmt.Sprintf("dc%d", i%2), "host": id}
		if !strings.HasSuffix(proxy, ":0") {
			labels["instance"] = proxy
		}
		a, err := worker.New(worker.Config{
			ID:           id,
			Labels:       labels,
			Coordinators: coords(i), DialOptions: workerDial(t, id),
			DataDir: t.TempDir(),
			Proxies: []worker.ProxyConfig{{Listen: proxy, Upstream: up.URL}},
			Logger:  logging.Discard(),
			Lease:   3 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		out = append(out, &testWorker{agent: a, id: id, stop: stop})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("worker %s: %v", id, err)
			}
		}()
	}
	// Workers stop before the cluster (cleanups run last-in first-out).
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitUntil(t, 15*time.Second, "workers connected", func() bool {
		l := c.nodes[c.leader()]
		conn := 0
		for _, w := range l.FSM().Workers() {
			if w.State == murphyv1.WorkerState_WORKER_STATE_CONNECTED {
				conn++
			}
		}
		return conn == n
	})
	return out
}

func submit(t *testing.T, addr, spec string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := murphyv1.NewExperimentServiceClient(clientConn(t, addr)).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec), Filename: "t.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return resp.Run.Id
}

// runOn returns the run as the current leader sees it.
func (c *testCluster) run(id string) *murphyv1.Run {
	for _, s := range c.nodes {
		if s != nil && s.IsLeader() {
			return s.FSM().Run(id)
		}
	}
	return nil
}

func waitPhase(t *testing.T, c *testCluster, id string, timeout time.Duration, phases ...murphyv1.RunPhase) *murphyv1.Run {
	t.Helper()
	var run *murphyv1.Run
	waitUntil(t, timeout, fmt.Sprintf("run %s in %v", id, phases), func() bool {
		run = c.run(id)
		if run == nil {
			return false
		}
		for _, p := range phases {
			if run.Phase == p {
				return true
			}
		}
		return false
	})
	return run
}

// proxyLatency times one request through a worker's proxy.
func proxyLatency(t *testing.T, w *testWorker) time.Duration {
	t.Helper()
	start := time.Now()
	resp, err := http.Get("http://" + w.agent.ProxyAddrs()[0] + "/")
	if err != nil {
		t.Fatalf("request through %s's proxy: %v", w.id, err)
	}
	resp.Body.Close()
	return time.Since(start)
}

// fastestLatency is the quickest of a few requests through a worker's proxy. A delay
// fault slows every request, so the quickest under its delay shows the proxy unfaulted,
// where one request can be slowed by a loaded machine alone.
func fastestLatency(t *testing.T, w *testWorker) time.Duration {
	t.Helper()
	best := proxyLatency(t, w)
	for range 4 {
		best = min(best, proxyLatency(t, w))
	}
	return best
}

func TestRunEndToEnd(t *testing.T) {
	c := startCluster(t, 3)
	// The service takes 5 ms, so the fault's 30 ms makes every host about 7x slower. With
	// an instant service the hosts' changes were 40x to 70x, depending on each host's
	// sub-millisecond baseline on a loaded machine, and two hosts per group (a Welch
	// interval on about one degree of freedom) could not settle a spread like that.
	ws := startWorkersServing(t, c, slices.Repeat([]string{"127.0.0.1:0"}, 4), func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(5 * time.Millisecond)
			fmt.Fprintln(w, "ok")
		})
	})
	// A 2 s baseline: with two hosts per group, one host's warm-up in a 1 s baseline can
	// leave the hosts' changes too far apart to decide.
	id := submit(t, c.nodes[c.follower()].GRPCAddr(), fmt.Sprintf(testSpec, "2s", "3s"))

	// Watch through a follower: the stream is relayed from the leader, live progress
	// included.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	stream, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[c.follower()].GRPCAddr())).Watch(wctx, &murphyv1.WatchRequest{RunId: id})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if resp.Run.Phase == murphyv1.RunPhase_RUN_PHASE_INJECTING {
			if len(resp.Progress) != 1 || resp.Progress[0].Control == 0 || resp.Progress[0].Experiment == 0 {
				t.Fatalf("watch while injecting has no live progress: %v", resp.Progress)
			}
			break
		}
	}
	wcancel()

	run := waitPhase(t, c, id, 10*time.Second, murphyv1.RunPhase_RUN_PHASE_INJECTING)
	if len(run.Groups.Experiment) != 2 || len(run.Groups.Control) != 2 {
		t.Fatalf("groups %v", run.Groups)
	}
	// While injecting, experimental proxies delay and control proxies do not.
	waitUntil(t, 5*time.Second, "both injections acknowledged", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	byID := map[string]*testWorker{}
	for _, w := range ws {
		byID[w.id] = w
	}
	if d := proxyLatency(t, byID[run.Groups.Experiment[0]]); d < 30*time.Millisecond {
		t.Errorf("experimental proxy answered in %s during a 30ms delay", d)
	}
	if d := fastestLatency(t, byID[run.Groups.Control[0]]); d >= 30*time.Millisecond {
		t.Errorf("control proxy answered in %s: the fault leaked into the control group", d)
	}

	run = waitPhase(t, c, id, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	v := run.Verdict
	if v.Outcome != murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED || v.Metrics[0].Outcome != murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
		t.Fatalf("verdict %v", v)
	}
	if m := v.Metrics[0]; m.NControl < 50 || m.NExperiment < 50 || m.ExperimentMedian < 0.03 {
		t.Errorf("verdict not from real samples: %v", m)
	}
	// Reverted: the experimental proxy is fast again.
	if d := fastestLatency(t, byID[run.Groups.Experiment[0]]); d >= 30*time.Millisecond {
		t.Errorf("experimental proxy still slow (%s) after the run", d)
	}
}

// TestRunSurvivesLeaderStop stops the leader while faults are active: the new leader must
// carry the run to a verdict that counts the samples taken before the failover, and
// leave no fault behind.
func TestRunSurvivesLeaderStop(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	const step = 4 * time.Second
	id := submit(t, c.nodes[0].GRPCAddr(), fmt.Sprintf(testSpec, "1s", step))
	waitUntil(t, 10*time.Second, "injections acknowledged", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	time.Sleep(step / 2) // let samples accumulate on the old leader only
	old := c.leader()
	c.stop(old)

	run := waitPhase(t, c, id, 30*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_HALTED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	m := run.Verdict.Metrics[0]
	// 2 workers probing every 50ms for the whole step: ~160 per group. Without the
	// workers' replay the new leader would have at most what followed the election,
	// under half; a loaded machine probes late but keeps the first half (the sweep at
	// load 8 measured 95-108, 59-68%), so half tells the two apart.
	wantMin := int64(0.5 * float64(2*step/(50*time.Millisecond)))
	if m.NExperiment < wantMin || m.NControl < wantMin {
		t.Errorf("samples control %d experiment %d, want at least %d each: samples from before the failover were lost", m.NControl, m.NExperiment, wantMin)
	}
	// A worker that was reconnecting when the step ended gets its revert from the new
	// leader's reconciliation, or reverts at its own deadline (step end + 2 s grace).
	for _, w := range ws {
		waitUntil(t, 5*time.Second, "worker "+w.id+" reverted", func() bool { return proxyLatency(t, w) < 30*time.Millisecond })
	}
}

// TestHaltRevertsEverywhere halts a run mid-fault and checks every worker reverted and
// acknowledged.
func TestHaltRevertsEverywhere(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	id := submit(t, c.nodes[0].GRPCAddr(), fmt.Sprintf(testSpec, "500ms", "30s"))
	waitUntil(t, 10*time.Second, "injections acknowledged", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[c.follower()].GRPCAddr())).Halt(ctx, &murphyv1.HaltRequest{RunId: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "every worker's revert recorded", func() bool {
		r := c.run(id)
		return r != nil && len(r.Halt.GetReverts()) == 4
	})
	r := c.run(id)
	for _, rv := range r.Halt.Reverts {
		t.Logf("%s reverted %s after the halt (%s)", rv.WorkerId, rv.At.AsTime().Sub(r.Halt.At.AsTime()).Round(time.Microsecond), rv.Cause)
	}
	t.Logf("halt to all acks recorded: %s", time.Since(start))
	for _, w := range ws {
		if d := fastestLatency(t, w); d >= 30*time.Millisecond {
			t.Errorf("worker %s still delays (%s) after the halt", w.id, d)
		}
	}
}
