package coordinator

import (
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// haltSender sends committed halts to the workers whose streams this node holds, on
// every node, as the node applies them: a halt leaves every node at once instead of
// waiting for the leader to reach each worker through the node that holds it. It sends
// again on every new stream and every re-attachment to a leader (pending), the way the
// runner re-sends on a new stream, so an acknowledgement lost with a relay is asked for
// again. The acknowledgements go to the leader with the worker's other messages, and the
// runner commits them in batches.
type haltSender struct {
	s *Server

	mu      sync.Mutex
	runs    map[string]bool // runs changed since the loop last looked
	cluster bool            // the cluster halt changed
	restore bool            // a snapshot replaced the state: any halt in it may be news
	wake    chan struct{}

	// Owned by the loop.
	sent    map[string]time.Time // run -> when its halt left this node
	lastAll time.Time            // the cluster halt last sent (its commit time)
}

func newHaltSender(s *Server) *haltSender {
	return &haltSender{s: s, runs: map[string]bool{}, wake: make(chan struct{}, 1), sent: map[string]time.Time{}}
}

// observe is the FSM observer. Apply must not wait, so it only notes what changed.
func (h *haltSender) observe(ch fsm.Change) {
	if !ch.Cluster && ch.RunID == "" {
		return
	}
	h.mu.Lock()
	if ch.Cluster {
		h.cluster = true
	} else {
		h.runs[ch.RunID] = true
	}
	h.mu.Unlock()
	h.poke()
}

// raftFSM is the FSM as raft drives it. A snapshot a lagging follower installs replaces
// the state without applying entries, so the observers hear nothing of the halts in it;
// restored tells the halt sender.
type raftFSM struct {
	*fsm.FSM
	restored func()
}

func (r raftFSM) Restore(rc io.ReadCloser) error {
	if err := r.FSM.Restore(rc); err != nil {
		return err
	}
	r.restored()
	return nil
}

// restored sends, after a snapshot was installed, the cluster halt and the halts of runs
// halted within the halt window that this node has not sent yet.
func (h *haltSender) restored() {
	h.mu.Lock()
	h.cluster, h.restore = true, true
	h.mu.Unlock()
	h.poke()
}

func (h *haltSender) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run sends what the applied entries call for until the node stops.
func (h *haltSender) run() {
	defer h.s.wg.Done()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-h.s.stop:
			return
		case <-prune.C:
			for id, at := range h.sent {
				if time.Since(at) > runner.HaltWindow {
					delete(h.sent, id)
				}
			}
		case <-h.wake:
			h.mu.Lock()
			runs, cluster, restore := h.runs, h.cluster, h.restore
			h.runs, h.cluster, h.restore = map[string]bool{}, false, false
			h.mu.Unlock()
			if restore {
				for _, r := range h.s.fsm.EndedSince(h.s.cfg.Now().Add(-runner.HaltWindow)) {
					runs[r.Id] = true
				}
			}
			if cluster {
				h.sendAll()
			}
			for _, id := range slices.Sorted(maps.Keys(runs)) {
				h.sendRun(id)
			}
		}
	}
}

// sendAll sends a new cluster halt to every worker connected here.
func (h *haltSender) sendAll() {
	ch := h.s.fsm.ClusterHalt()
	if ch == nil {
		h.lastAll = time.Time{} // resumed: the next halt is news
		return
	}
	at := ch.At.AsTime()
	if at.Equal(h.lastAll) {
		return
	}
	h.lastAll = at
	msg := haltAllMsg(ch).Outbound()
	for _, w := range h.s.fleet.Direct() {
		h.s.fleet.QueueDirect(w, msg)
	}
}

// sendRun sends a run's halt, once, to its members connected here that have not
// acknowledged it.
func (h *haltSender) sendRun(id string) {
	if _, done := h.sent[id]; done {
		return // a later change of the run (an acknowledgement, a summary)
	}
	reason, pending, ok := h.s.fsm.HaltPending(id)
	if !ok {
		return
	}
	h.sent[id] = time.Now()
	msg := haltRunMsg(id, reason).Outbound()
	for _, w := range pending {
		h.s.fleet.QueueDirect(w, msg)
	}
}

// pending sends the worker on conn every halt it has yet to acknowledge: on a new
// stream, and each time the stream is heard by another leader.
func (h *haltSender) pending(conn *fleet.Conn) {
	f := h.s.fsm
	if ch := f.ClusterHalt(); ch != nil {
		h.s.fleet.QueueDirect(conn.WorkerID, haltAllMsg(ch).Outbound())
	}
	for _, run := range f.EndedSince(h.s.cfg.Now().Add(-runner.HaltWindow)) {
		if run.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED {
			continue
		}
		if _, pending, ok := f.HaltPending(run.Id); ok && slices.Contains(pending, conn.WorkerID) {
			h.s.fleet.QueueDirect(conn.WorkerID, haltRunMsg(run.Id, run.Halt.GetReason()).Outbound())
		}
	}
}

func haltAllMsg(ch *murphyv1.ClusterHalt) *fleet.Shared {
	return fleet.NewShared(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{Reason: ch.Reason}}})
}

func haltRunMsg(run, reason string) *fleet.Shared {
	return fleet.NewShared(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{RunId: run, Reason: reason}}})
}
