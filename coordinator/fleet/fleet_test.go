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

// TestContactFollowsTheStream checks that a worker's last contact is the same whether
// its stream holds it or the fleet's map does: while attached, after it detaches, when a
// leader resets the clocks, and that an attached worker takes no entry in the map.
func TestContactFollowsTheStream(t *testing.T) {
	now := time.Unix(1000, 0)
	f := New(func() time.Time { return now })
	hb := &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: &murphyv1.Heartbeat{Seq: 1}}}
	c := f.Attach(&murphyv1.Hello{WorkerId: "w1"})
	if got := f.LastContact("w1"); !got.Equal(now) {
		t.Fatalf("contact on attach %v, want %v", got, now)
	}
	now = now.Add(time.Second)
	f.Handle(c, hb)
	heard := now
	if got := f.LastContact("w1"); !got.Equal(heard) {
		t.Fatalf("contact after a heartbeat %v, want %v", got, heard)
	}
	f.mu.Lock()
	_, inMap := f.contact["w1"]
	f.mu.Unlock()
	if inMap {
		t.Error("an attached worker holds an entry in the map of contacts")
	}
	now = now.Add(time.Minute)
	f.Detach(c)
	if got := f.LastContact("w1"); !got.Equal(heard) {
		t.Fatalf("contact after detach %v, want the last heartbeat's %v", got, heard)
	}
	// A stream replaced by the worker's next one keeps nothing older than the new one.
	c2 := f.Attach(&murphyv1.Hello{WorkerId: "w1"})
	if got := f.LastContact("w1"); !got.Equal(now) {
		t.Fatalf("contact after reattach %v, want %v", got, now)
	}
	// Dropped as a relayed stream or with every stream, the contact is kept.
	now = now.Add(time.Second)
	f.Handle(c2, hb)
	heard = now
	now = now.Add(time.Minute)
	f.DropAll()
	if got := f.LastContact("w1"); !got.Equal(heard) {
		t.Fatalf("contact after DropAll %v, want %v", got, heard)
	}
	r := f.AttachVia(&murphyv1.Hello{WorkerId: "w2"}, "n2")
	now = now.Add(time.Second)
	f.Handle(r, hb)
	heard = now
	now = now.Add(time.Minute)
	f.DropRelayed()
	if got := f.LastContact("w2"); !got.Equal(heard) {
		t.Fatalf("contact of a relayed worker after DropRelayed %v, want %v", got, heard)
	}
	// A new leader starts every listed worker's clock, attached or not, and forgets the rest.
	f.Attach(&murphyv1.Hello{WorkerId: "w3"})
	now = now.Add(time.Hour)
	f.Reset([]string{"w1", "w3"})
	for _, w := range []string{"w1", "w3"} {
		if got := f.LastContact(w); !got.Equal(now) {
			t.Errorf("%s: contact after reset %v, want %v", w, got, now)
		}
	}
	if got := f.LastContact("w2"); !got.IsZero() {
		t.Errorf("an unlisted worker kept contact %v across a reset", got)
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
