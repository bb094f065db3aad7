package worker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// maxRedirectHops is how many redirects are followed at once before backing off, so two
// nodes that each name the other as leader cannot spin.
const maxRedirectHops = 3

var (
	errSilent   = errors.New("coordinator silent for longer than the lease")
	errNoLeader = errors.New("coordinator has no leader")
)

// MetadataRedirected marks a stream opened on a coordinator's redirect: the node it
// names admits the worker even past its share of the fleet, so a worker is turned away
// at most once in a row.
const MetadataRedirected = "murphy-redirected"

// connectLoop keeps one stream to a coordinator until ctx ends: it rotates through the
// configured coordinators, follows redirects, and backs off with full jitter. Any node
// holds the stream (followers relay it to the leader), so workers start at a hash of
// their ID over the list and spread over the nodes they are given.
func (a *Agent) connectLoop(ctx context.Context) {
	next, hops, attempt := "", 0, 0
	h := fnv.New32a()
	h.Write([]byte(a.cfg.ID))
	i := int(h.Sum32() % uint32(len(a.cfg.Coordinators)))
	for ctx.Err() == nil {
		addr := next
		if addr == "" {
			addr = a.cfg.Coordinators[i%len(a.cfg.Coordinators)]
			i++
		}
		redirected := next != ""
		next = ""
		redirect, welcomed, err := a.session(ctx, addr, redirected)
		if ctx.Err() != nil {
			return
		}
		if welcomed {
			attempt, hops = 0, 0
		}
		if redirect != "" {
			a.log.Info("redirected", "from", addr, "to", redirect)
			next = redirect
			a.cfg.Policy.NoteCoordinator(redirect) // the leader's address is protected too
			if hops++; hops <= maxRedirectHops {
				continue
			}
		} else {
			a.log.Warn("coordinator stream ended", "addr", addr, "err", err)
		}
		attempt++
		if !sleep(ctx, a.backoff(attempt)) {
			return
		}
	}
}

// backoff is exponential with full jitter: uniform in [0, min(max, min·2^attempt)).
func (a *Agent) backoff(attempt int) time.Duration {
	ceil := a.cfg.BackoffMax
	if attempt < 30 {
		ceil = min(ceil, a.cfg.BackoffMin<<attempt)
	}
	return rand.N(ceil) + 1
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// session runs one stream. It returns the address it is redirected to, if it is, and
// whether the coordinator welcomed the worker. redirected marks a stream opened on a
// redirect.
func (a *Agent) session(ctx context.Context, addr string, redirected bool) (redirect string, welcomed bool, err error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, a.cfg.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return "", false, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	// A coordinator that died leaves an address where connecting hangs until the
	// kernel gives up (tens of seconds); give up sooner and try the next.
	if err := waitReady(ctx, conn, connectTimeout); err != nil {
		return "", false, fmt.Errorf("connect %s: %w", addr, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	octx := sctx
	if redirected {
		octx = metadata.AppendToOutgoingContext(sctx, MetadataRedirected, "true")
	}
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(octx)
	if err != nil {
		return "", false, fmt.Errorf("connect %s: %w", addr, err)
	}
	if err := stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: a.hello()}}); err != nil {
		return "", false, fmt.Errorf("send hello to %s: %w", addr, err)
	}

	recv := make(chan *murphyv1.ConnectResponse)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			// Contact is counted here, as the message arrives, not when the loop below
			// gets to it, so nothing the loop does can look like silence to the
			// dead-man's switch.
			a.touch()
			select {
			case recv <- m:
			case <-sctx.Done():
				return
			}
		}
	}()

	a.mu.Lock()
	helloTimeout := a.lease
	a.mu.Unlock()
	timeout := time.NewTimer(helloTimeout)
	defer timeout.Stop()
	select {
	case <-ctx.Done():
		return "", false, ctx.Err()
	case err := <-recvErr:
		return "", false, fmt.Errorf("await welcome from %s: %w", addr, err)
	case <-timeout.C:
		return "", false, fmt.Errorf("await welcome from %s: no answer within %s", addr, helloTimeout)
	case m := <-recv:
		if r := m.GetRedirect(); r != nil {
			if r.GetLeaderAddr() == "" {
				return "", false, errNoLeader
			}
			return r.GetLeaderAddr(), false, nil
		}
		w := m.GetWelcome()
		if w == nil {
			return "", false, fmt.Errorf("coordinator %s answered hello with %T, want welcome", addr, m.GetMsg())
		}
		a.welcome(w)
	}
	a.m.connected.Set(1)
	a.m.sessions.Inc()
	defer a.m.connected.Set(0)
	a.log.Info("connected", "coordinator", addr)

	a.replay()
	a.mu.Lock()
	hbInterval, lease := a.hbInterval, a.lease
	a.mu.Unlock()

	send := func(m *murphyv1.ConnectRequest) error { return stream.Send(m) }
	if err := a.flushOutbox(send); err != nil {
		return "", true, err
	}
	if err := a.flushSamples(send); err != nil {
		return "", true, err
	}
	hb := time.NewTicker(hbInterval)
	defer hb.Stop()
	flush := time.NewTicker(SampleFlushInterval)
	defer flush.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return "", true, ctx.Err()
		case err := <-recvErr:
			return "", true, fmt.Errorf("receive from %s: %w", addr, err)
		case m := <-recv:
			if r := m.GetRedirect(); r != nil { // the node sends the worker elsewhere
				if r.GetLeaderAddr() == "" {
					return "", true, errNoLeader
				}
				return r.GetLeaderAddr(), true, nil
			}
			if w := m.GetWelcome(); w != nil {
				// The node that holds this stream relays it to a new leader, which
				// has none of this worker's samples yet.
				a.welcome(w)
				a.replay()
				if err := a.flushSamples(send); err != nil {
					return "", true, err
				}
				continue
			}
			a.handle(m)
		case <-hb.C:
			a.mu.Lock()
			silent := time.Since(a.lastContact)
			a.mu.Unlock()
			if silent > lease {
				return "", true, errSilent
			}
			seq++
			hbm := &murphyv1.Heartbeat{Seq: seq, ActiveFaults: a.nActive.Load()}
			if err := send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Heartbeat{Heartbeat: hbm}}); err != nil {
				return "", true, fmt.Errorf("send heartbeat: %w", err)
			}
		case <-flush.C:
			if err := a.flushSamples(send); err != nil {
				return "", true, err
			}
		case <-a.notify:
		}
		if err := a.flushOutbox(send); err != nil {
			return "", true, err
		}
	}
}

// replay sends every sample kept for a run again, from the next flush on; the
// coordinator drops what it has by sequence number.
func (a *Agent) replay() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.runs {
		for _, u := range r.units {
			u.buf.Rewind()
		}
	}
}

func (a *Agent) welcome(w *murphyv1.Welcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lease, a.hbInterval = a.cfg.Lease, a.cfg.HeartbeatInterval
	if d := w.GetLease().AsDuration(); d > 0 {
		a.lease = d
	}
	if d := w.GetHeartbeatInterval().AsDuration(); d > 0 {
		a.hbInterval = d
	}
	if a.hbInterval >= a.lease {
		// A lease shorter than the heartbeat would fire the dead-man's switch between acks.
		a.hbInterval = a.lease / 3
	}
	a.lastContact = time.Now()
}

func (a *Agent) hello() *murphyv1.Hello {
	h := &murphyv1.Hello{
		WorkerId:     a.cfg.ID,
		Labels:       a.cfg.Labels,
		Capabilities: slices.Clone(a.caps),
		Version:      a.cfg.Version,
		Limits:       &murphyv1.WorkerLimits{DiskPaths: slices.Clone(a.cfg.Policy.DiskPaths)},
	}
	if d := a.cfg.Policy.MaxDuration; d > 0 {
		h.Limits.MaxDuration = durationpb.New(d)
	}
	a.faultMu.Lock()
	for _, act := range a.faults {
		h.ActiveFaults = append(h.ActiveFaults, act.af)
	}
	a.faultMu.Unlock()
	slices.SortFunc(h.ActiveFaults, func(x, y *murphyv1.ActiveFault) int {
		return strings.Compare(x.AssignmentId, y.AssignmentId)
	})
	a.mu.Lock()
	for run := range a.runs {
		h.ProbingRuns = append(h.ProbingRuns, run)
	}
	a.mu.Unlock()
	slices.Sort(h.ProbingRuns)
	if a.pods != nil {
		h.Targets, _ = a.pods.Current()
	}
	return h
}

// handle applies one coordinator message; answers go through the outbox. It runs on the
// session loop, which also sends the heartbeats, so it never waits for an executor: fault
// messages are registered here, in arrival order, and carried out in goroutines.
func (a *Agent) handle(m *murphyv1.ConnectResponse) {
	switch msg := m.GetMsg().(type) {
	case *murphyv1.ConnectResponse_HeartbeatAck, *murphyv1.ConnectResponse_Welcome:
		// Contact is all they carry.
	case *murphyv1.ConnectResponse_Assign:
		a.receiveAssign(msg.Assign)
	case *murphyv1.ConnectResponse_Revert:
		a.receiveRevert(msg.Revert)
	case *murphyv1.ConnectResponse_Halt:
		a.receiveHalt(msg.Halt)
	case *murphyv1.ConnectResponse_StartProbes:
		if err := a.startProbes(msg.StartProbes); err != nil {
			// The contract has no message for a probe error; the coordinator sees no
			// samples and the run's analysis reports too few.
			a.log.Error("start probes", "run_id", msg.StartProbes.GetRunId(), "err", err)
		}
	case *murphyv1.ConnectResponse_StopProbes:
		a.stopProbes(msg.StopProbes.GetRunId())
	default:
		a.log.Warn("ignoring unknown message from the coordinator", "type", fmt.Sprintf("%T", msg))
	}
}

func stepStatus(st *murphyv1.StepStatus) *murphyv1.ConnectRequest {
	return &murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_StepStatus{StepStatus: st}}
}

// flushOutbox sends queued messages in order; what a failed send leaves stays queued
// for the next stream.
func (a *Agent) flushOutbox(send func(*murphyv1.ConnectRequest) error) error {
	a.mu.Lock()
	q := a.outbox
	a.outbox = nil
	a.mu.Unlock()
	for i, m := range q {
		if err := send(m); err != nil {
			a.mu.Lock()
			a.outbox = append(q[i:], a.outbox...)
			a.mu.Unlock()
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

func (a *Agent) flushSamples(send func(*murphyv1.ConnectRequest) error) error {
	a.mu.Lock()
	var batches []*murphyv1.Samples
	for id, r := range a.runs {
		for _, u := range r.units {
			batches = append(batches, u.buf.Next(SampleBatch)...)
		}
		if r.expired {
			delete(a.runs, id) // everything it held is now on its way
		}
	}
	a.mu.Unlock()
	for _, b := range batches {
		if err := send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Samples{Samples: b}}); err != nil {
			return fmt.Errorf("send samples: %w", err)
		}
	}
	return nil
}

// connectTimeout bounds how long a worker waits for a connection to one coordinator.
const connectTimeout = 2 * time.Second

// waitReady waits until conn is connected, or fails after d.
func waitReady(ctx context.Context, conn *grpc.ClientConn, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	conn.Connect()
	for {
		st := conn.GetState()
		if st == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, st) {
			return fmt.Errorf("not connected within %s (last state %s)", d, st)
		}
	}
}
