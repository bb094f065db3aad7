package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestHostileSpecsRefusedAtSubmission is issue 14, defect 4: specs that would freeze every
// process, cut the host off, exhaust its memory or disk, or outlast the workers'
// maxDuration were accepted. Each is now refused by Validate and Submit, with the field,
// the line and the reason, and nothing is committed.
func TestHostileSpecsRefusedAtSubmission(t *testing.T) {
	c := startCluster(t, 1)
	exp := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[0].GRPCAddr()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Everything of testSpec up to "steps:" (line 19); each case's steps start on line 20.
	head := fmt.Sprintf(testSpec, "1s", "1s")
	head = head[:strings.Index(head, "steps:\n")+len("steps:\n")]
	before := c.nodes[0].FSM().AppliedIndex()

	tests := []struct {
		name  string
		steps string
		want  []string
	}{
		{"every process", `  - fault: process.stop
    params:
      cmdline: ".*"
    duration: 30s
`, []string{`h.yaml:22: steps[0].params.cmdline: /.*/ matches any command line (even "x" and "/sbin/init"): it would select every process on the host; narrow it to the processes you mean`}},
		{"host namespace cut off", `  - fault: network.partition
    params:
      netns: /proc/1/ns/net
      cidrs: 0.0.0.0/0
    duration: 30s
`, []string{`h.yaml:23: steps[0].params.cidrs: 0.0.0.0/0 covers every IPv4 peer: in the host's network namespace (/proc/1/ns/net) a partition would cut the host off from everything, its operators' SSH included; name the peers to cut off`}},
		{"all the memory", `  - fault: stress.memory
    params: {bytes: 1TB}
    duration: 30s
`, []string{`h.yaml:21: steps[0].params.bytes: 1TB is more than this cluster lets stress.memory take on one host (64GiB; coordinator flag --max-stress-memory)`}},
		{"disk on /etc, for too long", `  - fault: stress.disk
    params:
      path: /etc
      bytes: 1GiB
    duration: 2h
`, []string{
			`h.yaml:22: steps[0].params.path: /etc is a system directory (under /etc): stress.disk would fill the file system the host runs from among its own files; use a data directory such as /var/tmp`,
			`h.yaml:24: steps[0].duration: 2h is longer than this cluster lets a fault last (1h; coordinator flag --max-fault-duration)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := []byte(head + tc.steps)
			val, err := exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: spec, Filename: "h.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			if val.Valid || strings.Join(val.Problems, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("valid %v, problems:\n%s\nwant:\n%s", val.Valid, strings.Join(val.Problems, "\n"), strings.Join(tc.want, "\n"))
			}
			_, err = exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: spec, Filename: "h.yaml"})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want[0]) {
				t.Fatalf("submit: %v, want InvalidArgument with %q", err, tc.want[0])
			}
		})
	}
	if after := c.nodes[0].FSM().AppliedIndex(); after != before {
		t.Errorf("applied index moved from %d to %d", before, after)
	}

	// The same kinds, aimed narrowly, pass.
	ok := head + `  - fault: stress.memory
    params: {bytes: 512MiB}
    duration: 59m
  - fault: network.partition
    params: {netns: /proc/1/ns/net, cidrs: 10.1.2.0/24}
    duration: 30s
`
	val, err := exp.Validate(ctx, &murphyv1.ValidateRequest{Spec: []byte(ok), Filename: "ok.yaml"})
	if err != nil || !val.Valid {
		t.Fatalf("a narrow spec: %v %v", err, val.GetProblems())
	}
}
