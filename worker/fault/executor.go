package fault

import (
	"context"
	"time"
)

// Fault is one assignment of a fault kind to this worker.
type Fault struct {
	// AssignmentID identifies the assignment across the cluster; executors key their
	// state by it.
	AssignmentID string
	RunID        string
	Step         int32
	Kind         string
	Params       map[string]string
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
//   - Validate and Describe have no side effects.
type Executor interface {
	Kind() string
	Validate(params map[string]string) error
	Inject(ctx context.Context, f Fault) error
	Revert(ctx context.Context, f Fault) error
	Describe(params map[string]string) string
}
