package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/policy"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
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

// TestAuditedCallsMatchPolicy makes one accepted call of every method of the contract,
// through a follower, and checks the audit trail against each method's policy: an audited
// method's call adds an entry naming the caller, any other adds none. The trail is written
// by the FSM from the committed commands, so this is what keeps the option true.
func TestAuditedCallsMatchPolicy(t *testing.T) {
	c := startCluster(t, 3)
	f := c.follower()
	conn := clientConn(t, c.nodes[f].GRPCAddr())
	exp := murphyv1.NewExperimentServiceClient(conn)
	cl := murphyv1.NewClusterServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	spec := fmt.Appendf(nil, testSpec, "1s", "30s")
	sched := strings.Replace(string(spec), "steps:", "schedule:\n  cron: \"0 3 1 1 *\"\n  optIn: false\nsteps:", 1)
	sr, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(sched), Filename: "s.yaml", Force: true})
	if err != nil || sr.Schedule == nil {
		t.Fatalf("schedule: %v %v", err, sr)
	}
	var runID string
	ghost := &murphyv1.Node{Id: "n9", RaftAddr: freeAddr(t), GrpcAddr: freeAddr(t)}
	const svc, cls = "/murphy.v1.ExperimentService/", "/murphy.v1.ClusterService/"
	// connectOnce opens a worker stream to the node that leads now and waits for its answer
	// to the hello.
	connectOnce := func(ctx context.Context) error {
		wc, err := grpc.NewClient(c.nodes[c.leader()].GRPCAddr(), workerDial(t, "w1")...)
		if err != nil {
			return err
		}
		defer wc.Close()
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		st, err := murphyv1.NewWorkerServiceClient(wc).Connect(wctx)
		if err != nil {
			return err
		}
		if err := st.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: "w1", Labels: map[string]string{"region": "r", "datacenter": "d"}}}}); err != nil {
			return err
		}
		m, err := st.Recv()
		if err == nil && m.GetWelcome() == nil {
			err = fmt.Errorf("no welcome: %v", m)
		}
		return err
	}
	calls := []struct {
		method string
		call   func() error
	}{
		{svc + "Validate", func() error {
			_, err := exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: spec, Filename: "t.yaml"})
			return err
		}},
		{svc + "Submit", func() error {
			r, err := exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: spec, Filename: "t.yaml"})
			if err == nil {
				runID = r.Run.Id
			}
			return err
		}},
		{svc + "GetRun", func() error { _, err := exp.GetRun(ctx, &murphyv1.GetRunRequest{RunId: runID}); return err }},
		{svc + "ListRuns", func() error { _, err := exp.ListRuns(ctx, &murphyv1.ListRunsRequest{}); return err }},
		{svc + "GetVerdict", func() error {
			_, err := exp.GetVerdict(ctx, &murphyv1.GetVerdictRequest{RunId: runID})
			return err
		}},
		{svc + "Watch", func() error {
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			st, err := exp.Watch(wctx, &murphyv1.WatchRequest{RunId: runID})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}},
		{svc + "Halt", func() error {
			_, err := exp.Halt(ctx, &murphyv1.HaltRequest{RunId: runID, Reason: "policy test"})
			return err
		}},
		{svc + "ListSchedules", func() error { _, err := exp.ListSchedules(ctx, &murphyv1.ListSchedulesRequest{}); return err }},
		{svc + "PauseSchedules", func() error {
			_, err := exp.PauseSchedules(ctx, &murphyv1.PauseSchedulesRequest{})
			return err
		}},
		{svc + "ResumeSchedules", func() error {
			_, err := exp.ResumeSchedules(ctx, &murphyv1.ResumeSchedulesRequest{})
			return err
		}},
		{svc + "DeleteSchedule", func() error {
			_, err := exp.DeleteSchedule(ctx, &murphyv1.DeleteScheduleRequest{ScheduleId: sr.Schedule.Id})
			return err
		}},
		{svc + "HaltAll", func() error { _, err := exp.HaltAll(ctx, &murphyv1.HaltAllRequest{Reason: "drill"}); return err }},
		{svc + "Resume", func() error { _, err := exp.Resume(ctx, &murphyv1.ResumeRequest{}); return err }},
		{cls + "Status", func() error { _, err := cl.Status(ctx, &murphyv1.StatusRequest{}); return err }},
		{cls + "ListWorkers", func() error { _, err := cl.ListWorkers(ctx, &murphyv1.ListWorkersRequest{}); return err }},
		{cls + "ListAudit", func() error { _, err := cl.ListAudit(ctx, &murphyv1.ListAuditRequest{}); return err }},
		// A fourth voter that never answers: the three running nodes still make a
		// majority, and it is removed again at once.
		{cls + "Join", func() error { _, err := cl.Join(ctx, &murphyv1.JoinRequest{Node: ghost}); return err }},
		{cls + "Remove", func() error { _, err := cl.Remove(ctx, &murphyv1.RemoveRequest{NodeId: ghost.Id}); return err }},
		{cls + "Relay", func() error {
			f, err := relayOnce(ctx, t, c.nodes[c.leader()].GRPCAddr(), tlsutil.RoleCoordinator, "n9", "n9", "w2")
			if err == nil && f.Msg.GetWelcome() == nil {
				err = fmt.Errorf("no welcome: %v", f)
			}
			return err
		}},
		{"/murphy.v1.WorkerService/Connect", func() error {
			// The membership changes just before can cost the leader its place on a loaded
			// machine; a redirect means "ask again", as a worker does.
			var err error
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if err = connectOnce(ctx); err == nil || !strings.Contains(err.Error(), "redirect") {
					return err
				}
			}
			return err
		}},
	}

	tbl := policy.Murphy()
	driven := map[string]bool{}
	// Only the test's own calls count: the runner writes entries of its own (a halt by
	// the monitor) whenever it likes.
	mine := func() int {
		all, _ := c.nodes[c.leader()].FSM().Audit(nil, 0, 0)
		n := 0
		for _, e := range all {
			if e.By == "admin:test-admin" || e.By == "node:"+ghost.Id {
				n++
			}
		}
		return n
	}
	for _, tc := range calls {
		driven[tc.method] = true
		rule, ok := tbl.Rule(tc.method)
		if !ok {
			t.Fatalf("%s has no policy", tc.method)
		}
		before := mine()
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		if added := mine() - before; added > 0 != rule.Audited {
			t.Errorf("%s added %d audit entries; its policy says audited: %v", tc.method, added, rule.Audited)
		}
	}
	for _, m := range tbl.Methods() {
		if !driven[m] {
			t.Errorf("%s is not driven here: add a call so its audited option is checked", m)
		}
	}
}
