package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/murphy-chaos/murphy/worker/fault"
	kubefault "github.com/murphy-chaos/murphy/worker/fault/kube"
)

// workerPolicy is the designated worker's policy in these tests: the default's deny
// list plus the manifests' own namespace, opt-in required.
var workerPolicy = fault.KubernetesPolicy{DeniedNamespaces: []string{"kube-system", workerNamespace}}

// executors are Murphy's Kubernetes executors as a worker builds them, acting as the
// designated worker's ServiceAccount, with their records in dir.
type executors struct {
	byKind map[string]fault.Executor
	dir    string
}

var assignments atomic.Int64

func newExecutors(t *testing.T, dir string) executors {
	t.Helper()
	cli := workerClient(t, workerAccount)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fam := kubefault.New(cli, dir, workerPolicy, log)
	ex := executors{byKind: map[string]fault.Executor{}, dir: dir}
	for _, e := range fam.Executors() {
		ex.byKind[e.Kind()] = e
	}
	return ex
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// inject decodes params through the catalogue, as a worker does with an assignment, asks
// the executor to validate them and injects the fault.
func (ex executors) inject(t *testing.T, kind string, params map[string]string) (fault.Fault, error) {
	t.Helper()
	f, err := fault.New(fmt.Sprintf("a-%d", assignments.Add(1)), "run-e2e", 0, kind, params, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("%s %v: %v", kind, params, err)
	}
	e := ex.byKind[kind]
	if err := e.Validate(f.Params); err != nil {
		return f, err
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // the worker's bound on one call
	defer cancel()
	return f, e.Inject(ctx, f)
}

func (ex executors) revert(t *testing.T, f fault.Fault) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := ex.byKind[f.Kind].Revert(ctx, f); err != nil {
		t.Fatalf("revert %s: %v", f.Kind, err)
	}
}

// namespace creates a namespace with labels, deleted when the test ends.
func namespace(t *testing.T, c kubernetes.Interface, labels map[string]string) string {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "murphy-e2e-", Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return ns.Name
}

var optIn = map[string]string{chaosLabel: "enabled"}

// createDeployment creates a Deployment, waiting out the ServiceAccount admission
// plugin's refusal of a namespace too new to have its default service account (the
// ReplicaSet controller retries by itself, so only the wait for readiness matters).
func createDeployment(t *testing.T, c kubernetes.Interface, ns string, d *appsv1.Deployment) {
	t.Helper()
	if _, err := c.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", d.Name, err)
	}
}

// servedDeployment creates an opted-in namespace with a Deployment of replicas, on a node
// the kubelet stand-in serves, and returns the namespace.
func servedDeployment(t *testing.T, admin kubernetes.Interface, name string, replicas int32) string {
	t.Helper()
	node := testNode(t, admin, nil)
	ns := namespace(t, admin, optIn)
	startKubelet(t, admin, ns, node)
	createDeployment(t, admin, ns, deployment(name, replicas))
	return ns
}

// waitWhole waits until the Deployment's status reports every replica ready and up to
// date, and returns its live pods' UIDs by name.
func waitWhole(t *testing.T, c kubernetes.Interface, ns, name string, timeout time.Duration) map[string]types.UID {
	t.Helper()
	var uids map[string]types.UID
	eventually(t, timeout, "deployment/"+name+" whole", func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := *d.Spec.Replicas
		if d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas != want || d.Status.Replicas != want || d.Status.UpdatedReplicas != want {
			return false, nil
		}
		uids, err = liveUIDs(ctx, c, ns, "app="+name)
		return err == nil && len(uids) == int(want), err
	})
	return uids
}

func liveUIDs(ctx context.Context, c kubernetes.Interface, ns, selector string) (map[string]types.UID, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p.UID
		}
	}
	return out, nil
}

// gone counts the pods of before that no longer exist (by UID).
func gone(t *testing.T, c kubernetes.Interface, ns string, before map[string]types.UID) int {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alive := map[types.UID]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			alive[p.UID] = true
		}
	}
	n := 0
	for _, uid := range before {
		if !alive[uid] {
			n++
		}
	}
	return n
}

// TestPodDeleteOptIn: pod.delete touches only opted-in pods. In a namespace that did not
// opt in, only the one pod labelled murphy.io/chaos=enabled is deleted, even with mode
// all; a selector matching only un-labelled pods is refused with the reason; the
// worker's denied namespaces are refused before anything is read.
func TestPodDeleteOptIn(t *testing.T) {
	admin := adminClient(t)
	node := testNode(t, admin, nil)
	ns := namespace(t, admin, map[string]string{"team": "shop"}) // not opted in
	startKubelet(t, admin, ns, node)
	createDeployment(t, admin, ns, deployment("plain", 3))
	labelled := deployment("labelled", 2)
	labelled.Spec.Template.Labels[chaosLabel] = "enabled"
	createDeployment(t, admin, ns, labelled)
	plain := waitWhole(t, admin, ns, "plain", time.Minute)
	waitWhole(t, admin, ns, "labelled", time.Minute)
	ex := newExecutors(t, t.TempDir())

	before, err := liveUIDs(t.Context(), admin, ns, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.inject(t, "pod.delete", map[string]string{"namespace": ns, "mode": "all"}); err != nil {
		t.Fatalf("pod.delete all: %v", err)
	}
	after, err := liveUIDs(t.Context(), admin, ns, "app=plain")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(after, plain) {
		t.Fatalf("pods that did not opt in were touched: before %v, after %v", plain, after)
	}
	if n := gone(t, admin, ns, before); n != 2 {
		t.Fatalf("mode all in a namespace that did not opt in deleted %d pods; want the 2 labelled ones", n)
	}

	_, err = ex.inject(t, "pod.delete", map[string]string{"namespace": ns, "selector": "app=plain"})
	if err == nil || !strings.Contains(err.Error(), "none of the 3 live pods") || !strings.Contains(err.Error(), "opted in") {
		t.Fatalf("selector matching only pods that did not opt in: %v", err)
	}
	_, err = ex.inject(t, "pod.delete", map[string]string{"namespace": "kube-system"})
	if err == nil || !strings.Contains(err.Error(), `namespace "kube-system" is denied by this worker's policy`) {
		t.Fatalf("denied namespace: %v", err)
	}
	if after, _ := liveUIDs(t.Context(), admin, ns, "app=plain"); !maps.Equal(after, plain) {
		t.Fatalf("refused steps touched pods: %v -> %v", plain, after)
	}
}

// TestPodDeleteKillModes: each of kube-monkey's kill modes deletes the number of pods it
// promises, among the opted-in pods of a 10-replica Deployment, and the ReplicaSet
// controller brings the Deployment back to 10 ready replicas after each.
func TestPodDeleteKillModes(t *testing.T) {
	admin := adminClient(t)
	ns := servedDeployment(t, admin, "checkout", 10)
	ex := newExecutors(t, t.TempDir())
	for _, tc := range []struct {
		params   map[string]string
		min, max int
	}{
		{map[string]string{"mode": "one"}, 1, 1},
		{map[string]string{"mode": "fixed", "count": "3"}, 3, 3},
		{map[string]string{"mode": "random-max-percent", "percent": "50"}, 0, 5},
		{map[string]string{"mode": "all", "grace": "0s"}, 10, 10},
	} {
		t.Run(tc.params["mode"], func(t *testing.T) {
			before := waitWhole(t, admin, ns, "checkout", time.Minute)
			params := map[string]string{"namespace": ns, "workload": "deployment/checkout"}
			maps.Copy(params, tc.params)
			start := time.Now()
			if _, err := ex.inject(t, "pod.delete", params); err != nil {
				t.Fatalf("pod.delete: %v", err)
			}
			n := gone(t, admin, ns, before)
			if n < tc.min || n > tc.max {
				t.Fatalf("deleted %d of 10 pods; want %d to %d", n, tc.min, tc.max)
			}
			waitWhole(t, admin, ns, "checkout", time.Minute)
			t.Logf("mode %s: %d of 10 pods deleted; deployment whole again %v after the inject", tc.params["mode"], n, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestNodeCordonReverted: node.cordon cordons an opted-in node and its revert
// uncordons it, once, whatever the number of reverts; a node that was already cordoned
// stays cordoned after the revert; a node that did not opt in is refused.
func TestNodeCordonReverted(t *testing.T) {
	admin := adminClient(t)
	ex := newExecutors(t, t.TempDir())
	node := testNode(t, admin, optIn)
	unschedulable := func(name string) bool {
		n, err := admin.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Unschedulable
	}
	f, err := ex.inject(t, "node.cordon", map[string]string{"node": node})
	if err != nil {
		t.Fatalf("node.cordon: %v", err)
	}
	if !unschedulable(node) {
		t.Fatal("node not cordoned")
	}
	// A second worker process (the restarted worker, the guardian) reverts from the
	// record on disk.
	restarted := newExecutors(t, ex.dir)
	restarted.revert(t, f)
	if unschedulable(node) {
		t.Fatal("node still cordoned after the revert")
	}
	restarted.revert(t, f) // idempotent
	ex.revert(t, f)

	already := testNode(t, admin, optIn)
	if _, err := admin.CoreV1().Nodes().Patch(t.Context(), already, types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err = ex.inject(t, "node.cordon", map[string]string{"node": already})
	if err != nil {
		t.Fatalf("node.cordon of a cordoned node: %v", err)
	}
	ex.revert(t, f)
	if !unschedulable(already) {
		t.Fatal("the revert uncordoned a node that was cordoned before the fault")
	}

	plain := testNode(t, admin, nil)
	if _, err := ex.inject(t, "node.cordon", map[string]string{"node": plain}); err == nil || !strings.Contains(err.Error(), "has not opted in") {
		t.Fatalf("node that did not opt in: %v", err)
	}
	if unschedulable(plain) {
		t.Fatal("a node that did not opt in was cordoned")
	}
}

// TestNodeDrainPodDisruptionBudget: node.drain evicts through the Eviction API, so a
// PodDisruptionBudget that allows no disruption blocks it: the step fails naming the
// budget's refusal, no pod is gone and the node is schedulable again. With a budget that
// allows one disruption the drain completes: the evictions refused at first succeed once
// the replacements (bound to the other node) are ready.
func TestNodeDrainPodDisruptionBudget(t *testing.T) {
	admin := adminClient(t)
	ex := newExecutors(t, t.TempDir())
	first := testNode(t, admin, optIn)
	ns := namespace(t, admin, optIn)
	startKubelet(t, admin, ns, first)
	createDeployment(t, admin, ns, deployment("checkout", 2))
	before := waitWhole(t, admin, ns, "checkout", time.Minute)
	minAvailable := intstr.FromInt32(2)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}},
	}
	if _, err := admin.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The disruption controller must have computed the budget before it protects
	// anything (until then every eviction is refused anyway, for want of status).
	eventually(t, 30*time.Second, "budget observed", func(ctx context.Context) (bool, error) {
		p, err := admin.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "checkout", metav1.GetOptions{})
		return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.CurrentHealthy == 2, err
	})

	start := time.Now()
	_, err := ex.inject(t, "node.drain", map[string]string{"node": first, "timeout": "2s"})
	if err == nil || !strings.Contains(err.Error(), "disruption budget") || !strings.Contains(err.Error(), "refused by the Eviction API") {
		t.Fatalf("drain under a budget allowing no disruption: %v", err)
	}
	t.Logf("drain blocked after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if n := gone(t, admin, ns, before); n != 0 {
		t.Fatalf("%d pods evicted despite the budget", n)
	}
	n, _ := admin.CoreV1().Nodes().Get(t.Context(), first, metav1.GetOptions{})
	if n.Spec.Unschedulable {
		t.Fatal("a blocked drain left the node cordoned")
	}

	second := testNode(t, admin, nil)
	startKubelet(t, admin, ns, second) // replacements may land on the second node only once the first is cordoned
	one := intstr.FromInt32(1)
	if _, err := admin.PolicyV1().PodDisruptionBudgets(ns).Patch(t.Context(), "checkout", types.MergePatchType,
		fmt.Appendf(nil, `{"spec":{"minAvailable":%d}}`, one.IntVal), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "budget allows one disruption", func(ctx context.Context) (bool, error) {
		p, err := admin.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "checkout", metav1.GetOptions{})
		return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.DisruptionsAllowed == 1, err
	})
	start = time.Now()
	f, err := ex.inject(t, "node.drain", map[string]string{"node": first, "timeout": "8s"})
	if err != nil {
		t.Fatalf("drain under a budget allowing one disruption: %v", err)
	}
	t.Logf("drain completed in %v, one eviction at a time as the budget allows", time.Since(start).Round(time.Millisecond))
	if n := gone(t, admin, ns, before); n != 2 {
		t.Fatalf("drain evicted %d of 2 pods", n)
	}
	pods, err := admin.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.NodeName == first {
			t.Errorf("pod %s is still on the drained node", p.Name)
		}
	}
	ex.revert(t, f)
	if n, _ := admin.CoreV1().Nodes().Get(t.Context(), first, metav1.GetOptions{}); n.Spec.Unschedulable {
		t.Fatal("node still cordoned after the revert")
	}
}

// TestWorkloadScaleReverted: workload.scale sets the replica count and its revert,
// done by another executor instance from the record on disk (a restarted worker),
// restores the count saved at inject. A count someone changed meanwhile is left alone.
func TestWorkloadScaleReverted(t *testing.T) {
	admin := adminClient(t)
	ns := servedDeployment(t, admin, "checkout", 3)
	waitWhole(t, admin, ns, "checkout", time.Minute)
	ex := newExecutors(t, t.TempDir())

	f, err := ex.inject(t, "workload.scale", map[string]string{"namespace": ns, "workload": "deployment/checkout", "replicas": "1"})
	if err != nil {
		t.Fatalf("workload.scale: %v", err)
	}
	if uids := waitWhole(t, admin, ns, "checkout", time.Minute); len(uids) != 1 {
		t.Fatalf("%d pods after scaling to 1", len(uids))
	}
	// Nothing in memory survives: a new family over the same directory reverts.
	restarted := newExecutors(t, ex.dir)
	restarted.revert(t, f)
	if uids := waitWhole(t, admin, ns, "checkout", time.Minute); len(uids) != 3 {
		t.Fatalf("%d pods after the revert; want the 3 saved at inject", len(uids))
	}
	restarted.revert(t, f) // idempotent: the record is gone

	f, err = ex.inject(t, "workload.scale", map[string]string{"namespace": ns, "workload": "deployment/checkout", "replicas": "0"})
	if err != nil {
		t.Fatalf("workload.scale: %v", err)
	}
	if _, err := admin.AppsV1().Deployments(ns).Patch(t.Context(), "checkout", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ex.revert(t, f)
	if d, _ := admin.AppsV1().Deployments(ns).Get(t.Context(), "checkout", metav1.GetOptions{}); *d.Spec.Replicas != 2 {
		t.Fatalf("revert overwrote a count changed by someone else: %d", *d.Spec.Replicas)
	}
}

// TestWorkloadRestart: workload.restart makes the Deployment controller roll every pod,
// as kubectl rollout restart does.
func TestWorkloadRestart(t *testing.T) {
	admin := adminClient(t)
	ns := servedDeployment(t, admin, "checkout", 2)
	before := waitWhole(t, admin, ns, "checkout", time.Minute)
	ex := newExecutors(t, t.TempDir())
	start := time.Now()
	if _, err := ex.inject(t, "workload.restart", map[string]string{"namespace": ns, "workload": "deployment/checkout"}); err != nil {
		t.Fatalf("workload.restart: %v", err)
	}
	eventually(t, time.Minute, "every pod replaced", func(ctx context.Context) (bool, error) {
		return gone(t, admin, ns, before) == 2, nil
	})
	waitWhole(t, admin, ns, "checkout", time.Minute)
	t.Logf("rollout restart of 2 replicas complete in %v", time.Since(start).Round(time.Millisecond))
}

// TestWorkerRBAC: the manifests' ClusterRole grants the designated worker what its kinds
// need and nothing beyond; the per-node workers' ServiceAccount may only read the pods,
// namespaces and nodes it offers targets from.
func TestWorkerRBAC(t *testing.T) {
	admin := adminClient(t)
	ns := namespace(t, admin, optIn)
	createPod(t, admin, ns, "target")
	w := workerClient(t, workerAccount)
	node := workerClient(t, "murphy-worker")
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		do   func(context.Context) error
		want string // "" for allowed
	}{
		{"kube worker lists pods", func(ctx context.Context) error {
			_, err := w.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err
		}, ""},
		{"kube worker reads secrets", func(ctx context.Context) error {
			_, err := w.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		}, `cannot list resource "secrets"`},
		{"kube worker creates pods", func(ctx context.Context) error {
			_, err := w.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
			return err
		}, `cannot create resource "pods"`},
		{"kube worker deletes a deployment", func(ctx context.Context) error {
			return w.AppsV1().Deployments(ns).Delete(ctx, "any", metav1.DeleteOptions{})
		}, `cannot delete resource "deployments"`},
		{"kube worker deletes a node", func(ctx context.Context) error {
			return w.CoreV1().Nodes().Delete(ctx, "any", metav1.DeleteOptions{})
		}, `cannot delete resource "nodes"`},
		{"kube worker updates a node's status", func(ctx context.Context) error {
			_, err := w.CoreV1().Nodes().PatchStatus(ctx, "any", []byte(`{}`))
			return err
		}, `cannot patch resource "nodes/status"`},
		{"node worker lists pods", func(ctx context.Context) error {
			_, err := node.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err
		}, ""},
		{"node worker reads secrets", func(ctx context.Context) error {
			_, err := node.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		}, `cannot list resource "secrets"`},
		{"node worker evicts a pod", func(ctx context.Context) error {
			return node.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "target", Namespace: ns}})
		}, `cannot create resource "pods/eviction"`},
		{"node worker deletes a pod", func(ctx context.Context) error {
			return node.CoreV1().Pods(ns).Delete(ctx, "target", metav1.DeleteOptions{})
		}, `cannot delete resource "pods"`},
		{"node worker cordons a node", func(ctx context.Context) error {
			_, err := node.CoreV1().Nodes().Patch(ctx, "any", types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
			return err
		}, `cannot patch resource "nodes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(ctx)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "forbidden") {
				t.Fatalf("got %v; want Forbidden: ... %s", err, tc.want)
			}
		})
	}
	if _, err := admin.CoreV1().Pods(ns).Get(ctx, "target", metav1.GetOptions{}); err != nil {
		t.Fatalf("the pod is gone after refused deletes: %v", err)
	}
}
