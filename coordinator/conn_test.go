package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The server's connections have small buffers and fixed 64 KiB windows (server.go,
// ConnOptions); messages many windows long, up to near the 4 MiB limit, still pass.
func TestLargeMessagesPass(t *testing.T) {
	c := startCluster(t, 1)
	exp := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[0].GRPCAddr()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	comment := func(kib int) string { return strings.Repeat("# "+strings.Repeat("x", 1021)+"\n", kib) }
	// 200 KiB of comment: three windows' worth in one request, under the spec limit.
	spec := fmt.Sprintf(testSpec, "1s", "1s") + comment(200)
	resp, err := exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: []byte(spec), Filename: "large.yaml"})
	if err != nil || !resp.Valid {
		t.Fatalf("validate a %d-byte spec: %v %v", len(spec), resp.GetProblems(), err)
	}
	// 3 MiB: the whole message reaches the spec's own size check.
	spec += comment(3 << 10)
	resp, err = exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: []byte(spec), Filename: "huge.yaml"})
	if err != nil || resp.Valid || !strings.Contains(strings.Join(resp.Problems, ";"), fmt.Sprintf("file is %d bytes", len(spec))) {
		t.Fatalf("validate a %d-byte spec: %v %v, want refused by the size limit", len(spec), resp.GetProblems(), err)
	}
}
