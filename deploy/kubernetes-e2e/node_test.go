package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestCordonReverted cordons a node and uncordons it with the patch `kubectl cordon`
// sends, the revert Murphy's node.cordon fault will use. The node is a plain object (no
// kubelet stands behind it), yet the real node lifecycle controller reacts to it: it
// adds the unschedulable taint on cordon and takes it away on uncordon, which shows the
// revert is seen by the control plane and not only stored.
func TestCordonReverted(t *testing.T) {
	c := adminClient(t)
	ctx := t.Context()
	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "murphy-e2e-node-",
		Labels: map[string]string{
			"topology.kubernetes.io/region": "eu-west",
			"topology.kubernetes.io/zone":   "eu-west-1a",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node: %v", err)
	}
	t.Cleanup(func() {
		_ = c.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{})
	})

	hasTaint := func(n *corev1.Node) bool {
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnschedulable && taint.Effect == corev1.TaintEffectNoSchedule {
				return true
			}
		}
		return false
	}
	for _, step := range []struct {
		name          string
		unschedulable bool
	}{
		{"cordon", true},
		{"uncordon", false},
	} {
		patch := []byte(`{"spec":{"unschedulable":false}}`)
		if step.unschedulable {
			patch = []byte(`{"spec":{"unschedulable":true}}`)
		}
		got, err := c.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got.Spec.Unschedulable != step.unschedulable {
			t.Fatalf("%s: spec.unschedulable is %v", step.name, got.Spec.Unschedulable)
		}
		start := time.Now()
		eventually(t, 30*time.Second, step.name+" seen by the node lifecycle controller", func(ctx context.Context) (bool, error) {
			n, err := c.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			return err == nil && hasTaint(n) == step.unschedulable, err
		})
		t.Logf("%s: unschedulable taint %s by the node lifecycle controller after %v", step.name,
			map[bool]string{true: "added", false: "removed"}[step.unschedulable], time.Since(start).Round(time.Millisecond))
	}
}
