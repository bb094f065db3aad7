package network

import (
	"fmt"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"net/netip"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"

	"github.com/murphy-chaos/murphy/worker/fault/network/nfqueue"
)

// Probe is what this host's kernel offers the network family. Every field is found by
// trying the mechanism in a throwaway network namespace (never by reading a kernel config
// or assuming a module loads): a kernel without sch_netem answers a netem qdisc with an
// error, and that is the only answer that counts.
type Probe struct {
	// NFTables: an inet table with a filter chain can be created, with the gate every
	// fault's rules depend on (a set whose elements time out, looked up by a rule): a
	// kernel that cannot expire a fault's rules offers no network kind at all.
	NFTables bool
	// Numgen: the random-number expression loss relies on.
	Numgen bool
	// QueueNative / QueueXT: packets can be queued by nft's own queue expression, or by
	// the xtables NFQUEUE target through nft_compat (kernels without nft_queue).
	QueueNative, QueueXT bool
	// NFQueue: a queue can be bound through nfnetlink_queue.
	NFQueue bool
	// MetaPriority: a rule can set skb->priority (how traffic is steered to HTB classes).
	MetaPriority bool
	// HTB and Netem: the qdiscs can be attached to a veth.
	HTB, Netem bool
	// Err says why nothing could be probed (e.g. no CAP_SYS_ADMIN to create a namespace).
	Err error
	// Notes explains each negative answer, for the worker's log.
	Notes []string
}

// RunProbe probes the kernel. It needs CAP_SYS_ADMIN (to create the throwaway namespace)
// and CAP_NET_ADMIN; without them it returns a Probe whose Err says so.
func RunProbe() Probe {
	var p Probe
	ns, err := newThrowawayNetns()
	if err != nil {
		p.Err = fmt.Errorf("create a throwaway network namespace to probe the kernel: %w", err)
		return p
	}
	defer ns.Close()
	fd := int(ns)
	p.probeNFT(fd)
	if q, err := nfqueue.Open(nfqueue.Config{Num: 1, NetNS: fd}); err == nil {
		p.NFQueue = true
		q.Close()
	} else {
		p.note("nfnetlink_queue: %v", err)
	}
	p.probeQdiscs(fd)
	return p
}

func (p *Probe) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// tryRule adds one rule with exprs to a fresh table and reports the kernel's answer.
func tryRule(fd int, exprs ...expr.Any) error {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Name: "murphy-probe", Family: nftables.TableFamilyINet})
	ch := c.AddChain(&nftables.Chain{Name: "probe", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityFilter})
	if len(exprs) > 0 {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	}
	err = c.Flush()
	c.DelTable(t)
	_ = c.Flush()
	return err
}

// tryGate installs a real fault table (a one-rule partition of a documentation prefix)
// with its timed gate and lease, and removes it.
func tryGate(fd int) error {
	s := catalogue.Network{Kind: KindPartition, Egress: true, CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	const id = "murphy-probe-gate"
	if err := installTable(fd, id, s, nil, action{drop: true}, gate{until: time.Minute, lease: time.Minute}); err != nil {
		return err
	}
	return removeTable(fd, id)
}

func (p *Probe) probeNFT(fd int) {
	if err := tryRule(fd); err != nil {
		p.note("nftables: %v", err)
		return
	}
	if err := tryGate(fd); err != nil {
		p.note("nftables set with element timeouts (the deadline gate): %v", err)
		return
	}
	p.NFTables = true
	check := func(flag *bool, what string, a action) {
		if err := tryRule(fd, a.exprs()...); err != nil {
			p.note("nftables %s: %v", what, err)
			return
		}
		*flag = true
	}
	num := uint16(1)
	check(&p.Numgen, "numgen", action{drop: true, lossPct: 50})
	check(&p.QueueNative, "queue", action{queue: &num})
	check(&p.QueueXT, "xt NFQUEUE target", action{queue: &num, queueXT: true})
	check(&p.MetaPriority, "meta priority set", action{priority: 0x10002})
}

func (p *Probe) probeQdiscs(fd int) {
	h, err := nlHandle(fd)
	if err != nil {
		p.note("netlink: %v", err)
		return
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "murphy-p0"}, PeerName: "murphy-p1"}
	if err := h.LinkAdd(veth); err != nil {
		p.note("veth: %v", err)
		return
	}
	link, err := h.LinkByName("murphy-p0")
	if err != nil {
		p.note("veth: %v", err)
		return
	}
	idx := link.Attrs().Index
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	if err := h.QdiscAdd(htb); err != nil {
		p.note("htb qdisc: %v", err)
	} else {
		p.HTB = true
		_ = h.QdiscDel(htb)
	}
	netem := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(2, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Latency: 1000})
	if err := h.QdiscAdd(netem); err != nil {
		p.note("netem qdisc: %v", err)
	} else {
		p.Netem = true
		_ = h.QdiscDel(netem)
	}
}

// mechanism is how a kind is carried out on this host; "" when it cannot be, with the
// reason.
func (p Probe) mechanism(kind string) (mech, why string) {
	if p.Err != nil {
		return "", p.Err.Error()
	}
	shaping := p.NFTables && p.MetaPriority && p.HTB
	netem := shaping && p.Netem
	switch kind {
	case KindDelay:
		switch {
		case netem:
			return "netem", ""
		case p.NFTables && (p.QueueNative || p.QueueXT) && p.NFQueue:
			return "nfqueue", ""
		}
		return "", "needs tc netem (sch_netem) or nftables with NFQUEUE and nfnetlink_queue; this kernel has neither"
	case KindLoss:
		switch {
		case netem:
			return "netem", ""
		case p.NFTables && p.Numgen:
			return "nftables", ""
		}
		return "", "needs tc netem (sch_netem) or nftables with numgen; this kernel has neither"
	case KindCorrupt, KindDuplicate:
		if netem {
			return "netem", ""
		}
		return "", fmt.Sprintf("%s needs tc netem (sch_netem), which this kernel lacks; there is no fallback", strings.TrimPrefix(kind, "network."))
	case KindRate:
		if shaping {
			return "htb", ""
		}
		return "", "needs the htb qdisc and nftables (meta priority); this kernel lacks them"
	case KindPartition, KindBlackhole, KindDNS:
		if p.NFTables {
			return "nftables", ""
		}
		return "", "needs nftables (nf_tables with the inet family and sets with element timeouts); this kernel lacks it"
	}
	return "", "unknown kind"
}
