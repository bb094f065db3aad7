package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/probe"
)

// TestTimeToRecover is "trust the scheduler" measured the way an experiment measures
// it: Murphy's kubernetes probe (as the designated worker's ServiceAccount) follows
// deployment/checkout while pod.delete kills one of its 3 pods, five times; each outage
// runs from the deletion to the Deployment being back at 3 ready replicas (the
// ReplicaSet controller's replacement, bound and reported ready by the kubelet
// stand-in). The probe's time_to_recover samples must rise above 0 and carry each
// outage's length, and a hypothesis "whole again within 30 s" holds.
func TestTimeToRecover(t *testing.T) {
	admin := adminClient(t)
	ns := servedDeployment(t, admin, "checkout", 3)
	waitWhole(t, admin, ns, "checkout", time.Minute)
	ex := newExecutors(t, t.TempDir())

	var mu sync.Mutex
	var samples []*murphyv1.Sample
	probes := []*murphyv1.Probe{{
		Metric: "checkout_recovery", Measure: probe.MeasureTimeToRecover, Interval: durationpb.New(50 * time.Millisecond),
		Kind: &murphyv1.Probe_Kubernetes{Kubernetes: &murphyv1.KubernetesProbe{Namespace: ns, Workload: "deployment/checkout"}},
	}}
	set, err := probe.Start(probes, probe.Options{Kubernetes: workerClient(t, workerAccount)}, func(_ string, s *murphyv1.Sample) {
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("start the kubernetes probe: %v", err)
	}
	defer set.Stop()

	const rounds = 5
	var recovered []float64
	for range rounds {
		mu.Lock()
		from := len(samples)
		mu.Unlock()
		if _, err := ex.inject(t, "pod.delete", map[string]string{"namespace": ns, "workload": "deployment/checkout", "grace": "0s"}); err != nil {
			t.Fatalf("pod.delete: %v", err)
		}
		// The outage's length arrives in the first sample after it, followed by 0s.
		var got float64
		eventually(t, 30*time.Second, "a sample with the outage's length, then whole", func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			s := samples[from:]
			last := len(s) - 1
			if last < 1 || s[last].GetValue() != 0 || !s[last].GetOk() {
				return false, nil
			}
			got = 0
			for _, x := range s {
				got = max(got, x.GetValue())
			}
			return got > 0, nil
		})
		recovered = append(recovered, got)
		waitWhole(t, admin, ns, "checkout", time.Minute)
	}
	sorted := slices.Clone(recovered)
	slices.Sort(sorted)
	t.Logf("pod.delete -> deployment/checkout at 3 ready replicas again, %d rounds, seen by the kubernetes probe (time_to_recover, s): min %.3f, median %.3f, max %.3f (all: %v)",
		rounds, sorted[0], sorted[rounds/2], sorted[rounds-1], recovered)
	if sorted[rounds-1] > 30 {
		t.Fatalf("hypothesis \"checkout is whole again within 30 s\" failed: %v", recovered)
	}
}
