package network

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/internal/testenv"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

var (
	probeOnce sync.Once
	probed    Probe
)

func hostProbe(t *testing.T) Probe {
	t.Helper()
	requireRoot(t)
	probeOnce.Do(func() { probed = RunProbe() })
	if probed.Err != nil {
		t.Fatalf("probe: %v", probed.Err)
	}
	return probed
}

func exec(t *testing.T, fam *Family, kind string) fault.Executor {
	t.Helper()
	for _, e := range fam.Executors() {
		if e.Kind() == kind {
			return e
		}
	}
	t.Fatalf("no executor for %s", kind)
	return nil
}

func inject(t *testing.T, e fault.Executor, id string, params map[string]string) fault.Fault {
	t.Helper()
	f := fault.Fault{AssignmentID: id, Kind: e.Kind(), Params: catalogue.MustDecode(e.Kind(), params), Deadline: time.Now().Add(time.Minute)}
	if err := e.Inject(context.Background(), f); err != nil {
		t.Fatalf("inject %s: %v", e.Kind(), err)
	}
	t.Cleanup(func() { _ = e.Revert(context.Background(), f) })
	return f
}

func revert(t *testing.T, e fault.Executor, f fault.Fault) {
	t.Helper()
	if err := e.Revert(context.Background(), f); err != nil {
		t.Fatalf("revert %s: %v", e.Kind(), err)
	}
}

func TestProbe(t *testing.T) {
	p := hostProbe(t)
	t.Logf("probe: %+v", p)
	fam := New(Config{Probe: &p})
	t.Logf("mechanisms: %v", fam.Mechanisms())
	if !p.NFTables {
		t.Fatal("nftables not found; every network kind needs it")
	}
	if !p.Netem {
		t.Log("this kernel has no sch_netem: delay uses NFQUEUE, loss uses an nftables random drop, corrupt and duplicate are refused")
	}
}

// withoutNetem forces the fallback mechanisms, as on a kernel without sch_netem.
func withoutNetem(p Probe) *Probe { p.Netem = false; return &p }

func TestDelayNFQueue(t *testing.T) {
	p := hostProbe(t)
	if m, why := withoutNetem(p).mechanism(KindDelay); m != "nfqueue" {
		testenv.Skip(t, testenv.Kernel, fmt.Sprintf("no NFQUEUE path on this kernel: %s", why))
	}
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	fam := New(Config{Probe: withoutNetem(p)})
	t.Cleanup(fam.Close)
	e := exec(t, fam, KindDelay)

	before, lost := sb.rtt(t, sb.addrB, 7000, 20, time.Second)
	if lost > 0 || before > 20*time.Millisecond {
		t.Fatalf("before: median %v, lost %d", before, lost)
	}
	f := inject(t, e, "delay-1", map[string]string{"interface": "va", "delay": "80ms", "netns": sb.pathA})
	during, lost := sb.rtt(t, sb.addrB, 7000, 10, 2*time.Second)
	if lost > 0 || during < 80*time.Millisecond || during > 250*time.Millisecond {
		t.Fatalf("during: median %v, lost %d; want ≈ 80ms more than %v and no loss", during, lost, before)
	}
	revert(t, e, f)
	after, lost := sb.rtt(t, sb.addrB, 7000, 20, time.Second)
	if lost > 0 || after > 20*time.Millisecond {
		t.Fatalf("after revert: median %v, lost %d", after, lost)
	}
	if tbl := sb.tables(t); len(tbl) != 0 {
		t.Fatalf("tables left after revert: %v", tbl)
	}
	t.Logf("RTT before %v, during 80ms delay %v, after revert %v", before, during, after)
}

func TestDelaySelectorAndJitter(t *testing.T) {
	p := hostProbe(t)
	if m, _ := withoutNetem(p).mechanism(KindDelay); m != "nfqueue" {
		testenv.Skip(t, testenv.Kernel, "no NFQUEUE path on this kernel")
	}
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	sb.udpEcho(t, sb.addrB, 7001)
	fam := New(Config{Probe: withoutNetem(p)})
	t.Cleanup(fam.Close)
	e := exec(t, fam, KindDelay)
	inject(t, e, "delay-sel", map[string]string{"interface": "va", "delay": "60ms", "jitter": "20ms",
		"ports": "7001", "protocol": "udp", "cidrs": sb.addrB, "netns": sb.pathA})
	other, lost := sb.rtt(t, sb.addrB, 7000, 10, time.Second)
	if lost > 0 || other > 20*time.Millisecond {
		t.Fatalf("unselected port: median %v, lost %d; want unaffected", other, lost)
	}
	sel, lost := sb.rtt(t, sb.addrB, 7001, 10, 2*time.Second)
	if lost > 0 || sel < 40*time.Millisecond || sel > 200*time.Millisecond {
		t.Fatalf("selected port: median %v, lost %d; want 60±20ms", sel, lost)
	}
	t.Logf("port 7000 %v, port 7001 (60ms±20ms) %v", other, sel)
}

func TestLossNFTables(t *testing.T) {
	p := hostProbe(t)
	if m, why := withoutNetem(p).mechanism(KindLoss); m != "nftables" {
		testenv.Skip(t, testenv.Kernel, why)
	}
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	fam := New(Config{Probe: withoutNetem(p)})
	e := exec(t, fam, KindLoss)
	const n = 300
	if _, lost := sb.rtt(t, sb.addrB, 7000, n, 100*time.Millisecond); lost > 0 {
		t.Fatalf("before: lost %d of %d", lost, n)
	}
	f := inject(t, e, "loss-1", map[string]string{"interface": "va", "percent": "40", "netns": sb.pathA})
	_, lost := sb.rtt(t, sb.addrB, 7000, n, 20*time.Millisecond)
	// 40% of requests dropped (replies leave b, unaffected): 120 expected, sd ≈ 8.5
	if lost < 85 || lost > 155 {
		t.Fatalf("during 40%% loss: lost %d of %d", lost, n)
	}
	revert(t, e, f)
	if _, lost2 := sb.rtt(t, sb.addrB, 7000, n, 100*time.Millisecond); lost2 > 0 {
		t.Fatalf("after revert: lost %d of %d", lost2, n)
	}
	t.Logf("40%% loss: %d of %d probes lost during, 0 before and after", lost, n)
}

func TestNetem(t *testing.T) {
	p := hostProbe(t)
	if !p.Netem {
		testenv.Skip(t, testenv.Kernel, "this kernel has no sch_netem (the probe could not attach a netem qdisc), so the netem path cannot be tested here")
	}
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	fam := New(Config{Probe: &p})
	e := exec(t, fam, KindDelay)
	f := inject(t, e, "netem-1", map[string]string{"interface": "va", "delay": "80ms", "netns": sb.pathA})
	during, lost := sb.rtt(t, sb.addrB, 7000, 10, 2*time.Second)
	if lost > 0 || during < 80*time.Millisecond {
		t.Fatalf("during: median %v, lost %d", during, lost)
	}
	revert(t, e, f)
	if q := sb.rootQdisc(t); strings.HasPrefix(q, "htb") {
		t.Fatalf("root qdisc after revert: %s", q)
	}
}

func TestRateHTB(t *testing.T) {
	p := hostProbe(t)
	if m, why := p.mechanism(KindRate); m != "htb" {
		testenv.Skip(t, testenv.Kernel, why)
	}
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	fam := New(Config{Probe: &p})
	e := exec(t, fam, KindRate)
	untouched := sb.rootQdisc(t)
	// 1000-byte probes answered one by one: at 80 kbit/s a 1028-byte frame takes ≈ 100ms
	// to leave, so the round trip grows by that much.
	f := inject(t, e, "rate-1", map[string]string{"interface": "va", "rate": "80kbit", "netns": sb.pathA})
	if q := sb.rootQdisc(t); !strings.HasPrefix(q, "htb") {
		t.Fatalf("root qdisc during: %s", q)
	}
	during := sb.bigRTT(t, 6)
	revert(t, e, f)
	after := sb.bigRTT(t, 6)
	if during < 60*time.Millisecond || after > 20*time.Millisecond {
		t.Fatalf("1000-byte RTT during 80kbit %v, after %v", during, after)
	}
	if q := sb.rootQdisc(t); q != untouched {
		t.Fatalf("root qdisc after revert %q, before %q", q, untouched)
	}
	t.Logf("1000-byte RTT at 80kbit %v, after revert %v", during, after)
}

// bigRTT is the median round trip of 1000-byte probes (through rtt's 64-byte buffer the
// echo is cut, which does not matter: only the request is shaped).
func (sb *sandbox) bigRTT(t *testing.T, n int) time.Duration {
	t.Helper()
	var out []time.Duration
	for range n {
		d := sb.sendBig(t)
		out = append(out, d)
	}
	return median(out)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func TestPartitionProtectedAndDirection(t *testing.T) {
	p := hostProbe(t)
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	sb.udpEcho(t, sb.addrC, 7000)
	protected := netip.MustParsePrefix(sb.addrB + "/32")
	fam := New(Config{Probe: &p, Protected: func() ([]netip.Prefix, error) { return []netip.Prefix{protected}, nil }})
	e := exec(t, fam, KindPartition)
	cidr := strings.TrimSuffix(sb.addrB, ".2") + ".0/24"
	for _, dir := range []string{"egress", "ingress", "both"} {
		t.Run(dir, func(t *testing.T) {
			f := inject(t, e, "part-"+dir, map[string]string{"cidrs": cidr, "direction": dir, "netns": sb.pathA})
			if _, lost := sb.rtt(t, sb.addrB, 7000, 5, 200*time.Millisecond); lost > 0 {
				t.Fatalf("protected peer %s lost %d of 5", sb.addrB, lost)
			}
			if _, lost := sb.rtt(t, sb.addrC, 7000, 5, 100*time.Millisecond); lost != 5 {
				t.Fatalf("partitioned peer %s: lost %d of 5, want all", sb.addrC, lost)
			}
			if n, err := ruleCounters(int(sb.a), "part-"+dir); err != nil || n == 0 {
				t.Fatalf("rule counters: %d, %v", n, err)
			}
			revert(t, e, f)
			if _, lost := sb.rtt(t, sb.addrC, 7000, 5, 200*time.Millisecond); lost > 0 {
				t.Fatalf("after revert %s lost %d of 5", sb.addrC, lost)
			}
		})
	}
}

func TestBlackholeAndDNS(t *testing.T) {
	p := hostProbe(t)
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 53)
	sb.udpEcho(t, sb.addrB, 7000)
	fam := New(Config{Probe: &p})
	cases := []struct {
		kind   string
		params map[string]string
		cut    int // port that must go dark
		open   int // port that must stay reachable; 0 = none
	}{
		{KindDNS, map[string]string{"netns": sb.pathA}, 53, 7000},
		{KindDNS, map[string]string{"netns": sb.pathA, "cidrs": sb.addrB, "interface": "va"}, 53, 7000},
		{KindBlackhole, map[string]string{"netns": sb.pathA, "ports": "7000", "protocol": "udp"}, 7000, 53},
		{KindBlackhole, map[string]string{"netns": sb.pathA}, 7000, 0},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(c.kind, i), func(t *testing.T) {
			e := exec(t, fam, c.kind)
			f := inject(t, e, fmt.Sprint("bh-", i), c.params)
			if _, lost := sb.rtt(t, sb.addrB, c.cut, 3, 100*time.Millisecond); lost != 3 {
				t.Fatalf("port %d: lost %d of 3, want all", c.cut, lost)
			}
			if c.open != 0 {
				if _, lost := sb.rtt(t, sb.addrB, c.open, 3, 200*time.Millisecond); lost != 0 {
					t.Fatalf("port %d: lost %d of 3, want none", c.open, lost)
				}
			}
			revert(t, e, f)
			if _, lost := sb.rtt(t, sb.addrB, c.cut, 3, 200*time.Millisecond); lost != 0 {
				t.Fatalf("after revert port %d: lost %d of 3", c.cut, lost)
			}
		})
	}
}

func TestBadParamsChangeNothing(t *testing.T) {
	p := hostProbe(t)
	sb := newSandbox(t)
	fam := New(Config{Probe: withoutNetem(p), Protected: func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, nil
	}})
	cases := []struct {
		kind   string
		params map[string]string
		want   string
	}{
		{KindDelay, map[string]string{"interface": "va", "delay": "-5ms"}, "out of range"},
		{KindDelay, map[string]string{"interface": "nosuch0", "delay": "5ms"}, `no interface "nosuch0"`},
		{KindLoss, map[string]string{"interface": "va", "percent": "200"}, "out of range (0,100]"},
		{KindPartition, map[string]string{"cidrs": "192.0.2.7"}, "is protected"},
		{KindBlackhole, map[string]string{"cidrs": "192.0.2.0/25"}, "is protected"},
		{KindCorrupt, map[string]string{"interface": "va", "percent": "5"}, "needs tc netem"},
		{KindDelay, map[string]string{"interface": "va", "delay": "5ms", "netns": "/var/run/netns/murphy-no-such"}, "does not exist"},
		{KindDelay, map[string]string{"interface": "va", "delay": "5ms", "netns": "/etc/hostname"}, "not a network namespace"},
		{KindRate, map[string]string{"interface": "va", "rate": "fast"}, "not a rate"},
		{KindPartition, map[string]string{"direction": "sideways", "cidrs": "10.0.0.0/8"}, "not one of"},
		{KindBlackhole, map[string]string{"protocol": "icmp", "ports": "80"}, "icmp has no ports"},
		{KindDNS, map[string]string{"ports": "80"}, "unknown param"},
	}
	before, qBefore := sb.tables(t), sb.rootQdisc(t)
	for _, c := range cases {
		t.Run(c.kind+" "+c.want, func(t *testing.T) {
			if c.params["netns"] == "" {
				c.params["netns"] = sb.pathA
			}
			e := exec(t, fam, c.kind)
			// Decoded where the agent decodes an Assign, then injected.
			f, err := fault.New("bad", "", 0, c.kind, c.params, time.Now().Add(time.Minute))
			if err == nil {
				err = e.Inject(context.Background(), f)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Inject error %v, want one containing %q", err, c.want)
			}
			if _, verr := fault.Check(e, c.params); verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Validate %v, Inject %v: want the same error", verr, err)
			}
			t.Logf("%s", err)
			if got, q := sb.tables(t), sb.rootQdisc(t); len(got) != len(before) || q != qBefore {
				t.Fatalf("host changed: tables %v (before %v), qdisc %s (before %s)", got, before, q, qBefore)
			}
		})
	}
}

// TestRevertFromJournalAlone: a worker that crashed left its table, its qdisc and its
// delay rule behind; a new Family, with no memory of them, reverts each from the fault
// description alone, and reverting again is a no-op.
func TestRevertFromJournalAlone(t *testing.T) {
	p := hostProbe(t)
	sb := newSandbox(t)
	sb.udpEcho(t, sb.addrB, 7000)
	untouched := sb.rootQdisc(t)
	crashed := New(Config{Probe: withoutNetem(p)})
	faults := map[string]fault.Fault{}
	for kind, params := range map[string]map[string]string{
		KindDelay:     {"interface": "va", "delay": "50ms"},
		KindRate:      {"interface": "va", "rate": "10mbit"},
		KindPartition: {"cidrs": sb.addrC},
	} {
		if m, _ := withoutNetem(p).mechanism(kind); m == "" {
			continue
		}
		params["netns"] = sb.pathA
		f := fault.Fault{AssignmentID: "crash-" + kind, Kind: kind, Params: catalogue.MustDecode(kind, params), Deadline: time.Now().Add(time.Minute)}
		if err := exec(t, crashed, kind).Inject(context.Background(), f); err != nil {
			t.Fatalf("inject %s: %v", kind, err)
		}
		// a resent Assign stacks nothing
		if err := exec(t, crashed, kind).Inject(context.Background(), f); err != nil {
			t.Fatalf("inject %s again: %v", kind, err)
		}
		faults[kind] = f
	}
	if got := sb.tables(t); len(got) != len(faults) {
		t.Fatalf("tables %v, want one per fault (%d)", got, len(faults))
	}
	// The crashed worker's delay line dies with it: the queue rule's bypass flag lets
	// packets through undelayed instead of dropping them.
	crashed.Close()
	if d, lost := sb.rtt(t, sb.addrB, 7000, 5, time.Second); lost > 0 {
		t.Fatalf("with the delay listener gone: median %v, lost %d; want bypass", d, lost)
	}
	restarted := New(Config{Probe: withoutNetem(p)})
	for kind, f := range faults {
		for range 2 {
			if err := exec(t, restarted, kind).Revert(context.Background(), f); err != nil {
				t.Fatalf("revert %s: %v", kind, err)
			}
		}
	}
	if got := sb.tables(t); len(got) != 0 {
		t.Fatalf("tables after revert: %v", got)
	}
	if q := sb.rootQdisc(t); q != untouched {
		t.Fatalf("root qdisc after revert %q, want %q", q, untouched)
	}
	// A fault whose namespace is gone (a container that exited) reverts as a no-op.
	gone := fault.Fault{AssignmentID: "gone", Kind: KindPartition, Params: catalogue.MustDecode(KindPartition, map[string]string{"cidrs": "10.0.0.1", "netns": "/var/run/netns/murphy-gone"})}
	if err := exec(t, restarted, KindPartition).Revert(context.Background(), gone); err != nil {
		t.Fatalf("revert in a vanished namespace: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	p := Probe{NFTables: true, Numgen: true, QueueXT: true, NFQueue: true, MetaPriority: true, HTB: true}
	fam := New(Config{Probe: &p})
	// The catalogue describes the fault; the executor names the mechanism beside it.
	got := catalogue.MustDecode(KindDelay, map[string]string{"interface": "eth0", "delay": "100ms", "jitter": "10ms", "cidrs": "10.0.0.0/8", "ports": "80,8000-8100", "protocol": "tcp"}).String() +
		" (" + exec(t, fam, KindDelay).(interface{ Mechanism() string }).Mechanism() + ")"
	want := "delay 100ms ± 10ms on eth0 for peers 10.0.0.0/8 tcp ports 80,8000-8100 (nfqueue)"
	if got != want {
		t.Fatalf("Describe = %q, want %q", got, want)
	}
	if m := fam.Mechanisms(); m[KindCorrupt] != "" || m[KindDelay] != "nfqueue" || m[KindLoss] != "nftables" || m[KindRate] != "htb" {
		t.Fatalf("Mechanisms = %v", m)
	}
}
