package coordinator

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/murphy-chaos/murphy/coordinator/web"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
)

type identityKey struct{}

// identityFrom returns the caller's identity established by the auth interceptor.
func identityFrom(ctx context.Context) (tlsutil.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(tlsutil.Identity)
	return id, ok
}

// Token maps a bearer token to an identity, for CI pipelines that cannot hold a
// certificate.
type Token struct {
	Token string `yaml:"token"`
	Role  string `yaml:"role"`
	Name  string `yaml:"name"`
}

// LoadTokens reads a YAML list of {token, role, name}.
func LoadTokens(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	var ts []Token
	if err := yaml.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("tokens %s: %w", path, err)
	}
	for i, t := range ts {
		if len(t.Token) < 16 || !slices.Contains(tlsutil.Roles, t.Role) || t.Role == tlsutil.RoleWorker || t.Role == tlsutil.RoleCoordinator || t.Name == "" {
			return nil, fmt.Errorf("tokens %s: entry %d needs a token of at least 16 characters, a name, and a role among viewer, operator, admin", path, i+1)
		}
	}
	return ts, nil
}

// authenticate establishes who is calling: the verified client certificate, else a
// bearer token, else nobody. Without TLS (--insecure) everyone is an admin.
func (s *Server) authenticate(ctx context.Context) (tlsutil.Identity, error) {
	if s.cfg.TLS == nil {
		return tlsutil.Identity{Role: tlsutil.RoleAdmin, Name: "anonymous", Via: "insecure"}, nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			return tlsutil.IdentityOf(ti.State.VerifiedChains[0][0])
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if auth := first(md, "authorization"); strings.HasPrefix(auth, "Bearer ") {
		if id, ok := s.tokenIdentity(strings.TrimPrefix(auth, "Bearer ")); ok {
			return id, nil
		}
		return tlsutil.Identity{}, fail(errUnauthenticated, "the bearer token is not known to this cluster")
	}
	return tlsutil.Identity{}, fail(errUnauthenticated, "no client certificate or token: issue one with `murphy tls issue --role operator --name NAME` and set MURPHY_CA, MURPHY_CERT, MURPHY_KEY")
}

// authorize checks the caller against the method's policy, which the contract declares
// on each method (proto/murphy/v1/policy.proto), so the check and the forwarding that
// follows it read one table.
func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	id, err := s.authenticate(ctx)
	if err != nil {
		return ctx, err
	}
	rule, _ := s.policy.Rule(method)
	// Without TLS there is no identity to check: --insecure means no authorization, for
	// workers as for people.
	if id.Via != "insecure" && !rule.Allows(id.Role) {
		name := method[strings.LastIndex(method, "/")+1:]
		return ctx, fail(errDenied, "%s needs the %s role; you are %s %q (by %s)", name, strings.Join(withoutPeers(rule.Roles), " or "), id.Role, id.Name, id.Via)
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

func withoutPeers(roles []string) []string {
	return slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == tlsutil.RoleCoordinator && len(roles) > 1 })
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		s.log.Warn("call denied", "method", info.FullMethod, "reason", err)
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		s.log.Warn("stream denied", "method", info.FullMethod, "reason", err)
		return err
	}
	return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// tokenIdentity looks a bearer token up in constant time, as the web pages do: the gRPC
// API and the pages accept the same tokens and must not leak them through timing.
func (s *Server) tokenIdentity(tok string) (tlsutil.Identity, bool) {
	return s.tokenLookup()(tok)
}

// newTokenLookup is the one lookup over the configured tokens, for the API and the pages.
func newTokenLookup(tokens []Token) func() func(string) (tlsutil.Identity, bool) {
	return sync.OnceValue(func() func(string) (tlsutil.Identity, bool) {
		ids := make(map[string]tlsutil.Identity, len(tokens))
		for _, t := range tokens {
			ids[t.Token] = tlsutil.Identity{Role: t.Role, Name: t.Name, Via: "token"}
		}
		return web.TokenLookup(ids)
	})
}
