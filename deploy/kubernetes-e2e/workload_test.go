package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// chaosLabel is the opt-in label of issue 17: Murphy touches only pods in namespaces
// (or pods) that carry it.
const chaosLabel = "murphy.io/chaos"

func optedInNamespace(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "murphy-e2e-",
		Labels:       map[string]string{chaosLabel: "enabled"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels, tmpl := podTemplate(name)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: tmpl,
		},
	}
}

// podTemplate is a workload's pods, labelled app=name, one container named after them.
func podTemplate(name string) (map[string]string, corev1.PodTemplateSpec) {
	labels := map[string]string{"app": name}
	return labels, corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: name,
			// Never pulled: without a kubelet the pods stay Pending.
			Image: "registry.invalid/murphy/" + name + ":1",
		}}},
	}
}

// livePods lists the pods of app that are not being deleted, by name.
func livePods(ctx context.Context, c kubernetes.Interface, ns, app string) ([]string, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// TestOptInNamespaceSelected is the selection rule of issue 17 at the API level: a
// label selector on namespaces finds the opted-in namespace and leaves the system
// namespaces out.
func TestOptInNamespaceSelected(t *testing.T) {
	c := adminClient(t)
	ns := optedInNamespace(t, c)
	list, err := c.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{LabelSelector: chaosLabel + "=enabled"})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	if !slices.Contains(names, ns) || slices.Contains(names, "kube-system") || slices.Contains(names, "default") {
		t.Fatalf("namespaces selected by %s=enabled: %v; want %s among them and no system namespace", chaosLabel, names, ns)
	}
}

// TestReplicaSetReplacesDeletedPod is "trust the scheduler" at the object level: a pod
// of a Deployment is deleted and the real ReplicaSet controller creates its
// replacement. The time from the delete call to the replacement's creation is what
// Murphy's time-to-recover will measure (without a kubelet nothing becomes ready, so
// only the controller's part is measured here).
func TestReplicaSetReplacesDeletedPod(t *testing.T) {
	c := adminClient(t)
	ns := optedInNamespace(t, c)
	ctx := t.Context()
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("checkout", 3), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	var pods []string
	// The first pods wait for the service-account controller to create the namespace's
	// default service account, which the ServiceAccount admission plugin requires.
	eventually(t, time.Minute, "3 pods of deployment/checkout", func(ctx context.Context) (bool, error) {
		var err error
		pods, err = livePods(ctx, c, ns, "checkout")
		return err == nil && len(pods) == 3, err
	})
	pod, err := c.CoreV1().Pods(ns).Get(ctx, pods[0], metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod: %v", err)
	}
	if pod.Status.Phase != corev1.PodPending || len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "ReplicaSet" {
		t.Fatalf("pod %s: phase %s, owners %v; want Pending, owned by a ReplicaSet", pod.Name, pod.Status.Phase, pod.OwnerReferences)
	}

	const rounds = 5
	var took []time.Duration
	for range rounds {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
		if err != nil {
			t.Fatalf("list pods: %v", err)
		}
		// Watching from the list's resource version sees every pod created after it,
		// so the replacement cannot slip between the delete and the watch.
		w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=checkout", ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatalf("watch pods: %v", err)
		}
		victim := pods[0]
		start := time.Now()
		zero := int64(0)
		if err := c.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatalf("delete pod %s: %v", victim, err)
		}
		replacement := ""
		timeout := time.After(30 * time.Second)
		for replacement == "" {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watch closed before a replacement of %s appeared", victim)
				}
				if p, isPod := ev.Object.(*corev1.Pod); ev.Type == watch.Added && isPod && !slices.Contains(pods, p.Name) {
					replacement = p.Name
				}
			case <-timeout:
				t.Fatalf("no replacement for %s within 30s", victim)
			}
		}
		took = append(took, time.Since(start))
		w.Stop()
		eventually(t, 30*time.Second, "3 live pods again", func(ctx context.Context) (bool, error) {
			var err error
			pods, err = livePods(ctx, c, ns, "checkout")
			return err == nil && len(pods) == 3 && !slices.Contains(pods, victim) && slices.Contains(pods, replacement), err
		})
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("delete -> replacement pod created by the ReplicaSet controller, %d rounds: min %v, median %v, max %v (all: %v)",
		rounds, sorted[0], sorted[rounds/2], sorted[rounds-1], took)
}
