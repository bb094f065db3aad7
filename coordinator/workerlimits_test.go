package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/murphy-chaos/murphy/internal/logging"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// TestWorkerLimitsRefusedAtSubmission: workers advertise their own policy limits in
// their hello, and a spec that a selected worker would cut short (a step longer than its
// maxDuration) or refuse (stress.disk outside its diskPaths) is refused at submission,
// naming the workers, instead of failing or lying mid-run.
func TestWorkerLimitsRefusedAtSubmission(t *testing.T) {
	c := startCluster(t, 1)
	pol := fault.DefaultPolicy()
	pol.MaxDuration = 10 * time.Second
	pol.DiskPaths = []string{"/var/tmp/murphy"}
	a, err := worker.New(worker.Config{
		ID: "strict", Labels: map[string]string{"service": "demo", "region": "r1", "datacenter": "dc1", "host": "strict"},
		Coordinators: c.addrs(), DialOptions: workerDial(t, "strict"), DataDir: t.TempDir(),
		Policy: pol, Logger: logging.Discard(), HTTPAddr: "",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, 15*time.Second, "the strict worker's limits registered", func() bool {
		w := c.nodes[0].FSM().Worker("strict")
		return w != nil && w.GetLimits().GetMaxDuration().AsDuration() == 10*time.Second
	})

	exp := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[0].GRPCAddr()))
	head := fmt.Sprintf(testSpec, "1s", "1s")
	head = head[:strings.Index(head, "steps:\n")+len("steps:\n")]
	for _, tc := range []struct {
		name, steps, want string
	}{
		{"longer than the worker's maxDuration", "  - fault: http.delay\n    params: {delay: 30ms}\n    duration: 30s\n",
			"30s is longer than worker strict allows (their policy's maxDuration, as low as 10s): they would revert it early"},
		{"disk outside the worker's diskPaths", "  - fault: stress.disk\n    params: {path: /srv, bytes: 1MiB}\n    duration: 5s\n",
			`"/srv" is outside the directories worker strict allows stress.disk to fill`},
		{"within both", "  - fault: stress.disk\n    params: {path: /var/tmp/murphy/x, bytes: 1MiB}\n    duration: 5s\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vctx, vcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer vcancel()
			val, err := exp.Validate(vctx, &murphyv1.ValidateRequest{Spec: []byte(head + tc.steps), Filename: "l.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(val.Problems, "\n")
			if tc.want == "" {
				if !val.Valid {
					t.Fatalf("refused: %s", got)
				}
				return
			}
			if val.Valid || !strings.Contains(got, tc.want) {
				t.Fatalf("problems:\n%s\nwant one saying %q", got, tc.want)
			}
			_, err = exp.Submit(vctx, &murphyv1.SubmitRequest{Spec: []byte(head + tc.steps), Filename: "l.yaml"})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("submit: %v", err)
			}
		})
	}
}
