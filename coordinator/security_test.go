package coordinator_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearerToken) RequireTransportSecurity() bool { return true }

// TestAccessDenied checks every way in that must be refused, each with a message that
// says why, and that none of them changes the replicated state.
func TestAccessDenied(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	os.WriteFile(tokens, []byte("- {token: ci-pipeline-token-0123456789, role: operator, name: ci}\n"), 0o600)
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	cfg := nodeConfig(t, "n1", t.TempDir())
	cfg.Bootstrap, cfg.TokensFile = true, tokens
	s := c.start(cfg)
	waitUntil(t, 10*time.Second, "n1 leads and has registered itself", func() bool { return s.IsLeader() && s.FSM().Node("n1") != nil })
	addr := s.GRPCAddr()

	// A second CA and its certificates: valid-looking, but not this cluster's.
	otherDir := t.TempDir()
	if err := tlsutil.InitCA(otherDir, time.Hour); err != nil {
		t.Fatal(err)
	}
	crt, key, _ := tlsutil.Issue(otherDir, otherDir, tlsutil.RoleAdmin, "mallory", nil, time.Hour, time.Time{})
	foreign := tlsutil.Files{CA: filepath.Join(testPKI.dir, "ca.crt"), Cert: crt, Key: key}
	// An expired certificate from the right CA.
	ecrt, ekey, _ := tlsutil.Issue(testPKI.dir, t.TempDir(), tlsutil.RoleAdmin, "old", nil, time.Hour, time.Now().Add(-48*time.Hour))
	expired := tlsutil.Files{CA: filepath.Join(testPKI.dir, "ca.crt"), Cert: ecrt, Key: ekey}
	creds := func(f tlsutil.Files) grpc.DialOption {
		cfg, err := tlsutil.ClientConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
	}
	tokenOnly := func(tok string) []grpc.DialOption {
		cfg, _ := tlsutil.ClientConfig(tlsutil.Files{CA: filepath.Join(testPKI.dir, "ca.crt")})
		return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg)), grpc.WithPerRPCCredentials(bearerToken(tok))}
	}
	submit := func(opts ...grpc.DialOption) error {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = murphyv1.NewExperimentServiceClient(conn).Submit(ctx, &murphyv1.SubmitRequest{Spec: fmt.Appendf(nil, testSpec, "1s", "1s")})
		return err
	}
	before := s.FSM().AppliedIndex()
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		// TLS 1.3 lets the client finish its side before the server rejects the
		// certificate, so the client sees the rejection as an alert or a closed pipe.
		{"certificate from another CA", submit(creds(foreign)), codes.Unavailable, ""},
		{"expired certificate", submit(creds(expired)), codes.Unavailable, ""},
		{"plaintext client", submit(grpc.WithTransportCredentials(insecure.NewCredentials())), codes.Unavailable, ""},
		{"viewer trying to run", submit(tlsDial(t, tlsutil.RoleViewer, "vera")), codes.PermissionDenied, `Submit needs the operator or admin role; you are viewer "vera" (by certificate)`},
		{"worker certificate used to submit", submit(tlsDial(t, tlsutil.RoleWorker, "w1")), codes.PermissionDenied, `Submit needs the operator or admin role; you are worker "w1" (by certificate)`},
		{"unknown token", submit(tokenOnly("not-a-known-token-at-all")...), codes.Unauthenticated, "the bearer token is not known to this cluster"},
		{"no certificate and no token", submit(tokenOnly("")[0]), codes.Unauthenticated, "no client certificate or token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status.Code(tc.err) != tc.code || !strings.Contains(tc.err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %s containing %q", tc.err, tc.code, tc.msg)
			}
		})
	}
	t.Run("worker impersonating another worker", func(t *testing.T) {
		conn, err := grpc.NewClient(addr, tlsDial(t, tlsutil.RoleWorker, "w1"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: "w2", Labels: map[string]string{"region": "r"}}}})
		_, err = stream.Recv()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `the worker certificate for "w1" cannot connect as worker "w2"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("operator certificate as a worker", func(t *testing.T) {
		conn, _ := grpc.NewClient(addr, tlsDial(t, tlsutil.RoleOperator, "olga"))
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(ctx)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Connect needs the worker role") {
			t.Fatalf("err = %v", err)
		}
	})
	if after := s.FSM().AppliedIndex(); after != before {
		t.Errorf("denied calls changed the state: applied index %d -> %d", before, after)
	}
	if len(s.FSM().Workers()) != 0 {
		t.Errorf("a refused worker was registered: %v", s.FSM().Workers())
	}
	// A known token is an identity with its role.
	if err := submit(tokenOnly("ci-pipeline-token-0123456789")...); err != nil {
		t.Errorf("operator token: %v", err)
	}
}

// TestRaftRequiresCoordinatorCertificate dials a node's Raft port with an operator
// certificate: the handshake is refused, so only coordinators can replicate or vote.
func TestRaftRequiresCoordinatorCertificate(t *testing.T) {
	c := startCluster(t, 1)
	raftAddr := c.cfgs[0].RaftAddr
	f := certFor(t, tlsutil.RoleOperator, "olga")
	cfg, err := tlsutil.ClientConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	conn, err := tls.Dial("tcp", raftAddr, cfg)
	if err == nil {
		// TLS 1.3 reports the server's rejection of the client certificate on first read.
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("raft accepted an operator certificate: %v", err)
	}
}

// TestInsecureModeAllowsWorkers: a cluster started with --insecure has no identities, so
// it must not apply roles either; a worker's stream is accepted like any call.
func TestInsecureModeAllowsWorkers(t *testing.T) {
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	cfg := nodeConfig(t, "n1", t.TempDir())
	cfg.TLS, cfg.Insecure, cfg.Bootstrap = nil, true, true
	s := c.start(cfg)
	waitUntil(t, 10*time.Second, "n1 leads", s.IsLeader)
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: "w1", Labels: map[string]string{"region": "r", "datacenter": "d"}}}})
	m, err := stream.Recv()
	if err != nil || m.GetWelcome() == nil {
		t.Fatalf("insecure worker stream: %v %v", m, err)
	}
}
