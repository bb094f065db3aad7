package coordinator_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator"
)

// TestBarrierFailureHandsLeadershipOver: on a real 3-node cluster, the node elected
// after the leader stops cannot pass its post-election barrier; it must not stay leader
// without a runner, but retry and then hand leadership to the other live node, which
// leads with a runner.
func TestBarrierFailureHandsLeadershipOver(t *testing.T) {
	var mu sync.Mutex
	var first, failing string
	restore := coordinator.SetBarrierFault(func(id string) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case first == "":
			first = id // the bootstrap leader passes
		case failing == "" && id != first:
			failing = id
		}
		if id == failing {
			return errors.New("injected barrier failure")
		}
		return nil
	})
	// Registered before the cluster's own cleanup, so it runs after every node stopped.
	t.Cleanup(restore)
	c := startCluster(t, 3)
	l := c.leader()
	c.stop(l)

	start := time.Now()
	waitUntil(t, 20*time.Second, "a leader with a runner on a node whose barrier passes", func() bool {
		mu.Lock()
		bad := failing
		mu.Unlock()
		for _, s := range c.nodes {
			if s != nil && s.IsLeader() && s.NodeID() != bad && s.HasRunner() {
				return bad != ""
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%s failed its barrier; leadership moved on after %s", failing, time.Since(start).Round(10*time.Millisecond))
	for _, s := range c.nodes {
		if s != nil && s.NodeID() == failing && (s.IsLeader() || s.HasRunner()) {
			t.Errorf("%s still leads (runner %v)", failing, s.HasRunner())
		}
	}
}
