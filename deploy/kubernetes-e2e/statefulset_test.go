package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/probe"
)

func statefulSet(name string, replicas int32) *appsv1.StatefulSet {
	labels, tmpl := podTemplate(name)
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			// All at once: the order of a database's start-up is not what is measured.
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template:            tmpl,
		},
	}
}

// waitStatefulSet waits until the StatefulSet's status reports want replicas ready and
// up to date, with as many live pods.
func waitStatefulSet(t *testing.T, c kubernetes.Interface, ns, name string, want int32) {
	t.Helper()
	eventually(t, time.Minute, "statefulset/"+name+" whole", func(ctx context.Context) (bool, error) {
		s, err := c.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != want || *s.Spec.Replicas != want {
			return false, nil
		}
		uids, err := liveUIDs(ctx, c, ns, "app="+name)
		return err == nil && len(uids) == int(want), err
	})
}

// TestStatefulSet: the Kubernetes kinds and the probe work on a StatefulSet as on a
// Deployment, under the designated worker's own RBAC: the probe follows it through a
// deleted pod and measures the recovery; workload.scale sets its replica count and the
// revert, from the record on disk, restores the saved one; workload.restart makes the
// StatefulSet controller replace every pod.
func TestStatefulSet(t *testing.T) {
	admin := adminClient(t)
	node := testNode(t, admin, nil)
	ns := namespace(t, admin, optIn)
	startKubelet(t, admin, ns, node)
	if _, err := admin.AppsV1().StatefulSets(ns).Create(t.Context(), statefulSet("db", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatefulSet(t, admin, ns, "db", 3)

	// The probe, as the designated worker reads it.
	rec := probe.NewRecovery(nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := probe.WatchWorkload(ctx, workerClient(t, workerAccount), ns, catalogue.Workload{Kind: "statefulset", Name: "db"}, rec, time.Minute); err != nil {
		t.Fatalf("watch statefulset/db: %v", err)
	}
	if whole, v, synced := rec.Sample(probe.MeasureReadyReplicas); !synced || !whole || v != 3 {
		t.Fatalf("probe on a whole StatefulSet: whole %v, ready %v, synced %v", whole, v, synced)
	}

	ex := newExecutors(t, t.TempDir())
	if _, err := ex.inject(t, "pod.delete", map[string]string{"namespace": ns, "workload": "statefulset/db", "mode": "one", "grace": "0s"}); err != nil {
		t.Fatalf("pod.delete of statefulset/db: %v", err)
	}
	eventually(t, time.Minute, "the probe to see the outage end", func(context.Context) (bool, error) {
		return len(rec.Outages()) == 1, nil
	})
	t.Logf("statefulset/db whole again %v after a pod was deleted", rec.Outages()[0].Round(time.Millisecond))
	waitStatefulSet(t, admin, ns, "db", 3)

	f, err := ex.inject(t, "workload.scale", map[string]string{"namespace": ns, "workload": "sts/db", "replicas": "1"})
	if err != nil {
		t.Fatalf("workload.scale of statefulset/db: %v", err)
	}
	waitStatefulSet(t, admin, ns, "db", 1)
	newExecutors(t, ex.dir).revert(t, f)
	waitStatefulSet(t, admin, ns, "db", 3)

	before, err := liveUIDs(t.Context(), admin, ns, "app=db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.inject(t, "workload.restart", map[string]string{"namespace": ns, "workload": "statefulset/db"}); err != nil {
		t.Fatalf("workload.restart of statefulset/db: %v", err)
	}
	eventually(t, time.Minute, "every pod of statefulset/db replaced", func(ctx context.Context) (bool, error) {
		return gone(t, admin, ns, before) == 3, nil
	})
	waitStatefulSet(t, admin, ns, "db", 3)

	// A DaemonSet cannot be scaled: the catalogue refuses before anything is touched.
	if err := catalogue.Validate("workload.scale", map[string]string{"namespace": ns, "workload": "ds/agent", "replicas": "1"}); err == nil {
		t.Error("workload.scale of a DaemonSet was accepted")
	}
}
