package coordinator

import (
	"sync"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
)

// watchHub wakes Watch streams when the FSM applies a change to their run.
type watchHub struct {
	mu     sync.Mutex
	subs   map[string]map[chan struct{}]bool
	closed bool
}

func newWatchHub() *watchHub { return &watchHub{subs: map[string]map[chan struct{}]bool{}} }

func (h *watchHub) subscribe(run string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[run] == nil {
		h.subs[run] = map[chan struct{}]bool{}
	}
	h.subs[run][ch] = true
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[run], ch)
		if len(h.subs[run]) == 0 {
			delete(h.subs, run)
		}
	}
}

func (h *watchHub) notify(c fsm.Change) {
	if c.RunID == "" && !c.Cluster {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for run, subs := range h.subs {
		if run != c.RunID && !c.Cluster {
			continue
		}
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (h *watchHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, subs := range h.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
