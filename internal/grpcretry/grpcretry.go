// Package grpcretry retries the calls a Murphy coordinator refused before they reached
// its replicated log: no leader elected yet, not the leader any more, the leader out of
// reach. Such a refusal carries google.rpc.RetryInfo, and only such a refusal is
// retried, so a write is never applied twice: a call that may have reached the log
// (leadership lost while it committed) carries none and is reported as it is.
package grpcretry

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// maxDelay caps the wait between tries: an election takes about a second.
const maxDelay = time.Second

// Refusal is the status a server returns for a call it refused before its log, asking
// for a retry after delay.
func Refusal(code codes.Code, msg string, delay time.Duration) error {
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// Delay returns the wait a refusal asks for, and whether err is one.
func Delay(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// UnaryClientInterceptor retries refused calls until they succeed, fail otherwise, or
// the call's context ends (then the last refusal is returned, which says why).
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		for try := 0; ; try++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			delay, ok := Delay(err)
			if !ok {
				return err
			}
			delay = min(max(delay, 10*time.Millisecond)<<min(try, 6), maxDelay)
			if dl, has := ctx.Deadline(); has && time.Until(dl) < delay {
				return err
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
	}
}
