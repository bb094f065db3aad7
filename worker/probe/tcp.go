package probe

import (
	"context"
	"net"
)

// tcpCheck opens a connection to the address and closes it at once: the latency is the
// connect time, and success means the handshake completed.
type tcpCheck string

func (a tcpCheck) check(ctx context.Context) (bool, float64) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", string(a))
	if err != nil {
		return false, 0
	}
	conn.Close()
	return true, 0
}

func (tcpCheck) close() {}
