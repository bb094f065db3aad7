package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"net/netip"
	"os"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// Chain priorities. Ingress drops run before conntrack (-200) so a partitioned peer does
// not even create connection state; egress runs at the filter priority, after routing
// and output NAT decided the real destination.
const (
	ingressPriority = -300
	egressPriority  = 0
)

// The gate is how a fault's deadline reaches the kernel. Every table holds a set "gate"
// whose elements carry kernel timeouts, and every chain begins by accepting all packets
// unless the gate's elements are present. When the deadline element's timeout runs out the
// kernel stops matching it, the chain accepts everything, and the fault is over, whether
// the worker is alive, frozen or dead; the table itself stays (inert) until a revert
// deletes it. The lease element, used only by the NFQUEUE delay, is refreshed by the
// running worker every leaseRefresh: a frozen worker stops refreshing it, and within
// leaseTTL the rule stops queueing packets nobody reads.
const (
	gateSet             = "gate"
	gateDeadline uint32 = 1
	gateLease    uint32 = 2
)

// gate is what a table's chains wait for: the deadline element, with a timeout of until,
// and, when lease > 0, the lease element with that timeout.
type gate struct {
	until time.Duration
	lease time.Duration
}

func gateKey(k uint32) []byte { return binaryutil.NativeEndian.PutUint32(k) }

// gateRef names the gate set of assignment id for element updates.
func gateRef(id string) *nftables.Set {
	return &nftables.Set{
		Table:   &nftables.Table{Name: TableName(id), Family: nftables.TableFamilyINet},
		Name:    gateSet,
		KeyType: nftables.TypeMark, HasTimeout: true,
	}
}

// kernelTimeout rounds up to the kernel's millisecond, so the kernel never ends a fault
// before the deadline the worker was given.
func kernelTimeout(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// gateExprs accepts the packet unless element key is in the gate set (an immediate
// constant looked up with the inverted flag: "key not in @gate -> accept").
func gateExprs(set *nftables.Set, key uint32) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: gateKey(key)},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// refreshLease renews the lease element for another ttl. A delete and an add in one
// batch is the update every kernel understands (newer ones also update the timeout on a
// plain add); when the element already lapsed the delete fails the batch, and a plain add
// brings it back.
func refreshLease(c *nftables.Conn, id string, ttl time.Duration) error {
	set := gateRef(id)
	el := nftables.SetElement{Key: gateKey(gateLease), Timeout: kernelTimeout(ttl)}
	if err := c.SetDeleteElements(set, []nftables.SetElement{{Key: el.Key}}); err != nil {
		return err
	}
	if err := c.SetAddElements(set, []nftables.SetElement{el}); err != nil {
		return err
	}
	if err := c.Flush(); err == nil {
		return nil
	}
	if err := c.SetAddElements(set, []nftables.SetElement{el}); err != nil {
		return err
	}
	return c.Flush()
}

// action is what a rule set does with the traffic it selects.
type action struct {
	drop     bool
	lossPct  float64 // with drop: only this share, via numgen
	queue    *uint16 // NFQUEUE number
	queueXT  bool    // queue through the xtables NFQUEUE target (kernels without nft_queue)
	priority uint32  // skb->priority = HTB class id; 0 = none
}

func (a action) exprs() []expr.Any {
	var out []expr.Any
	switch {
	case a.drop && a.lossPct > 0 && a.lossPct < 100:
		// numgen is host order; the comparison is a memcmp, so convert to big endian
		// first (nft itself emits the same byteorder step for "numgen ... < N").
		threshold := uint32(a.lossPct*100 + 0.5)
		out = append(out,
			&expr.Numgen{Register: 1, Modulus: 10000, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(threshold)},
			&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	case a.drop:
		out = append(out, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	case a.queue != nil && a.queueXT:
		out = append(out, &expr.Counter{}, queueTarget(*a.queue))
	case a.queue != nil:
		// Bypass: with no listener (the worker died) packets pass instead of vanishing.
		out = append(out, &expr.Counter{}, &expr.Queue{Num: *a.queue, Flag: expr.QueueFlagBypass})
	case a.priority != 0:
		out = append(out,
			&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(a.priority)},
			&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1},
			&expr.Counter{})
	}
	return out
}

// queueTarget is the xtables NFQUEUE target (struct xt_NFQ_info_v3, host order) with the
// bypass flag, the form iptables-nft uses; it works where the kernel lacks nft_queue.
func queueTarget(num uint16) *expr.Target {
	info := make(xt.Unknown, 8) // 6 bytes, padded to XT_ALIGN
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)    // queues_total
	binary.NativeEndian.PutUint16(info[4:], 0x01) // NFQ_FLAG_BYPASS
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

func nftConn(nsFd int) (*nftables.Conn, error) {
	if nsFd > 0 {
		return nftables.New(nftables.WithNetNSFd(nsFd))
	}
	return nftables.New()
}

// installTable replaces the fault's table with one built from s and act, gated by g, in a
// single netlink batch: the kernel applies all of it or none, so the rules never exist
// without their deadline.
func installTable(nsFd int, id string, s catalogue.Network, protected []netip.Prefix, act action, g gate) error {
	if g.until <= 0 {
		return errors.New("the deadline has passed or is missing; a network fault needs one the kernel can enforce")
	}
	c, err := nftConn(nsFd)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := deleteTable(c, id); err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Name: TableName(id), Family: nftables.TableFamilyINet})
	set := &nftables.Set{Table: t, Name: gateSet, KeyType: nftables.TypeMark, HasTimeout: true}
	elems := []nftables.SetElement{{Key: gateKey(gateDeadline), Timeout: kernelTimeout(g.until)}}
	keys := []uint32{gateDeadline}
	if g.lease > 0 {
		elems = append(elems, nftables.SetElement{Key: gateKey(gateLease), Timeout: kernelTimeout(g.lease)})
		keys = append(keys, gateLease)
	}
	if err := c.AddSet(set, elems); err != nil {
		return fmt.Errorf("nftables: gate set: %w", err)
	}
	policy := nftables.ChainPolicyAccept
	type dir struct {
		on       bool
		name     string
		hook     *nftables.ChainHook
		prio     int
		outbound bool
	}
	for _, d := range []dir{
		{s.Egress, "egress", nftables.ChainHookPostrouting, egressPriority, true},
		{s.Ingress, "ingress", nftables.ChainHookPrerouting, ingressPriority, false},
	} {
		if !d.on {
			continue
		}
		ch := c.AddChain(&nftables.Chain{
			Name: d.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: d.hook, Priority: nftables.ChainPriorityRef(nftables.ChainPriority(d.prio)), Policy: &policy,
		})
		// The gate first: once it is closed nothing below matches.
		for _, k := range keys {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: gateExprs(set, k)})
		}
		// Protected peers next, in both address fields: a coordinator's traffic leaves
		// this table untouched whatever the selector says.
		for _, p := range protected {
			for _, src := range []bool{true, false} {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch,
					Exprs: append(matchPrefix(p, src), &expr.Verdict{Kind: expr.VerdictAccept})})
			}
		}
		for _, sel := range selectors(s, d.outbound) {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(sel, act.exprs()...)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add table %s: %w", TableName(id), err)
	}
	return nil
}

// selectors returns the match part of every rule for one direction: the product of peers
// × protocols × port ranges, each rule also matching the interface.
func selectors(s catalogue.Network, outbound bool) [][]expr.Any {
	var iface []expr.Any
	if s.Interface != "" {
		key := expr.MetaKeyIIFNAME
		if outbound {
			key = expr.MetaKeyOIFNAME
		}
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, s.Interface)
		iface = []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name}}
	}
	peers := [][]expr.Any{nil}
	if len(s.CIDRs) > 0 {
		peers = peers[:0]
		for _, c := range s.CIDRs {
			// the peer is the destination of outbound packets, the source of inbound ones
			peers = append(peers, matchPrefix(c, !outbound))
		}
	}
	protos := [][]expr.Any{nil}
	if ps := s.Protos(); len(ps) > 0 {
		protos = protos[:0]
		for _, p := range ps {
			protos = append(protos, []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
			})
		}
	}
	ports := [][]expr.Any{nil}
	if len(s.Ports) > 0 {
		ports = ports[:0]
		off := uint32(2) // the peer's port: destination port outbound
		if !outbound {
			off = 0
		}
		for _, r := range s.Ports {
			m := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}}
			if r.First == r.Last {
				m = append(m, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.First)})
			} else {
				m = append(m,
					&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.First)},
					&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Last)})
			}
			ports = append(ports, m)
		}
	}
	var out [][]expr.Any
	for _, peer := range peers {
		for _, proto := range protos {
			for _, port := range ports {
				r := append(append(append(append([]expr.Any{}, iface...), peer...), proto...), port...)
				out = append(out, r)
			}
		}
	}
	return out
}

// matchPrefix matches the source (src) or destination address against p, checking the
// packet's family first so an inet table never reads an IPv6 header as IPv4.
func matchPrefix(p netip.Prefix, src bool) []expr.Any {
	addr := p.Addr().Unmap()
	proto, off := byte(unix.NFPROTO_IPV4), uint32(16)
	if src {
		off = 12
	}
	if addr.Is6() {
		proto, off = unix.NFPROTO_IPV6, 24
		if src {
			off = 8
		}
	}
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
	if p.Bits() == 0 {
		return out
	}
	n := uint32(addr.BitLen() / 8)
	out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n})
	raw := addr.AsSlice()
	if p.Bits() < addr.BitLen() {
		mask := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		for i := range raw {
			raw[i] &= mask[i]
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: raw})
}

// deleteTable queues the deletion of the fault's table if it exists (the caller flushes).
// Looking first keeps revert idempotent: deleting a missing table fails the whole batch.
func deleteTable(c *nftables.Conn, id string) error {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName(id) {
			c.DelTable(t)
		}
	}
	return nil
}

// removeTable deletes the fault's table if it exists.
func removeTable(nsFd int, id string) error {
	c, err := nftConn(nsFd)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := deleteTable(c, id); err != nil {
		return err
	}
	if err := c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nftables: delete table %s: %w", TableName(id), err)
	}
	return nil
}

// ruleCounters sums the packet counters of the fault's rules (for tests and describe).
func ruleCounters(nsFd int, id string) (packets uint64, err error) {
	c, err := nftConn(nsFd)
	if err != nil {
		return 0, err
	}
	t := &nftables.Table{Name: TableName(id), Family: nftables.TableFamilyINet}
	for _, name := range []string{"egress", "ingress"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			continue
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					packets += ctr.Packets
				}
			}
		}
	}
	return packets, nil
}
