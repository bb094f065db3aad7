package coordinator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// scheduledRuns returns the slots of the runs a schedule fired, as the leader sees them.
func scheduledRuns(c *testCluster) []time.Time {
	for _, s := range c.nodes {
		if s != nil && s.IsLeader() {
			var slots []time.Time
			for _, r := range s.FSM().Runs() {
				if r.ScheduleId != "" {
					slots = append(slots, r.ScheduleSlot.AsTime())
				}
			}
			slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
			return slots
		}
	}
	return nil
}

// TestScheduleFiresOnceAcrossFailover kills the leader right after a schedule fires: the
// next leader neither fires that slot again nor skips the following ones silently.
func TestScheduleFiresOnceAcrossFailover(t *testing.T) {
	c := startCluster(t, 3)
	startWorkers(t, c, 4)
	spec := strings.Replace(fmt.Sprintf(testSpec, "200ms", "500ms"), "steps:", `schedule:
  cron: "*/2 * * * * *"
  optIn: false
  overlap: queue
  maxQueued: 100
steps:`, 1)
	ctx := submitResponse(t, c.nodes[0].GRPCAddr(), spec)
	if ctx.Schedule == nil || ctx.Run != nil {
		t.Fatalf("a spec with a schedule started a run: %v", ctx)
	}
	waitUntil(t, 10*time.Second, "the first firing", func() bool { return len(scheduledRuns(c)) >= 1 })
	old := c.leader()
	c.stop(old)
	waitUntil(t, 20*time.Second, "three more firings under the new leader", func() bool { return len(scheduledRuns(c)) >= 4 })
	slots := scheduledRuns(c)
	for i := 1; i < len(slots); i++ {
		gap := slots[i].Sub(slots[i-1])
		if gap == 0 {
			t.Fatalf("slot %s fired twice", slots[i])
		}
		if gap != 2*time.Second {
			t.Errorf("slots %s and %s are %s apart: a slot was skipped without a record", slots[i-1].Format(time.TimeOnly), slots[i].Format(time.TimeOnly), gap)
		}
	}
	l := c.nodes[c.leader()]
	ss, _ := l.FSM().Schedules()
	if len(ss) != 1 || ss[0].SkippedTotal != 0 || int(ss[0].FiredTotal) != len(scheduledRuns(c)) {
		t.Errorf("schedule record %v vs %d fired runs", ss, len(slots))
	}
}

func submitResponse(t *testing.T, addr, spec string) *murphyv1.SubmitResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := murphyv1.NewExperimentServiceClient(clientConn(t, addr)).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec), Filename: "s.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return resp
}
