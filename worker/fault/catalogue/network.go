package catalogue

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxNetworkDelay bounds network.delay: a userspace delay holds every matching packet in
// the kernel's queue for that long, and minutes of TCP retransmission timeouts are a
// different fault (use partition).
const maxNetworkDelay = 30 * time.Second

// The selector params every network kind shares. They describe the *remote peer*: cidrs
// and ports are the destination of egress packets and the source of ingress packets.
func networkSelector(ifaceRequired bool) []Param {
	ifaceHelp := "network interface whose egress is shaped, e.g. eth0"
	if !ifaceRequired {
		ifaceHelp = "network interface, e.g. eth0; default every interface"
	}
	return append([]Param{
		{Name: "interface", Type: TypeString, Required: ifaceRequired, Parse: check(CheckInterfaceName), Help: ifaceHelp},
		{Name: "cidrs", Type: TypeString, Parse: parseCIDRList,
			Help: "comma-separated peer CIDRs or addresses; only traffic with them is affected (default all but the protected ones)"},
		{Name: "ports", Type: TypeString, Parse: parsePortList,
			Help: "comma-separated peer ports or ranges (80,8000-8100); only that tcp/udp traffic is affected"},
		{Name: "protocol", Type: TypeString, Default: "all", Parse: oneOf("all", "tcp", "udp", "icmp"),
			Help: "all, tcp, udp or icmp"},
		{Name: "netns", Type: TypeString, Parse: check(checkNetnsPath),
			Help: "network namespace to act in, e.g. /var/run/netns/NAME or /proc/PID/ns/net; default the worker's"},
	}, placeParams("act in the network namespace of", ", so a restarted container is never left with a rule")...)
}

// maxRules bounds the rules one fault may expand to (cidrs × protocols × port ranges per
// direction), so a careless spec cannot load the kernel with thousands of rules.
const maxRules = 512

// Network is the parameters of every network kind.
type Network struct {
	Kind string
	// Interface is "" for every interface.
	Interface string
	Delay     time.Duration
	Jitter    time.Duration
	// Percent is in (0,100].
	Percent  float64
	RateBits uint64
	// CIDRs are the peers; empty for every peer.
	CIDRs []netip.Prefix
	Ports []PortRange
	// Protocol is all, tcp, udp, icmp, or dns (network.dns).
	Protocol string
	Egress   bool
	Ingress  bool
	// Netns is the namespace to act in; "" for the worker's (or the container's).
	Netns string
	// Place selects the container or pod whose namespace to act in, instead of Netns.
	Place
}

// InContainer reports whether the fault acts in a container's or a pod's namespace.
func (s Network) InContainer() bool { return s.Place.Set() }

// Protos is the list of IP protocol numbers a rule set matches; nil means any.
func (s Network) Protos() []byte {
	switch s.Protocol {
	case "tcp":
		return []byte{6}
	case "udp":
		return []byte{17}
	case "icmp":
		return []byte{1, 58} // ICMP and ICMPv6: a rule with an IPv6 peer only ever sees 58
	}
	if len(s.Ports) > 0 { // all, dns: ports exist only on tcp and udp
		return []byte{6, 17}
	}
	return nil
}

// RuleCount is how many rules the fault expands to.
func (s Network) RuleCount() int {
	n := max(len(s.CIDRs), 1) * max(len(s.Protos()), 1) * max(len(s.Ports), 1)
	if s.Egress && s.Ingress {
		n *= 2
	}
	return n
}

func decodeNetwork(kind string) func(v values) (Params, error) {
	return func(v values) (Params, error) {
		s := Network{
			Kind:      kind,
			Interface: v.str("interface"),
			Protocol:  v.str("protocol"),
			Netns:     v.str("netns"),
			CIDRs:     value[[]netip.Prefix](v, "cidrs"),
			Ports:     value[[]PortRange](v, "ports"),
			Delay:     v.dur("delay"),
			Jitter:    v.dur("jitter"),
			Percent:   v.percent("percent"),
			RateBits:  value[uint64](v, "rate"),
		}
		switch kind {
		case "network.partition", "network.blackhole":
			switch v.str("direction") {
			case "egress":
				s.Egress = true
			case "ingress":
				s.Ingress = true
			default:
				s.Egress, s.Ingress = true, true
			}
		case "network.dns":
			s.Egress = true
			s.Protocol = "dns"
			s.Ports = []PortRange{{First: 53, Last: 53}}
		default:
			s.Egress = true
		}
		place, err := decodePlace(v)
		if err != nil {
			return nil, err
		}
		s.Place = place
		if s.Netns != "" && place.Set() {
			return nil, fmt.Errorf("params: give netns, or a container or pod, not both")
		}
		if s.Protocol == "icmp" && len(s.Ports) > 0 {
			return nil, fmt.Errorf("params.ports: icmp has no ports (use protocol tcp, udp or all)")
		}
		if n := s.RuleCount(); n > maxRules {
			return nil, fmt.Errorf("cidrs × protocols × port ranges make %d rules, more than %d; use wider CIDRs or port ranges", n, maxRules)
		}
		return s, nil
	}
}

const (
	// Every network kind needs a kernel that can bound it (see worker/DESIGN.md); the
	// shaping kinds need tc besides. The worker probes each mechanism at start.
	networkNeeds   = "nftables with set timeouts, CAP_NET_ADMIN"
	netemNeeds     = networkNeeds + ", tc HTB and netem"
	networkReverts = "the worker deletes the fault's nftables table and qdisc; the kernel ends it at its deadline whatever happens to the worker (set element timeouts, the NFQUEUE lease)"
)

func init() {
	percent := Param{Name: "percent", Type: TypePercent, Required: true, Help: "share of packets affected, in (0,100]"}
	direction := func(def string) Param {
		return Param{Name: "direction", Type: TypeString, Default: def, Parse: oneOf("egress", "ingress", "both"),
			Help: "egress, ingress or both"}
	}
	register(
		Kind{
			Name:    "network.delay",
			Needs:   networkNeeds + ", and tc HTB and netem or else NFQUEUE",
			Reverts: networkReverts,
			decode:  decodeNetwork("network.delay"),
			Summary: "delay packets leaving an interface",
			Params: append([]Param{
				{Name: "delay", Type: TypeDuration, Required: true, Min: int64(time.Microsecond), Max: int64(maxNetworkDelay),
					Help: "added latency per packet, e.g. 100ms"},
				{Name: "jitter", Type: TypeDuration, Default: "0s", Min: 0, Max: int64(maxNetworkDelay),
					Help: "each packet gets delay ± a uniform jitter, clamped at zero"},
			}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.loss",
			Needs:   networkNeeds + ", and tc HTB and netem or else nftables numgen",
			Reverts: networkReverts,
			decode:  decodeNetwork("network.loss"),
			Summary: "drop a share of the packets leaving an interface",
			Params:  append([]Param{percent}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.corrupt",
			Needs:   netemNeeds,
			Reverts: networkReverts,
			decode:  decodeNetwork("network.corrupt"),
			Summary: "corrupt a share of the packets leaving an interface (needs tc netem)",
			Params:  append([]Param{percent}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.duplicate",
			Needs:   netemNeeds,
			Reverts: networkReverts,
			decode:  decodeNetwork("network.duplicate"),
			Summary: "duplicate a share of the packets leaving an interface (needs tc netem)",
			Params:  append([]Param{percent}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.rate",
			Needs:   networkNeeds + ", tc HTB",
			Reverts: networkReverts,
			decode:  decodeNetwork("network.rate"),
			Summary: "limit the bandwidth of packets leaving an interface",
			Params: append([]Param{
				{Name: "rate", Type: TypeString, Required: true, Parse: parseRate,
					Help: "bandwidth in bits per second with a unit: bit, kbit, mbit, gbit (e.g. 1mbit)"},
			}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.partition",
			Needs:   networkNeeds,
			Reverts: networkReverts,
			decode:  decodeNetwork("network.partition"),
			Summary: "cut this host off from peers: every matching packet is dropped",
			Params:  append([]Param{direction("both")}, requireCIDRs(networkSelector(false))...),
		},
		Kind{
			Name:    "network.blackhole",
			Needs:   networkNeeds,
			Reverts: networkReverts,
			decode:  decodeNetwork("network.blackhole"),
			Summary: "silently drop matching traffic (default every peer but the protected ones)",
			Params:  append([]Param{direction("egress")}, networkSelector(false)...),
		},
		Kind{
			Name:    "network.dns",
			Needs:   networkNeeds,
			Reverts: networkReverts,
			decode:  decodeNetwork("network.dns"),
			Summary: "blackhole DNS: drop queries to port 53 (optionally only to the given resolvers)",
			Params:  dnsParams(networkSelector(false)),
		},
	)
}

func (s Network) String() string {
	var b strings.Builder
	switch s.Kind {
	case "network.delay":
		fmt.Fprintf(&b, "delay %s", s.Delay)
		if s.Jitter > 0 {
			fmt.Fprintf(&b, " ± %s", s.Jitter)
		}
	case "network.loss":
		fmt.Fprintf(&b, "drop %g%% of packets", s.Percent)
	case "network.corrupt":
		fmt.Fprintf(&b, "corrupt %g%% of packets", s.Percent)
	case "network.duplicate":
		fmt.Fprintf(&b, "duplicate %g%% of packets", s.Percent)
	case "network.rate":
		fmt.Fprintf(&b, "limit bandwidth to %d bit/s", s.RateBits)
	case "network.partition":
		b.WriteString("partition")
	case "network.blackhole":
		b.WriteString("blackhole")
	case "network.dns":
		b.WriteString("blackhole DNS")
	}
	switch {
	case s.Egress && s.Ingress:
		b.WriteString(", both directions")
	case s.Ingress:
		b.WriteString(", ingress")
	case s.Kind == "network.partition" || s.Kind == "network.blackhole":
		b.WriteString(", egress")
	}
	if s.Interface != "" {
		fmt.Fprintf(&b, " on %s", s.Interface)
	}
	if len(s.CIDRs) > 0 {
		ps := make([]string, len(s.CIDRs))
		for i, c := range s.CIDRs {
			ps[i] = c.String()
		}
		fmt.Fprintf(&b, " for peers %s", strings.Join(ps, ","))
	}
	if s.Protocol != "all" && s.Protocol != "dns" {
		fmt.Fprintf(&b, " %s", s.Protocol)
	}
	if len(s.Ports) > 0 && s.Kind != "network.dns" {
		ps := make([]string, len(s.Ports))
		for i, p := range s.Ports {
			ps[i] = fmt.Sprint(p.First)
			if p.Last != p.First {
				ps[i] += fmt.Sprintf("-%d", p.Last)
			}
		}
		fmt.Fprintf(&b, " ports %s", strings.Join(ps, ","))
	}
	if s.Netns != "" {
		fmt.Fprintf(&b, " in netns %s", s.Netns)
	}
	b.WriteString(s.Place.String())
	return b.String()
}

// requireCIDRs makes cidrs required: a partition is always between this host and someone.
func requireCIDRs(ps []Param) []Param {
	for i := range ps {
		if ps[i].Name == "cidrs" {
			ps[i].Required = true
			ps[i].Help = "comma-separated peer CIDRs or addresses to cut off"
		}
	}
	return ps
}

// dnsParams drops ports and protocol: the kind fixes them to 53 over udp and tcp.
func dnsParams(ps []Param) []Param {
	out := ps[:0]
	for _, p := range ps {
		switch p.Name {
		case "ports", "protocol":
			continue
		case "cidrs":
			p.Help = "comma-separated resolver CIDRs or addresses; default every resolver"
		}
		out = append(out, p)
	}
	return out
}

func oneOf(vals ...string) func(string) (any, error) {
	return check(func(v string) error {
		if slices.Contains(vals, v) {
			return nil
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	})
}

// CheckInterfaceName accepts what the kernel accepts as a link name (IFNAMSIZ-1 bytes, no
// slash, colon or space), so a typo is refused before any worker sees it.
func CheckInterfaceName(v string) error {
	if len(v) > 15 || v == "." || v == ".." || strings.ContainsAny(v, "/: \t\n") {
		return fmt.Errorf("%q is not a valid interface name (at most 15 bytes, no '/', ':' or spaces)", v)
	}
	return nil
}

// ParseCIDRList reads "10.0.0.0/8, 192.168.1.7, fd00::/8"; a bare address is one host.
func ParseCIDRList(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", part)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CIDR given")
	}
	return out, nil
}

func parseCIDRList(v string) (any, error) { return ParseCIDRList(v) }

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct{ First, Last uint16 }

// ParsePortList reads "53, 8000-8100".
func ParsePortList(v string) ([]PortRange, error) {
	var out []PortRange
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 != nil || err2 != nil || a == 0 || b < a {
			return nil, fmt.Errorf("%q is not a port (1-65535) or a range (8000-8100)", part)
		}
		out = append(out, PortRange{uint16(a), uint16(b)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no port given")
	}
	return out, nil
}

func parsePortList(v string) (any, error) { return ParsePortList(v) }

// ParseRate reads a bandwidth in tc's notation (bits per second): 500kbit, 1mbit, 1.5gbit.
func ParseRate(v string) (bitsPerSec uint64, err error) {
	s := strings.ToLower(strings.TrimSpace(v))
	units := []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || !(f > 0) {
				break
			}
			r := f * u.mult
			if r < 8 || r > 1e12 {
				return 0, fmt.Errorf("%q is out of range [8bit, 1000gbit]", v)
			}
			return uint64(r), nil
		}
	}
	return 0, fmt.Errorf("%q is not a rate (a number and bit, kbit, mbit or gbit, e.g. 1mbit)", v)
}

func parseRate(v string) (any, error) { return ParseRate(v) }

// checkNetnsPath wants an absolute path: a relative one would depend on the worker's
// working directory, which the spec's author cannot know.
func checkNetnsPath(v string) error {
	if !filepath.IsAbs(v) || filepath.Clean(v) != v {
		return fmt.Errorf("%q is not a clean absolute path (e.g. /var/run/netns/NAME or /proc/PID/ns/net)", v)
	}
	return nil
}
