package kube

import (
	"math"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Eligible returns the pods pod.delete may choose from: alive (not terminated, not being
// deleted) and opted in, by their own label or nsLabels (their namespace's). skipped
// counts the live pods left out for want of opt-in, so a step that finds none can say
// why.
func Eligible(pods []corev1.Pod, nsLabels map[string]string, pol fault.KubernetesPolicy) (eligible []corev1.Pod, skipped int) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !pol.OptedIn(p.Labels, nsLabels) {
			skipped++
			continue
		}
		eligible = append(eligible, p)
	}
	return eligible, skipped
}

// KillCount is how many of n eligible pods a kill mode deletes. rng draws
// random-max-percent's percentage, uniformly from the integers 0 to percent (rounded
// down), as kube-monkey does; the result is that share of n, rounded down.
func KillCount(p catalogue.PodDelete, n int, rng *rand.Rand) int {
	switch p.Mode {
	case catalogue.KillOne:
		return min(1, n)
	case catalogue.KillFixed:
		return min(p.Count, n)
	case catalogue.KillRandomMaxPercent:
		pct := rng.IntN(int(math.Floor(p.Percent)) + 1)
		return int(math.Floor(float64(n) * float64(pct) / 100))
	default:
		return n
	}
}

// Choose returns k of pods chosen uniformly at random, without repetition.
func Choose(pods []corev1.Pod, k int, rng *rand.Rand) []corev1.Pod {
	out := make([]corev1.Pod, len(pods))
	copy(out, pods)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(k, len(out))]
}

// drainable reports whether node.drain evicts pod, as kubectl drain decides by default:
// DaemonSet pods (their controller ignores unschedulable and would recreate them at once)
// and mirror pods (static pods the kubelet owns; the API cannot delete them) stay, and so
// do pods that already ended or are being deleted.
func drainable(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.Kind == "DaemonSet" {
			return false
		}
	}
	return true
}
