package coordinator

import (
	"context"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/coordinator/web"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// webHandler serves the pages under /ui/ from this node's FSM; writes go through this
// node's own ExperimentService, which forwards them to the leader.
func (s *Server) webHandler() http.Handler {
	conn, err := s.dial(s.GRPCAddr())
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "web: cannot reach this node's gRPC address: "+err.Error(), http.StatusServiceUnavailable)
		})
	}
	auth := web.Auth{Insecure: s.cfg.TLS == nil}
	if len(s.tokens) > 0 {
		auth.Token = s.tokenLookup()
		auth.Redeem = s.signIn.redeem
	}
	return web.New(web.Config{
		NodeID:      s.cfg.NodeID,
		FSM:         s.fsm,
		Live:        webLive{s},
		Experiments: webWrites{murphyv1.NewExperimentServiceClient(conn)},
		Auth:        auth,
		TLS:         s.cfg.TLS != nil,
		Now:         s.cfg.Now,
		Logger:      s.cfg.Logger,
		Done:        s.stop,

		ScheduleLimits: s.scheduleLimits,
	})
}

// scheduleLimits describes the configured limits on continuous chaos and their use now.
func (s *Server) scheduleLimits() []web.ScheduleLimit {
	l := s.cfg.ScheduleLimits
	if l.MaxActive == 0 && len(l.Budgets) == 0 {
		return nil
	}
	u := runner.UsageOf(s.fsm, l, s.cfg.Now())
	var out []web.ScheduleLimit
	if l.MaxActive > 0 {
		out = append(out, web.ScheduleLimit{What: "scheduled runs active at once", Used: float64(u.Active), Max: float64(l.MaxActive)})
	}
	for _, b := range u.Budgets {
		if b.Runs > 0 {
			out = append(out, web.ScheduleLimit{What: "runs on " + b.Day + " (UTC) for service " + b.Service, Used: float64(b.RunsUsed), Max: float64(b.Runs)})
		}
		if b.FaultMinutes > 0 {
			out = append(out, web.ScheduleLimit{What: "fault-minutes on " + b.Day + " (UTC) for service " + b.Service, Used: b.MinutesUsed, Max: b.FaultMinutes})
		}
	}
	return out
}

// webWrites makes the pages' calls on this node's gRPC address, which it reaches with
// its own coordinator certificate, naming the web user as the original caller: the
// pages have checked the user's role, and the leader records the user, not the node.
type webWrites struct {
	c murphyv1.ExperimentServiceClient
}

func forWebUser(ctx context.Context) context.Context {
	if who, ok := web.CallerFrom(ctx); ok {
		return metadata.AppendToOutgoingContext(ctx, metadataForwardedFor, who)
	}
	return ctx
}

func (w webWrites) Halt(ctx context.Context, in *murphyv1.HaltRequest, opts ...grpc.CallOption) (*murphyv1.HaltResponse, error) {
	return w.c.Halt(forWebUser(ctx), in, opts...)
}

func (w webWrites) HaltAll(ctx context.Context, in *murphyv1.HaltAllRequest, opts ...grpc.CallOption) (*murphyv1.HaltAllResponse, error) {
	return w.c.HaltAll(forWebUser(ctx), in, opts...)
}

func (w webWrites) Resume(ctx context.Context, in *murphyv1.ResumeRequest, opts ...grpc.CallOption) (*murphyv1.ResumeResponse, error) {
	return w.c.Resume(forWebUser(ctx), in, opts...)
}

func (w webWrites) PauseSchedules(ctx context.Context, in *murphyv1.PauseSchedulesRequest, opts ...grpc.CallOption) (*murphyv1.PauseSchedulesResponse, error) {
	return w.c.PauseSchedules(forWebUser(ctx), in, opts...)
}

func (w webWrites) ResumeSchedules(ctx context.Context, in *murphyv1.ResumeSchedulesRequest, opts ...grpc.CallOption) (*murphyv1.ResumeSchedulesResponse, error) {
	return w.c.ResumeSchedules(forWebUser(ctx), in, opts...)
}

// webLive is the leader's soft state as the pages see it.
type webLive struct{ s *Server }

func (l webLive) Leading() (bool, string, string) {
	id, _ := l.s.leaderAddr()
	addr := ""
	if n := l.s.fsm.Node(id); n != nil {
		addr = n.HttpAddr
	}
	return l.s.IsLeader(), id, addr
}

// Progress on a follower asks the leader, server-side, through this node's own
// ExperimentService, which forwards Watch to the leader as it forwards writes: the page
// stays on this origin and its sign-in.
func (l webLive) Progress(run *murphyv1.Run) *murphyv1.WatchResponse {
	if !l.s.IsLeader() {
		return l.leaderProgress(run)
	}
	r := l.s.currentRunner()
	if r == nil || run.Groups == nil {
		return nil
	}
	sp, err := spec.Of(run)
	if err != nil {
		return nil
	}
	phase, total := runner.Remaining(run, sp, l.s.cfg.Now())
	return &murphyv1.WatchResponse{
		Run:        run,
		Progress:   runner.Progress(run, sp, l.s.fleet.Samples()),
		Guardrails: r.Guardrails(run.Id),
		PhaseLeft:  durationpb.New(phase),
		RunLeft:    durationpb.New(total),
	}
}

// leaderProgress is the first message of a Watch on the leader, or nil when the leader
// cannot be asked within a second.
func (l webLive) leaderProgress(run *murphyv1.Run) *murphyv1.WatchResponse {
	conn, err := l.s.dial(l.s.GRPCAddr())
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := murphyv1.NewExperimentServiceClient(conn).Watch(ctx, &murphyv1.WatchRequest{RunId: run.Id})
	if err != nil {
		return nil
	}
	resp, err := st.Recv()
	if err != nil || (len(resp.GetProgress()) == 0 && len(resp.GetGuardrails()) == 0) {
		return nil
	}
	return resp
}

func (l webLive) Health(w *murphyv1.Worker) []*murphyv1.ActiveFault {
	s := l.s
	if !s.IsLeader() || w.State == murphyv1.WorkerState_WORKER_STATE_LOST {
		return nil
	}
	w.State = murphyv1.WorkerState_WORKER_STATE_DISCONNECTED
	if s.fleet.Connected(w.Id) {
		w.State = murphyv1.WorkerState_WORKER_STATE_CONNECTED
		w.ConnectedTo = s.cfg.NodeID
	}
	if lc := s.fleet.LastContact(w.Id); !lc.IsZero() {
		w.LastContact = timestamppb.New(lc)
	}
	faults := s.fleet.ActiveFaults(w.Id)
	w.ActiveFaults = int32(len(faults))
	out := make([]*murphyv1.ActiveFault, 0, len(faults))
	for _, f := range faults {
		out = append(out, f)
	}
	return out
}
