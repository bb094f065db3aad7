package spawn

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestStartOutlivesThreads: a child forked with a death signal from a locked thread
// that then ends is killed (the hazard), while one started by Start from such a
// thread lives on until it is killed.
func TestStartOutlivesThreads(t *testing.T) {
	// fromEndingThread runs start on a locked thread that ends with its goroutine.
	fromEndingThread := func(start func() error) {
		t.Helper()
		started := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			started <- start()
		}()
		if err := <-started; err != nil {
			t.Fatal(err)
		}
	}
	exited := func(cmd *exec.Cmd) chan error {
		c := make(chan error, 1)
		go func() { c <- cmd.Wait() }()
		return c
	}

	// The hazard. The runtime never ends the process's main thread, which a goroutine
	// may land on, so a child that survives is tried again on another.
	killed := false
	for range 5 {
		doomed := exec.Command("sleep", "30")
		doomed.SysProcAttr = deathSignal()
		fromEndingThread(doomed.Start)
		select {
		case <-exited(doomed):
			killed = true
		case <-time.After(2 * time.Second):
			_ = doomed.Process.Kill()
		}
		if killed {
			break
		}
	}
	if !killed {
		t.Fatal("no child whose forking thread ended was killed in 5 tries: the case shows nothing")
	}

	kept := exec.Command("sleep", "30")
	fromEndingThread(func() error { return Start(kept) })
	done := exited(kept)
	select {
	case err := <-done:
		t.Fatalf("Start's child ended with the thread that asked for it: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := kept.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
}
