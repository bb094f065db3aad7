package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
)

// HoldsWorker reports whether the worker's own stream is attached to this node, and the
// stream's ID there (a reconnection gets a new one), for the cluster tests in package
// coordinator_test.
func (s *Server) HoldsWorker(id string) (uint64, bool) {
	if s.fleet.Relayed(id) {
		return 0, false
	}
	c := s.fleet.ConnID(id)
	return c, c != 0
}

// RelaysWorker reports whether another node relays the worker's stream to this one.
func (s *Server) RelaysWorker(id string) bool { return s.fleet.Relayed(id) }

// RelaysServed is the number of followers' relays this node serves.
func (s *Server) RelaysServed() int64 { return s.relaysServed.Load() }

// TransferLeadership hands this node's leadership to to.
func (s *Server) TransferLeadership(to *Server) error {
	return s.raft.LeadershipTransferToServer(raft.ServerID(to.NodeID()), raft.ServerAddress(to.RaftAddr())).Error()
}

// TestBalance checks a node's share on a real FSM and fleet: with 30 live workers on 3
// nodes a node keeps up to ceil(31/3)+4+1 = 16 of its own, sends the next to another
// node, counts no relayed stream, and keeps a worker that was already redirected.
func TestBalance(t *testing.T) {
	s := &Server{cfg: Config{NodeID: "n1"}, fsm: fsm.New(), fleet: fleet.New(time.Now)}
	index := uint64(0)
	apply := func(cmd *murphyv1.Command) {
		t.Helper()
		index++
		cmd.At = timestamppb.Now()
		if err := s.fsm.ApplyCommand(index, cmd); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		apply(&murphyv1.Command{Cmd: &murphyv1.Command_RegisterNode{RegisterNode: &murphyv1.RegisterNode{Node: &murphyv1.Node{
			Id: fmt.Sprintf("n%d", i), RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i), GrpcAddr: fmt.Sprintf("127.0.0.1:%d", 8000+i),
		}}}})
	}
	for i := range 30 {
		apply(&murphyv1.Command{Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{WorkerId: fmt.Sprintf("w%d", i)}}})
	}
	for i := range 10 {
		s.fleet.AttachVia(&murphyv1.Hello{WorkerId: fmt.Sprintf("r%d", i)}, "n2")
	}
	ctx := context.Background()
	for i := range 16 {
		if to := s.balance(ctx, "new"); to != nil {
			t.Fatalf("with %d workers of its own, the node sends a new one to %s", i, to.Id)
		}
		s.fleet.Attach(&murphyv1.Hello{WorkerId: fmt.Sprintf("w%d", i)})
	}
	to := s.balance(ctx, "new")
	if to == nil || to.Id == "n1" {
		t.Fatalf("with 16 workers of its own, the node sends a new one to %v, want another node", to)
	}
	redirected := metadata.NewIncomingContext(ctx, metadata.Pairs(metadataRedirected, "true"))
	if to := s.balance(redirected, "new"); to != nil {
		t.Errorf("a redirected worker is sent on to %s", to.Id)
	}
	if metadataRedirected != worker.MetadataRedirected {
		t.Errorf("the coordinator reads %q, the worker sends %q", metadataRedirected, worker.MetadataRedirected)
	}
}

// snapshotSink keeps a persisted snapshot in memory.
type snapshotSink struct{ bytes.Buffer }

func (*snapshotSink) ID() string    { return "test" }
func (*snapshotSink) Cancel() error { return nil }
func (*snapshotSink) Close() error  { return nil }

// TestHaltInRestoredSnapshot: a follower that catches up by installing a snapshot applies
// no entry, yet a cluster halt in the snapshot reaches the workers it holds.
func TestHaltInRestoredSnapshot(t *testing.T) {
	leader := fsm.New()
	if err := leader.ApplyCommand(1, &murphyv1.Command{At: timestamppb.Now(), Cmd: &murphyv1.Command_HaltAll{HaltAll: &murphyv1.HaltAll{Reason: "drill"}}}); err != nil {
		t.Fatal(err)
	}
	snap, err := leader.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &snapshotSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}

	s := &Server{cfg: Config{NodeID: "n2", Now: time.Now}, fsm: fsm.New(), fleet: fleet.New(time.Now), stop: make(chan struct{})}
	s.halts = newHaltSender(s)
	s.fsm.Observe(s.halts.observe)
	s.wg.Add(1)
	go s.halts.run()
	defer func() { close(s.stop); s.wg.Wait() }()
	conn := s.fleet.Attach(&murphyv1.Hello{WorkerId: "w1"})

	if err := (raftFSM{FSM: s.fsm, restored: s.halts.restored}).Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("no halt queued for the worker after the snapshot")
	}
	q := conn.Take()
	if len(q) != 1 || q[0].Msg.GetHalt().GetReason() != "drill" {
		t.Fatalf("queued %v, want the cluster halt", q)
	}
}

// TestRelayBatches: queued frames leave in order, several to a message, no message over
// relayBatchBytes unless one frame alone is larger, and a full backlog refuses more.
func TestRelayBatches(t *testing.T) {
	frame := func(stream uint64, bytes int) *murphyv1.RelayUp {
		return &murphyv1.RelayUp{Stream: stream, Msg: &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: string(make([]byte, bytes))}}}}
	}
	for _, tc := range []struct {
		name    string
		sizes   []int
		batches []int // frames per message
	}{
		{"small frames share a message", []int{10, 10, 10}, []int{3}},
		{"a batch stops short of the bound", []int{600 << 10, 600 << 10, 10}, []int{1, 2}},
		{"a larger frame goes alone", []int{10, 2 << 20, 10}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := frames[*murphyv1.RelayUp]{ready: make(chan struct{}, 1)}
			for i, n := range tc.sizes {
				if !q.push(frame(uint64(i), n)) {
					t.Fatal("push refused")
				}
			}
			var got []int
			next := uint64(0)
			err := q.drain(func(b []*murphyv1.RelayUp) error {
				got = append(got, len(b))
				size := 0
				for _, f := range b {
					if f.Stream != next {
						t.Errorf("frame %d sent in place of %d", f.Stream, next)
					}
					next++
					size += proto.Size(f)
				}
				if len(b) > 1 && size > relayBatchBytes {
					t.Errorf("a message of %d frames holds %d bytes", len(b), size)
				}
				return nil
			})
			if err != nil || !slices.Equal(got, tc.batches) {
				t.Errorf("batches %v (%v), want %v", got, err, tc.batches)
			}
		})
	}
	q := frames[*murphyv1.RelayDown]{ready: make(chan struct{}, 1)}
	for i := range relayBacklog {
		if !q.push(&murphyv1.RelayDown{Stream: uint64(i)}) {
			t.Fatalf("frame %d refused", i)
		}
	}
	if q.push(&murphyv1.RelayDown{}) {
		t.Error("a full backlog took another frame")
	}
}
