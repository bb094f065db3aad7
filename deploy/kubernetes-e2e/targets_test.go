package e2e

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/targets"
)

// TestNodeWorkerOffersItsPods: a node's worker, as the DaemonSet's ServiceAccount, watches
// the pods bound to its node and offers the running, opted-in ones as targets, labelled
// with their workload and the node's region and zone. Pods of another node, of a namespace
// that did not opt in (unless the pod itself did) or of a denied namespace are not
// offered; a deleted pod leaves the list and its replacement joins it.
func TestNodeWorkerOffersItsPods(t *testing.T) {
	admin := adminClient(t)
	node, other := testNode(t, admin, nil), testNode(t, admin, nil)
	shop := namespace(t, admin, optIn)
	startKubelet(t, admin, shop, node)
	createDeployment(t, admin, shop, deployment("web", 2))
	elsewhere := namespace(t, admin, optIn)
	startKubelet(t, admin, elsewhere, other)
	createDeployment(t, admin, elsewhere, deployment("far", 1))
	plain := namespace(t, admin, nil)
	startKubelet(t, admin, plain, node)
	createPod(t, admin, plain, "left-out")
	createPod(t, admin, plain, "opted")
	if _, err := admin.CoreV1().Pods(plain).Patch(t.Context(), "opted", "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"`+chaosLabel+`":"enabled"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	denied := namespace(t, admin, optIn)
	startKubelet(t, admin, denied, node)
	createPod(t, admin, denied, "guarded")

	pol := fault.KubernetesPolicy{DeniedNamespaces: []string{"kube-system", denied}}
	w := targets.NewPods(workerClient(t, "murphy-worker"), node, pol, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the watch did not stop within 10s of its context's end: a worker could not shut down")
		}
	})

	var ts []*murphyv1.Target
	eventually(t, time.Minute, "the node's three opted-in running pods offered", func(context.Context) (bool, error) {
		ts, _ = w.Current()
		return len(ts) == 3, nil
	})
	webs := map[string]string{} // target ID -> UID
	for _, tg := range ts {
		ns, name := tg.Labels["namespace"], tg.Labels["pod"]
		if tg.Id != "pod/"+ns+"/"+name || tg.Labels["node"] != node || tg.Labels["region"] != "eu-west" || tg.Labels["datacenter"] != "eu-west-1a" {
			t.Errorf("target %s: labels %v; want its namespace, pod, node %s, region eu-west and datacenter eu-west-1a", tg.Id, tg.Labels, node)
		}
		switch {
		case ns == shop && strings.HasPrefix(name, "web-"):
			if tg.Labels["workload"] != "deployment/web" || tg.Labels["app"] != "web" {
				t.Errorf("target %s: labels %v, want workload deployment/web and the pod's app=web", tg.Id, tg.Labels)
			}
			webs[tg.Id] = tg.Uid
		case ns == plain && name == "opted":
			if tg.Labels["workload"] != "" {
				t.Errorf("a bare pod has workload %q", tg.Labels["workload"])
			}
		default:
			t.Errorf("offered %s, which is not one of the node's opted-in pods in an allowed namespace", tg.Id)
		}
	}
	if len(webs) != 2 {
		t.Fatalf("offered %d of web's pods, want 2: %v", len(webs), ts)
	}

	// Delete one of web's pods: it leaves the list and the ReplicaSet's replacement joins.
	var victim string
	for id := range webs {
		victim = id
		break
	}
	name := victim[strings.LastIndex(victim, "/")+1:]
	if err := admin.CoreV1().Pods(shop).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the deleted pod replaced in the list", func(context.Context) (bool, error) {
		ts, _ = w.Current()
		n := 0
		for _, tg := range ts {
			if tg.Id == victim {
				return false, nil
			}
			if tg.Labels["workload"] == "deployment/web" {
				n++
			}
		}
		return n == 2, nil
	})
}
