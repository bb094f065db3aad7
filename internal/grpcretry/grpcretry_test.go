package grpcretry

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestUnaryClientInterceptor(t *testing.T) {
	refusal := Refusal(codes.Unavailable, "no leader elected yet", 5*time.Millisecond)
	ambiguous := status.Error(codes.Unavailable, "leadership lost while committing log")
	for _, tc := range []struct {
		name    string
		answers []error
		timeout time.Duration
		calls   int
		want    error
	}{
		{"refused twice, then served", []error{refusal, refusal, nil}, time.Second, 3, nil},
		{"an ambiguous failure is not retried", []error{ambiguous, nil}, time.Second, 1, ambiguous},
		{"other errors are not retried", []error{status.Error(codes.InvalidArgument, "bad spec"), nil}, time.Second, 1, status.Error(codes.InvalidArgument, "bad spec")},
		{"refused until the deadline: the last refusal", []error{refusal, refusal, refusal, refusal, refusal, refusal, refusal, refusal, refusal, refusal}, 30 * time.Millisecond, -1, refusal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
				calls++
				if calls > len(tc.answers) {
					return refusal
				}
				return tc.answers[calls-1]
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			err := UnaryClientInterceptor()(ctx, "/m", nil, nil, nil, invoker)
			if status.Code(err) != status.Code(tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if tc.calls >= 0 && calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
			if tc.calls < 0 && (calls < 2 || calls > 8) {
				t.Errorf("%d calls within %s", calls, tc.timeout)
			}
		})
	}
	if _, ok := Delay(errors.New("plain")); ok {
		t.Error("a plain error read as a refusal")
	}
	if d, ok := Delay(refusal); !ok || d != 5*time.Millisecond {
		t.Errorf("Delay(refusal) = %v, %v", d, ok)
	}
}
