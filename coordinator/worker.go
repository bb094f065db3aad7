package coordinator

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
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

func (w *workerService) Connect(stream murphyv1.WorkerService_ConnectServer) error {
	s := w.s
	if !s.IsLeader() {
		id, addr := s.leaderAddr()
		return stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Redirect{Redirect: &murphyv1.Redirect{LeaderId: id, LeaderAddr: addr}}})
	}
	hello, err := recvHello(stream)
	if err != nil {
		return err
	}
	// A worker certificate is bound to one worker: it cannot speak for another.
	if id, ok := identityFrom(stream.Context()); ok && id.Via == "certificate" && id.Name != hello.WorkerId {
		s.log.Warn("worker impersonation refused", "certificate", id.Name, "claimed", hello.WorkerId)
		return fail(errDenied, "the worker certificate for %q cannot connect as worker %q", id.Name, hello.WorkerId)
	}
	if err := s.registerWorker(stream, hello); err != nil {
		return err
	}
	conn := s.fleet.Attach(hello)
	defer s.fleet.Detach(conn)
	s.log.Info("worker connected", "worker", hello.WorkerId, "active_faults", len(hello.ActiveFaults))
	if err := stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Welcome{Welcome: &murphyv1.Welcome{
		NodeId: s.cfg.NodeID, Lease: durationpb.New(s.cfg.WorkerLease), HeartbeatInterval: durationpb.New(s.cfg.HeartbeatInterval),
	}}}); err != nil {
		return err
	}
	s.pokeRunner()

	recvErr := make(chan error, 1)
	go func() { recvErr <- s.receive(stream, conn) }()
	for {
		select {
		case <-conn.Ready():
			for _, o := range conn.Take() {
				if err := fleet.SendTo(stream, o); err != nil {
					return err
				}
			}
		case err := <-recvErr:
			s.log.Info("worker disconnected", "worker", conn.WorkerID, "reason", err)
			return nil
		case <-conn.Done():
			// Replaced by a newer stream, or this node stepped down: tell the worker
			// where to go.
			id, addr := s.leaderAddr()
			_ = stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Redirect{Redirect: &murphyv1.Redirect{LeaderId: id, LeaderAddr: addr}}})
			return nil
		case <-s.stop:
			return fail(errUnavailable, "coordinator shutting down")
		}
	}
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
func (s *Server) registerWorker(stream murphyv1.WorkerService_ConnectServer, h *murphyv1.Hello) error {
	known := s.fsm.Worker(h.WorkerId)
	if known != nil && known.State != murphyv1.WorkerState_WORKER_STATE_LOST &&
		maps.Equal(known.Labels, h.Labels) && slices.Equal(known.Capabilities, h.Capabilities) &&
		proto.Equal(known.Limits, h.Limits) {
		return nil
	}
	cmd := &murphyv1.Command{By: "worker:" + h.WorkerId, Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{
		WorkerId: h.WorkerId, Labels: h.Labels, Capabilities: h.Capabilities, Limits: h.Limits,
	}}}
	if err := s.propose(stream.Context(), cmd); err != nil {
		return toStatus(fmt.Errorf("register worker %s: %w", h.WorkerId, err))
	}
	return nil
}

func (s *Server) receive(stream murphyv1.WorkerService_ConnectServer, conn *fleet.Conn) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		if b := msg.GetSamples(); b != nil {
			s.metrics.samplesIngested.Add(float64(len(b.Samples)))
		}
		if reply := s.fleet.Handle(conn, msg); reply != nil {
			s.fleet.Send(conn.WorkerID, reply)
		}
	}
}
