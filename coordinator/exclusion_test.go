package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestRunsNeverOverlap submits two runs that need the same workers: with onConflict:
// refuse the second fails at once naming the first; with the default (queue) it waits and
// starts once the first has finished.
func TestRunsNeverOverlap(t *testing.T) {
	c := startCluster(t, 3)
	startWorkers(t, c, 4)
	addr := c.nodes[0].GRPCAddr()
	first := submit(t, addr, fmt.Sprintf(testSpec, "500ms", "2s"))
	waitPhase(t, c, first, 10*time.Second, murphyv1.RunPhase_RUN_PHASE_BASELINE, murphyv1.RunPhase_RUN_PHASE_INJECTING)

	refuse := strings.Replace(fmt.Sprintf(testSpec, "500ms", "2s"), "  stratify: []", "  stratify: []\n  onConflict: refuse", 1)
	refused := submit(t, addr, refuse)
	r := waitPhase(t, c, refused, 10*time.Second, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_BASELINE)
	if r.Phase != murphyv1.RunPhase_RUN_PHASE_FAILED || !strings.Contains(r.Error, "busy in "+first) || !strings.Contains(r.Error, "onConflict is refuse") {
		t.Fatalf("refusing run: %v %q", r.Phase, r.Error)
	}

	queued := submit(t, addr, fmt.Sprintf(testSpec, "500ms", "2s"))
	time.Sleep(500 * time.Millisecond)
	if q := c.run(queued); q.Phase != murphyv1.RunPhase_RUN_PHASE_PENDING {
		t.Fatalf("queued run is %v while the first holds its workers", q.Phase)
	}
	done := waitPhase(t, c, first, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED)
	q := waitPhase(t, c, queued, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_BASELINE, murphyv1.RunPhase_RUN_PHASE_INJECTING, murphyv1.RunPhase_RUN_PHASE_COMPLETED)
	if !q.CreatedAt.AsTime().Before(done.EndedAt.AsTime()) {
		t.Errorf("the queued run was created after the first ended; the test did not queue")
	}
}

// TestQueueWhenBusyBreachesBlastRadius: when another run holds some workers, the free
// ones alone may not satisfy the blast radius (one experimental worker would be all of
// its data centre's free workers) although the whole selection does; that is a conflict,
// so the run queues instead of failing.
func TestQueueWhenBusyBreachesBlastRadius(t *testing.T) {
	c := startCluster(t, 3)
	startWorkers(t, c, 4) // dc0 and dc1, two workers each
	addr := c.nodes[0].GRPCAddr()
	one := strings.NewReplacer("count: 2", "count: 1", "maxPercentPerDatacenter: 100", "maxPercentPerDatacenter: 50").Replace(fmt.Sprintf(testSpec, "500ms", "2s"))
	// The first run holds one worker of each data centre (w1 in dc0, w2 in dc1), so the
	// free ones are one per data centre: 100% of a data centre's free workers.
	pinned := strings.NewReplacer("selector: {service: demo}", `selector: "service=demo, host in (w1,w2)"`,
		"maxPercentPerDatacenter: 50", "maxPercentPerDatacenter: 100").Replace(one)
	first := submit(t, addr, pinned)
	waitPhase(t, c, first, 10*time.Second, murphyv1.RunPhase_RUN_PHASE_BASELINE, murphyv1.RunPhase_RUN_PHASE_INJECTING)
	queued := submit(t, addr, one)
	time.Sleep(500 * time.Millisecond)
	if q := c.run(queued); q.Phase != murphyv1.RunPhase_RUN_PHASE_PENDING {
		t.Fatalf("second run is %v (%q) while the first holds half the workers; want it queued", q.Phase, q.Error)
	}
	waitPhase(t, c, first, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED)
	q := waitPhase(t, c, queued, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_BASELINE, murphyv1.RunPhase_RUN_PHASE_INJECTING, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED)
	if q.Phase == murphyv1.RunPhase_RUN_PHASE_FAILED {
		t.Fatalf("queued run failed: %s", q.Error)
	}
}

// TestSubmitRefusesBlastRadius: a plan that would exceed the blast radius on the connected
// workers is refused at submission with the exact reason, and nothing is committed.
func TestSubmitRefusesBlastRadius(t *testing.T) {
	c := startCluster(t, 3)
	startWorkers(t, c, 4)
	before := c.nodes[c.leader()].FSM().AppliedIndex()
	spec := strings.Replace(fmt.Sprintf(testSpec, "1s", "1s"), "maxPercentPerDatacenter: 100", "maxPercentPerDatacenter: 25", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[0].GRPCAddr())).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec), Filename: "br.yaml"})
	want := "br.yaml: scheduler: cannot form groups: the experimental group takes 1 of 2 workers (50%) in datacenter dc0, above blastRadius.maxPercentPerDatacenter 25%"
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if after := c.nodes[c.leader()].FSM().AppliedIndex(); after != before {
		t.Errorf("applied index moved %d -> %d", before, after)
	}
}

// TestStepPlacement places a step on one data centre: only the experimental workers there
// get the fault, the others are observed untouched.
func TestStepPlacement(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	spec := strings.Replace(fmt.Sprintf(testSpec, "500ms", "3s"), "  stratify: []", "  stratify: [datacenter]", 1)
	spec = strings.Replace(spec, "    params: {delay: 30ms}", "    params: {delay: 30ms}\n    where: {datacenter: dc0}", 1)
	id := submit(t, c.nodes[0].GRPCAddr(), spec)
	waitUntil(t, 10*time.Second, "the placed step injected", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 1
	})
	run := c.run(id)
	byID := map[string]*testWorker{}
	for _, w := range ws {
		byID[w.id] = w
	}
	for _, wid := range run.Groups.Experiment {
		dc := c.nodes[c.leader()].FSM().Worker(wid).Labels["datacenter"]
		d := proxyLatency(t, byID[wid])
		if (dc == "dc0") != (d >= 30*time.Millisecond) {
			t.Errorf("experimental worker %s in %s answered in %s", wid, dc, d)
		}
	}
	if got := run.Steps[0].Injected; len(got) != 1 || c.nodes[c.leader()].FSM().Worker(got[0]).Labels["datacenter"] != "dc0" {
		t.Errorf("injected on %v", got)
	}
}

// TestParallelSteps runs two steps at once on different data centres, each ending at its
// own time: a delay in dc0 for 3 s beside an abort in dc1 for 1.5 s.
func TestParallelSteps(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	spec := strings.Replace(fmt.Sprintf(testSpec, "500ms", "3s"), "  stratify: []", "  stratify: [datacenter]", 1)
	spec = strings.Replace(spec, "    params: {delay: 30ms}", "    params: {delay: 30ms}\n    where: {datacenter: dc0}", 1)
	spec += `  - fault: http.abort
    params: {status: 503}
    duration: 1500ms
    where: {datacenter: dc1}
    parallel: true
`
	id := submit(t, c.nodes[0].GRPCAddr(), spec)
	waitUntil(t, 10*time.Second, "both steps injected", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 2 && len(r.Steps[0].Injected) == 1 && len(r.Steps[1].Injected) == 1
	})
	run := c.run(id)
	byID := map[string]*testWorker{}
	for _, w := range ws {
		byID[w.id] = w
	}
	for _, wid := range run.Groups.Experiment {
		switch c.nodes[c.leader()].FSM().Worker(wid).Labels["datacenter"] {
		case "dc0":
			if d := proxyLatency(t, byID[wid]); d < 30*time.Millisecond {
				t.Errorf("dc0 worker %s answered in %s during its delay", wid, d)
			}
		case "dc1":
			if s := proxyStatus(t, byID[wid]); s != 503 {
				t.Errorf("dc1 worker %s answered %d during its abort", wid, s)
			}
		}
	}
	run = waitPhase(t, c, id, 20*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_COMPLETED {
		t.Fatalf("run ended %v: %s", run.Phase, run.Error)
	}
	s0, s1 := run.Steps[0], run.Steps[1]
	if gap := s1.StartedAt.AsTime().Sub(s0.StartedAt.AsTime()); gap > 500*time.Millisecond {
		t.Errorf("the parallel step started %s after the first", gap)
	}
	if !s1.EndedAt.AsTime().Before(s0.EndedAt.AsTime()) {
		t.Errorf("the 1.5 s step ended at %s, not before the 3 s step (%s)", s1.EndedAt.AsTime(), s0.EndedAt.AsTime())
	}
}
