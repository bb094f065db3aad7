package coordinator

import "github.com/hashicorp/raft"

// HoldsWorker reports whether the worker's own stream is attached to this node, and the
// stream's ID there (a reconnection gets a new one), for the cluster tests in package
// coordinator_test.
func (s *Server) HoldsWorker(id string) (uint64, bool) {
	if s.fleet.Relayed(id) {
		return 0, false
	}
	c := s.fleet.ConnID(id)
	return c, c != 0
}

// RelaysWorker reports whether another node relays the worker's stream to this one.
func (s *Server) RelaysWorker(id string) bool { return s.fleet.Relayed(id) }

// TransferLeadership hands this node's leadership to to.
func (s *Server) TransferLeadership(to *Server) error {
	return s.raft.LeadershipTransferToServer(raft.ServerID(to.NodeID()), raft.ServerAddress(to.RaftAddr())).Error()
}
