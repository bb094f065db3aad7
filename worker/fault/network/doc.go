// Package network owns Murphy's network fault family: network.delay, network.loss,
// network.corrupt, network.duplicate, network.rate, network.partition, network.blackhole
// and network.dns.
//
// Every fault is one nftables table (family inet) named from its assignment ID, plus, for
// the shaping kinds, one HTB root qdisc whose handle is derived from the same ID. The
// table selects the traffic (interface, peer CIDRs, ports, protocol) after first accepting
// the protected CIDRs (the coordinators), and then drops it, queues it to the worker's
// userspace delay, or steers it into the fault's HTB class by setting skb->priority.
// Because the names come from the ID alone, a restarted worker reverts a fault from its
// journal entry without any state of its own.
//
// Every table's chains are gated on an element of a timed nftables set whose timeout is
// the fault's deadline, so the kernel ends the fault at its deadline even when the worker
// is frozen or dead for good; the NFQUEUE delay is also gated on a one-second lease the
// running worker keeps renewing. tc objects cannot expire, but their classification is
// done by the gated rules. See worker/DESIGN.md, "Deadlines live in the kernel".
//
// Which mechanism a kind uses is decided once, by probing the kernel in a throwaway
// network namespace (see Probe): tc netem where sch_netem exists; otherwise delay through
// an NFQUEUE (package nfqueue) and loss through an nftables random drop; corrupt and
// duplicate are refused without netem.
package network
