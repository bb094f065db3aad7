package coordinator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// submitResponse submits a spec; a schedule is created with --force, since the tests
// that use it are not about whether the fleet can run it.
func submitResponse(t *testing.T, addr, spec string) *murphyv1.SubmitResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := murphyv1.NewExperimentServiceClient(clientConn(t, addr)).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec), Filename: "s.yaml", Force: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return resp
}

// TestScheduleSubmission covers creation through the API: a schedule its opted-in pool
// cannot run is refused unless forced (defect 5 of issue 15); submitting a spec whose
// schedule name exists updates that schedule in place, --new adds another (defect 6);
// lifting a halt leaves schedules paused until they are resumed on their own.
func TestScheduleSubmission(t *testing.T) {
	c := startCluster(t, 3)
	startWorkers(t, c, 4) // none carries murphy.io/chaos=enabled
	exp := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[c.follower()].GRPCAddr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	withSchedule := func(name, sched string) []byte {
		s := strings.Replace(fmt.Sprintf(testSpec, "1s", "1s"), "name: cluster-test", "name: "+name, 1)
		return []byte(strings.Replace(s, "steps:", "schedule: "+sched+"\nsteps:", 1))
	}

	optedIn := withSchedule("opted", `{cron: "0 3 * * *"}`)
	_, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: optedIn, Filename: "s.yaml"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "cannot form its groups") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a schedule no opted-in worker can run: %v", err)
	}
	forced, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: optedIn, Filename: "s.yaml", Force: true})
	if err != nil || forced.Schedule == nil || !strings.Contains(strings.Join(forced.Warnings, "\n"), "cannot form its groups") {
		t.Fatalf("forced: %v %v", err, forced)
	}

	first, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: withSchedule("nightly", `{cron: "0 3 * * *", optIn: false}`), Filename: "s.yaml"})
	if err != nil || first.Updated {
		t.Fatalf("create: %v %v", err, first)
	}
	again, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: withSchedule("nightly", `{cron: "0 4 * * *", optIn: false}`), Filename: "s.yaml"})
	if err != nil || !again.Updated || again.Schedule.Id != first.Schedule.Id || again.Schedule.SpecDigest == first.Schedule.SpecDigest ||
		again.Schedule.NextAt.AsTime().UTC().Hour() != 4 || again.Schedule.CreatedAt.AsTime() != first.Schedule.CreatedAt.AsTime() {
		t.Fatalf("resubmitted: %v %v\nfirst %v", err, again, first)
	}
	beside, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: withSchedule("nightly", `{cron: "0 5 * * *", optIn: false}`), Filename: "s.yaml", NewSchedule: true})
	if err != nil || beside.Updated || beside.Schedule.Id == first.Schedule.Id {
		t.Fatalf("--new: %v %v", err, beside)
	}
	if _, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: withSchedule("nightly", `{cron: "0 6 * * *", optIn: false}`), Filename: "s.yaml"}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "2 schedules are named nightly") {
		t.Fatalf("ambiguous update: %v", err)
	}
	list, err := exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
	if err != nil || len(list.Schedules) != 3 {
		t.Fatalf("schedules: %v %v", err, list)
	}

	if _, err := exp.HaltAll(ctx, &murphyv1.HaltAllRequest{Reason: "drill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := exp.ResumeSchedules(ctx, &murphyv1.ResumeSchedulesRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("resume schedules while halted: %v", err)
	}
	if _, err := exp.Resume(ctx, &murphyv1.ResumeRequest{}); err != nil {
		t.Fatal(err)
	}
	if list, _ := exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{}); !list.GetPaused() {
		t.Fatal("lifting the halt resumed the schedules")
	}
	if _, err := exp.ResumeSchedules(ctx, &murphyv1.ResumeSchedulesRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := exp.PauseSchedules(ctx, &murphyv1.PauseSchedulesRequest{ScheduleId: first.Schedule.Id}); err != nil {
		t.Fatal(err)
	}
	list, _ = exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{})
	for _, s := range list.GetSchedules() {
		if list.Paused || s.Paused != (s.Id == first.Schedule.Id) {
			t.Errorf("after pausing %s alone: cluster-wide %v, %s paused %v", first.Schedule.Id, list.Paused, s.Id, s.Paused)
		}
	}
}
