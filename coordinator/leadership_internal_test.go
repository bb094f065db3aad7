package coordinator

import (
	"errors"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/internal/logging"
)

// SetBarrierFault makes the post-election barrier of the nodes f fails for fail, for the
// cluster test in package coordinator_test. Call it before any node starts and the
// returned restore after every node stopped.
func SetBarrierFault(f func(nodeID string) error) (restore func()) {
	barrierFault = f
	return func() { barrierFault = nil }
}

// HasRunner says whether the node runs the leader's duties of this term.
func (s *Server) HasRunner() bool { return s.currentRunner() != nil }

// fakeLeader scripts barrierRetry: the barrier fails while failures remain, the node
// leads while lead, and a step-down succeeds when canStepDown.
type fakeLeader struct {
	failures    int // barriers still to fail; -1 fails for ever
	lead        bool
	canStepDown bool
	loseAfter   int // the node stops leading after this many barriers (0: never)

	barriers, stepDowns int
}

func (f *fakeLeader) retry(stop chan struct{}) barrierRetry {
	return barrierRetry{
		barrier: func() error {
			f.barriers++
			if f.loseAfter > 0 && f.barriers >= f.loseAfter {
				f.lead = false
			}
			if f.failures != 0 {
				f.failures--
				return errors.New("barrier: timed out enqueuing operation")
			}
			return nil
		},
		leading: func() bool { return f.lead },
		stepDown: func() error {
			f.stepDowns++
			if !f.canStepDown {
				return errors.New("cannot find peer")
			}
			f.lead = false
			return nil
		},
		stop: stop, log: logging.Discard(), attempts: 3, backoff: time.Millisecond, max: 4 * time.Millisecond,
	}
}

// TestBarrierRetry: a failed post-election barrier is retried; after three failures
// the node hands leadership over, and a node that cannot (no peer takes it) keeps
// retrying rather than leading without a runner.
func TestBarrierRetry(t *testing.T) {
	tests := []struct {
		name                string
		f                   fakeLeader
		want                bool
		barriers, stepDowns int
	}{
		{"passes at once", fakeLeader{lead: true, canStepDown: true}, true, 1, 0},
		{"passes on the third try", fakeLeader{failures: 2, lead: true, canStepDown: true}, true, 3, 0},
		{"keeps failing: steps down", fakeLeader{failures: -1, lead: true, canStepDown: true}, false, 3, 1},
		{"keeps failing, nobody to hand over to, then passes", fakeLeader{failures: 7, lead: true}, true, 8, 2},
		{"loses leadership while retrying", fakeLeader{failures: -1, lead: true, canStepDown: true, loseAfter: 2}, false, 2, 0},
		{"passes after leadership moved on", fakeLeader{lead: true, loseAfter: 1}, false, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			got := f.retry(make(chan struct{})).run()
			if got != tc.want || f.barriers != tc.barriers || f.stepDowns != tc.stepDowns {
				t.Fatalf("run() = %v after %d barriers and %d step-downs, want %v, %d, %d", got, f.barriers, f.stepDowns, tc.want, tc.barriers, tc.stepDowns)
			}
		})
	}
	t.Run("stopping ends the retries", func(t *testing.T) {
		stop := make(chan struct{})
		f := fakeLeader{failures: -1, lead: true}
		done := make(chan bool)
		go func() { done <- f.retry(stop).run() }()
		time.Sleep(20 * time.Millisecond)
		close(stop)
		select {
		case ok := <-done:
			if ok {
				t.Fatal("a stopping node took up leadership")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the retries did not end on stop")
		}
	})
}
