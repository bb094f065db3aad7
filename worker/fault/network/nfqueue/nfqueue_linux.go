package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Protocol constants from linux/netfilter/nfnetlink_queue.h and nfnetlink.h.
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket  = 0 // NFQNL_MSG_PACKET
	msgVerdict = 1 // NFQNL_MSG_VERDICT
	msgConfig  = 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1 // NFQA_PACKET_HDR
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR

	cfgCmd      = 1 // NFQA_CFG_CMD
	cfgParams   = 2 // NFQA_CFG_PARAMS
	cfgQueueLen = 3 // NFQA_CFG_QUEUE_MAXLEN
	cfgMask     = 4 // NFQA_CFG_MASK
	cfgFlags    = 5 // NFQA_CFG_FLAGS

	cmdBind = 1 // NFQNL_CFG_CMD_BIND

	copyMeta = 1 // NFQNL_COPY_META

	flagFailOpen = 0x1 // NFQA_CFG_F_FAIL_OPEN
	flagGSO      = 0x4 // NFQA_CFG_F_GSO
)

// Verdicts.
const (
	Drop   uint32 = 0 // NF_DROP
	Accept uint32 = 1 // NF_ACCEPT
)

// Packet is the metadata of one queued packet.
type Packet struct {
	// ID is the kernel's id for the verdict.
	ID uint32
	// Hook is the netfilter hook the packet was queued from.
	Hook uint8
}

// Config configures a queue.
type Config struct {
	// Num is the queue number the nftables rule sends packets to.
	Num uint16
	// NetNS is an open network namespace file descriptor; 0 means the caller's namespace.
	NetNS int
	// MaxLen is the most packets the kernel holds for this queue; beyond it packets are
	// accepted at once (fail open). Zero means 65536.
	MaxLen uint32
	// ReadBuffer is the socket receive buffer in bytes; zero means 8 MiB.
	ReadBuffer int
}

// Conn is a bound queue. Receive and Verdict may be called from different goroutines.
type Conn struct {
	c   *netlink.Conn
	num uint16
}

// ErrBusy means another socket already binds the queue number (the kernel gives the same
// answer to a caller without CAP_NET_ADMIN).
var ErrBusy = errors.New("nfqueue: queue number already bound by another socket, or no CAP_NET_ADMIN")

// Open binds queue cfg.Num in the given namespace.
func Open(cfg Config) (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, fmt.Errorf("nfqueue: open netlink socket: %w", err)
	}
	q := &Conn{c: c, num: cfg.Num}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 8 << 20
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = 65536
	}
	// A large buffer keeps bursts from overflowing the socket; a packet whose
	// notification is lost would sit in the queue until unbind.
	_ = c.SetReadBuffer(cfg.ReadBuffer)
	_ = c.SetOption(netlink.NoENOBUFS, true)

	var cmd [4]byte
	cmd[0] = cmdBind
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params[0:4], 0) // copy range: metadata only
	params[4] = copyMeta
	flags := binary.BigEndian.AppendUint32(nil, flagFailOpen|flagGSO)
	attrs := []netlink.Attribute{
		{Type: cfgCmd, Data: cmd[:]},
		{Type: cfgParams, Data: params},
		{Type: cfgQueueLen, Data: binary.BigEndian.AppendUint32(nil, cfg.MaxLen)},
		{Type: cfgFlags, Data: flags},
		{Type: cfgMask, Data: flags},
	}
	if err := q.request(msgConfig, attrs); err != nil {
		c.Close()
		// The kernel answers EPERM when another socket owns the queue number.
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("%w (queue %d)", ErrBusy, cfg.Num)
		}
		return nil, fmt.Errorf("nfqueue: bind queue %d: %w", cfg.Num, err)
	}
	return q, nil
}

// request sends a config message and waits for the kernel's acknowledgement.
func (q *Conn) request(msg uint8, attrs []netlink.Attribute) error {
	ad, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return err
	}
	m := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(subsysQueue<<8 | uint16(msg)),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(q.genHeader(), ad...),
	}
	_, err = q.c.Execute(m)
	return err
}

// genHeader is struct nfgenmsg: family, version, queue number (big endian).
func (q *Conn) genHeader() []byte {
	return []byte{unix.AF_UNSPEC, 0 /* NFNETLINK_V0 */, byte(q.num >> 8), byte(q.num)}
}

// Receive blocks until the kernel queues at least one packet and returns their metadata.
// It returns an error once the Conn is closed, and also when the kernel reports a failed
// verdict (a packet it had already let go); callers keep receiving after the latter.
func (q *Conn) Receive() ([]Packet, error) {
	msgs, err := q.c.Receive()
	if err != nil {
		return nil, err
	}
	out := make([]Packet, 0, len(msgs))
	for _, m := range msgs {
		if uint16(m.Header.Type) != subsysQueue<<8|msgPacket || len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			continue
		}
		for ad.Next() {
			if ad.Type() == attrPacketHdr {
				if b := ad.Bytes(); len(b) >= 7 {
					out = append(out, Packet{ID: binary.BigEndian.Uint32(b[0:4]), Hook: b[6]})
				}
			}
		}
	}
	return out, nil
}

// Verdict tells the kernel what to do with packet id. It asks for no acknowledgement: a
// verdict for a packet the kernel already let go (queue flushed) fails harmlessly.
func (q *Conn) Verdict(id, verdict uint32) error {
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint32(hdr[0:4], verdict)
	binary.BigEndian.PutUint32(hdr[4:8], id)
	ad, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: attrVerdictHdr, Data: hdr}})
	if err != nil {
		return err
	}
	_, err = q.c.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgVerdict), Flags: netlink.Request},
		Data:   append(q.genHeader(), ad...),
	})
	return err
}

// Close releases the socket, which unbinds the queue (an explicit unbind request would
// have to wait for a Receive blocked in another goroutine). Packets still held are dropped
// by the kernel, so callers release them first.
func (q *Conn) Close() error {
	return q.c.Close()
}
