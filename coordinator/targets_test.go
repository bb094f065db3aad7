package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
)

// TestWorkerTargets: a node's worker attached to a follower reports its pods in its hello
// and then, whole, each time they change; every node's record of the fleet names them,
// through the relay and the leader's commits. A list past the limits is dropped and the
// record keeps the last good one.
func TestWorkerTargets(t *testing.T) {
	c := startCluster(t, 3)
	node := c.nodes[c.follower()]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := grpc.NewClient(node.GRPCAddr(), workerDial(t, "node-a")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := murphyv1.NewWorkerServiceClient(conn).Connect(metadata.AppendToOutgoingContext(ctx, worker.MetadataRedirected, "true"))
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name, version string) *murphyv1.Target {
		return &murphyv1.Target{Id: "pod/shop/" + name, Uid: "uid-" + name, Labels: map[string]string{
			"app": "web", "version": version, "namespace": "shop", "pod": name, "workload": "deployment/web", "node": "node-a"}}
	}
	hello := &murphyv1.Hello{WorkerId: "node-a", Labels: map[string]string{"region": "r1", "datacenter": "dc1", "host": "node-a"},
		Targets: []*murphyv1.Target{pod("web-1", "v1")}}
	if err := stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("want a welcome, got %v, %v", m, err)
	}
	go func() { // drain what the cluster sends; the test only speaks
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()

	recorded := func(want []*murphyv1.Target) func() bool {
		return func() bool {
			for _, s := range c.nodes {
				resp, err := murphyv1.NewClusterServiceClient(clientConn(t, s.GRPCAddr())).ListWorkers(ctx, &murphyv1.ListWorkersRequest{})
				if err != nil {
					return false
				}
				found := false
				for _, w := range resp.Workers {
					if w.Id != "node-a" {
						continue
					}
					found = len(w.Targets) == len(want)
					for i := range want {
						found = found && proto.Equal(w.Targets[i], want[i])
					}
				}
				if !found {
					return false
				}
			}
			return true
		}
	}
	waitUntil(t, 10*time.Second, "the hello's target on every node", recorded(hello.Targets))

	send := func(ts []*murphyv1.Target) {
		t.Helper()
		if err := stream.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Targets{Targets: &murphyv1.TargetList{Targets: ts}}}); err != nil {
			t.Fatal(err)
		}
	}
	changed := []*murphyv1.Target{pod("web-1", "v2"), pod("web-2", "v2")}
	send(changed)
	waitUntil(t, 10*time.Second, "the changed list on every node", recorded(changed))

	send(nil) // the node's last pod goes
	waitUntil(t, 10*time.Second, "no targets on every node", recorded(nil))

	// A hello naming more targets than any node runs is refused with the reason.
	var tooMany []*murphyv1.Target
	for i := range fleet.MaxTargets + 1 {
		tooMany = append(tooMany, pod(fmt.Sprintf("p%d", i), "v3"))
	}
	other, err := murphyv1.NewWorkerServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Send(&murphyv1.ConnectRequest{Msg: &murphyv1.ConnectRequest_Hello{Hello: &murphyv1.Hello{WorkerId: "node-a", Targets: tooMany}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "targets") {
		t.Errorf("hello with %d targets: %v, want InvalidArgument naming the targets", len(tooMany), err)
	}
}
