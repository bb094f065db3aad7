package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/coordinator"
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
}

// dialOptions are the credentials a command talks to the cluster with: plaintext only
// when asked, else TLS with a certificate or a bearer token.
func (cf *clientFlags) dialOptions() ([]grpc.DialOption, error) {
	if cf.insecure {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	if cf.tls.CA == "" {
		return nil, errors.New("no credentials for the cluster: set MURPHY_CA with MURPHY_CERT and MURPHY_KEY (murphy tls issue --role operator) or MURPHY_TOKEN, or pass --insecure for a cluster started with --insecure")
	}
	cfg, err := tlsutil.ClientConfig(cf.tls)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
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

func dial(cf *clientFlags) (*client, error) {
	opts, err := cf.dialOptions()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cf.addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("bad coordinator address %q: %v", cf.addr, err)
	}
	return &client{conn: conn, exp: murphyv1.NewExperimentServiceClient(conn), cluster: murphyv1.NewClusterServiceClient(conn), flags: cf}, nil
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
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer from the coordinator at %s within %s; is it running? (set --addr or MURPHY_ADDR)", c.flags.addr, c.flags.timeout)
		}
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		if strings.Contains(msg, "handshake") || strings.Contains(msg, "certificate") || strings.Contains(msg, "tls:") {
			i := strings.Index(msg, "tls:")
			if i < 0 {
				i = 0
			}
			return fmt.Errorf("TLS with the coordinator at %s failed (%s); check that MURPHY_CA is the cluster's CA and your certificate is valid and issued by it", c.flags.addr, strings.TrimSpace(msg[i:]))
		}
		if !c.flags.insecure && (strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "remote error")) {
			return fmt.Errorf("the coordinator at %s closed the TLS connection: it did not accept your certificate (is it issued by the cluster's CA, and still valid?)", c.flags.addr)
		}
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection error") || strings.Contains(msg, "no such host") {
			return fmt.Errorf("cannot reach a coordinator at %s; is it running? (set --addr or MURPHY_ADDR)", c.flags.addr)
		}
		return fmt.Errorf("cluster unavailable: %s", msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("no answer from the coordinator at %s within %s; is it running, and does the cluster have a leader? (`murphy cluster status`)", c.flags.addr, c.flags.timeout)
	case codes.PermissionDenied, codes.Unauthenticated:
		return errors.New(msg)
	case codes.NotFound:
		return fmt.Errorf("%s (`murphy ls` lists runs)", strings.TrimPrefix(msg, "fsm: not found: "))
	}
	return errors.New(msg)
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
