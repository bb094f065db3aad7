// Package fleet is the leader's live view of its workers: the open Connect streams, when
// each worker was last heard from, the faults it reports active, and the probe samples it
// streams. All of it is soft state: it lives in memory, is rebuilt when workers reconnect
// to a new leader, and never enters the replicated log. Decisions drawn from it (a worker
// lost, a verdict) are committed by the runner.
package fleet

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// sendBuffer bounds the messages queued for one worker. A worker that falls this far
// behind is disconnected rather than allowed to grow the leader's memory.
const sendBuffer = 256

// Conn is one worker's attached stream.
//
// Its queue is a slice grown on demand, not a buffered channel: a channel of sendBuffer
// slots costs 2 KiB per worker even while the worker is idle, which is most of the time
// for most workers.
type Conn struct {
	// ID identifies this stream among all streams the fleet has attached, so a sender can
	// tell "queued on this stream" (delivered unless the stream breaks) from "the worker
	// reconnected since".
	ID       uint64
	WorkerID string
	// Via is the node that holds the worker's own stream and relays it here, or empty
	// when the worker is connected to this node. A relayed worker's halts leave from the
	// node that holds its stream (see the coordinator's DESIGN.md).
	Via string
	// The worker's labels and capabilities are not kept here: the replicated state
	// holds them (registerWorker commits any change before the stream attaches), and a
	// copy per stream would cost every idle worker the size of its labels again.
	Connected time.Time
	ready     chan struct{} // signalled when queue becomes non-empty
	done      chan struct{}
	closeOnce sync.Once
	qmu       sync.Mutex
	queue     []Outbound
	// heard is when the worker was last heard on this stream, kept here rather than in
	// the fleet's map of contacts so that a message costs no lookup by worker ID under
	// the fleet's lock, and an attached worker no entry in that map (Detach moves it
	// there). Guarded by qmu.
	heard time.Time
}

func (c *Conn) setHeard(t time.Time) {
	c.qmu.Lock()
	c.heard = t
	c.qmu.Unlock()
}

func (c *Conn) lastHeard() time.Time {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.heard
}

// Outbound is one message queued for a worker. Shared is set when the same message goes
// unchanged to many workers; Msg is always set.
type Outbound struct {
	Msg    *murphyv1.ConnectResponse
	Shared *Shared
}

// Ready is signalled when messages are queued; the stream's sender then calls Take.
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// Take returns the queued messages in order and empties the queue.
func (c *Conn) Take() []Outbound {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	q := c.queue
	c.queue = nil // an idle worker holds no queue
	return q
}

// push queues o, reporting false when the queue is full.
func (c *Conn) push(o Outbound) bool {
	c.qmu.Lock()
	if len(c.queue) >= sendBuffer {
		c.qmu.Unlock()
		return false
	}
	c.queue = append(c.queue, o)
	c.qmu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
	return true
}

// Done is closed when the fleet drops the connection (leadership lost, replaced, stalled).
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) close() { c.closeOnce.Do(func() { close(c.done) }) }

// Event is a worker message the runner must act on (step status, halt ack).
type Event struct {
	WorkerID string
	Msg      *murphyv1.ConnectRequest
}

// Fleet tracks the workers attached to this node. Safe for concurrent use.
type Fleet struct {
	mu      sync.Mutex
	now     func() time.Time
	conns   map[string]*Conn
	contact map[string]time.Time                        // workers without a stream here; see Conn.heard
	faults  map[string]map[string]*murphyv1.ActiveFault // worker -> assignment -> fault
	probing map[string]map[string]bool                  // worker -> runs it probes for
	// targets holds a worker's targets when it reported them after its hello.
	targets map[string][]*murphyv1.Target
	samples *Samples
	events  chan Event
	wake    chan struct{}
	nextID  uint64

	member   Membership                     // limits.go
	onReject func(worker string, err error) // limits.go
	rejected atomic.Uint64
}

// New returns an empty fleet. now is the clock (injected for tests).
func New(now func() time.Time) *Fleet {
	return &Fleet{
		now:     now,
		conns:   map[string]*Conn{},
		contact: map[string]time.Time{},
		faults:  map[string]map[string]*murphyv1.ActiveFault{},
		probing: map[string]map[string]bool{},
		targets: map[string][]*murphyv1.Target{},
		samples: NewSamples(),
		events:  make(chan Event, 4096),
		wake:    make(chan struct{}, 1),
	}
}

// Events delivers step statuses and halt acks to the runner.
func (f *Fleet) Events() <-chan Event { return f.events }

// Wake is signalled when something happened that the runner may want to act on at once.
func (f *Fleet) Wake() <-chan struct{} { return f.wake }

func (f *Fleet) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Samples is the sample store.
func (f *Fleet) Samples() *Samples {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.samples
}

// Attach registers a worker's stream after its hello. A previous stream of the same worker
// is closed: the newest connection wins.
func (f *Fleet) Attach(h *murphyv1.Hello) *Conn { return f.AttachVia(h, "") }

// AttachVia is Attach for a stream that node via holds and relays here ("" for the
// worker's own stream).
func (f *Fleet) AttachVia(h *murphyv1.Hello, via string) *Conn {
	c := &Conn{
		WorkerID:  h.WorkerId,
		Via:       via,
		Connected: f.now(),
		ready:     make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	c.heard = c.Connected
	f.mu.Lock()
	f.nextID++
	c.ID = f.nextID
	if old, ok := f.conns[h.WorkerId]; ok {
		old.close()
	}
	f.conns[h.WorkerId] = c
	delete(f.contact, h.WorkerId)
	// An idle worker reports no faults and probes for no run: keep no empty maps for it
	// (trackFault and SetProbing make them when needed).
	delete(f.faults, h.WorkerId)
	if len(h.ActiveFaults) > 0 {
		faults := make(map[string]*murphyv1.ActiveFault, len(h.ActiveFaults))
		for _, af := range h.ActiveFaults {
			faults[af.AssignmentId] = af
		}
		f.faults[h.WorkerId] = faults
	}
	delete(f.targets, h.WorkerId)
	delete(f.probing, h.WorkerId)
	if len(h.ProbingRuns) > 0 {
		probing := make(map[string]bool, len(h.ProbingRuns))
		for _, r := range h.ProbingRuns {
			probing[r] = true
		}
		f.probing[h.WorkerId] = probing
	}
	f.mu.Unlock()
	f.poke()
	return c
}

// Detach forgets c if it is still the worker's current stream.
func (f *Fleet) Detach(c *Conn) {
	f.mu.Lock()
	if f.conns[c.WorkerID] == c {
		delete(f.conns, c.WorkerID)
	}
	f.keepContact(c)
	f.mu.Unlock()
	c.close()
	f.poke()
}

// Drop closes the worker's stream, if any; the worker reconnects if it can.
func (f *Fleet) Drop(worker string) {
	f.mu.Lock()
	c, ok := f.conns[worker]
	f.mu.Unlock()
	if ok {
		f.Detach(c)
	}
}

// DropAll closes every stream; the leader calls it when it steps down so workers move on.
func (f *Fleet) DropAll() {
	f.mu.Lock()
	conns := slices.Collect(maps.Values(f.conns))
	f.conns = map[string]*Conn{}
	for _, c := range conns {
		f.keepContact(c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// DropRelayed closes the streams other nodes relay here and keeps the workers' own: a
// leader that steps down stops serving relays (their nodes re-attach them to the new
// leader), while the workers connected to it stay, relayed in turn.
func (f *Fleet) DropRelayed() {
	f.mu.Lock()
	var conns []*Conn
	for w, c := range f.conns {
		if c.Via != "" {
			conns = append(conns, c)
			delete(f.conns, w)
			f.keepContact(c)
		}
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Relayed reports whether the worker's current stream is relayed by another node.
func (f *Fleet) Relayed(worker string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.conns[worker]
	return ok && c.Via != ""
}

// Direct lists the workers whose own streams this node holds (relayed ones excluded),
// sorted: the workers whose halts leave from this node.
func (f *Fleet) Direct() []string {
	f.mu.Lock()
	out := make([]string, 0, len(f.conns))
	for w, c := range f.conns {
		if c.Via == "" {
			out = append(out, w)
		}
	}
	f.mu.Unlock()
	slices.Sort(out)
	return out
}

// DirectCount is len(Direct()) without the list.
func (f *Fleet) DirectCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.conns {
		if c.Via == "" {
			n++
		}
	}
	return n
}

// Reset starts every known worker's contact clock at now; the runner calls it on becoming
// leader so workers get a full lease to reconnect. It keeps the samples: workers may have
// reconnected and replayed theirs before the runner started, and replays are deduplicated
// by sequence number, so an old store only gains what it missed.
func (f *Fleet) Reset(workers []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.contact = map[string]time.Time{}
	for _, w := range workers {
		if c, ok := f.conns[w]; ok {
			c.setHeard(now)
			continue
		}
		f.contact[w] = now
	}
}

// Handle processes one message from a worker's stream. It returns the reply to send at
// once, if any.
func (f *Fleet) Handle(c *Conn, msg *murphyv1.ConnectRequest) *murphyv1.ConnectResponse {
	if !f.note(c, msg, true) {
		return nil
	}
	switch m := msg.Msg.(type) {
	case *murphyv1.ConnectRequest_Heartbeat:
		return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_HeartbeatAck{HeartbeatAck: &murphyv1.HeartbeatAck{Seq: m.Heartbeat.Seq}}}
	case *murphyv1.ConnectRequest_Samples:
		// Reset replaces the store when this node becomes leader; read it under the lock.
		// A pod's samples are the pod's (admit checked that this worker acts on it).
		key := c.WorkerID
		if u := m.Samples.GetUnit(); u != "" {
			key = u
		}
		f.Samples().Add(key, m.Samples)
	case *murphyv1.ConnectRequest_StepStatus, *murphyv1.ConnectRequest_HaltAck, *murphyv1.ConnectRequest_Targets:
		f.emit(Event{WorkerID: c.WorkerID, Msg: msg})
	}
	return nil
}

// Observe is Handle on a node that relays the worker's stream to the leader: it keeps
// what the node must know to re-announce the worker to another leader (its contact and
// the faults it reports active) and leaves the rest (samples, events) to the leader. It
// reports whether the message passed the limits; one that did not is not relayed. Run
// membership is left to the leader: this node may not have applied the run's groups yet
// when a worker answers an assignment the leader sent just after committing them.
func (f *Fleet) Observe(c *Conn, msg *murphyv1.ConnectRequest) bool { return f.note(c, msg, false) }

// note records contact and the faults a message reports, after the limits (and the run
// membership when member is set).
func (f *Fleet) note(c *Conn, msg *murphyv1.ConnectRequest, member bool) bool {
	c.setHeard(f.now())
	if !f.admitted(c.WorkerID, msg, member) {
		return false
	}
	switch m := msg.Msg.(type) {
	case *murphyv1.ConnectRequest_StepStatus:
		f.trackFault(c.WorkerID, m.StepStatus)
	case *murphyv1.ConnectRequest_HaltAck:
		f.mu.Lock()
		for _, id := range m.HaltAck.Reverted {
			delete(f.faults[c.WorkerID], id)
		}
		f.mu.Unlock()
	case *murphyv1.ConnectRequest_Targets:
		f.mu.Lock()
		f.targets[c.WorkerID] = m.Targets.GetTargets()
		f.mu.Unlock()
	}
	return true
}

// Announce is the worker's hello as this node knows the worker now: the one it sent,
// with the faults and the probes it has reported since. A node that relays the worker
// sends it to each new leader, so the leader learns what a reconnecting worker would
// have told it, without the worker reconnecting.
func (f *Fleet) Announce(h *murphyv1.Hello) *murphyv1.Hello {
	out := proto.CloneOf(h)
	f.mu.Lock()
	defer f.mu.Unlock()
	out.ActiveFaults = out.ActiveFaults[:0]
	for _, id := range slices.Sorted(maps.Keys(f.faults[h.WorkerId])) {
		out.ActiveFaults = append(out.ActiveFaults, proto.CloneOf(f.faults[h.WorkerId][id]))
	}
	out.ProbingRuns = slices.Sorted(maps.Keys(f.probing[h.WorkerId]))
	if ts, ok := f.targets[h.WorkerId]; ok {
		out.Targets = ts
	}
	return out
}

func (f *Fleet) trackFault(worker string, st *murphyv1.StepStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	faults := f.faults[worker]
	if faults == nil {
		faults = map[string]*murphyv1.ActiveFault{}
		f.faults[worker] = faults
	}
	switch st.State {
	case murphyv1.FaultState_FAULT_STATE_INJECTED:
		faults[st.AssignmentId] = &murphyv1.ActiveFault{AssignmentId: st.AssignmentId, RunId: st.RunId, Step: st.Step, InjectedAt: st.At}
	case murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.FaultState_FAULT_STATE_FAILED:
		delete(faults, st.AssignmentId)
	}
}

func (f *Fleet) emit(ev Event) {
	// The runner files events as they come; if it is that far behind, blocking the
	// worker's stream is the right back-pressure.
	f.events <- ev
}

// Send queues msg for the worker. It reports false when the worker is not attached here or
// its queue is full (the stream is then dropped so the worker reconnects and resyncs).
func (f *Fleet) Send(worker string, msg *murphyv1.ConnectResponse) bool {
	return f.Queue(worker, Outbound{Msg: msg})
}

// Queue is Send for a message that may be shared (see Shared.Outbound).
func (f *Fleet) Queue(worker string, o Outbound) bool {
	f.mu.Lock()
	c, ok := f.conns[worker]
	f.mu.Unlock()
	if !ok {
		return false
	}
	if c.push(o) {
		return true
	}
	f.Detach(c)
	return false
}

// QueueDirect is Queue for a worker whose own stream this node holds; it sends nothing
// to a worker another node relays here (that node sends it its halts).
func (f *Fleet) QueueDirect(worker string, o Outbound) bool {
	f.mu.Lock()
	c, ok := f.conns[worker]
	f.mu.Unlock()
	if !ok || c.Via != "" {
		return false
	}
	if c.push(o) {
		return true
	}
	f.Detach(c)
	return false
}

// Reannounced restarts the worker's clocks when its stream, held all along, is heard by a
// new leader: the leader waits a full replay from it (ConnectedSince) and a full lease.
func (f *Fleet) Reannounced(c *Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Connected = f.now()
	c.setHeard(c.Connected)
}

// keepContact moves the contact of a stream leaving the fleet to the map of contacts,
// unless the map has a later one. Called with f.mu held.
func (f *Fleet) keepContact(c *Conn) {
	if t := c.lastHeard(); t.After(f.contact[c.WorkerID]) {
		f.contact[c.WorkerID] = t
	}
}

// ConnID returns the ID of the worker's current stream, or 0 when it has none.
func (f *Fleet) ConnID(worker string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[worker]; ok {
		return c.ID
	}
	return 0
}

// ConnectedSince is when the worker's current stream attached, or zero without one.
func (f *Fleet) ConnectedSince(worker string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[worker]; ok {
		return c.Connected
	}
	return time.Time{}
}

// Connected reports whether the worker has a stream attached here.
func (f *Fleet) Connected(worker string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.conns[worker]
	return ok
}

// ConnectedIDs lists attached workers, sorted.
func (f *Fleet) ConnectedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.conns))
}

// LastContact is when the worker was last heard from, or zero.
func (f *Fleet) LastContact(worker string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.contact[worker]
	if c, ok := f.conns[worker]; ok {
		if h := c.lastHeard(); h.After(t) {
			t = h
		}
	}
	return t
}

// ActiveFaults returns the faults the worker reports active, keyed by assignment.
func (f *Fleet) ActiveFaults(worker string) map[string]*murphyv1.ActiveFault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]*murphyv1.ActiveFault, len(f.faults[worker]))
	for k, v := range f.faults[worker] {
		out[k] = proto.CloneOf(v)
	}
	return out
}

// Probing reports whether the worker said it is probing for run (in its hello) or was told
// to since.
func (f *Fleet) Probing(worker, run string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probing[worker][run]
}

// SetProbing records that the worker was told to start (true) or stop probing for run.
func (f *Fleet) SetProbing(worker, run string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.probing[worker] == nil {
		f.probing[worker] = map[string]bool{}
	}
	if on {
		f.probing[worker][run] = true
	} else {
		delete(f.probing[worker], run)
	}
}
