package network

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
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

// checkProtected refuses peers that lie entirely inside a protected prefix: such a fault
// could only ever hit a coordinator. Wider CIDRs are fine: every rule set accepts the
// protected prefixes before it acts.
func checkProtected(s catalogue.Network, protected []netip.Prefix) error {
	for _, c := range s.CIDRs {
		for _, p := range protected {
			if p.Bits() <= c.Bits() && p.Contains(c.Addr()) {
				return fmt.Errorf("%s: params.cidrs: %s is protected (%s, a coordinator's address): Murphy never cuts the control channel", s.Kind, c, p)
			}
		}
	}
	return nil
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
