package fsm

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// applyRecordRollback keeps the first result per rollback step and worker: the leader
// delivers rollbacks at least once, and a new leader may resend what the old one had
// already seen answered.
func (f *FSM) applyRecordRollback(c *murphyv1.RecordRollback) (Change, error) {
	ch := Change{RunID: c.RunId}
	r, ok := f.runs[c.RunId]
	if !ok {
		return ch, fmt.Errorf("%w: run %q", ErrNotFound, c.RunId)
	}
	if !Terminal(r.Phase) {
		return ch, fmt.Errorf("%w: run %q is %s; rollbacks run after it ends", ErrBadPhase, c.RunId, PhaseName(r.Phase))
	}
	for _, res := range c.Results {
		if res.GetWorkerId() == "" {
			return ch, fmt.Errorf("%w: rollback result without a worker", ErrInvalid)
		}
		if !slices.ContainsFunc(r.Rollbacks, func(x *murphyv1.RollbackResult) bool {
			return x.Index == res.Index && x.WorkerId == res.WorkerId
		}) {
			r.Rollbacks = append(r.Rollbacks, proto.CloneOf(res))
		}
	}
	return ch, nil
}
