// Package nfqueue is a minimal client of the kernel's nfnetlink_queue protocol: it binds
// one queue number, receives the metadata of each queued packet, and returns verdicts.
//
// Murphy needs only that much (the network family delays packets by holding their verdict),
// so the client asks for metadata only (no payload copy), lets GSO packets through whole,
// and fails open: when the queue overflows the kernel accepts packets instead of dropping
// them, so a delay fault never turns into a loss fault. It is written on
// github.com/mdlayher/netlink because the usual library for this is not available from the
// module proxy Murphy builds with.
package nfqueue
