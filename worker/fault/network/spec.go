package network

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
)

// The fault kinds this package executes.
const (
	KindDelay     = "network.delay"
	KindLoss      = "network.loss"
	KindCorrupt   = "network.corrupt"
	KindDuplicate = "network.duplicate"
	KindRate      = "network.rate"
	KindPartition = "network.partition"
	KindBlackhole = "network.blackhole"
	KindDNS       = "network.dns"
)

// Kinds lists every kind of the family.
var Kinds = []string{KindDelay, KindLoss, KindCorrupt, KindDuplicate, KindRate, KindPartition, KindBlackhole, KindDNS}

// maxRules bounds the rules one fault may expand to (cidrs × protocols × port ranges per
// direction), so a careless spec cannot load the kernel with thousands of rules.
const maxRules = 512

// spec is a validated fault's parameters.
type spec struct {
	kind     string
	iface    string // "" = every interface
	delay    time.Duration
	jitter   time.Duration
	percent  float64 // in (0,100]
	rateBits uint64
	cidrs    []netip.Prefix // empty = every peer
	ports    []fault.PortRange
	protocol string // all, tcp, udp, icmp
	egress   bool
	ingress  bool
	netns    string // "" = the worker's namespace
}

func str(params map[string]string, kind, name string) string {
	if v, ok := params[name]; ok {
		return v
	}
	k, _ := fault.Lookup(kind)
	for _, p := range k.Params {
		if p.Name == name {
			return p.Default
		}
	}
	return ""
}

// parseSpec validates params against the catalogue and reads them.
func parseSpec(kind string, params map[string]string) (spec, error) {
	if err := fault.Validate(kind, params); err != nil {
		return spec{}, err
	}
	s := spec{
		kind:     kind,
		iface:    params["interface"],
		protocol: str(params, kind, "protocol"),
		netns:    params["netns"],
	}
	var err error
	if v, ok := params["cidrs"]; ok {
		if s.cidrs, err = fault.ParseCIDRList(v); err != nil {
			return s, err
		}
	}
	if v, ok := params["ports"]; ok {
		if s.ports, err = fault.ParsePortList(v); err != nil {
			return s, err
		}
	}
	switch kind {
	case KindDelay:
		s.delay = fault.Duration(params, kind, "delay")
		s.jitter = fault.Duration(params, kind, "jitter")
		s.egress = true
	case KindLoss, KindCorrupt, KindDuplicate:
		s.percent = fault.Percent(params, kind, "percent") * 100
		s.egress = true
	case KindRate:
		s.rateBits, _ = fault.ParseRate(params["rate"])
		s.egress = true
	case KindPartition, KindBlackhole:
		switch str(params, kind, "direction") {
		case "egress":
			s.egress = true
		case "ingress":
			s.ingress = true
		default:
			s.egress, s.ingress = true, true
		}
	case KindDNS:
		s.egress = true
		s.protocol = "dns"
		s.ports = []fault.PortRange{{First: 53, Last: 53}}
	}
	if s.protocol == "icmp" && len(s.ports) > 0 {
		return s, fmt.Errorf("%s: params.ports: icmp has no ports (use protocol tcp, udp or all)", kind)
	}
	if n := s.ruleCount(); n > maxRules {
		return s, fmt.Errorf("%s: cidrs × protocols × port ranges make %d rules, more than %d; use wider CIDRs or port ranges", kind, n, maxRules)
	}
	return s, nil
}

// protos is the list of IP protocol numbers a rule set matches; nil means any.
func (s spec) protos() []byte {
	switch s.protocol {
	case "tcp":
		return []byte{6}
	case "udp":
		return []byte{17}
	case "icmp":
		return []byte{1, 58} // ICMP and ICMPv6: a rule with an IPv6 peer only ever sees 58
	}
	if len(s.ports) > 0 { // all, dns: ports exist only on tcp and udp
		return []byte{6, 17}
	}
	return nil
}

func (s spec) ruleCount() int {
	n := max(len(s.cidrs), 1) * max(len(s.protos()), 1) * max(len(s.ports), 1)
	if s.egress && s.ingress {
		n *= 2
	}
	return n
}

// checkProtected refuses peers that lie entirely inside a protected prefix: such a fault
// could only ever hit a coordinator. Wider CIDRs are fine: every rule set accepts the
// protected prefixes before it acts.
func (s spec) checkProtected(protected []netip.Prefix) error {
	for _, c := range s.cidrs {
		for _, p := range protected {
			if p.Bits() <= c.Bits() && p.Contains(c.Addr()) {
				return fmt.Errorf("%s: params.cidrs: %s is protected (%s, a coordinator's address): Murphy never cuts the control channel", s.kind, c, p)
			}
		}
	}
	return nil
}

// describe is the one-line summary shown to people.
func (s spec) describe() string {
	var b strings.Builder
	switch s.kind {
	case KindDelay:
		fmt.Fprintf(&b, "delay %s", s.delay)
		if s.jitter > 0 {
			fmt.Fprintf(&b, " ± %s", s.jitter)
		}
	case KindLoss:
		fmt.Fprintf(&b, "drop %g%% of packets", s.percent)
	case KindCorrupt:
		fmt.Fprintf(&b, "corrupt %g%% of packets", s.percent)
	case KindDuplicate:
		fmt.Fprintf(&b, "duplicate %g%% of packets", s.percent)
	case KindRate:
		fmt.Fprintf(&b, "limit bandwidth to %d bit/s", s.rateBits)
	case KindPartition:
		b.WriteString("partition")
	case KindBlackhole:
		b.WriteString("blackhole")
	case KindDNS:
		b.WriteString("blackhole DNS")
	}
	switch {
	case s.egress && s.ingress:
		b.WriteString(", both directions")
	case s.ingress:
		b.WriteString(", ingress")
	case s.kind == KindPartition || s.kind == KindBlackhole:
		b.WriteString(", egress")
	}
	if s.iface != "" {
		fmt.Fprintf(&b, " on %s", s.iface)
	}
	if len(s.cidrs) > 0 {
		ps := make([]string, len(s.cidrs))
		for i, c := range s.cidrs {
			ps[i] = c.String()
		}
		fmt.Fprintf(&b, " for peers %s", strings.Join(ps, ","))
	}
	if s.protocol != "all" && s.protocol != "dns" {
		fmt.Fprintf(&b, " %s", s.protocol)
	}
	if len(s.ports) > 0 && s.kind != KindDNS {
		ps := make([]string, len(s.ports))
		for i, p := range s.ports {
			ps[i] = fmt.Sprint(p.First)
			if p.Last != p.First {
				ps[i] += fmt.Sprintf("-%d", p.Last)
			}
		}
		fmt.Fprintf(&b, " ports %s", strings.Join(ps, ","))
	}
	if s.netns != "" {
		fmt.Fprintf(&b, " in netns %s", s.netns)
	}
	return b.String()
}

// idHash keys every kernel object of a fault by its assignment ID.
func idHash(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// TableName is the nftables table (family inet) of assignment id. Deterministic, so a
// restarted worker finds it from the journal.
func TableName(id string) string {
	h := idHash(id)
	return "murphy-" + hex.EncodeToString(h[:8])
}

// QdiscMajor is the major number of the HTB root qdisc of assignment id, in
// [0x4000, 0x7fff]: clear of the small numbers people pick by hand and of ffff: (ingress).
// The netem child of a fault uses QdiscMajor+0x4000.
func QdiscMajor(id string) uint16 {
	h := idHash(id)
	return 0x4000 | binary.BigEndian.Uint16(h[8:10])&0x3fff
}

// queueNum is the first NFQUEUE number tried for assignment id; a busy number moves on.
func queueNum(id string) uint16 {
	h := idHash(id)
	return 0x8000 | binary.BigEndian.Uint16(h[10:12])&0x7fff
}
