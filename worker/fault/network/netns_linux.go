package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// openNetns opens the fault's target namespace. The returned close is never nil; fd 0
// means the worker's own namespace. A path that no longer exists reports gone, so a
// revert after the target (a container) went away can be a no-op.
func openNetns(path string) (fd int, closeFn func(), gone bool, err error) {
	if path == "" {
		return 0, func() {}, false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, func() {}, true, fmt.Errorf("params.netns: %s does not exist", path)
		}
		return 0, func() {}, false, fmt.Errorf("params.netns: %w", err)
	}
	// Check it really is a network namespace: setns on any other file fails late and
	// less clearly, half-way through an inject.
	var fs unix.Statfs_t
	typ, terr := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if unix.Fstatfs(int(f.Fd()), &fs) != nil || fs.Type != unix.NSFS_MAGIC || terr != nil || typ != unix.CLONE_NEWNET {
		f.Close()
		return 0, func() {}, false, fmt.Errorf("params.netns: %s is not a network namespace", path)
	}
	return int(f.Fd()), func() { f.Close() }, false, nil
}

// newThrowawayNetns creates an anonymous network namespace and returns its handle; the
// namespace disappears when the handle is closed. The calling goroutine's thread is
// switched into the new namespace and back; if switching back fails the thread is left
// locked so the runtime discards it rather than reuse it in the wrong namespace.
func newThrowawayNetns() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		if err := netns.Set(orig); err != nil {
			ns.Close()
			ch <- result{err: fmt.Errorf("return to the original namespace: %w", err)}
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- result{ns: ns}
	}()
	r := <-ch
	return r.ns, r.err
}
