package fsm

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func (f *FSM) applyRegisterNode(c *murphyv1.RegisterNode) (Change, error) {
	n := c.GetNode()
	if n.GetId() == "" || n.GetRaftAddr() == "" || n.GetGrpcAddr() == "" {
		return Change{}, fmt.Errorf("%w: node needs an id, a raft address and a gRPC address", ErrInvalid)
	}
	// Leadership is live state, never stored.
	stored := proto.CloneOf(n)
	stored.Leader = false
	f.nodes[n.Id] = stored
	return Change{NodeID: n.Id}, nil
}

func (f *FSM) applyRemoveNode(c *murphyv1.RemoveNode) (Change, error) {
	if _, ok := f.nodes[c.NodeId]; !ok {
		return Change{NodeID: c.NodeId}, fmt.Errorf("%w: node %q", ErrNotFound, c.NodeId)
	}
	delete(f.nodes, c.NodeId)
	return Change{NodeID: c.NodeId}, nil
}

// applyHaltAll halts every active run with the same reason and keeps the cluster halted.
// Halting an already halted cluster refreshes the reason (a second press of the button is
// not an error).
func (f *FSM) applyHaltAll(cmd *murphyv1.Command, c *murphyv1.HaltAll) (Change, error) {
	f.halt = &murphyv1.ClusterHalt{Reason: c.Reason, By: cmd.By, At: cmd.At}
	// The big red button stops continuous chaos too, until resume.
	f.schedulesPaused = true
	ids := make([]string, 0, len(f.runs))
	for id, r := range f.runs {
		if !Terminal(r.Phase) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		haltRun(f.runs[id], cmd, &murphyv1.HaltRun{RunId: id, Reason: "cluster halted: " + c.Reason})
	}
	return Change{Cluster: true}, nil
}

// applyResume lifts a cluster-wide halt. With halt_only the schedules stay paused (the
// halt paused them) until an operator resumes them on purpose: whoever lifts a halt after
// an incident is not necessarily ready for chaos again.
func (f *FSM) applyResume(c *murphyv1.Resume) (Change, error) {
	if c.GetHaltOnly() {
		if f.halt == nil {
			return Change{Cluster: true}, fmt.Errorf("%w: the cluster is not halted (`murphy schedules resume` lets paused schedules fire)", ErrBadPhase)
		}
		f.halt = nil
		return Change{Cluster: true}, nil
	}
	if f.halt == nil && !f.schedulesPaused {
		return Change{Cluster: true}, fmt.Errorf("%w: the cluster is not halted and schedules are not paused", ErrBadPhase)
	}
	f.halt = nil
	f.schedulesPaused = false
	return Change{Cluster: true}, nil
}
