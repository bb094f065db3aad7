package nfqueue

import (
	"errors"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

// TestBindTwice: a queue number has one owner; the second bind says so plainly, and the
// number is free again once the first owner closes.
func TestBindTwice(t *testing.T) {
	testenv.RequireRoot(t, "binding an NFQUEUE needs root (CAP_NET_ADMIN, and CAP_SYS_ADMIN for the test's namespace)")
	ns := throwaway(t)
	q, err := Open(Config{Num: 4242, NetNS: int(ns)})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	if _, err := Open(Config{Num: 4242, NetNS: int(ns)}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second bind: %v, want ErrBusy", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2, err := Open(Config{Num: 4242, NetNS: int(ns)})
	if err != nil {
		t.Fatalf("bind after close: %v", err)
	}
	q2.Close()
}

func throwaway(t *testing.T) netns.NsHandle {
	t.Helper()
	ch := make(chan netns.NsHandle, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		if err != nil {
			errc <- err
			return
		}
		ch <- ns
	}()
	select {
	case ns := <-ch:
		t.Cleanup(func() { ns.Close() })
		return ns
	case err := <-errc:
		t.Fatalf("namespace: %v", err)
	}
	return 0
}
