package network

import (
	"fmt"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"

	"github.com/murphy-chaos/murphy/worker/fault/network/nfqueue"
)

// TestStalledQueueFailsOpen: a delay line that reads nothing (a stalled consumer) holds
// at most its queue's length; every packet beyond passes at once instead of vanishing.
// Here the queue is bound but never read, with the lease renewed by no one but the
// table's own initial element (a minute), so only the bound and fail-open act.
func TestStalledQueueFailsOpen(t *testing.T) {
	p := hostProbe(t)
	if m, why := withoutNetem(p).mechanism(KindDelay); m != "nfqueue" {
		testenv.Skip(t, testenv.Kernel, fmt.Sprintf("no NFQUEUE path on this kernel: %s", why))
	}
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	const maxLen = 4
	q, err := nfqueue.Open(nfqueue.Config{Num: 0x8123, NetNS: int(sb.a), MaxLen: maxLen})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s := catalogue.MustDecode(KindDelay, map[string]string{"interface": "va", "delay": "1s"}).(catalogue.Network)
	num := uint16(0x8123)
	act := action{queue: &num, queueXT: !p.QueueNative}
	if err := installTable(int(sb.a), "stalled", s, nil, act, gate{until: time.Minute, lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = removeTable(int(sb.a), "stalled") }()
	const n = 20
	_, lost := sb.rtt(t, sb.addrB, 7000, n, 100*time.Millisecond)
	if lost > maxLen {
		t.Fatalf("with nobody reading a queue of %d: lost %d of %d probes; want at most %d", maxLen, lost, n, maxLen)
	}
	if lost == 0 {
		t.Fatalf("no probe was held: the rule did not queue")
	}
	t.Logf("queue of %d, never read: %d of %d probes held, the rest passed", maxLen, lost, n)
}
