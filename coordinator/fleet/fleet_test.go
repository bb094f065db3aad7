package fleet

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestQueueKeepsOrderAndBound(t *testing.T) {
	f := New(time.Now)
	c := f.Attach(&murphyv1.Hello{WorkerId: "w1"})
	if c.Take() != nil {
		t.Fatal("a new stream has messages queued")
	}
	for i := range sendBuffer {
		if !f.Send("w1", &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_HeartbeatAck{HeartbeatAck: &murphyv1.HeartbeatAck{Seq: uint64(i)}}}) {
			t.Fatalf("message %d refused below the bound", i)
		}
	}
	select {
	case <-c.Ready():
	default:
		t.Fatal("queued messages did not signal the sender")
	}
	if f.Send("w1", &murphyv1.ConnectResponse{}) {
		t.Fatal("a message past the bound was queued")
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("a worker past the bound kept its stream")
	}
	got := c.Take()
	if len(got) != sendBuffer {
		t.Fatalf("took %d messages, want %d", len(got), sendBuffer)
	}
	for i, o := range got {
		if o.Msg.GetHeartbeatAck().GetSeq() != uint64(i) {
			t.Fatalf("message %d is %v: out of order", i, o.Msg)
		}
	}
	if c.Take() != nil {
		t.Error("Take left messages queued")
	}
}

func TestAttachKeepsNoEmptyMaps(t *testing.T) {
	f := New(time.Now)
	f.Attach(&murphyv1.Hello{WorkerId: "w1", ActiveFaults: []*murphyv1.ActiveFault{{AssignmentId: "a1", RunId: "r1"}}, ProbingRuns: []string{"r1"}})
	if len(f.ActiveFaults("w1")) != 1 || !f.Probing("w1", "r1") {
		t.Fatal("the hello's faults and probes were not kept")
	}
	// Reconnecting with nothing active forgets what the old stream reported.
	f.Attach(&murphyv1.Hello{WorkerId: "w1"})
	if len(f.ActiveFaults("w1")) != 0 || f.Probing("w1", "r1") {
		t.Error("a fresh hello kept the previous stream's faults or probes")
	}
	f.mu.Lock()
	_, faults := f.faults["w1"]
	_, probing := f.probing["w1"]
	f.mu.Unlock()
	if faults || probing {
		t.Error("an idle worker holds empty maps")
	}
}

// sharedServer sends one Shared message on every stream that connects.
type sharedServer struct {
	murphyv1.UnimplementedWorkerServiceServer
	msg *Shared
}

func (s *sharedServer) Connect(stream murphyv1.WorkerService_ConnectServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	return SendTo(stream, s.msg.Outbound())
}

// TestSharedMessageOnManyStreams checks that a message marshalled once by the first
// stream arrives intact on every other.
func TestSharedMessageOnManyStreams(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	want := &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{RunId: "r1", Reason: "guardrail latency_p99 breached"}}}
	srv := grpc.NewServer()
	shared := NewShared(want)
	murphyv1.RegisterWorkerServiceServer(srv, &sharedServer{msg: shared})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	for i := range 3 {
		conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(ctx)
		if err == nil {
			err = stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: "w"}}})
		}
		var got *murphyv1.ConnectResponse
		if err == nil {
			got, err = stream.Recv()
		}
		cancel()
		conn.Close()
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("stream %d received %v, want %v", i, got, want)
		}
	}
	if shared.prepared == nil {
		t.Error("the message was not prepared once for all streams")
	}
}
