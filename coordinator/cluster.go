package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/selector"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

type clusterService struct {
	murphyv1.UnimplementedClusterServiceServer
	s *Server
}

var _ murphyv1.ClusterServiceServer = (*clusterService)(nil)

func timestampNow(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func (c *clusterService) Status(context.Context, *murphyv1.StatusRequest) (*murphyv1.StatusResponse, error) {
	s := c.s
	stats := s.raft.Stats()
	id, addr := s.leaderAddr()
	resp := &murphyv1.StatusResponse{
		NodeId:       s.cfg.NodeID,
		State:        s.raft.State().String(),
		LeaderId:     id,
		LeaderAddr:   addr,
		AppliedIndex: s.raft.AppliedIndex(),
		Halt:         s.fsm.ClusterHalt(),
	}
	resp.Term, _ = strconv.ParseUint(stats["term"], 10, 64)
	resp.CommitIndex, _ = strconv.ParseUint(stats["commit_index"], 10, 64)
	if lc := s.raft.LastContact(); !lc.IsZero() {
		resp.LastContact = timestamppb.New(lc)
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fail(errUnavailable, "read raft configuration: %v", err)
	}
	for _, srv := range f.Configuration().Servers {
		n := &murphyv1.Node{Id: string(srv.ID), RaftAddr: string(srv.Address), Voter: srv.Suffrage == raft.Voter, Leader: string(srv.ID) == id}
		if rec := s.fsm.Node(string(srv.ID)); rec != nil {
			n.GrpcAddr, n.HttpAddr = rec.GrpcAddr, rec.HttpAddr
		}
		resp.Nodes = append(resp.Nodes, n)
	}
	return resp, nil
}

func (c *clusterService) Join(ctx context.Context, req *murphyv1.JoinRequest) (*murphyv1.JoinResponse, error) {
	s := c.s
	n := req.GetNode()
	if n.GetId() == "" || n.GetRaftAddr() == "" || n.GetGrpcAddr() == "" {
		return nil, fail(errInvalid, "join: the node needs an id, a raft address and a gRPC address")
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, toStatus(err)
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(n.Id) && srv.Address != raft.ServerAddress(n.RaftAddr) {
			return nil, fail(errExists, "join: node id %s is already a member at %s; remove it first (`murphy cluster remove %s`)", n.Id, srv.Address, n.Id)
		}
	}
	if err := s.raft.AddVoter(raft.ServerID(n.Id), raft.ServerAddress(n.RaftAddr), 0, 10*time.Second).Error(); err != nil {
		return nil, toStatus(fmt.Errorf("join: add voter %s: %w", n.Id, err))
	}
	cmd := &murphyv1.Command{By: "node:" + n.Id, Cmd: &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: n}}}
	if err := s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	s.log.Info("node joined", "node", n.Id, "raft", n.RaftAddr, "grpc", n.GrpcAddr)
	return &murphyv1.JoinResponse{Nodes: s.fsm.Nodes()}, nil
}

func (c *clusterService) Remove(ctx context.Context, req *murphyv1.RemoveRequest) (*murphyv1.RemoveResponse, error) {
	s := c.s
	if req.NodeId == "" {
		return nil, fail(errInvalid, "remove: which node? (give its id)")
	}
	if err := s.raft.RemoveServer(raft.ServerID(req.NodeId), 0, 10*time.Second).Error(); err != nil {
		return nil, toStatus(fmt.Errorf("remove %s: %w", req.NodeId, err))
	}
	if s.fsm.Node(req.NodeId) != nil {
		cmd := &murphyv1.Command{By: caller(ctx), Cmd: &murphyv1.Command_RemoveNode{RemoveNode: &murphyv1.RemoveNode{NodeId: req.NodeId}}}
		if err := s.propose(ctx, cmd); err != nil {
			return nil, err
		}
	}
	return &murphyv1.RemoveResponse{Nodes: s.fsm.Nodes()}, nil
}

func (c *clusterService) ListWorkers(_ context.Context, req *murphyv1.ListWorkersRequest) (*murphyv1.ListWorkersResponse, error) {
	s := c.s
	inRun := map[string]string{}
	for _, r := range s.fsm.ActiveRuns() {
		// A run of pods holds its pods' workers.
		for _, w := range fsm.GroupWorkers(r.GetGroups()) {
			inRun[w] = r.Id
		}
	}
	sel, err := selector.Parse(req.Expression)
	if err != nil {
		return nil, fail(errInvalid, "%s", err.Error())
	}
	sel = sel.And(selector.FromMap(req.Selector))
	var out []*murphyv1.Worker
	for _, w := range s.fsm.Workers() {
		if !sel.Matches(w.Labels) {
			continue
		}
		w.RunId = inRun[w.Id]
		if s.IsLeader() && w.State != murphyv1.WorkerState_WORKER_STATE_LOST {
			w.State = murphyv1.WorkerState_WORKER_STATE_DISCONNECTED
			if s.fleet.Connected(w.Id) {
				w.State = murphyv1.WorkerState_WORKER_STATE_CONNECTED
				w.ConnectedTo = s.cfg.NodeID
			}
			if lc := s.fleet.LastContact(w.Id); !lc.IsZero() {
				w.LastContact = timestamppb.New(lc)
			}
			w.ActiveFaults = int32(len(s.fleet.ActiveFaults(w.Id)))
		}
		out = append(out, w)
	}
	return &murphyv1.ListWorkersResponse{Workers: out}, nil
}
