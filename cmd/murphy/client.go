package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/grpcretry"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

const defaultAddr = "127.0.0.1:7400"

// client bundles the three service clients over one connection.
type client struct {
	conn    *grpc.ClientConn
	exp     murphyv1.ExperimentServiceClient
	cluster murphyv1.ClusterServiceClient
	flags   *clientFlags
	// addrs are the coordinator addresses --addr lists, in the order they are tried.
	addrs []string
}

// dialOptions are the credentials a command talks to the cluster with: plaintext only
// when asked, else TLS with a certificate or a bearer token. A call the cluster refused
// before its log (during an election) is sent again within the command's timeout.
func (cf *clientFlags) dialOptions() ([]grpc.DialOption, error) {
	retry := grpc.WithChainUnaryInterceptor(grpcretry.UnaryClientInterceptor())
	if cf.insecure {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), retry}, nil
	}
	if cf.tls.CA == "" {
		return nil, errors.New("no credentials for the cluster: set MURPHY_CA with MURPHY_CERT and MURPHY_KEY (murphy tls issue --role operator) or MURPHY_TOKEN, or pass --insecure for a cluster started with --insecure")
	}
	cfg, err := tlsutil.ClientConfig(cf.tls)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg)), retry}
	if cf.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(cf.token)))
	}
	return opts, nil
}

// bearer sends a token with every call, over TLS only.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

// parseAddrs splits --addr / MURPHY_ADDR into the coordinator addresses it lists, in
// order: any node can serve a client, so an operator lists several and Murphy uses the
// first that answers.
func parseAddrs(s string) ([]string, error) {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, fmt.Errorf("bad coordinator address list %q: empty address (separate addresses with commas, e.g. 127.0.0.1:7400,127.0.0.1:7410)", s)
		}
		out = append(out, a)
	}
	return out, nil
}

func dial(cf *clientFlags) (*client, error) {
	opts, err := cf.dialOptions()
	if err != nil {
		return nil, err
	}
	addrs, err := parseAddrs(cf.addr)
	if err != nil {
		return nil, err
	}
	target := addrs[0]
	if len(addrs) > 1 {
		// A list goes to gRPC's pick_first through a fixed resolver: it connects to the
		// addresses in order and moves on when one refuses, fails or stays silent (a
		// 250 ms head start each, not a full connect timeout); when the node in use goes
		// away, the next call (a watch re-subscribing after a failover) reconnects to
		// the first that answers.
		state := resolver.State{}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("bad coordinator address %q in --addr: %v (a list needs host:port for each node)", a, err)
			}
			// ServerName makes TLS verify each node against its own host name: without
			// it every address would be checked against the one authority of the
			// target, and only nodes whose certificate happens to name it would pass.
			state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: a})
		}
		r := manual.NewBuilderWithScheme("murphy-addrs")
		r.InitialState(state)
		opts = append(opts, grpc.WithResolvers(r))
		target = r.Scheme() + ":///coordinators"
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("bad coordinator address %q: %v", cf.addr, err)
	}
	return &client{conn: conn, exp: murphyv1.NewExperimentServiceClient(conn), cluster: murphyv1.NewClusterServiceClient(conn), flags: cf, addrs: addrs}, nil
}

// ctx returns a per-call context carrying the --stale choice.
func (c *client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx := parent
	if c.flags.stale {
		ctx = metadata.AppendToOutgoingContext(ctx, coordinator.MetadataStale, "true")
	}
	return context.WithTimeout(ctx, c.flags.timeout)
}

func (c *client) Close() { c.conn.Close() }

// explain turns a gRPC error into the one line a user should read, with what to do next.
func (c *client) explain(err error) error {
	if err == nil {
		return nil
	}
	at := orList(c.addrs)
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer from the coordinator at %s within %s; is it running? (set --addr or MURPHY_ADDR)", at, c.flags.timeout)
		}
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		// Asked first: a client and a node that disagree about TLS fail in ways that
		// read like a dead node (EOF before the HTTP/2 preface) or a bad certificate
		// (a first record that is not TLS), and with a list the error gRPC keeps is
		// only the last address's.
		if transportFailure(msg) {
			if err := c.mismatch(); err != nil {
				return err
			}
		}
		if strings.Contains(msg, "handshake") || strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:") {
			i := strings.Index(msg, "tls:")
			if i < 0 {
				i = 0
			}
			return fmt.Errorf("TLS with the coordinator at %s failed (%s); check that MURPHY_CA is the cluster's CA and your certificate is valid and issued by it", at, strings.Trim(msg[i:], "\" "))
		}
		if !c.flags.insecure && (strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "remote error")) {
			return fmt.Errorf("the coordinator at %s closed the TLS connection: it did not accept your certificate (is it issued by the cluster's CA, and still valid?)", at)
		}
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection error") || strings.Contains(msg, "no such host") {
			if len(c.addrs) > 1 {
				return fmt.Errorf("cannot reach a coordinator at %s; is any of them running? (set --addr or MURPHY_ADDR)", at)
			}
			return fmt.Errorf("cannot reach a coordinator at %s; is it running? (set --addr or MURPHY_ADDR)", at)
		}
		return fmt.Errorf("cluster unavailable: %s", msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("no answer from the coordinator at %s within %s; is it running, and does the cluster have a leader? (`murphy cluster status`)", at, c.flags.timeout)
	case codes.PermissionDenied, codes.Unauthenticated:
		return errors.New(msg)
	case codes.NotFound:
		return fmt.Errorf("%s (`murphy ls` lists runs)", strings.TrimPrefix(msg, "fsm: not found: "))
	}
	return errors.New(msg)
}

// mismatch probes every listed address after a failed connection and, when some node
// speaks the other transport than this client (TLS against --insecure, or the
// reverse), says which node and which setting to change. It returns nil when no node
// is known to disagree.
func (c *client) mismatch() error {
	want := wireTLS
	if c.flags.insecure {
		want = wirePlain
	}
	found := make([]wire, len(c.addrs))
	var wg sync.WaitGroup
	for i, a := range c.addrs {
		wg.Go(func() { found[i] = probeWire(a, min(c.flags.timeout, probeTimeout)) })
	}
	wg.Wait()
	var other, web []string
	for i, w := range found {
		switch {
		case w == wireHTTP1:
			web = append(web, c.addrs[i])
		case w != wireUnknown && w != want:
			other = append(other, c.addrs[i])
		}
	}
	if len(other) == 0 {
		if len(web) > 0 {
			return fmt.Errorf("%s answers HTTP/1.x, not gRPC: is it a coordinator's web port? --addr and MURPHY_ADDR take the gRPC port (--grpc-addr, default %s)", orList(web), defaultAddr)
		}
		return nil
	}
	who := "the coordinator at " + orList(other) + " speaks"
	if len(other) > 1 {
		who = "the coordinators at " + orList(other) + " speak"
	}
	if c.flags.insecure {
		return fmt.Errorf("%s TLS: drop --insecure and set MURPHY_CA/MURPHY_CERT/MURPHY_KEY", who)
	}
	return fmt.Errorf("%s plaintext (it was started with --insecure): pass --insecure or set MURPHY_INSECURE=1", who)
}

// wire is what a node speaks on its gRPC port, as far as a probe can tell.
type wire int

const (
	wireUnknown wire = iota // unreachable, silent, or closed without a word
	wireTLS
	wirePlain
	wireHTTP1 // an HTTP/1.x server: a web port, not a coordinator's gRPC port
)

// transportFailure says whether an Unavailable message comes from the connection rather
// than from a node that answered (such as "no leader elected yet"): only then can the
// two sides disagree about TLS.
func transportFailure(msg string) bool {
	for _, s := range []string{"connection", "preface", "handshake", "tls:", "EOF", "frame"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// probeTimeout bounds a probe: it only runs after a failure, and a silent address must
// not hold the error message for a full call timeout.
const probeTimeout = 2 * time.Second

// probeWire opens a TLS handshake to addr and reads the answer. A server hello or a TLS
// alert means TLS; a first record that is not TLS (a plaintext gRPC server sends its
// HTTP/2 SETTINGS frame at once) means plaintext. Nothing is sent beyond the client
// hello, so skipping verification here exposes nothing: the probe only classifies.
func probeWire(addr string, timeout time.Duration) wire {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return wireUnknown
	}
	defer raw.Close()
	host, _, _ := net.SplitHostPort(addr)
	conn := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: true}) //nolint:gosec // a probe that sends no data
	err = conn.HandshakeContext(ctx)
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case err == nil:
		return wireTLS
	case errors.As(err, &rh):
		// A plaintext gRPC server sends its HTTP/2 SETTINGS frame at once; an
		// HTTP/1.x server answers the garbled request with a status line.
		if string(rh.RecordHeader[:]) == "HTTP/" {
			return wireHTTP1
		}
		return wirePlain
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls:"):
		return wireTLS
	}
	return wireUnknown
}

// orList names addresses for a message: "a", "a or b", "a, b or c".
func orList(addrs []string) string {
	switch len(addrs) {
	case 0:
		return ""
	case 1:
		return addrs[0]
	}
	return strings.Join(addrs[:len(addrs)-1], ", ") + " or " + addrs[len(addrs)-1]
}

// call dials the cluster, runs fn with a per-call context, and closes the connection:
// the shape of every command that makes one request.
func call(cmd interface{ Context() context.Context }, cf *clientFlags, fn func(ctx context.Context, c *client) error) error {
	c, err := dial(cf)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := c.ctx(cmd.Context())
	defer cancel()
	return fn(ctx, c)
}
