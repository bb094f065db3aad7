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

// Who may call what. Viewers read, operators run and halt, admins also change the cluster
// and schedules and press the big red button, workers only hold their own stream, and
// coordinators (peers forwarding for a caller they already checked) may do anything but
// be a worker.
var (
	readers   = []string{tlsutil.RoleViewer, tlsutil.RoleOperator, tlsutil.RoleAdmin, tlsutil.RoleCoordinator}
	operators = []string{tlsutil.RoleOperator, tlsutil.RoleAdmin, tlsutil.RoleCoordinator}
	admins    = []string{tlsutil.RoleAdmin, tlsutil.RoleCoordinator}
	workers   = []string{tlsutil.RoleWorker}
)

// access maps a method, or a service prefix ending in "/", to the roles allowed.
var access = map[string][]string{
	"/murphy.v1.ExperimentService/Validate":       readers,
	"/murphy.v1.ExperimentService/GetRun":         readers,
	"/murphy.v1.ExperimentService/ListRuns":       readers,
	"/murphy.v1.ExperimentService/Watch":          readers,
	"/murphy.v1.ExperimentService/GetVerdict":     readers,
	"/murphy.v1.ExperimentService/ListSchedules":  readers,
	"/murphy.v1.ExperimentService/Submit":         operators,
	"/murphy.v1.ExperimentService/Halt":           operators,
	"/murphy.v1.ExperimentService/HaltAll":        admins,
	"/murphy.v1.ExperimentService/Resume":         admins,
	"/murphy.v1.ExperimentService/DeleteSchedule": admins,
	"/murphy.v1.ExperimentService/PauseSchedules": admins,
	"/murphy.v1.ClusterService/Status":            readers,
	"/murphy.v1.ClusterService/ListWorkers":       readers,
	"/murphy.v1.ClusterService/ListAudit":         readers,
	"/murphy.v1.ClusterService/Join":              admins,
	"/murphy.v1.ClusterService/Remove":            admins,
	"/murphy.v1.WorkerService/Connect":            workers,
	"/grpc.health.v1.Health/":                     tlsutil.Roles,
	"/grpc.reflection.v1.ServerReflection/":       readers,
	"/grpc.reflection.v1alpha.ServerReflection/":  readers,

	// Resuming schedules is apart from lifting a halt (Resume), and as privileged.
	"/murphy.v1.ExperimentService/ResumeSchedules": admins,
}

func allowedRoles(method string) []string {
	if r, ok := access[method]; ok {
		return r
	}
	if i := strings.LastIndex(method, "/"); i > 0 {
		return access[method[:i+1]]
	}
	return nil
}

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

func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	id, err := s.authenticate(ctx)
	if err != nil {
		return ctx, err
	}
	allowed := allowedRoles(method)
	// Without TLS there is no identity to check: --insecure means no authorization, for
	// workers as for people.
	if id.Via != "insecure" && !slices.Contains(allowed, id.Role) {
		name := method[strings.LastIndex(method, "/")+1:]
		return ctx, fail(errDenied, "%s needs the %s role; you are %s %q (by %s)", name, strings.Join(withoutPeers(allowed), " or "), id.Role, id.Name, id.Via)
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
