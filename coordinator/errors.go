package coordinator

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// ErrNotLeader means the node lost or never had leadership when a write reached it.
var ErrNotLeader = errors.New("coordinator: not the leader")

// toStatus is the one place internal errors become gRPC status codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, fsm.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, fsm.ErrExists):
		code = codes.AlreadyExists
	case errors.Is(err, fsm.ErrRunFinished), errors.Is(err, fsm.ErrBadPhase), errors.Is(err, fsm.ErrHalted):
		code = codes.FailedPrecondition
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, spec.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotLeader):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}
