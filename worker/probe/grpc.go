package probe

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcCheck calls grpc.health.v1.Health/Check over one plaintext connection kept for
// the run, as an HTTP probe keeps its connection alive. Calls do not wait for the
// connection to become ready: while it is down a check fails at once, and the connection
// is retried at least every second (or every interval, if shorter), so a recovered
// service is seen within about one interval.
type grpcCheck struct {
	conn    *grpc.ClientConn
	client  healthpb.HealthClient
	service string
}

func newGRPCCheck(sp spec) (*grpcCheck, error) {
	retry := min(sp.interval, time.Second)
	conn, err := grpc.NewClient(sp.address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: min(retry, 100*time.Millisecond), Multiplier: 1.6, Jitter: 0.2, MaxDelay: retry},
			MinConnectTimeout: sp.timeout,
		}))
	if err != nil {
		return nil, err
	}
	return &grpcCheck{conn: conn, client: healthpb.NewHealthClient(conn), service: sp.service}, nil
}

func (g *grpcCheck) check(ctx context.Context) (bool, float64) {
	resp, err := g.client.Check(ctx, &healthpb.HealthCheckRequest{Service: g.service})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING, 0
}

func (g *grpcCheck) close() { g.conn.Close() }
