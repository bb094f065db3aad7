package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/internal/grpcretry"
)

// ErrNotLeader means the node lost or never had leadership when a write reached it.
var ErrNotLeader = errors.New("coordinator: not the leader")

// The kinds of failure a caller is told about; toStatus gives each its gRPC code. Errors
// of these kinds are made with fail, whose message is the whole text the caller sees.
var (
	errInvalid         = errors.New("invalid request")
	errPrecondition    = errors.New("not possible in the cluster's state")
	errExists          = errors.New("already exists")
	errUnauthenticated = errors.New("unauthenticated")
	errDenied          = errors.New("permission denied")
	errUnavailable     = errors.New("unavailable")
	errTimeout         = errors.New("timed out")
	errInternal        = errors.New("internal error")
	// errNotApplied marks a refusal made before the call reached the log (no leader,
	// not the leader, the leader out of reach): the caller is told to retry
	// (google.rpc.RetryInfo), which cannot apply a write twice.
	errNotApplied = errors.New("not applied")
)

// retryAfter is the wait a refusal before the log asks for.
const retryAfter = 100 * time.Millisecond

// failure is an error of a kind with a message for people: errors.Is finds the kind,
// Error is the message alone.
type failure struct {
	kind error
	msg  string
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.kind }

// fail returns the gRPC status for a failure of kind with a formatted message.
func fail(kind error, format string, args ...any) error {
	return toStatus(&failure{kind: kind, msg: fmt.Sprintf(format, args...)})
}

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
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, spec.ErrInvalid), errors.Is(err, errInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, errPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, errExists):
		code = codes.AlreadyExists
	case errors.Is(err, errUnauthenticated):
		code = codes.Unauthenticated
	case errors.Is(err, errDenied):
		code = codes.PermissionDenied
	case errors.Is(err, ErrNotLeader), errors.Is(err, errUnavailable), errors.Is(err, errNotApplied):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errTimeout):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	if errors.Is(err, errNotApplied) {
		return grpcretry.Refusal(code, err.Error(), retryAfter)
	}
	return status.Error(code, err.Error())
}
