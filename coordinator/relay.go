package coordinator

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// A follower relays the worker streams it holds to the leader over one ClusterService.Relay
// stream, whatever their number: each message is a batch of frames tagged with the relayed
// stream they belong to (DESIGN.md: "Any node holds worker streams").

// relayBatchBytes bounds one relay message, well under the 4 MiB a node receives; a frame
// larger than that goes alone.
const relayBatchBytes = 1 << 20

// relayBacklog bounds the frames waiting to be sent on one relay: a peer that reads
// nothing for that long loses the relay (its workers are attached again) rather than grow
// this node's memory.
const relayBacklog = 1 << 16

// relayQueue bounds the leader's messages waiting for one relayed worker, as the fleet
// bounds a worker's own queue: a worker that falls this far behind is attached again.
const relayQueue = 256

var (
	errRelayEnded = errors.New("the relay to the leader ended")
	errRelayFull  = errors.New("the relay's backlog is full")
)

// frames is a queue of frames for one relay stream, sent in batches by one goroutine.
type frames[F proto.Message] struct {
	mu    sync.Mutex
	out   []F
	ready chan struct{}
}

// push queues f, reporting false when the backlog is full.
func (q *frames[F]) push(f F) bool {
	q.mu.Lock()
	if len(q.out) >= relayBacklog {
		q.mu.Unlock()
		return false
	}
	q.out = append(q.out, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// drain sends the queued frames, several to a message.
func (q *frames[F]) drain(send func([]F) error) error {
	for {
		batch, more := q.batch()
		if len(batch) > 0 {
			if err := send(batch); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// batch takes the queued frames up to relayBatchBytes (at least one); more reports
// whether frames remain.
func (q *frames[F]) batch() (batch []F, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	size, n := 0, 0
	for n < len(q.out) && (n == 0 || size+proto.Size(q.out[n]) <= relayBatchBytes) {
		size += proto.Size(q.out[n])
		n++
	}
	batch = q.out[:n:n]
	if n == len(q.out) {
		q.out = nil
	} else {
		q.out = q.out[n:]
	}
	return batch, len(q.out) > 0
}

// relayClient is a follower's relay to the current leader.
type relayClient struct {
	s   *Server
	mu  sync.Mutex
	cur *relaySession
}

// relaySession is one Relay stream to one leader. It ends as a whole: every stream
// relayed on it is then attached again, to whichever node leads.
type relaySession struct {
	s      *Server
	leader string
	ctx    context.Context
	cancel context.CancelFunc
	up     frames[*murphyv1.RelayUp]

	mu      sync.Mutex
	next    uint64
	streams map[uint64]*relayed
	done    bool
}

// relayed is one worker stream as a follower relays it: the leader's messages for the
// worker queue here until the worker's stream takes them.
type relayed struct {
	sess  *relaySession
	id    uint64
	ready chan struct{}
	end   chan error // io.EOF when the leader ended it for good
	in    []*murphyv1.ConnectResponse
}

// attach relays a worker stream to the leader, starting with its hello. errModeChanged
// means no leader can hear it now.
func (c *relayClient) attach(hello *murphyv1.Hello) (*relayed, error) {
	sess, err := c.session()
	if err != nil {
		return nil, err
	}
	r := &relayed{sess: sess, ready: make(chan struct{}, 1), end: make(chan error, 1)}
	sess.mu.Lock()
	if sess.done {
		sess.mu.Unlock()
		return nil, errModeChanged
	}
	sess.next++
	r.id = sess.next
	sess.streams[r.id] = r
	sess.mu.Unlock()
	if err := r.send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: hello}}); err != nil {
		r.detach()
		return nil, errModeChanged
	}
	return r, nil
}

// session returns the relay to the current leader, opening it if needed.
func (c *relayClient) session() (*relaySession, error) {
	s := c.s
	id, addr := s.leaderAddr()
	if id == "" || addr == "" || id == s.cfg.NodeID {
		return nil, errModeChanged // no leader yet, or this node is about to lead
	}
	select {
	case <-s.stop:
		return nil, errModeChanged
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.cur; cur != nil {
		if cur.leader == id && !cur.ended() {
			return cur, nil
		}
		// The leader changed before its relay ended: the old one's streams go to the new.
		cur.fail(errRelayEnded)
		c.cur = nil
	}
	cc, err := s.dial(addr)
	if err != nil {
		return nil, errModeChanged
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := murphyv1.NewClusterServiceClient(cc).Relay(metadata.NewOutgoingContext(ctx, s.relayMD))
	if err != nil {
		cancel()
		return nil, errModeChanged
	}
	sess := &relaySession{s: s, leader: id, ctx: ctx, cancel: cancel, streams: map[uint64]*relayed{}}
	sess.up.ready = make(chan struct{}, 1)
	s.wg.Add(2)
	go sess.send(stream)
	go sess.receive(stream)
	c.cur = sess
	return sess, nil
}

func (sess *relaySession) ended() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.done
}

// fail ends the session and tells every stream relayed on it.
func (sess *relaySession) fail(err error) {
	sess.cancel()
	sess.mu.Lock()
	streams := sess.streams
	sess.streams, sess.done = nil, true
	sess.mu.Unlock()
	for _, r := range streams {
		r.finish(err)
	}
}

func (sess *relaySession) send(stream murphyv1.ClusterService_RelayClient) {
	defer sess.s.wg.Done()
	for {
		select {
		case <-sess.up.ready:
		case <-sess.ctx.Done():
			return
		case <-sess.s.stop:
			sess.fail(errUnavailable)
			return
		}
		if err := sess.up.drain(func(batch []*murphyv1.RelayUp) error {
			return stream.Send(&murphyv1.RelayRequest{Frames: batch})
		}); err != nil {
			sess.fail(errRelayEnded)
			return
		}
	}
}

func (sess *relaySession) receive(stream murphyv1.ClusterService_RelayClient) {
	defer sess.s.wg.Done()
	for {
		m, err := stream.Recv()
		if err != nil {
			sess.fail(errRelayEnded)
			return
		}
		for _, f := range m.Frames {
			sess.mu.Lock()
			r := sess.streams[f.Stream]
			if r != nil && f.Detach {
				delete(sess.streams, f.Stream)
			}
			if r != nil && !f.Detach && f.Msg == nil {
				r = nil // nothing for the worker
			}
			full := r != nil && !f.Detach && len(r.in) >= relayQueue
			if r != nil && !f.Detach && !full {
				r.in = append(r.in, f.Msg)
			}
			sess.mu.Unlock()
			switch {
			case r == nil:
			case f.Detach && f.Error == "":
				r.finish(io.EOF)
			case f.Detach:
				r.finish(errors.New(f.Error))
			case full:
				r.finish(errRelayFull)
			default:
				select {
				case r.ready <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (r *relayed) finish(err error) {
	select {
	case r.end <- err:
	default:
	}
}

// send relays one of the worker's messages; an error means it was not, and the caller
// keeps it for the next leader.
func (r *relayed) send(m *murphyv1.ConnectRequest) error {
	if r.sess.ended() {
		return errRelayEnded
	}
	if !r.sess.up.push(&murphyv1.RelayUp{Stream: r.id, Msg: m}) {
		r.sess.fail(errRelayFull)
		return errRelayFull
	}
	return nil
}

// take returns the leader's messages for the worker, in order.
func (r *relayed) take() []*murphyv1.ConnectResponse {
	r.sess.mu.Lock()
	defer r.sess.mu.Unlock()
	in := r.in
	r.in = nil
	return in
}

// detach stops relaying the stream; the leader forgets it.
func (r *relayed) detach() {
	sess := r.sess
	sess.mu.Lock()
	current := sess.streams[r.id] == r
	if current {
		delete(sess.streams, r.id)
	}
	sess.mu.Unlock()
	if current {
		sess.up.push(&murphyv1.RelayUp{Stream: r.id, Detach: true})
	}
}

// relayServer is, on the leader, one follower's relay: each stream relayed on it is
// attached to the fleet as the follower's, and served like a worker's own stream.
type relayServer struct {
	s      *Server
	via    string
	ctx    context.Context
	cancel context.CancelFunc
	down   frames[*murphyv1.RelayDown]

	mu sync.Mutex
	// streams holds the relayed streams by their ID on the relay; nil while the worker's
	// registration is under way.
	streams map[uint64]*fleet.Conn
	closed  bool
}

// Relay serves a follower's relay of its worker streams while this node leads. It ends
// when this node stops leading; the follower then attaches its workers to the new leader.
func (c *clusterService) Relay(stream murphyv1.ClusterService_RelayServer) error {
	s := c.s
	via := s.relayedBy(stream.Context())
	if via == "" {
		return fail(errDenied, "only a coordinator relays worker streams")
	}
	term := s.termChanged()
	if !s.leads() {
		return fail(errNotApplied, "coordinator %s does not lead; relay to the leader", s.cfg.NodeID)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	rs := &relayServer{s: s, via: via, ctx: ctx, cancel: cancel, streams: map[uint64]*fleet.Conn{}}
	rs.down.ready = make(chan struct{}, 1)
	s.relaysServed.Add(1)
	defer s.relaysServed.Add(-1)
	defer rs.detachAll()
	recvErr := make(chan error, 1)
	go func() { recvErr <- rs.receive(stream) }()
	for {
		select {
		case <-rs.down.ready:
			if err := rs.down.drain(func(batch []*murphyv1.RelayDown) error {
				return stream.Send(&murphyv1.RelayResponse{Frames: batch})
			}); err != nil {
				return err
			}
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-ctx.Done():
			return fail(errUnavailable, "coordinator %s: the relay from %s ended (closed, or its backlog full)", s.cfg.NodeID, via)
		case <-term:
			return fail(errNotApplied, "coordinator %s stopped leading; relay to the new leader", s.cfg.NodeID)
		case <-s.stop:
			return fail(errUnavailable, "coordinator shutting down")
		}
	}
}

func (rs *relayServer) receive(stream murphyv1.ClusterService_RelayServer) error {
	s := rs.s
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, f := range m.Frames {
			hello := f.Msg.GetHello()
			if hello != nil && !f.Detach {
				if err := checkHello(hello); err != nil {
					rs.push(&murphyv1.RelayDown{Stream: f.Stream, Detach: true, Error: err.Error()})
					continue
				}
			}
			rs.mu.Lock()
			conn := rs.streams[f.Stream]
			switch {
			case f.Detach:
				delete(rs.streams, f.Stream)
			case hello != nil && !rs.closed:
				rs.streams[f.Stream] = nil
			}
			rs.mu.Unlock()
			switch {
			case f.Detach:
				if conn != nil {
					s.fleet.Detach(conn)
				}
			case hello != nil:
				go rs.serve(f.Stream, hello)
			case conn != nil && f.Msg != nil:
				if b := f.Msg.GetSamples(); b != nil {
					s.metrics.samplesIngested.Add(float64(len(b.Samples)))
				}
				if reply := s.fleet.Handle(conn, f.Msg); reply != nil {
					rs.push(&murphyv1.RelayDown{Stream: f.Stream, Msg: reply})
				}
			}
		}
	}
}

// push queues a frame for the follower; a follower that reads nothing loses its relay.
func (rs *relayServer) push(f *murphyv1.RelayDown) {
	if !rs.down.push(f) {
		rs.cancel()
	}
}

// serve registers and attaches one relayed worker stream, welcomes it, and passes the
// fleet's messages for the worker on until the stream is detached.
func (rs *relayServer) serve(id uint64, hello *murphyv1.Hello) {
	s := rs.s
	if err := s.registerWorker(rs.ctx, hello); err != nil {
		rs.push(&murphyv1.RelayDown{Stream: id, Detach: true, Error: err.Error()})
		return
	}
	rs.mu.Lock()
	if _, ok := rs.streams[id]; !ok || rs.closed {
		// Detached by the follower while the registration was under way.
		rs.mu.Unlock()
		return
	}
	conn := s.fleet.AttachVia(hello, rs.via)
	rs.streams[id] = conn
	// Queued under the lock: the welcome goes before any reply to the worker.
	rs.push(&murphyv1.RelayDown{Stream: id, Msg: s.welcomeMsg()})
	rs.mu.Unlock()
	s.pokeRunner()
	for {
		select {
		case <-conn.Ready():
			for _, o := range conn.Take() {
				rs.push(&murphyv1.RelayDown{Stream: id, Msg: o.Msg})
			}
		case <-conn.Done():
			rs.mu.Lock()
			current := rs.streams[id] == conn
			if current {
				delete(rs.streams, id)
			}
			rs.mu.Unlock()
			if !current {
				return // detached by the follower, or the relay ended
			}
			if s.leads() {
				// Replaced by a newer stream of the worker, or the worker was declared
				// lost: a clean end tells the follower to end the worker's stream too.
				rs.push(&murphyv1.RelayDown{Stream: id, Detach: true})
			} else {
				rs.push(&murphyv1.RelayDown{Stream: id, Detach: true, Error: "the node stopped leading"})
			}
			return
		case <-rs.ctx.Done():
			return
		}
	}
}

// detachAll ends every stream relayed on this relay.
func (rs *relayServer) detachAll() {
	rs.mu.Lock()
	streams := rs.streams
	rs.streams, rs.closed = map[uint64]*fleet.Conn{}, true
	rs.mu.Unlock()
	for _, c := range streams {
		if c != nil {
			rs.s.fleet.Detach(c)
		}
	}
}
