package network

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	osexec "os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// The tests in this file check issue 14's promise for the network family: a fault ends at
// its deadline even when the worker that injected it is frozen (SIGSTOP) or dead for good
// (kill -9, never restarted). The "worker" is a child process (this test binary re-run as
// TestHelperWorker) so that freezing and killing it is real: its goroutines, its netlink
// sockets and its NFQUEUE binding behave exactly as a worker's would.

const helperEnv = "MURPHY_NETWORK_TEST_HELPER"

type helperSpec struct {
	ID       string
	Kind     string
	Params   map[string]string
	Deadline time.Time
	NoNetem  bool
}

// TestHelperWorker is not a test: it is the worker process the expiry tests freeze and
// kill. It injects one fault, says "ready" and waits to be killed.
func TestHelperWorker(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("skipped: runs only as the child process of the expiry tests")
	}
	var h helperSpec
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	p := RunProbe()
	if h.NoNetem {
		p.Netem = false
	}
	fam := New(Config{Probe: &p})
	f := fault.Fault{AssignmentID: h.ID, Kind: h.Kind, Params: catalogue.MustDecode(h.Kind, h.Params), Deadline: h.Deadline}
	if err := exec(t, fam, h.Kind).Inject(context.Background(), f); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour) // until the parent kills us
}

// startWorker runs a child worker that injects the fault and returns once it is in force.
// Cleanup resumes and kills the child, then reverts the fault from its description alone
// (as a restarted worker would) and checks that nothing is left in the namespace.
func startWorker(t *testing.T, sb *sandbox, h helperSpec) *osexec.Cmd {
	t.Helper()
	raw, _ := json.Marshal(h)
	cmd := osexec.Command(os.Args[0], "-test.run=^TestHelperWorker$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f := fault.Fault{AssignmentID: h.ID, Kind: h.Kind, Params: catalogue.MustDecode(h.Kind, h.Params), Deadline: h.Deadline}
		p := hostProbe(t)
		if h.NoNetem {
			p = *withoutNetem(p)
		}
		if err := exec(t, New(Config{Probe: &p}), h.Kind).Revert(context.Background(), f); err != nil {
			t.Errorf("revert after the worker died: %v", err)
		}
		if tbl := sb.tables(t); len(tbl) != 0 {
			t.Errorf("tables left after revert: %v", tbl)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); line == "ready" || strings.HasPrefix(line, "error:") {
				ready <- line
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("worker: %s", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not inject within 30s")
	}
	return cmd
}

// tcpEcho serves, on b at addr:port, one read and its echo per connection.
func (sb *sandbox) tcpEcho(t *testing.T, addr string, port int) {
	t.Helper()
	var ln net.Listener
	if err := in(sb.b, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf("%s:%d", addr, port))
		return err
	}); err != nil {
		t.Fatalf("tcp listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				if err == nil {
					_, _ = c.Write(buf[:n])
				}
			}()
		}
	}()
}

// tcpRoundTrip opens a fresh connection from a, sends a few bytes and waits for their
// echo: the round trip of a new client, handshake included, as curl would see it.
func (sb *sandbox) tcpRoundTrip(addr string, port int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var c net.Conn
	if err := in(sb.a, func() (err error) {
		c, err = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", addr, port), timeout)
		return err
	}); err != nil {
		return time.Since(start), err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(timeout))
	if _, err := c.Write([]byte("ping")); err != nil {
		return time.Since(start), err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return time.Since(start), err
	}
	return time.Since(start), nil
}

type attempt struct {
	at  time.Time
	rtt time.Duration
	err error
}

// watch makes a fresh TCP round trip every 25ms (each given 200ms) until end and returns
// every attempt.
func (sb *sandbox) watch(addr string, port int, end time.Time) []attempt {
	var out []attempt
	for time.Now().Before(end) {
		at := time.Now()
		rtt, err := sb.tcpRoundTrip(addr, port, 200*time.Millisecond)
		out = append(out, attempt{at: at, rtt: rtt, err: err})
		time.Sleep(time.Until(at.Add(25 * time.Millisecond)))
	}
	return out
}

// firstGoodAfter is when the first good attempt after the last bad one started: by then
// the fault was certainly over.
func firstGoodAfter(as []attempt, slow time.Duration) time.Time {
	var first time.Time
	for _, a := range as {
		if a.err != nil || a.rtt >= slow {
			first = time.Time{}
		} else if first.IsZero() {
			first = a.at
		}
	}
	return first
}

// lastBad is the end of the last attempt that failed or took at least slow, next to
// another such attempt, and whether any was. A fault in force fails attempt after
// attempt; one round trip a loaded machine lost between good ones, after the fault
// ended, is not the fault (a -count=5 sweep at load 8 saw one at +1.34 s, with traffic
// flowing from +0.09 s).
func lastBad(as []attempt, slow time.Duration) (time.Time, bool) {
	bad := func(i int) bool { return i >= 0 && i < len(as) && (as[i].err != nil || as[i].rtt >= slow) }
	var last time.Time
	found := false
	for i, a := range as {
		if bad(i) && (bad(i-1) || bad(i+1)) {
			last, found = a.at.Add(a.rtt), true
		}
	}
	return last, found
}

// rel is t relative to the deadline, or "never" for the zero time.
func rel(t, deadline time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%+.2fs", t.Sub(deadline).Seconds())
}

func summarize(as []attempt, deadline time.Time) string {
	var b strings.Builder
	for _, a := range as {
		mark := "ok"
		if a.err != nil {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%+.2fs %s %v; ", a.at.Sub(deadline).Seconds(), mark, a.rtt.Round(time.Millisecond))
	}
	return b.String()
}

// TestDelayFrozenWorkerEndsAtDeadline: the worker owning a network.delay NFQUEUE is
// frozen right after the inject, for three times the fault's duration. Traffic must flow
// again, undelayed, no later than the deadline plus one second.
func TestDelayFrozenWorkerEndsAtDeadline(t *testing.T) {
	p := hostProbe(t)
	if m, why := withoutNetem(p).mechanism(KindDelay); m != "nfqueue" {
		testenv.Skip(t, testenv.Kernel, fmt.Sprintf("no NFQUEUE path on this kernel: %s", why))
	}
	sb := newSandbox(t)
	sb.tcpEcho(t, sb.addrB, 8080)
	const delay, duration = 200 * time.Millisecond, 4 * time.Second
	deadline := time.Now().Add(duration)
	cmd := startWorker(t, sb, helperSpec{ID: "frozen-delay", Kind: KindDelay, NoNetem: true, Deadline: deadline,
		Params: map[string]string{"interface": "va", "delay": delay.String(), "netns": sb.pathA}})
	// More than a lease apart, so a live worker that failed to renew it would show here.
	for i := range 2 {
		if rtt, err := sb.tcpRoundTrip(sb.addrB, 8080, 2*time.Second); err != nil || rtt < delay {
			t.Fatalf("with the delay in force and its worker running: round trip %v, %v; want at least %v", rtt, err, delay)
		}
		if i == 0 {
			time.Sleep(1500 * time.Millisecond) // the lease lasts 1 s
		}
	}
	frozen := time.Now()
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	as := sb.watch(sb.addrB, 8080, frozen.Add(3*duration))
	last, any := lastBad(as, delay)
	if !any {
		last = frozen
	}
	good := firstGoodAfter(as, delay)
	if !any && len(as) > 0 {
		good = as[0].at
	}
	t.Logf("frozen at %s; last delayed or failed round trip ended %s, undelayed from %s relative to the deadline (%s relative to the freeze)",
		rel(frozen, deadline), rel(last, deadline), rel(good, deadline), rel(good, frozen))
	if last.After(deadline.Add(time.Second)) {
		t.Fatalf("traffic still delayed or cut %v after the deadline, with the worker frozen: %s", last.Sub(deadline), summarize(as, deadline))
	}
}

// TestPartitionDeadWorkerEndsAtDeadline: the worker that injected a partition is killed
// with SIGKILL and never restarted. The partition holds until its deadline and is gone
// no later than a second after it.
func TestPartitionDeadWorkerEndsAtDeadline(t *testing.T) {
	hostProbe(t)
	sb := newSandbox(t)
	sb.tcpEcho(t, sb.addrC, 8080)
	const duration = 3 * time.Second
	deadline := time.Now().Add(duration)
	cmd := startWorker(t, sb, helperSpec{ID: "dead-partition", Kind: KindPartition, Deadline: deadline,
		Params: map[string]string{"cidrs": sb.addrC, "netns": sb.pathA}})
	killDeadWorker(t, sb, cmd, deadline, 0)
}

// TestLossDeadWorkerEndsAtDeadline: as the partition, for the nftables random drop.
func TestLossDeadWorkerEndsAtDeadline(t *testing.T) {
	p := hostProbe(t)
	if m, why := withoutNetem(p).mechanism(KindLoss); m != "nftables" {
		testenv.Skip(t, testenv.Kernel, why)
	}
	sb := newSandbox(t)
	sb.tcpEcho(t, sb.addrC, 8080)
	const duration = 3 * time.Second
	deadline := time.Now().Add(duration)
	cmd := startWorker(t, sb, helperSpec{ID: "dead-loss", Kind: KindLoss, NoNetem: true, Deadline: deadline,
		Params: map[string]string{"interface": "va", "percent": "90", "netns": sb.pathA}})
	killDeadWorker(t, sb, cmd, deadline, 0)
}

// TestNetemDeadWorkerEndsAtDeadline: with sch_netem, loss goes through an HTB class with
// a netem leaf. A qdisc has no timeout, but the gated rule that steers packets into the
// fault's class does: at the deadline traffic falls back to the unshaped default class.
func TestNetemDeadWorkerEndsAtDeadline(t *testing.T) {
	p := hostProbe(t)
	if !p.Netem {
		testenv.Skip(t, testenv.Kernel, "this kernel has no sch_netem (the probe could not attach a netem qdisc)")
	}
	sb := newSandbox(t)
	sb.tcpEcho(t, sb.addrC, 8080)
	const duration = 3 * time.Second
	deadline := time.Now().Add(duration)
	cmd := startWorker(t, sb, helperSpec{ID: "dead-netem-loss", Kind: KindLoss, Deadline: deadline,
		Params: map[string]string{"interface": "va", "percent": "90", "netns": sb.pathA}})
	killDeadWorker(t, sb, cmd, deadline, 0)
}

// killDeadWorker kills the worker, checks that the fault outlives it until shortly before
// the deadline (the kernel, not the dying process, ends it) and that it is gone no later
// than a second after the deadline.
func killDeadWorker(t *testing.T, sb *sandbox, cmd *osexec.Cmd, deadline time.Time, slow time.Duration) {
	t.Helper()
	if slow == 0 {
		slow = time.Hour
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
	killed := time.Now()
	as := sb.watch(sb.addrC, 8080, deadline.Add(2*time.Second))
	last, any := lastBad(as, slow)
	if !any || last.Before(deadline.Add(-time.Second)) {
		t.Fatalf("the fault did not outlive its killed worker (killed at %+.2fs): %s", killed.Sub(deadline).Seconds(), summarize(as, deadline))
	}
	t.Logf("killed at %s; last failed round trip ended %s, traffic flows from %s relative to the deadline",
		rel(killed, deadline), rel(last, deadline), rel(firstGoodAfter(as, slow), deadline))
	if last.After(deadline.Add(time.Second)) {
		t.Fatalf("fault still in force %v after the deadline, its worker dead: %s", last.Sub(deadline), summarize(as, deadline))
	}
}

// TestRevertAfterExpiry: faults whose deadline passed (the kernel already ended them)
// still revert cleanly, twice, by the worker that injected them: no error, no table, the
// root qdisc as before.
func TestRevertAfterExpiry(t *testing.T) {
	p := hostProbe(t)
	sb := newSandbox(t)
	sb.tcpEcho(t, sb.addrC, 8080)
	untouched := sb.rootQdisc(t)
	fam := New(Config{Probe: withoutNetem(p)})
	t.Cleanup(fam.Close)
	deadline := time.Now().Add(1500 * time.Millisecond)
	var faults []fault.Fault
	for kind, params := range map[string]map[string]string{
		KindDelay:     {"interface": "va", "delay": "400ms"},
		KindLoss:      {"interface": "va", "percent": "100"},
		KindRate:      {"interface": "va", "rate": "8kbit"},
		KindPartition: {"cidrs": sb.addrC},
	} {
		if m, _ := withoutNetem(p).mechanism(kind); m == "" {
			continue
		}
		params["netns"] = sb.pathA
		f := fault.Fault{AssignmentID: "expire-" + kind, Kind: kind, Params: catalogue.MustDecode(kind, params), Deadline: deadline}
		if err := exec(t, fam, kind).Inject(context.Background(), f); err != nil {
			t.Fatalf("inject %s: %v", kind, err)
		}
		faults = append(faults, f)
	}
	if _, err := sb.tcpRoundTrip(sb.addrC, 8080, 300*time.Millisecond); err == nil {
		t.Fatal("traffic flows with the faults in force")
	}
	time.Sleep(time.Until(deadline.Add(time.Second)))
	if rtt, err := sb.tcpRoundTrip(sb.addrC, 8080, time.Second); err != nil || rtt > 100*time.Millisecond {
		t.Fatalf("a second after the deadline: round trip %v, %v; want a fast answer", rtt, err)
	}
	for _, f := range faults {
		for range 2 {
			if err := exec(t, fam, f.Kind).Revert(context.Background(), f); err != nil {
				t.Fatalf("revert %s after expiry: %v", f.Kind, err)
			}
		}
	}
	if tbl := sb.tables(t); len(tbl) != 0 {
		t.Fatalf("tables after revert: %v", tbl)
	}
	if q := sb.rootQdisc(t); q != untouched {
		t.Fatalf("root qdisc after revert %q, want %q", q, untouched)
	}
}
