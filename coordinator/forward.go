package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Metadata keys understood by every node.
const (
	// MetadataStale lets a follower answer a read from its own, possibly stale, state.
	MetadataStale = "murphy-stale"
	// metadataForwarded marks a call one node forwarded to another, so it is never
	// forwarded twice (leadership moved in between: the client retries instead).
	metadataForwarded = "murphy-forwarded-by"
	// metadataForwardedFor carries the original caller of a forwarded call, for the
	// record; the leader believes it only from a coordinator.
	metadataForwardedFor = "murphy-forwarded-for"
)

// forwardTarget decides whether a call must go to the leader, and returns a connection
// to it if so. A nil connection and nil error mean "serve it here". The route of each
// method is part of its policy in the contract; methods without one (health,
// reflection, unknown names) are served by the node asked.
func (s *Server) forwardTarget(ctx context.Context, method string) (*grpc.ClientConn, context.Context, error) {
	if s.IsLeader() {
		return nil, nil, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if rule, _ := s.policy.Rule(method); !rule.LeaderOnly(first(md, MetadataStale) == "true") {
		return nil, nil, nil
	}
	if by := first(md, metadataForwarded); by != "" {
		return nil, nil, fail(errNotApplied, "coordinator %s: forwarded by %s but no longer the leader; retry", s.cfg.NodeID, by)
	}
	id, addr := s.leaderAddr()
	if id == "" || addr == "" {
		return nil, nil, fail(errNotApplied, "coordinator %s: no leader elected yet; retry in a moment (`murphy cluster status` shows the cluster)", s.cfg.NodeID)
	}
	conn, err := s.dial(addr)
	if err != nil {
		return nil, nil, fail(errNotApplied, "coordinator %s: cannot reach leader %s at %s: %v", s.cfg.NodeID, id, addr, err)
	}
	out := metadata.Pairs(metadataForwarded, s.cfg.NodeID, metadataForwardedFor, caller(ctx))
	for _, k := range []string{"authorization"} {
		if v := first(md, k); v != "" {
			out.Set(k, v)
		}
	}
	return conn, metadata.NewOutgoingContext(ctx, out), nil
}

// forwardUnary sends leader-only unary calls that reach a follower to the leader.
func (s *Server) forwardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	conn, octx, err := s.forwardTarget(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		resp, err := handler(ctx, req)
		return resp, toStatus(err)
	}
	resp, err := newMessage(info.FullMethod, false)
	if err != nil {
		return nil, err
	}
	if err := conn.Invoke(octx, info.FullMethod, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// forwardStream relays leader-only server streams (Watch) from the leader.
func (s *Server) forwardStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	conn, octx, err := s.forwardTarget(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if conn == nil {
		return toStatus(handler(srv, ss))
	}
	req, err := newMessage(info.FullMethod, true)
	if err != nil {
		return err
	}
	if err := ss.RecvMsg(req); err != nil {
		return err
	}
	cs, err := conn.NewStream(octx, &grpc.StreamDesc{ServerStreams: true}, info.FullMethod)
	if err != nil {
		return err
	}
	if err := cs.SendMsg(req); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		resp, _ := newMessage(info.FullMethod, false)
		if err := cs.RecvMsg(resp); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(resp); err != nil {
			return err
		}
	}
}

// newMessage returns an empty request (input) or response message of a method, found
// through the protobuf registry so forwarding needs no per-method code.
func newMessage(fullMethod string, input bool) (proto.Message, error) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, fail(errInternal, "bad method name %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fail(errInternal, "unknown service %s: %v", svc, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fail(errInternal, "%s is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fail(errInternal, "unknown method %s", fullMethod)
	}
	msg := md.Output()
	if input {
		msg = md.Input()
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(msg.FullName())
	if err != nil {
		return nil, fmt.Errorf("message type %s: %w", msg.FullName(), err)
	}
	return mt.New().Interface(), nil
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
