package runner

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// A leader that recorded a step's start and died before moving the run into the
// injecting phase left a run in its baseline with a step already started. The next
// leader must carry it on, not retry the start for ever (found by the reliability suite:
// the run stayed in its baseline until the end of the test).
func TestNewLeaderCarriesAStepRecordedByTheOld(t *testing.T) {
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	h := newSchedHarness(t, start, 4)
	doc := `apiVersion: murphy/v1
name: failover
targets: {selector: {service: demo}, experiment: {count: 2}, control: {count: 2}, stratify: [], blastRadius: {maxWorkers: 2, maxPercentPerDatacenter: 100}}
hypothesis:
  metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1:1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.5}}]
  allowUnderpowered: true
baseline: 1s
steps: [{fault: http.delay, params: {delay: 10ms}, duration: 3s}]
`
	sp, err := spec.Parse([]byte(doc), "failover.yaml", spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.apply(&murphyv1.Command{Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "r1", Experiment: "failover", Spec: sp}}})
	h.apply(&murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "r1",
		Groups: &murphyv1.Groups{Experiment: []string{"w1", "w2"}, Control: []string{"w3", "w4"}}, PhaseDeadline: timestamppb.New(start)}}})
	h.apply(&murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "r1", Index: 0, Start: true,
		Fault: &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "10ms"}, Duration: durationpb.New(3 * time.Second)}}}})
	h.newLeader()
	h.run(start.Add(time.Second), false)
	run := h.f.Run("r1")
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING || len(run.Steps) != 1 || !run.Steps[0].StartedAt.AsTime().Equal(start) {
		t.Fatalf("run in %v with %d steps (first started %v): want injecting the step the old leader started at %v", run.Phase, len(run.Steps), run.Steps[0].StartedAt.AsTime(), start)
	}
}
