package network

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

// sandbox is two network namespaces joined by a veth pair: a (10.199.N.1, interface
// "va") and b (10.199.N.2 and 10.199.N.3, interface "vb"). Faults act in a through its
// /var/run/netns path, as they would on a container.
type sandbox struct {
	nameA, nameB string
	pathA        string
	a, b         netns.NsHandle
	addrA        string
	addrB, addrC string // both on b
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "network fault tests need root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN for nftables and qdiscs)")
}

var sandboxNet = struct {
	sync.Mutex
	n int
}{}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	requireRoot(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	sandboxNet.Lock()
	sandboxNet.n++
	n := 100 + sandboxNet.n%100
	sandboxNet.Unlock()
	sb := &sandbox{
		nameA: "murphy-t-" + tag + "-a", nameB: "murphy-t-" + tag + "-b",
		addrA: fmt.Sprintf("10.199.%d.1", n), addrB: fmt.Sprintf("10.199.%d.2", n), addrC: fmt.Sprintf("10.199.%d.3", n),
	}
	sb.pathA = "/var/run/netns/" + sb.nameA
	var err error
	if sb.a, err = newNamed(sb.nameA); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { sb.a.Close(); _ = netns.DeleteNamed(sb.nameA) })
	if sb.b, err = newNamed(sb.nameB); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { sb.b.Close(); _ = netns.DeleteNamed(sb.nameB) })

	ha, err := netlink.NewHandleAt(sb.a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(sb.b)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb", PeerNamespace: netlink.NsFd(sb.b)}); err != nil {
		t.Fatalf("veth: %v", err)
	}
	up := func(h *netlink.Handle, name string, addrs ...string) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("link %s: %v", name, err)
		}
		for _, a := range addrs {
			ad, _ := netlink.ParseAddr(a + "/24")
			if err := h.AddrAdd(l, ad); err != nil {
				t.Fatalf("addr %s: %v", a, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("up %s: %v", name, err)
		}
	}
	up(ha, "lo")
	up(hb, "lo")
	up(ha, "va", sb.addrA)
	up(hb, "vb", sb.addrB, sb.addrC)
	// The kernel attaches a veth's real qdisc only after linkwatch sees the carrier, a
	// little after "up"; until then packets go to the noop qdisc and vanish.
	ready := func(h *netlink.Handle, name string) bool {
		l, err := h.LinkByName(name)
		if err != nil || l.Attrs().OperState != netlink.OperUp {
			return false
		}
		qs, err := h.QdiscList(l)
		return err == nil && !slices.ContainsFunc(qs, func(q netlink.Qdisc) bool { return q.Type() == "noop" })
	}
	for deadline := time.Now().Add(5 * time.Second); !ready(ha, "va") || !ready(hb, "vb"); {
		if time.Now().After(deadline) {
			t.Fatal("veth pair did not come up within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return sb
}

// newNamed creates a named namespace without leaving the calling thread in it.
func newNamed(name string) (netns.NsHandle, error) {
	var h netns.NsHandle
	err := inThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if h, err = netns.NewNamed(name); err != nil {
			return err
		}
		return netns.Set(orig)
	})
	return h, err
}

// inThread runs fn on a locked thread that is thrown away afterwards, so a namespace
// switch inside fn can never leak into other goroutines.
func inThread(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ch <- fn()
	}()
	return <-ch
}

// in runs fn inside namespace ns; sockets fn opens stay in that namespace.
func in(ns netns.NsHandle, fn func() error) error {
	return inThread(func() error {
		if err := netns.Set(ns); err != nil {
			return err
		}
		return fn()
	})
}

// udpEcho serves an echo on b at addr:port until the test ends.
func (sb *sandbox) udpEcho(t *testing.T, addr string, port int) {
	t.Helper()
	var pc net.PacketConn
	if err := in(sb.b, func() (err error) {
		pc, err = net.ListenPacket("udp4", fmt.Sprintf("%s:%d", addr, port))
		return err
	}); err != nil {
		t.Fatalf("echo listen: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
}

// rtt sends n UDP probes from a to addr:port one after another and returns the median
// round trip of those answered and how many were lost (no answer within timeout).
func (sb *sandbox) rtt(t *testing.T, addr string, port, n int, timeout time.Duration) (median time.Duration, lost int) {
	t.Helper()
	var c *net.UDPConn
	if err := in(sb.a, func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(addr), Port: port})
		return err
	}); err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range n {
		msg := fmt.Appendf(nil, "probe-%d", i)
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			lost++
			continue
		}
		deadline := start.Add(timeout)
		got := false
		for !got {
			_ = c.SetReadDeadline(deadline)
			m, err := c.Read(buf)
			if err != nil {
				break
			}
			got = string(buf[:m]) == string(msg) // a late answer to an earlier probe is skipped
		}
		if !got {
			lost++
			continue
		}
		rtts = append(rtts, time.Since(start))
	}
	if len(rtts) == 0 {
		return 0, lost
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return rtts[len(rtts)/2], lost
}

// tables lists the nftables tables in a.
func (sb *sandbox) tables(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(sb.a)))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tb := range ts {
		out = append(out, tb.Name)
	}
	slices.Sort(out)
	return out
}

// rootQdisc describes va's root qdisc ("noqueue 0:0" when untouched).
func (sb *sandbox) rootQdisc(t *testing.T) string {
	t.Helper()
	h, err := netlink.NewHandleAt(sb.a)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("va")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q.Type() + " " + netlink.HandleStr(q.Attrs().Handle)
		}
	}
	return "none"
}

// sendBig sends one 1000-byte probe from a to b's echo on 7000 and times the answer.
func (sb *sandbox) sendBig(t *testing.T) time.Duration {
	t.Helper()
	var c *net.UDPConn
	if err := in(sb.a, func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(sb.addrB), Port: 7000})
		return err
	}); err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	msg := make([]byte, 1000)
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(start.Add(2 * time.Second))
	buf := make([]byte, 2048)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("big probe: %v", err)
	}
	return time.Since(start)
}
