package coordinator

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
)

// Every failure the API reports goes through the one table: each kind has its code, and
// the caller sees the message alone.
func TestErrorTable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{fail(errInvalid, "bad %s", "spec"), codes.InvalidArgument, "bad spec"},
		{fail(errPrecondition, "halted"), codes.FailedPrecondition, "halted"},
		{fail(errExists, "n1 is a member"), codes.AlreadyExists, "n1 is a member"},
		{fail(errUnauthenticated, "who?"), codes.Unauthenticated, "who?"},
		{fail(errDenied, "viewer"), codes.PermissionDenied, "viewer"},
		{fail(errUnavailable, "no leader"), codes.Unavailable, "no leader"},
		{fail(errTimeout, "no hello"), codes.DeadlineExceeded, "no hello"},
		{fail(errInternal, "vanished"), codes.Internal, "vanished"},
		{toStatus(fmt.Errorf("%w: run r1", fsm.ErrNotFound)), codes.NotFound, "fsm: not found: run r1"},
		{toStatus(ErrNotLeader), codes.Unavailable, ErrNotLeader.Error()},
	} {
		st, ok := status.FromError(tc.err)
		if !ok || st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("%v: code %v message %q, want %v %q", tc.err, st.Code(), st.Message(), tc.code, tc.msg)
		}
	}
}
