package targets

import (
	"log/slog"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
)

func pod(ns, name string, labels map[string]string, mod ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: labels},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, m := range mod {
		m(p)
	}
	return p
}

func ownedBy(kind, name string) func(*corev1.Pod) {
	yes := true
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{Kind: kind, Name: name, Controller: &yes})
	}
}

func withIP(ip string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.PodIP = ip }
}

func TestWorkload(t *testing.T) {
	notController := func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{Kind: "Deployment", Name: "x"})
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"deployment through its replicaset", pod("shop", "p", map[string]string{"pod-template-hash": "5d8f9c"}, ownedBy("ReplicaSet", "checkout-5d8f9c")), "deployment/checkout"},
		{"deployment whose name has dashes", pod("shop", "p", map[string]string{"pod-template-hash": "abc"}, ownedBy("ReplicaSet", "check-out-v2-abc")), "deployment/check-out-v2"},
		{"replicaset of no deployment", pod("shop", "p", nil, ownedBy("ReplicaSet", "plain")), "replicaset/plain"},
		{"hash that is not the name's suffix", pod("shop", "p", map[string]string{"pod-template-hash": "zzz"}, ownedBy("ReplicaSet", "plain-abc")), "replicaset/plain-abc"},
		{"statefulset", pod("db", "db-0", nil, ownedBy("StatefulSet", "db")), "statefulset/db"},
		{"daemonset", pod("ops", "agent-x", nil, ownedBy("DaemonSet", "agent")), "daemonset/agent"},
		{"owner that is not the controller", pod("shop", "p", nil, notController), ""},
		{"bare pod", pod("shop", "p", nil), ""},
	} {
		if got := Workload(tc.pod); got != tc.want {
			t.Errorf("%s: workload %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOffered(t *testing.T) {
	on := map[string]string{fault.OptInLabel: fault.OptInValue}
	deleting := func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
	pending := func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }
	succeeded := func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }
	pods := []*corev1.Pod{
		pod("shop", "web-2", map[string]string{"app": "web"}),                                    // namespace opted in
		pod("shop", "web-1", map[string]string{"app": "web", "node": "x"}, withIP("10.244.1.7")), // a pod's "node" label is not its node
		pod("shop", "gone", nil, deleting),
		pod("shop", "starting", nil, pending),
		pod("shop", "job-done", nil, succeeded),
		pod("other", "in", map[string]string{fault.OptInLabel: fault.OptInValue, "app": "in"}),
		pod("other", "out", map[string]string{"app": "out"}),
		pod("kube-system", "dns", map[string]string{fault.OptInLabel: fault.OptInValue}),
	}
	nsLabels := map[string]map[string]string{"shop": on, "other": nil, "kube-system": on}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{
		nodeRegionLabel: "eu-west-1", nodeZoneLabel: "eu-west-1b"}}}
	pol := fault.DefaultPolicy().Kubernetes

	got := Offered(pods, nsLabels, node, pol)
	ids := make([]string, len(got))
	for i, tg := range got {
		ids[i] = tg.Id
	}
	if want := []string{"pod/other/in", "pod/shop/web-1", "pod/shop/web-2"}; !slices.Equal(ids, want) {
		t.Fatalf("offered %v, want %v (alive, opted in, kube-system denied by default)", ids, want)
	}
	want := map[string]string{"app": "web", "namespace": "shop", "pod": "web-1", "node": "node-a",
		"region": "eu-west-1", "datacenter": "eu-west-1b"}
	if !maps.Equal(got[1].Labels, want) || got[1].Uid != "uid-web-1" || got[1].Address != "10.244.1.7" {
		t.Errorf("web-1: uid %q address %q labels %v, want uid-web-1, 10.244.1.7 and %v", got[1].Uid, got[1].Address, got[1].Labels, want)
	}
	if got[2].Address != "" {
		t.Errorf("web-2 has no IP yet, but its address is %q", got[2].Address)
	}
	if pods[1].Labels["node"] != "x" {
		t.Error("the pod's own labels were changed")
	}

	// Without the node object (not readable yet) there is no region, and nothing fails.
	if l := Offered(pods[:1], nsLabels, nil, pol)[0].Labels; l["region"] != "" || l["node"] != "node-a" {
		t.Errorf("labels without the node object: %v", l)
	}
	// A policy that waives opt-in offers every alive pod of its allowed namespaces.
	all := Offered(pods, nsLabels, node, fault.KubernetesPolicy{NoOptIn: true, AllowedNamespaces: []string{"other"}})
	if len(all) != 2 || all[0].Id != "pod/other/in" || all[1].Id != "pod/other/out" {
		t.Errorf("no opt-in, namespace other only: %v", all)
	}
}

func TestPublishReportsChangesOnly(t *testing.T) {
	p := NewPods(nil, "node-a", fault.KubernetesPolicy{}, discard())
	first, changed := p.Current()
	if first != nil {
		t.Fatalf("targets before any listing: %v", first)
	}
	p.publish(nil)
	select {
	case <-changed:
	default:
		t.Fatal("the first listing, empty, was not reported: a worker could not tell none from not yet known")
	}
	ts, changed := p.Current()
	if ts == nil || len(ts) != 0 {
		t.Fatalf("after an empty listing: %v, want an empty non-nil list", ts)
	}
	one := []*murphyv1.Target{{Id: "pod/a/b", Uid: "u", Labels: map[string]string{"k": "v"}}}
	p.publish(one)
	select {
	case <-changed:
	default:
		t.Fatal("a new pod was not reported")
	}
	_, changed = p.Current()
	p.publish([]*murphyv1.Target{{Id: "pod/a/b", Uid: "u", Labels: map[string]string{"k": "v"}}})
	select {
	case <-changed:
		t.Fatal("an unchanged listing was reported as a change")
	default:
	}
	// The same pod with an IP (assigned after it was first listed), then a new one.
	for _, ip := range []string{"10.244.0.5", "10.244.0.6"} {
		p.publish([]*murphyv1.Target{{Id: "pod/a/b", Uid: "u", Labels: map[string]string{"k": "v"}, Address: ip}})
		select {
		case <-changed:
		default:
			t.Fatalf("the pod's address becoming %s was not reported", ip)
		}
		if ts, _ := p.Current(); ts[0].Address != ip {
			t.Fatalf("current address %q, want %s", ts[0].Address, ip)
		}
		_, changed = p.Current()
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
