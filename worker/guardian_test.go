//go:build linux

package worker

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// startGuardian runs a guardian over dir in this process until the test ends.
func startGuardian(t *testing.T, dir string, stale time.Duration) {
	t.Helper()
	g, err := NewGuardian(GuardianConfig{
		Worker:   Config{DataDir: dir, Policy: fault.DefaultPolicy(), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))},
		Stale:    stale,
		Interval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.Lock(); err != nil || !ok {
		t.Fatalf("guardian lock: %v %v", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestGuardianRevertsForDeadAndFrozenWorkers: process.stop is a fault the kernel cannot
// expire. A worker killed with SIGKILL and never restarted, or frozen with SIGSTOP past
// the guardian's patience, must not leave its target stopped; and the next worker to
// start tells the coordinators the guardian reverted it.
func TestGuardianRevertsForDeadAndFrozenWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	for _, tc := range []struct {
		name     string
		sig      syscall.Signal
		stale    time.Duration
		deadline time.Duration // the fault's own, from its assignment
		limit    time.Duration // from the signal to the target running again
	}{
		{"killed and never restarted", syscall.SIGKILL, 30 * time.Second, time.Hour, time.Second},
		{"frozen", syscall.SIGSTOP, 1500 * time.Millisecond, time.Hour, 1500*time.Millisecond + time.Second},
		// Frozen with a fault about to end: the guardian does not wait for Stale but
		// acts soon after the deadline.
		{"frozen across the deadline", syscall.SIGSTOP, 30 * time.Second, 2 * time.Second, 2*time.Second + 1500*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := startTarget(t)
			dir := t.TempDir() + "/data"
			f1 := startFake(t, "127.0.0.1:0")
			w1, w1done := startWorkerProcess(t, dir, f1.addr, "127.0.0.1:0") // the test never goes through the proxy: any port, so no race for a "free" one
			f1.await(t, "hello", isHello)
			startGuardian(t, dir, tc.stale)
			f1.push <- assign("stop-1", "r1", tc.deadline, "process.stop", map[string]string{"pid": strconv.Itoa(tg.cmd.Process.Pid)})
			f1.await(t, "process.stop injected", isStatus("stop-1", murphyv1.FaultState_FAULT_STATE_INJECTED, 0))
			if st := tg.state(); st != 'T' {
				t.Fatalf("target in state %c after process.stop, want T", st)
			}
			// The fake keeps answering heartbeats of nobody: only the guardian can help.
			sent := time.Now()
			w1.Process.Signal(tc.sig)
			var resumed time.Duration
			eventually(t, "target running again", func() bool {
				if tg.state() == 'T' {
					return false
				}
				resumed = time.Since(sent)
				return true
			})
			t.Logf("target resumed %s after %s", resumed.Round(time.Millisecond), tc.sig)
			if resumed > tc.limit {
				t.Errorf("target resumed %s after the worker's %s, want within %s", resumed, tc.sig, tc.limit)
			}
			select {
			case <-w1done:
			case <-time.After(5 * time.Second):
				t.Fatal("the frozen worker still exists: the guardian must kill it to take its journal")
			}

			// The next worker reports the guardian's revert, with its time and cause.
			f2 := startFake(t, "127.0.0.1:0")
			startWorkerProcess(t, dir, f2.addr, "127.0.0.1:0")
			m := f2.await(t, "the guardian's revert reported", isStatus("stop-1", murphyv1.FaultState_FAULT_STATE_REVERTED, murphyv1.RevertCause_REVERT_CAUSE_GUARDIAN))
			if at := m.GetStepStatus().GetAt().AsTime(); at.Before(sent) || at.After(sent.Add(tc.limit)) {
				t.Errorf("reported revert at %s, want within %s of the signal at %s", at, tc.limit, sent)
			}
		})
	}
}

// A guardian whose worker's data directory is removed (the worker uninstalled, a test's
// temporary directory) exits instead of watching nothing for ever.
func TestGuardianExitsWithItsDataDir(t *testing.T) {
	dir := t.TempDir() + "/data"
	g, err := NewGuardian(GuardianConfig{Worker: Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)}, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.Lock(); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the guardian still runs with its data directory gone")
	}
}
