package probe

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func kubeDeployment(replicas, statusReady int32) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &replicas},
		Status: appsv1.DeploymentStatus{ReadyReplicas: statusReady}}
}

func kubePods(ready, unready, restarts int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range ready + unready {
		st := corev1.ConditionTrue
		if i >= ready {
			st = corev1.ConditionFalse
		}
		out = append(out, &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
			ContainerStatuses: []corev1.ContainerStatus{{RestartCount: int32(restarts)}}}})
	}
	return out
}

// TestRecovery: the outage runs from the first observation that shows the Deployment
// short to the one that shows it whole; time_to_recover grows during it, carries the
// exact length once after it, then reads 0. A terminating pod is not ready.
func TestRecovery(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRecovery(func() time.Time { return now })
	if _, _, synced := r.Sample(MeasureReadyReplicas); synced {
		t.Fatal("synced before any observation")
	}
	r.Observe(kubeDeployment(3, 3), kubePods(3, 0, 1))
	sample := func(m string) float64 {
		_, v, _ := r.Sample(m)
		return v
	}
	if whole, v, _ := r.Sample(MeasureTimeToRecover); !whole || v != 0 {
		t.Fatalf("whole deployment: whole %v, time_to_recover %v", whole, v)
	}
	if sample(MeasureRestarts) != 3 || sample(MeasureReadyFraction) != 1 {
		t.Fatalf("restarts %v, ready_fraction %v", sample(MeasureRestarts), sample(MeasureReadyFraction))
	}

	now = now.Add(time.Second)
	pods := kubePods(3, 0, 0)
	pods[0].DeletionTimestamp = &metav1.Time{Time: now} // a deleted pod leaves the live set at once
	r.Observe(kubeDeployment(3, 3), pods)
	now = now.Add(1500 * time.Millisecond)
	if whole, v, _ := r.Sample(MeasureTimeToRecover); whole || v != 1.5 {
		t.Fatalf("during the outage: whole %v, time_to_recover %v; want 1.5", whole, v)
	}
	if sample(MeasureReadyReplicas) != 2 || sample(MeasureReadyFraction) != 2.0/3 {
		t.Fatalf("ready %v fraction %v", sample(MeasureReadyReplicas), sample(MeasureReadyFraction))
	}
	// The pods are back but the Deployment's status lags: not whole yet.
	now = now.Add(500 * time.Millisecond)
	r.Observe(kubeDeployment(3, 2), kubePods(3, 0, 0))
	if whole, _, _ := r.Sample(MeasureReadyReplicas); whole {
		t.Fatal("whole before the Deployment's status agrees")
	}
	now = now.Add(250 * time.Millisecond)
	r.Observe(kubeDeployment(3, 3), kubePods(3, 0, 0))
	now = now.Add(5 * time.Second)
	if v := sample(MeasureTimeToRecover); v != 2.25 {
		t.Fatalf("first sample after recovery: %v; want the outage's 2.25 s", v)
	}
	if v := sample(MeasureTimeToRecover); v != 0 {
		t.Fatalf("second sample after recovery: %v", v)
	}
	if o := r.Outages(); len(o) != 1 || o[0] != 2250*time.Millisecond {
		t.Fatalf("outages %v", o)
	}
	// Scaled to zero is whole.
	r.Observe(kubeDeployment(0, 0), nil)
	if whole, v, _ := r.Sample(MeasureReadyFraction); !whole || v != 1 {
		t.Fatalf("zero replicas: whole %v fraction %v", whole, v)
	}
}

// TestKubernetesProbeValidate: a kubernetes probe needs the worker's Kubernetes client, a
// namespace and a Deployment, and takes only its own measures.
func TestKubernetesProbeValidate(t *testing.T) {
	kp := func(ns, w, measure string) []*murphyv1.Probe {
		return []*murphyv1.Probe{{Metric: "m", Measure: measure,
			Kind: &murphyv1.Probe_Kubernetes{Kubernetes: &murphyv1.KubernetesProbe{Namespace: ns, Workload: w}}}}
	}
	if err := Validate(kp("shop", "deployment/checkout", ""), Options{}); err == nil || !strings.Contains(err.Error(), "start it with --kubernetes or --kubeconfig") {
		t.Errorf("without a client: %v", err)
	}
	// Validate makes no API call: a real client aimed at nothing will do.
	cli, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ns, w, measure, want string }{
		{"shop", "deployment/checkout", "", ""},
		{"shop", "deploy/checkout", MeasureTimeToRecover, ""},
		{"Shop!", "deployment/checkout", "", "is not a namespace name"},
		{"shop", "statefulset/db", MeasureReadyFraction, ""},
		{"shop", "ds/agent", MeasureTimeToRecover, ""},
		{"shop", "job/db", "", "must be a deployment, statefulset or daemonset"},
		{"shop", "deployment/checkout", MeasureStatus, `measure "status" does not apply to a kubernetes probe`},
	} {
		err := Validate(kp(tc.ns, tc.w, tc.measure), Options{Kubernetes: cli})
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// TestWorkloadStatus: a StatefulSet is whole like a Deployment; a DaemonSet wants one pod
// per eligible node, as its controller counts them; a status of an older spec is not
// whole.
func TestWorkloadStatus(t *testing.T) {
	three := int32(3)
	for _, tc := range []struct {
		name  string
		obj   any
		pods  []*corev1.Pod
		whole bool
	}{
		{"statefulset whole", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &three}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}}, kubePods(3, 0, 0), true},
		{"statefulset short", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &three}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}}, kubePods(2, 1, 0), false},
		{"statefulset status behind", &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.StatefulSetSpec{Replicas: &three},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 3, ObservedGeneration: 1}}, kubePods(3, 0, 0), false},
		{"daemonset whole", &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 2}}, kubePods(2, 0, 0), true},
		{"daemonset short", &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 1}}, kubePods(2, 0, 0), false},
	} {
		r := NewRecovery(nil)
		r.ObserveWorkload(tc.obj, tc.pods)
		if whole, _, _ := r.Sample(MeasureReadyReplicas); whole != tc.whole {
			t.Errorf("%s: whole %v, want %v", tc.name, whole, tc.whole)
		}
	}
}
