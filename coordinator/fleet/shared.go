package fleet

import (
	"sync"

	"google.golang.org/grpc"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Shared is one message sent unchanged to many workers (a halt, a cluster-wide halt): it
// is marshalled once, by the first stream that sends it, and the same bytes go out on
// every other stream. Marshalling per stream would cost one encoding and one buffer per
// worker on the halt path, where the leader has the least time to spare.
//
// The encoding depends only on the codec and the compressor of the stream that makes it.
// Every worker stream uses the proto codec (the coordinator registers no other) and no
// compressor (none is registered either), so the bytes suit every worker stream. Safe
// for concurrent use; Msg must not be modified once queued.
type Shared struct {
	Msg *murphyv1.ConnectResponse

	once     sync.Once
	prepared *grpc.PreparedMsg
	err      error
}

// NewShared wraps msg to be sent to many workers.
func NewShared(msg *murphyv1.ConnectResponse) *Shared { return &Shared{Msg: msg} }

// Outbound is the message as a worker's queue holds it.
func (s *Shared) Outbound() Outbound { return Outbound{Msg: s.Msg, Shared: s} }

// Prepared returns the message encoded for stream, encoding it on the first call.
func (s *Shared) Prepared(stream grpc.ServerStream) (*grpc.PreparedMsg, error) {
	s.once.Do(func() {
		p := &grpc.PreparedMsg{}
		if s.err = p.Encode(stream, s.Msg); s.err == nil {
			s.prepared = p
		}
	})
	return s.prepared, s.err
}

// SendTo sends o on stream: the shared encoding when there is one, else the message.
func SendTo(stream grpc.ServerStream, o Outbound) error {
	if o.Shared != nil {
		if p, err := o.Shared.Prepared(stream); err == nil {
			return stream.SendMsg(p)
		}
	}
	return stream.SendMsg(o.Msg)
}
