package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/logging"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// testPKI issues a CA, a coordinator certificate and an operator certificate, as
// `murphy tls init` and `murphy tls issue` would.
func testPKI(t *testing.T) (node, operator tlsutil.Files) {
	t.Helper()
	dir := t.TempDir()
	if err := tlsutil.InitCA(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	crt, key, err := tlsutil.Issue(dir, filepath.Join(dir, "nodes"), tlsutil.RoleCoordinator, "n1", nil, time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	node = tlsutil.Files{CA: ca, Cert: crt, Key: key}
	crt, key, err = tlsutil.Issue(dir, filepath.Join(dir, "ops"), tlsutil.RoleOperator, "alice", nil, time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return node, tlsutil.Files{CA: ca, Cert: crt, Key: key}
}

// startNode starts a one-node cluster, with TLS when tls is not nil, and returns its
// gRPC address.
func startNode(t *testing.T, tls *tlsutil.Files) string {
	return startServer(t, tls).GRPCAddr()
}

func startServer(t *testing.T, tls *tlsutil.Files) *coordinator.Server {
	t.Helper()
	srv, err := coordinator.New(coordinator.Config{
		NodeID: "n1", DataDir: filepath.Join(t.TempDir(), "n1"), GRPCAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Bootstrap: true, Insecure: tls == nil, TLS: tls, Logger: logging.Discard(), WaitForWorkers: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Reads need a leader that has registered itself.
	for n := srv.FSM().Node("n1"); n == nil || n.HttpAddr == ""; n = srv.FSM().Node("n1") {
		if ctx.Err() != nil {
			t.Fatal("the node never registered itself")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func tlsArgs(f tlsutil.Files) []string {
	return []string{"--ca", f.CA, "--cert", f.Cert, "--key", f.Key}
}

// TestAddrList: a comma-separated --addr reaches the first node that answers, with TLS
// verified against each address's own name, and an error names every address tried.
func TestAddrList(t *testing.T) {
	nodeFiles, op := testPKI(t)
	tlsNode := startNode(t, &nodeFiles)
	plainNode := startNode(t, nil)
	dead1, dead2 := deadAddr(t), deadAddr(t)
	_, port, _ := net.SplitHostPort(tlsNode)

	ok := []struct {
		name string
		args []string
	}{
		{"plaintext, first two dead", []string{"--addr", dead1 + "," + dead2 + "," + plainNode, "--insecure"}},
		{"TLS, first dead", append([]string{"--addr", dead1 + ", " + tlsNode}, tlsArgs(op)...)},
		// The certificate names localhost and 127.0.0.1: each address is verified
		// against its own host, not the first one's.
		{"TLS by name, first dead", append([]string{"--addr", "localhost:" + deadPort(t) + ",localhost:" + port}, tlsArgs(op)...)},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"ls", "--timeout", "10s"}, tc.args...)
			if _, err := runCLI(t, args...); err != nil {
				t.Fatalf("murphy %s: %v", strings.Join(args, " "), err)
			}
		})
	}

	t.Run("all dead", func(t *testing.T) {
		_, err := runCLI(t, "halt", "r1", "--addr", dead1+","+dead2, "--insecure", "--timeout", "5s")
		if err == nil {
			t.Fatal("no error")
		}
		want := fmt.Sprintf("cannot reach a coordinator at %s or %s; is any of them running? (set --addr or MURPHY_ADDR)", dead1, dead2)
		if err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	})
	t.Run("empty entry", func(t *testing.T) {
		_, err := runCLI(t, "ls", "--addr", dead1+",,", "--insecure")
		if err == nil || !strings.Contains(err.Error(), "empty address") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestAddrListFailover: a connection made over a list moves to the next node when the
// one in use stops, as a watch re-subscribing after a failover needs.
func TestAddrListFailover(t *testing.T) {
	a, b := startServer(t, nil), startServer(t, nil)
	c, err := dial(&clientFlags{addr: a.GRPCAddr() + "," + b.GRPCAddr(), timeout: 10 * time.Second, insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list := func() error {
		ctx, cancel := c.ctx(context.Background())
		defer cancel()
		_, err := c.exp.ListRuns(ctx, &murphyv1.ListRunsRequest{})
		return c.explain(err)
	}
	if err := list(); err != nil {
		t.Fatal(err)
	}
	a.Stop()
	// The call that sees the old connection drop may fail; the next one must not.
	deadline := time.Now().Add(10 * time.Second)
	for err := list(); err != nil; err = list() {
		if time.Now().After(deadline) {
			t.Fatalf("still failing after the first node stopped: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deadPort(t *testing.T) string {
	_, port, _ := net.SplitHostPort(deadAddr(t))
	return port
}

// TestTLSMismatch: a plaintext client against a TLS node, and a TLS client against a
// plaintext node, are told which side to change rather than "is it running?".
func TestTLSMismatch(t *testing.T) {
	nodeFiles, op := testPKI(t)
	tlsNode := startNode(t, &nodeFiles)
	plain := startServer(t, nil)
	plainNode, plainWeb := plain.GRPCAddr(), plain.HTTPAddr()
	dead := deadAddr(t)
	webMsg := plainWeb + " answers HTTP/1.x, not gRPC: is it a coordinator's web port? --addr and MURPHY_ADDR take the gRPC port (--grpc-addr, default 127.0.0.1:7400)"

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"plaintext client, TLS node", []string{"--addr", tlsNode, "--insecure"},
			"the coordinator at " + tlsNode + " speaks TLS: drop --insecure and set MURPHY_CA/MURPHY_CERT/MURPHY_KEY"},
		{"plaintext client, dead then TLS node", []string{"--addr", dead + "," + tlsNode, "--insecure"},
			"the coordinator at " + tlsNode + " speaks TLS: drop --insecure and set MURPHY_CA/MURPHY_CERT/MURPHY_KEY"},
		{"TLS client, plaintext node", append([]string{"--addr", plainNode}, tlsArgs(op)...),
			"the coordinator at " + plainNode + " speaks plaintext (it was started with --insecure): pass --insecure or set MURPHY_INSECURE=1"},
		{"TLS client, dead then plaintext node", append([]string{"--addr", dead + "," + plainNode}, tlsArgs(op)...),
			"the coordinator at " + plainNode + " speaks plaintext (it was started with --insecure): pass --insecure or set MURPHY_INSECURE=1"},
		// A web port is not a plaintext coordinator: say which port to use instead.
		{"plaintext client, web port", []string{"--addr", plainWeb, "--insecure"}, webMsg},
		{"TLS client, web port", append([]string{"--addr", plainWeb}, tlsArgs(op)...), webMsg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := runCLI(t, append([]string{"ls", "--timeout", "10s"}, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q\nwant  %q", err, tc.want)
			}
			// The mismatch is known at the first handshake, not at the deadline.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}
