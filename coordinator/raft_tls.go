package coordinator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tlsStreamLayer carries Raft between coordinators over mutual TLS: both sides present a
// coordinator certificate from the cluster's CA (tlsutil.PeerConfig checks the role), so
// nothing else can join the replication, read the log or vote.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	client    *tls.Config
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

func newTLSStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (*tlsStreamLayer, error) {
	ln, err := tls.Listen("tcp", bind, server)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if tcp, ok := advertise.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft: %s is not an address peers can dial; set --raft-advertise", advertise)
	}
	return &tlsStreamLayer{ln: ln, advertise: advertise, client: client}, nil
}

// Accept completes the handshake before handing the connection to Raft, so a peer that
// is not a coordinator is turned away here; a failed handshake does not stop the loop.
func (t *tlsStreamLayer) Accept() (net.Conn, error) {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return nil, err
		}
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			tc.Close()
			continue
		}
		_ = tc.SetDeadline(time.Time{})
		return tc, nil
	}
}

func (t *tlsStreamLayer) Close() error   { return t.ln.Close() }
func (t *tlsStreamLayer) Addr() net.Addr { return t.advertise }

func (t *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	cfg := t.client.Clone()
	cfg.ServerName = host
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", string(address), cfg)
	if err != nil {
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("raft peer %s: %w", address, err)
		}
		return nil, err
	}
	return c, nil
}
