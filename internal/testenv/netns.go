package testenv

import (
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
)

// InNetns runs fn on a thread inside the named network namespace (ip netns add NAME). The
// thread is never returned to the Go scheduler: it ends with the goroutine, so no other
// code runs in the namespace by accident.
func InNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

var (
	netnsOnce sync.Once
	netnsErr  error
)

// netnsAllowed reports whether this process may make a network namespace, trying once on
// a thread that is thrown away afterwards.
func netnsAllowed() error {
	netnsOnce.Do(func() {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends in the new namespace
			h, err := netns.New()
			if err == nil {
				h.Close()
			}
			errc <- err
		}()
		netnsErr = <-errc
	})
	return netnsErr
}
