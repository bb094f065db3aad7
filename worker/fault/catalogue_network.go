package fault

import (
	"fmt"
	"net/netip"
	"path/filepath"
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
	return []Param{
		{Name: "interface", Type: TypeString, Required: ifaceRequired, Check: CheckInterfaceName, Help: ifaceHelp},
		{Name: "cidrs", Type: TypeString, Check: checkCIDRList,
			Help: "comma-separated peer CIDRs or addresses; only traffic with them is affected (default all but the protected ones)"},
		{Name: "ports", Type: TypeString, Check: checkPortList,
			Help: "comma-separated peer ports or ranges (80,8000-8100); only that tcp/udp traffic is affected"},
		{Name: "protocol", Type: TypeString, Default: "all", Check: oneOf("all", "tcp", "udp", "icmp"),
			Help: "all, tcp, udp or icmp"},
		{Name: "netns", Type: TypeString, Check: checkNetnsPath,
			Help: "network namespace to act in, e.g. /var/run/netns/NAME or /proc/PID/ns/net (a container's); default the worker's"},
	}
}

func init() {
	percent := Param{Name: "percent", Type: TypePercent, Required: true, Help: "share of packets affected, in (0,100]"}
	direction := func(def string) Param {
		return Param{Name: "direction", Type: TypeString, Default: def, Check: oneOf("egress", "ingress", "both"),
			Help: "egress, ingress or both"}
	}
	register(
		Kind{
			Name:    "network.delay",
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
			Summary: "drop a share of the packets leaving an interface",
			Params:  append([]Param{percent}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.corrupt",
			Summary: "corrupt a share of the packets leaving an interface (needs tc netem)",
			Params:  append([]Param{percent}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.duplicate",
			Summary: "duplicate a share of the packets leaving an interface (needs tc netem)",
			Params:  append([]Param{percent}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.rate",
			Summary: "limit the bandwidth of packets leaving an interface",
			Params: append([]Param{
				{Name: "rate", Type: TypeString, Required: true, Check: checkRate,
					Help: "bandwidth in bits per second with a unit: bit, kbit, mbit, gbit (e.g. 1mbit)"},
			}, networkSelector(true)...),
		},
		Kind{
			Name:    "network.partition",
			Summary: "cut this host off from peers: every matching packet is dropped",
			Params:  append([]Param{direction("both")}, requireCIDRs(networkSelector(false))...),
		},
		Kind{
			Name:    "network.blackhole",
			Summary: "silently drop matching traffic (default every peer but the protected ones)",
			Params:  append([]Param{direction("egress")}, networkSelector(false)...),
		},
		Kind{
			Name:    "network.dns",
			Summary: "blackhole DNS: drop queries to port 53 (optionally only to the given resolvers)",
			Params:  dnsParams(networkSelector(false)),
		},
	)
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

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
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

func checkCIDRList(v string) error { _, err := ParseCIDRList(v); return err }

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

func checkPortList(v string) error { _, err := ParsePortList(v); return err }

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

func checkRate(v string) error { _, err := ParseRate(v); return err }

// checkNetnsPath wants an absolute path: a relative one would depend on the worker's
// working directory, which the spec's author cannot know.
func checkNetnsPath(v string) error {
	if !filepath.IsAbs(v) || filepath.Clean(v) != v {
		return fmt.Errorf("%q is not a clean absolute path (e.g. /var/run/netns/NAME or /proc/PID/ns/net)", v)
	}
	return nil
}
