package coordinator_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// unconfirmedGauge reads murphy_faults_unconfirmed from a node's /metrics.
func unconfirmedGauge(t *testing.T, addr string) float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^murphy_faults_unconfirmed (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no murphy_faults_unconfirmed on %s/metrics", addr)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestRunRecordTellsTheTruth: an experimental worker that goes away mid-fault and never
// comes back must not read as a clean run. Every worker's fault window is committed
// (injected at, reverted at, cause), the lost worker's fault is shown as not confirmed
// reverted and counted by murphy_faults_unconfirmed, and the other worker's window ends
// with the step.
func TestRunRecordTellsTheTruth(t *testing.T) {
	c := startCluster(t, 3)
	ws := startWorkers(t, c, 4)
	id := submitRetrying(t, c, fmt.Sprintf(testSpec, "1s", "4s"))
	waitUntil(t, 15*time.Second, "both injections acknowledged", func() bool {
		r := c.run(id)
		return r != nil && len(r.Steps) == 1 && len(r.Steps[0].Injected) == 2
	})
	run := c.run(id)
	gone, stays := run.Groups.Experiment[0], run.Groups.Experiment[1]
	for _, w := range ws {
		if w.id == gone {
			w.stop()
		}
	}
	waitPhase(t, c, id, 30*time.Second, murphyv1.RunPhase_RUN_PHASE_COMPLETED, murphyv1.RunPhase_RUN_PHASE_FAILED, murphyv1.RunPhase_RUN_PHASE_HALTED)
	var stayed *murphyv1.FaultWindow
	waitUntil(t, 10*time.Second, "the staying worker's revert recorded", func() bool {
		for _, w := range c.run(id).Steps[0].Windows {
			if w.WorkerId == stays && w.RevertedAt != nil {
				stayed = w
				return true
			}
		}
		return false
	})
	run = c.run(id)
	step := run.Steps[0]
	if stayed.Cause != murphyv1.RevertCause_REVERT_CAUSE_COMPLETED || stayed.InjectedAt == nil {
		t.Errorf("staying worker's window %v: want injected, then reverted as the step completed", stayed)
	}
	if d := stayed.RevertedAt.AsTime().Sub(step.EndedAt.AsTime()); d < -time.Second || d > 2*time.Second {
		t.Errorf("staying worker reverted %v from the step's end", d)
	}
	var lost *murphyv1.FaultWindow
	for _, w := range step.Windows {
		if w.WorkerId == gone {
			lost = w
		}
	}
	if lost == nil || lost.InjectedAt == nil || lost.RevertedAt != nil {
		t.Fatalf("lost worker's window %v: want injected and not confirmed reverted", lost)
	}
	leader := c.nodes[c.leader()]
	waitUntil(t, 10*time.Second, "murphy_faults_unconfirmed counts the lost worker's fault", func() bool {
		return unconfirmedGauge(t, leader.HTTPAddr()) == 1
	})
}

// submitRetrying submits through a follower and, as a user would, submits again when the
// cluster answers Unavailable (leadership moving, as it can on a loaded machine).
func submitRetrying(t *testing.T, c *testCluster, spec string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := murphyv1.NewExperimentServiceClient(clientConn(t, c.nodes[c.follower()].GRPCAddr())).Submit(ctx, &murphyv1.SubmitRequest{Spec: []byte(spec), Filename: "t.yaml"})
		cancel()
		if err == nil {
			return resp.Run.Id
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("submit: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
