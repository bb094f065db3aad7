package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// unshapedBits is the rate of the HTB class that carries unselected traffic (and the
// class that holds a netem leaf): far above any NIC, so HTB only classifies. HTB needs
// some rate for every class; it does cost the interface its multiqueue root while the
// fault is active.
const unshapedBits = 1_000_000_000_000

func nlHandle(nsFd int) (*netlink.Handle, error) {
	if nsFd > 0 {
		return netlink.NewHandleAt(netns.NsHandle(nsFd))
	}
	return netlink.NewHandle()
}

// lookupLink finds the interface or says plainly that it does not exist.
func lookupLink(nsFd int, name, where string) (netlink.Link, error) {
	h, err := nlHandle(nsFd)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("params.interface: no interface %q in %s", name, where)
		}
		return nil, fmt.Errorf("netlink: find interface %q: %w", name, err)
	}
	return l, nil
}

// shapeConfig is what goes into the fault's HTB class 2: a rate, or a netem leaf.
type shapeConfig struct {
	rateBits uint64
	netem    *netlink.NetemQdiscAttrs
}

// installQdisc puts an HTB root (handle major:) on the interface with class major:1 as the
// default for unselected traffic and class major:2 for the fault; the nftables table sets
// skb->priority to major:2 on selected packets, which HTB honours without any filter.
// A root qdisc someone configured (a non-zero handle that is not ours) is never replaced.
func installQdisc(nsFd int, iface string, major uint16, sc shapeConfig) error {
	h, err := nlHandle(nsFd)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("netlink: find interface %q: %w", iface, err)
	}
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("netlink: list qdiscs of %s: %w", iface, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT || a.Handle == 0 {
			continue
		}
		if maj, _ := netlink.MajorMinor(a.Handle); maj == major {
			if err := h.QdiscDel(q); err != nil {
				return fmt.Errorf("netlink: remove stale qdisc on %s: %w", iface, err)
			}
			continue
		}
		return fmt.Errorf("interface %s already has a configured root qdisc (%s %s); Murphy does not replace it",
			iface, q.Type(), netlink.HandleStr(a.Handle))
	}
	root := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(major, 0), Parent: netlink.HANDLE_ROOT})
	root.Defcls = 1
	if err := h.QdiscAdd(root); err != nil {
		return fmt.Errorf("netlink: add htb root qdisc on %s: %w", iface, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = h.QdiscDel(root)
		}
	}()
	faultRate := uint64(unshapedBits)
	if sc.rateBits > 0 {
		faultRate = sc.rateBits
	}
	for minor, bits := range map[uint16]uint64{1: unshapedBits, 2: faultRate} {
		cl := netlink.NewHtbClass(
			netlink.ClassAttrs{LinkIndex: link.Attrs().Index, Parent: root.Handle, Handle: netlink.MakeHandle(major, minor)},
			netlink.HtbClassAttrs{Rate: bits, Ceil: bits, Quantum: 60000})
		if err := h.ClassAdd(cl); err != nil {
			return fmt.Errorf("netlink: add htb class %x:%d on %s: %w", major, minor, iface, err)
		}
	}
	if sc.netem != nil {
		leaf := netlink.NewNetem(netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(major, 2), Handle: netlink.MakeHandle(major+0x4000, 0),
		}, *sc.netem)
		if err := h.QdiscAdd(leaf); err != nil {
			return fmt.Errorf("netlink: add netem qdisc on %s: %w", iface, err)
		}
	}
	ok = true
	return nil
}

// removeQdisc deletes the fault's root qdisc if the interface still has it; the kernel
// then restores the interface's default qdisc. A missing interface (a container that
// went away) means there is nothing to revert.
func removeQdisc(nsFd int, iface string, major uint16) error {
	h, err := nlHandle(nsFd)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("netlink: find interface %q: %w", iface, err)
	}
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("netlink: list qdiscs of %s: %w", iface, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if maj, _ := netlink.MajorMinor(a.Handle); a.Parent == netlink.HANDLE_ROOT && maj == major {
			if err := h.QdiscDel(q); err != nil {
				return fmt.Errorf("netlink: delete qdisc %s on %s: %w", netlink.HandleStr(a.Handle), iface, err)
			}
		}
	}
	return nil
}
