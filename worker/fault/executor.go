package fault

import (
	"context"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Fault is one assignment of a fault kind to this worker.
type Fault struct {
	// AssignmentID identifies the assignment across the cluster; executors key their
	// state by it.
	AssignmentID string
	RunID        string
	Step         int32
	Kind         string
	// Params are the fault's parameters as the catalogue decoded them: the kind's own
	// type (catalogue.HTTPDelay, catalogue.Network...). The worker decodes once, where an
	// assignment or a journal entry enters it; executors never read parameter text.
	Params catalogue.Params
	// Deadline is the worker's hard local deadline for the revert.
	Deadline time.Time
}

// Executor injects and reverts one fault kind.
//
// Contract:
//   - Inject of an assignment that is already active is a no-op returning nil, so a
//     resent Assign never stacks a fault twice.
//   - Revert of an assignment that is not active (never injected, already reverted, or
//     injected by a process that has since died) is a no-op returning nil. The worker calls
//     Revert for every journal entry it finds at start-up and relies on this.
//   - Inject that fails leaves nothing behind; the worker still calls Revert afterwards.
//   - Methods may be called concurrently for different assignments.
//   - Validate has no side effects. It judges what only this host can (a proxy, an
//     interface, the policy, free space); the catalogue already judged the parameters.
//   - Params are always of the kind's own catalogue type.
type Executor interface {
	Kind() string
	Validate(p catalogue.Params) error
	Inject(ctx context.Context, f Fault) error
	Revert(ctx context.Context, f Fault) error
}

// New decodes raw, as it travels on the wire or sits in the journal, into a Fault of kind.
func New(id, runID string, step int32, kind string, raw map[string]string, deadline time.Time) (Fault, error) {
	p, err := catalogue.Decode(kind, raw)
	if err != nil {
		return Fault{}, err
	}
	return Fault{AssignmentID: id, RunID: runID, Step: step, Kind: kind, Params: p, Deadline: deadline}, nil
}

// Check decodes raw for e's kind and asks e whether this host can carry it out: the two
// checks an assignment passes before the worker journals it.
func Check(e Executor, raw map[string]string) (catalogue.Params, error) {
	p, err := catalogue.Decode(e.Kind(), raw)
	if err != nil {
		return nil, err
	}
	if err := e.Validate(p); err != nil {
		return nil, err
	}
	return p, nil
}
