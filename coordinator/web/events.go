package web

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
)

// hub wakes event streams when the FSM applies a change.
type hub struct {
	mu   sync.Mutex
	subs map[chan string]bool
}

func newHub() *hub { return &hub{subs: map[chan string]bool{}} }

func (h *hub) notify(c fsm.Change) {
	if c.RunID == "" && !c.Cluster && c.WorkerID == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- c.RunID:
		default:
		}
	}
}

func (h *hub) subscribe() (chan string, func()) {
	ch := make(chan string, 1)
	h.mu.Lock()
	h.subs[ch] = true
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// eventGap bounds how often a stream tells its page to refresh.
const eventGap = 500 * time.Millisecond

// events is a server-sent event stream that says "refresh" when something the page
// shows changed: the run (?run=ID) or any run. While a run is active it also ticks
// every second, for the live progress that changes without commits. It ends
// with an "end" event when the run finishes, and when the node stops.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	runID := r.URL.Query().Get("run")
	changed, cancel := h.hub.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last time.Time
	// The run may have ended between rendering the page and this subscription; say so
	// now rather than at the next change, which on a follower may never come.
	if runID != "" && h.ended(w, fl, runID) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.cfg.Done:
			return
		case id := <-changed:
			if runID != "" && id != runID && id != "" {
				continue
			}
		case <-tick.C:
			// A follower's page ticks too: its live panel is the leader's, fetched
			// server-side.
			if runID == "" || h.cfg.Live == nil {
				continue
			}
		}
		if runID != "" && h.ended(w, fl, runID) {
			return
		}
		if wait := eventGap - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
				return
			}
		}
		last = time.Now()
		fmt.Fprint(w, "data: refresh\n\n")
		fl.Flush()
	}
}

// ended sends the "end" event when the run is gone, or finished with every fault it
// placed confirmed reverted: a halted run's page keeps streaming while reverts arrive.
func (h *Handler) ended(w io.Writer, fl http.Flusher, runID string) bool {
	run := h.cfg.FSM.Run(runID)
	if run != nil && (!fsm.Terminal(run.Phase) || NewHaltReverts(run).Waiting()) {
		return false
	}
	fmt.Fprint(w, "event: end\ndata: end\n\n")
	fl.Flush()
	return true
}
