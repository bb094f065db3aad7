package fsm

import (
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// applyRegisterWorker records a worker's identity, or refreshes it when the worker comes
// back with new labels or after being declared lost.
func (f *FSM) applyRegisterWorker(cmd *murphyv1.Command, c *murphyv1.RegisterWorker) (Change, error) {
	if c.WorkerId == "" {
		return Change{}, fmt.Errorf("%w: worker without an id", ErrInvalid)
	}
	w, ok := f.workers[c.WorkerId]
	if !ok {
		w = &murphyv1.Worker{Id: c.WorkerId, RegisteredAt: cmd.At}
		f.workers[c.WorkerId] = w
	}
	w.Labels = maps.Clone(c.Labels)
	w.Capabilities = append([]string(nil), c.Capabilities...)
	w.Limits = proto.CloneOf(c.Limits)
	w.Targets = nil
	for _, t := range c.Targets {
		w.Targets = append(w.Targets, proto.CloneOf(t))
	}
	w.State = murphyv1.WorkerState_WORKER_STATE_CONNECTED
	w.LostAt = nil
	return Change{WorkerID: c.WorkerId}, nil
}

func (f *FSM) applyMarkWorkerLost(cmd *murphyv1.Command, c *murphyv1.MarkWorkerLost) (Change, error) {
	w, ok := f.workers[c.WorkerId]
	if !ok {
		return Change{WorkerID: c.WorkerId}, fmt.Errorf("%w: worker %q", ErrNotFound, c.WorkerId)
	}
	w.State = murphyv1.WorkerState_WORKER_STATE_LOST
	w.LostAt = cmd.At
	return Change{WorkerID: c.WorkerId}, nil
}
