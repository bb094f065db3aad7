package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestAuditTrail drives every audited call through a follower and reads the trail back
// through another node: each entry names the caller, the address it called from, the
// time and, for a submission, the spec's digest; every node holds the same trail.
func TestAuditTrail(t *testing.T) {
	c := startCluster(t, 3)
	f := c.follower()
	conn := clientConn(t, c.nodes[f].GRPCAddr())
	exp := murphyv1.NewExperimentServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()

	spec := fmt.Appendf(nil, testSpec, "1s", "2s")
	val, err := exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: spec, Filename: "t.yaml"})
	if err != nil || !val.Valid {
		t.Fatalf("validate: %v %v", err, val.GetProblems())
	}
	run, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: spec, Filename: "t.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Halt(ctx, &murphyv1.HaltRequest{RunId: run.Run.Id, Reason: "audit test"}); err != nil {
		t.Fatal(err)
	}
	sched := strings.Replace(string(spec), "steps:", "schedule:\n  cron: \"0 3 1 1 *\"\n  optIn: false\nsteps:", 1)
	// No worker has joined: creating the schedule needs --force.
	sr, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(sched), Filename: "s.yaml", Force: true})
	if err != nil || sr.Schedule == nil {
		t.Fatalf("schedule: %v %v", err, sr)
	}
	calls := []func() error{
		func() error { _, err := exp.PauseSchedules(ctx, &murphyv1.PauseSchedulesRequest{}); return err },
		func() error {
			_, err := exp.DeleteSchedule(ctx, &murphyv1.DeleteScheduleRequest{ScheduleId: sr.Schedule.Id})
			return err
		},
		func() error { _, err := exp.HaltAll(ctx, &murphyv1.HaltAllRequest{Reason: "drill"}); return err },
		func() error { _, err := exp.Resume(ctx, &murphyv1.ResumeRequest{}); return err },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// A refused call leaves no entry.
	if _, err := exp.Halt(ctx, &murphyv1.HaltRequest{RunId: run.Run.Id, Reason: "twice"}); err == nil {
		t.Fatal("second halt accepted")
	}

	// Read through another follower (forwarded to the leader), in pages of two.
	other := c.nodes[3-f-c.leader()]
	cl := murphyv1.NewClusterServiceClient(clientConn(t, other.GRPCAddr()))
	var got []*murphyv1.AuditEntry
	req := &murphyv1.ListAuditRequest{Since: timestamppb.New(start.Add(-time.Second)), Limit: 2}
	for {
		resp, err := cl.ListAudit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.Entries...)
		if !resp.More {
			break
		}
		req.AfterIndex = resp.Entries[len(resp.Entries)-1].Index
	}
	var actions []string
	for _, e := range got {
		if e.Action == fsm.AuditNodeJoin {
			continue // the cluster forming, checked below
		}
		actions = append(actions, e.Action)
		// The caller, not the follower that forwarded the call.
		if e.By == "" || strings.HasPrefix(e.By, "coordinator") || !strings.HasPrefix(e.From, "127.0.0.1:") {
			t.Errorf("%s by %q from %q: want the client's identity and address", e.Action, e.By, e.From)
		}
		if e.At.AsTime().Before(start.Add(-time.Second)) || e.At.AsTime().After(time.Now()) {
			t.Errorf("%s at %v", e.Action, e.At.AsTime())
		}
	}
	want := []string{fsm.AuditSubmit, fsm.AuditHalt, fsm.AuditScheduleCreate, fsm.AuditSchedulesPause, fsm.AuditScheduleDelete, fsm.AuditHaltAll, fsm.AuditResume}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("actions %v, want %v", actions, want)
	}
	sub := got[len(got)-len(want)]
	if sub.Target != run.Run.Id || sub.SpecDigest == "" || sub.SpecDigest != val.Digest || sub.Experiment != "cluster-test" {
		t.Errorf("submission entry %v, want run %s digest %s", sub, run.Run.Id, val.Digest)
	}

	// The cluster's own membership is on record, and every node holds the same trail.
	all, _ := c.nodes[c.leader()].FSM().Audit(nil, 0, 0)
	joins := 0
	for _, e := range all {
		if e.Action == fsm.AuditNodeJoin {
			joins++
		}
	}
	if joins != 3 {
		t.Errorf("%d node joins on record, want 3", joins)
	}
	waitUntil(t, 5*time.Second, "the same trail on every node", func() bool {
		for _, s := range c.nodes {
			mine, _ := s.FSM().Audit(nil, 0, 0)
			if len(mine) != len(all) {
				return false
			}
			for i := range mine {
				if !proto.Equal(mine[i], all[i]) {
					return false
				}
			}
		}
		return true
	})
}

// TestAuditHasNoWriteAPI checks the trail cannot be edited through any API: the only
// method of any service that mentions it is the read.
func TestAuditHasNoWriteAPI(t *testing.T) {
	for _, sd := range []protoreflect.ServiceDescriptor{
		murphyv1.File_murphy_v1_cluster_proto.Services().ByName("ClusterService"),
		murphyv1.File_murphy_v1_experiment_proto.Services().ByName("ExperimentService"),
		murphyv1.File_murphy_v1_worker_proto.Services().ByName("WorkerService"),
	} {
		for i := range sd.Methods().Len() {
			m := sd.Methods().Get(i)
			if strings.Contains(strings.ToLower(string(m.Name())), "audit") && m.Name() != "ListAudit" {
				t.Errorf("%s.%s touches the audit trail", sd.Name(), m.Name())
			}
		}
	}
	// Nor through a command: the Command union has no audit kind.
	oneof := (&murphyv1.Command{}).ProtoReflect().Descriptor().Oneofs().ByName("cmd")
	for i := range oneof.Fields().Len() {
		if strings.Contains(string(oneof.Fields().Get(i).Name()), "audit") {
			t.Errorf("command %s touches the audit trail", oneof.Fields().Get(i).Name())
		}
	}
}
