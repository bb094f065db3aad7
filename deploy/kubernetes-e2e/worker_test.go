package e2e

import (
	"slices"
	"testing"

	"github.com/murphy-chaos/murphy/worker"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// TestWorkerOffersKubernetesKinds: murphy worker --kubeconfig builds the Kubernetes
// family against the API server and advertises its kinds; without the flag it offers
// none of them, and neither does a node's worker (--node-name), which only reads.
func TestWorkerOffersKubernetesKinds(t *testing.T) {
	kinds := []string{"node.cordon", "node.drain", "pod.delete", "workload.restart", "workload.scale"}
	for _, tc := range []struct {
		name       string
		kubeconfig string
		node       string
		want       bool
	}{
		{"with --kubeconfig", kube.Kubeconfig, "", true},
		{"without", "", "", false},
		{"a node's worker", kube.Kubeconfig, "node-a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := worker.New(worker.Config{ID: "kube-worker", Coordinators: []string{"127.0.0.1:1"}, DataDir: t.TempDir(),
				Labels: map[string]string{"region": "r", "datacenter": "d"}, Kubeconfig: tc.kubeconfig, NodeName: tc.node,
				DockerHost: "unix:///nonexistent/murphy-e2e/docker.sock", Policy: fault.DefaultPolicy()})
			if err != nil {
				t.Fatalf("worker: %v", err)
			}
			defer a.Close()
			caps := a.Capabilities()
			for _, k := range kinds {
				if slices.Contains(caps, k) != tc.want {
					t.Errorf("%s offered: %v; want %v (capabilities %v)", k, !tc.want, tc.want, caps)
				}
			}
		})
	}
}
