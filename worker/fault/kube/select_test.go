package kube

import (
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func pod(name string, labels map[string]string, mutate ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, m := range mutate {
		m(&p)
	}
	return p
}

var optedIn = map[string]string{fault.OptInLabel: fault.OptInValue}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestEligibleOptIn: a pod is eligible only if it or its namespace opted in (unless the
// policy waives opt-in), and never once it ended or is being deleted.
func TestEligibleOptIn(t *testing.T) {
	now := metav1.Now()
	pods := []corev1.Pod{
		pod("plain", map[string]string{"app": "web"}),
		pod("labelled", map[string]string{"app": "web", fault.OptInLabel: fault.OptInValue}),
		pod("wrong-value", map[string]string{fault.OptInLabel: "true"}),
		pod("deleting", optedIn, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		pod("done", optedIn, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("failed", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
		pod("pending", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
	}
	for _, tc := range []struct {
		name    string
		ns      map[string]string
		pol     fault.KubernetesPolicy
		want    []string
		skipped int
	}{
		{"namespace not opted in", map[string]string{"team": "a"}, fault.KubernetesPolicy{}, []string{"labelled"}, 3},
		{"namespace opted in", optedIn, fault.KubernetesPolicy{}, []string{"labelled", "pending", "plain", "wrong-value"}, 0},
		{"opt-in waived by the worker", nil, fault.KubernetesPolicy{NoOptIn: true}, []string{"labelled", "pending", "plain", "wrong-value"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := Eligible(pods, tc.ns, tc.pol)
			if !slices.Equal(names(got), tc.want) || skipped != tc.skipped {
				t.Fatalf("eligible %v (skipped %d); want %v (skipped %d)", names(got), skipped, tc.want, tc.skipped)
			}
		})
	}
}

// TestKillCount: kube-monkey's kill modes, including the bounds of random-max-percent
// over many draws.
func TestKillCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		p    catalogue.PodDelete
		n    int
		want int
	}{
		{catalogue.PodDelete{Mode: catalogue.KillOne}, 5, 1},
		{catalogue.PodDelete{Mode: catalogue.KillOne}, 0, 0},
		{catalogue.PodDelete{Mode: catalogue.KillFixed, Count: 2}, 5, 2},
		{catalogue.PodDelete{Mode: catalogue.KillFixed, Count: 9}, 5, 5},
		{catalogue.PodDelete{Mode: catalogue.KillAll}, 7, 7},
	} {
		if got := KillCount(tc.p, tc.n, rng); got != tc.want {
			t.Errorf("%s of %d: %d, want %d", tc.p.Mode, tc.n, got, tc.want)
		}
	}
	// Up to 50% of 10 pods: 0 to 5, each reachable.
	seen := map[int]int{}
	for range 2000 {
		k := KillCount(catalogue.PodDelete{Mode: catalogue.KillRandomMaxPercent, Percent: 50}, 10, rng)
		if k < 0 || k > 5 {
			t.Fatalf("random-max-percent 50 of 10 pods: %d", k)
		}
		seen[k]++
	}
	for k := 0; k <= 5; k++ {
		if seen[k] == 0 {
			t.Errorf("random-max-percent 50 of 10 never chose %d: %v", k, seen)
		}
	}
	// 100% may take every pod.
	maxSeen := 0
	for range 2000 {
		maxSeen = max(maxSeen, KillCount(catalogue.PodDelete{Mode: catalogue.KillRandomMaxPercent, Percent: 100}, 4, rng))
	}
	if maxSeen != 4 {
		t.Errorf("random-max-percent 100 of 4: at most %d", maxSeen)
	}
}

// TestChoose: k distinct pods, and every pod can be chosen.
func TestChoose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pods := []corev1.Pod{pod("a", nil), pod("b", nil), pod("c", nil), pod("d", nil)}
	hit := map[string]bool{}
	for range 200 {
		got := names(Choose(pods, 2, rng))
		if len(got) != 2 || got[0] == got[1] {
			t.Fatalf("Choose 2: %v", got)
		}
		for _, n := range got {
			hit[n] = true
		}
	}
	if len(hit) != 4 {
		t.Errorf("some pods never chosen: %v", hit)
	}
	if got := Choose(pods, 9, rng); len(got) != 4 {
		t.Errorf("Choose 9 of 4: %d", len(got))
	}
	if names(pods)[0] != "a" || pods[0].Name != "a" {
		t.Error("Choose reordered its input")
	}
}

// TestDrainable: kubectl drain's default exclusions.
func TestDrainable(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		pod  corev1.Pod
		want bool
	}{
		{pod("web", nil), true},
		{pod("ds", nil, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "x", Controller: &yes}}
		}), false},
		{pod("rs", nil, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "x", Controller: &yes}}
		}), true},
		{pod("mirror", nil, func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }), false},
		{pod("done", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), false},
	} {
		if got := drainable(tc.pod); got != tc.want {
			t.Errorf("%s: drainable %v", tc.pod.Name, got)
		}
	}
}
