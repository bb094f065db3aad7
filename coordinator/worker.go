package coordinator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/metadata"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Bounds on what a worker may claim, so a broken or hostile worker cannot bloat the log.
const (
	maxLabels     = 64
	maxLabelBytes = 256
	helloTimeout  = 10 * time.Second
)

type workerService struct {
	murphyv1.UnimplementedWorkerServiceServer
	s *Server
}

var _ murphyv1.WorkerServiceServer = (*workerService)(nil)

// Connect serves a worker's stream on any node. The node that holds a worker's stream
// keeps it whatever happens to leadership: while it leads it serves the worker itself,
// and while it follows it relays the stream to the leader over its one relay to it
// (relay.go), re-announcing the worker to each new leader (DESIGN.md: "Any node holds
// worker streams").
func (w *workerService) Connect(stream murphyv1.WorkerService_ConnectServer) error {
	s := w.s
	hello, err := recvHello(stream)
	if err != nil {
		return err
	}
	// A worker certificate is bound to one worker: it cannot speak for another.
	if id, ok := identityFrom(stream.Context()); ok && id.Via == "certificate" && id.Name != hello.WorkerId {
		s.log.Warn("worker impersonation refused", "certificate", id.Name, "claimed", hello.WorkerId)
		return fail(errDenied, "the worker certificate for %q cannot connect as worker %q", id.Name, hello.WorkerId)
	}
	if to := s.balance(stream.Context(), hello.WorkerId); to != nil {
		return stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Redirect{Redirect: &murphyv1.Redirect{LeaderId: to.Id, LeaderAddr: to.GrpcAddr}}})
	}
	return s.serveWorker(stream, hello)
}

// relayedBy returns the node that opened this relay, or "" when the caller may not relay.
// Only a coordinator's certificate may relay (without TLS nothing is authenticated).
func (s *Server) relayedBy(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	by := first(md, metadataForwarded)
	if by == "" {
		return ""
	}
	if id, ok := identityFrom(ctx); ok && id.Via != "insecure" && id.Role != tlsutil.RoleCoordinator {
		return ""
	}
	return by
}

func (s *Server) welcomeMsg() *murphyv1.ConnectResponse {
	return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Welcome{Welcome: &murphyv1.Welcome{
		NodeId: s.cfg.NodeID, Lease: durationpb.New(s.cfg.WorkerLease), HeartbeatInterval: durationpb.New(s.cfg.HeartbeatInterval),
	}}}
}

// errModeChanged ends one way of serving a worker's stream (leading or relaying) so the
// stream goes on in the other, or relays again to another leader.
var errModeChanged = errors.New("serve the worker stream anew")

// workerStream is one worker's own stream on this node, across changes of leader.
type workerStream struct {
	s      *Server
	stream murphyv1.WorkerService_ConnectServer
	hello  *murphyv1.Hello
	conn   *fleet.Conn
	in     chan *murphyv1.ConnectRequest
	inErr  chan error
	// served is set once the stream has been served in either mode: entering another
	// mode later tells the worker again (a welcome), which makes it replay its samples
	// to the leader that now hears them.
	served bool
	// held keeps the statuses and acknowledgements the worker sent while no leader
	// heard it, for the next one; replay says samples were dropped meanwhile.
	held   []*murphyv1.ConnectRequest
	replay bool
}

// maxHeld bounds the reports kept for a worker while no leader hears it; past it the
// oldest go, and the re-sent assignments and halts ask for them again.
const maxHeld = 256

// hold keeps m for the next leader: reports are kept, samples are replayed instead, and
// heartbeats matter to no later leader.
func (ws *workerStream) hold(m *murphyv1.ConnectRequest) {
	switch m.Msg.(type) {
	case *murphyv1.ConnectRequest_StepStatus, *murphyv1.ConnectRequest_HaltAck:
		if len(ws.held) == maxHeld {
			ws.held = ws.held[1:]
		}
		ws.held = append(ws.held, m)
	case *murphyv1.ConnectRequest_Samples:
		ws.replay = true
	}
}

// takeHeld returns the held reports and forgets them.
func (ws *workerStream) takeHeld() []*murphyv1.ConnectRequest {
	h := ws.held
	ws.held = nil
	return h
}

// serveWorker holds a worker's own stream until the worker goes, the fleet drops it, or
// the node stops.
func (s *Server) serveWorker(stream murphyv1.WorkerService_ConnectServer, hello *murphyv1.Hello) error {
	if s.leads() {
		// Committed before the stream attaches, as the runner expects.
		if err := s.registerWorker(stream.Context(), hello); err != nil {
			return err
		}
	}
	ws := &workerStream{s: s, stream: stream, hello: hello, in: make(chan *murphyv1.ConnectRequest), inErr: make(chan error, 1)}
	ws.conn = s.fleet.Attach(hello)
	defer s.fleet.Detach(ws.conn)
	s.log.Info("worker connected", "worker", hello.WorkerId, "active_faults", len(hello.ActiveFaults))
	// This node's welcome, whatever it is: the worker gets halts from the node that
	// holds its stream, and a welcome must come first.
	if err := stream.Send(s.welcomeMsg()); err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				ws.inErr <- err
				return
			}
			select {
			case ws.in <- m:
			case <-done:
				return
			}
		}
	}()
	s.halts.pending(ws.conn)
	wait := time.Duration(0)
	for {
		term := s.termChanged()
		var err error
		if s.leads() {
			err = ws.lead(term)
		} else {
			err = ws.relay(term, wait)
		}
		if !errors.Is(err, errModeChanged) {
			return err
		}
		// A relay that failed is tried again after a pause, which grows while no leader
		// answers; a change of term is acted on at once.
		select {
		case <-term:
			wait = 0
		default:
			wait = min(max(2*wait, 50*time.Millisecond), time.Second)
		}
	}
}

// lead serves the stream on the leader, as the runner's own worker.
func (ws *workerStream) lead(term <-chan struct{}) error {
	s, conn := ws.s, ws.conn
	// A no-op when the worker is registered as it is (serveWorker registered it when
	// this node led from the start); a worker that arrived while no leader heard it is
	// registered now.
	if err := s.registerWorker(ws.stream.Context(), ws.hello); err != nil {
		return err
	}
	if ws.served || ws.replay {
		// This node now hears a worker some of whose samples no leader has: a welcome
		// makes it replay them, and the runner waits for the replay from now.
		s.fleet.Reannounced(conn)
		if err := ws.stream.Send(s.welcomeMsg()); err != nil {
			return err
		}
	}
	if ws.served {
		s.halts.pending(conn)
	}
	ws.served, ws.replay = true, false
	for _, m := range ws.takeHeld() {
		s.fleet.Handle(conn, m)
	}
	s.pokeRunner()
	for {
		select {
		case <-conn.Ready():
			if err := ws.flush(); err != nil {
				return err
			}
		case m := <-ws.in:
			if m.GetSamples() != nil {
				s.metrics.samplesIngested.Add(float64(len(m.GetSamples().Samples)))
			}
			if reply := s.fleet.Handle(conn, m); reply != nil {
				if err := ws.stream.Send(reply); err != nil {
					return err
				}
			}
		case err := <-ws.inErr:
			s.log.Info("worker disconnected", "worker", conn.WorkerID, "reason", err)
			return nil
		case <-conn.Done():
			return nil
		case <-term:
			return errModeChanged
		case <-s.stop:
			return fail(errUnavailable, "coordinator shutting down")
		}
	}
}

func (ws *workerStream) flush() error { return sendQueued(ws.stream, ws.conn) }

// sendQueued sends what is queued for conn's worker on its stream.
func sendQueued(stream murphyv1.WorkerService_ConnectServer, conn *fleet.Conn) error {
	for _, o := range conn.Take() {
		if err := fleet.SendTo(stream, o); err != nil {
			return err
		}
	}
	return nil
}

// relay serves the stream on a follower: the worker's messages go to the leader over the
// node's one relay to it, the leader's come back, and halts leave from here. It attaches
// to the leader after wait, serving the stream meanwhile; what the worker sends while no
// leader hears it is not relayed, since what matters is sent again (statuses answer
// re-sent assignments, acknowledgements answer re-delivered halts, samples replay).
func (ws *workerStream) relay(term <-chan struct{}, wait time.Duration) error {
	s, conn := ws.s, ws.conn
	var (
		up       *relayed
		upReady  <-chan struct{}
		upEnd    <-chan error
		welcomed bool
	)
	attach := func() error {
		var err error
		if up, err = s.relays.attach(s.fleet.Announce(ws.hello)); err != nil {
			return err
		}
		upReady, upEnd = up.ready, up.end
		return nil
	}
	defer func() {
		if up != nil {
			up.detach()
		}
	}()
	// Most relays attach at once and hold no timer while idle (a nil channel's case
	// costs a blocked select nothing either).
	var later <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		later = t.C
	} else if err := attach(); err != nil {
		return err
	}
	for {
		select {
		case <-later:
			later = nil
			if err := attach(); err != nil {
				return err
			}
		case <-conn.Ready():
			if err := ws.flush(); err != nil {
				return err
			}
		case m := <-ws.in:
			if !s.fleet.Observe(conn, m) {
				continue
			}
			if !welcomed {
				ws.hold(m)
				continue
			}
			if err := up.send(m); err != nil {
				ws.hold(m)
				return errModeChanged
			}
		case err := <-ws.inErr:
			s.log.Info("worker disconnected", "worker", conn.WorkerID, "reason", err)
			return nil
		case <-upReady:
			for _, m := range up.take() {
				if err := ws.fromLeader(up, m, &welcomed); err != nil {
					return err
				}
			}
		case err := <-upEnd:
			if errors.Is(err, io.EOF) {
				// The leader ended this relay on purpose: the worker connected again
				// elsewhere, or was declared lost. Its stream here ends too.
				return nil
			}
			return errModeChanged
		case <-conn.Done():
			return nil
		case <-term:
			return errModeChanged
		case <-s.stop:
			return fail(errUnavailable, "coordinator shutting down")
		}
	}
}

// fromLeader passes one of the leader's messages to the worker, keeping what this node must
// know of it: the first welcome releases the reports held for the leader.
func (ws *workerStream) fromLeader(up *relayed, m *murphyv1.ConnectResponse, welcomed *bool) error {
	s, conn := ws.s, ws.conn
	switch msg := m.Msg.(type) {
	case *murphyv1.ConnectResponse_Welcome:
		if *welcomed {
			return nil
		}
		*welcomed = true
		if ws.served || ws.replay {
			// A leader hears the worker that has not had its samples: the welcome makes
			// the worker replay them.
			if err := ws.stream.Send(m); err != nil {
				return err
			}
		}
		ws.served, ws.replay = true, false
		for _, h := range ws.takeHeld() {
			if err := up.send(h); err != nil {
				return errModeChanged
			}
		}
		s.halts.pending(conn)
		return nil
	case *murphyv1.ConnectResponse_Redirect:
		return errModeChanged
	case *murphyv1.ConnectResponse_StartProbes:
		s.fleet.SetProbing(conn.WorkerID, msg.StartProbes.GetRunId(), true)
	case *murphyv1.ConnectResponse_StopProbes:
		s.fleet.SetProbing(conn.WorkerID, msg.StopProbes.GetRunId(), false)
	}
	return ws.stream.Send(m)
}

// metadataRedirected marks a worker's stream opened on a node's redirect
// (worker.MetadataRedirected): it is admitted whatever the node's share, so a worker is
// turned away at most once and two full nodes cannot bounce it between them.
const metadataRedirected = "murphy-redirected"

// balance returns the node a new worker should go to instead of this one, or nil to
// keep it. A node holds at most its share of the live workers, ceil(workers/nodes),
// plus a slack (4 and a tenth of the share) so that a few workers more or less move
// none; the rest go to another node picked by a hash of the worker's ID, so those a full
// node turns away spread over the others. Workers usually spread by themselves (each
// starts at a hash of its ID over its list of coordinators); this catches a list of one
// address or the workers of a node that was down.
func (s *Server) balance(ctx context.Context, worker string) *murphyv1.Node {
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, metadataRedirected) != "" {
		return nil
	}
	var others []*murphyv1.Node
	nodes := s.fsm.Nodes()
	for _, n := range nodes {
		if n.Id != s.cfg.NodeID && n.GrpcAddr != "" {
			others = append(others, n)
		}
	}
	if len(others) == 0 {
		return nil
	}
	share := (s.fsm.LiveWorkers() + len(nodes)) / len(nodes) // ceil((workers+1)/nodes)
	if s.fleet.DirectCount() < share+4+share/10 {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(worker))
	return others[int(h.Sum32()%uint32(len(others)))]
}

func recvHello(stream murphyv1.WorkerService_ConnectServer) (*murphyv1.Hello, error) {
	type result struct {
		msg *murphyv1.ConnectRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	// Stopped on return: time.After would keep a timer per connecting worker alive for
	// the whole timeout.
	timeout := time.NewTimer(helloTimeout)
	defer timeout.Stop()
	var r result
	select {
	case r = <-ch:
	case <-timeout.C:
		return nil, fail(errTimeout, "worker stream: no hello within 10s")
	}
	if r.err != nil {
		return nil, r.err
	}
	hello := r.msg.GetHello()
	if hello == nil {
		return nil, fail(errInvalid, "worker stream: the first message must be a hello")
	}
	if err := checkHello(hello); err != nil {
		return nil, fail(errInvalid, "%s", err.Error())
	}
	return hello, nil
}

func checkHello(h *murphyv1.Hello) error {
	if h.WorkerId == "" || len(h.WorkerId) > maxLabelBytes {
		return errors.New("worker hello: worker_id must be 1 to 256 bytes")
	}
	if err := fleet.CheckHello(h); err != nil {
		return err
	}
	if len(h.Labels) > maxLabels {
		return fmt.Errorf("worker hello: %d labels, at most %d allowed", len(h.Labels), maxLabels)
	}
	for k, v := range h.Labels {
		if k == "" || len(k) > maxLabelBytes || len(v) > maxLabelBytes {
			return fmt.Errorf("worker hello: label %q: keys must be 1 to 256 bytes and values at most 256", k)
		}
	}
	return nil
}

// registerWorker commits the worker's identity when it is new, changed, or was lost.
func (s *Server) registerWorker(ctx context.Context, h *murphyv1.Hello) error {
	known := s.fsm.Worker(h.WorkerId)
	if known != nil && known.State != murphyv1.WorkerState_WORKER_STATE_LOST &&
		maps.Equal(known.Labels, h.Labels) && slices.Equal(known.Capabilities, h.Capabilities) &&
		proto.Equal(known.Limits, h.Limits) && runner.SameTargets(known.Targets, h.Targets) {
		return nil
	}
	cmd := &murphyv1.Command{By: "worker:" + h.WorkerId, Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{
		WorkerId: h.WorkerId, Labels: h.Labels, Capabilities: h.Capabilities, Limits: h.Limits, Targets: h.Targets,
	}}}
	if err := s.propose(ctx, cmd); err != nil {
		return toStatus(fmt.Errorf("register worker %s: %w", h.WorkerId, err))
	}
	return nil
}
