package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// evictRetry is how often node.drain asks again for an eviction a
// PodDisruptionBudget refused (kubectl drain waits 5 s; a step has less).
const evictRetry = 250 * time.Millisecond

// setUnschedulable sends `kubectl cordon`'s patch (or uncordon's).
func (fam *Family) setUnschedulable(ctx context.Context, name string, v bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
	_, err := fam.cli.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: fam.fieldManager})
	return err
}

// injectNode cordons the node (recording whether it already was) and, for node.drain,
// evicts its pods. A drain some evictions of which are still refused when its timeout
// ends uncordons the node again and fails, naming the pods and the API's reasons.
func (fam *Family) injectNode(ctx context.Context, id string, p catalogue.NodeFault) error {
	var rec changed
	if ok, err := fam.recs.Get(id, &rec); err != nil || ok {
		return err // ok: already injected
	}
	node, err := fam.cli.CoreV1().Nodes().Get(ctx, p.Node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("node %s: %w", p.Node, err)
	}
	if !fam.pol.OptedIn(node.Labels, nil) {
		return fmt.Errorf("node %s has not opted in (label it %s=%s)", p.Node, fault.OptInLabel, fault.OptInValue)
	}
	rec = changed{AssignmentID: id, Kind: p.Kind, Resource: "node", Name: node.Name, UID: string(node.UID),
		WasUnschedulable: node.Spec.Unschedulable}
	if err := fam.recs.Put(id, rec); err != nil {
		return fmt.Errorf("write fault state: %w (the node was not touched)", err)
	}
	if !node.Spec.Unschedulable {
		if err := fam.setUnschedulable(ctx, node.Name, true); err != nil {
			return errors.Join(fmt.Errorf("cordon %s: %w", node.Name, err), fam.undo(ctx, id, rec))
		}
	}
	fam.log.Info("node cordoned", "assignment_id", id, "node", node.Name, "was_unschedulable", rec.WasUnschedulable)
	if p.Kind != KindNodeDrain {
		return nil
	}
	if err := fam.drain(ctx, id, node.Name, p); err != nil {
		return errors.Join(err, fam.undo(ctx, id, rec))
	}
	return nil
}

// undo reverts a half-done inject so that it leaves nothing behind, as the executor
// contract asks; the record stays if that fails, for the worker's own revert.
func (fam *Family) undo(ctx context.Context, id string, rec changed) error {
	var err error
	if rec.Resource == "node" {
		err = fam.uncordon(ctx, rec)
	} else {
		err = fam.unscale(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("undo (kept for the next revert): %w", err)
	}
	return fam.recs.Delete(id)
}

// drain evicts the node's pods, all at once, retrying the ones a PodDisruptionBudget
// refuses until p.Timeout. Pods in namespaces the policy denies are left where they are.
func (fam *Family) drain(ctx context.Context, id, node string, p catalogue.NodeFault) error {
	list, err := fam.cli.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return fmt.Errorf("list the pods of node %s: %w", node, err)
	}
	var todo []corev1.Pod
	var kept []string
	for _, pod := range list.Items {
		if !drainable(pod) {
			continue
		}
		if err := fam.pol.AllowsNamespace(pod.Namespace); err != nil {
			kept = append(kept, pod.Namespace+"/"+pod.Name)
			continue
		}
		todo = append(todo, pod)
	}
	deadline := time.Now().Add(p.Timeout)
	refused := map[string]string{}
	evicted := 0
	for {
		var again []corev1.Pod
		for _, pod := range todo {
			uid := pod.UID
			err := fam.cli.CoreV1().Pods(pod.Namespace).EvictV1(ctx, &policyv1.Eviction{
				ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
				DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: gracePtr(p.Grace), Preconditions: &metav1.Preconditions{UID: &uid}},
			})
			key := pod.Namespace + "/" + pod.Name
			switch {
			case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
				// Conflict: the UID precondition failed, the pod was replaced meanwhile.
				evicted++
				delete(refused, key)
			case apierrors.IsTooManyRequests(err):
				// A PodDisruptionBudget forbids it now; kubectl drain retries too.
				refused[key] = err.Error()
				again = append(again, pod)
			default:
				return fmt.Errorf("evict %s: %w", key, err)
			}
		}
		todo = again
		if len(todo) == 0 || !time.Now().Add(evictRetry).Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(evictRetry):
		}
	}
	fam.log.Info("node drained", "assignment_id", id, "node", node, "evicted", evicted,
		"refused", len(refused), "left_by_policy", strings.Join(kept, ","))
	if len(refused) > 0 {
		var msgs []string
		for k, m := range refused {
			msgs = append(msgs, k+": "+m)
		}
		sort.Strings(msgs)
		return fmt.Errorf("drain of node %s blocked after %s: %d evicted, %d refused by the Eviction API (%s); the node is uncordoned again",
			node, p.Timeout, evicted, len(refused), strings.Join(msgs, "; "))
	}
	return nil
}

// uncordon reverts a cordon: only on the node the fault cordoned (same UID), only if it
// was schedulable before the fault.
func (fam *Family) uncordon(ctx context.Context, rec changed) error {
	if rec.WasUnschedulable {
		return nil
	}
	node, err := fam.cli.CoreV1().Nodes().Get(ctx, rec.Name, metav1.GetOptions{})
	if notFound(err) || (err == nil && string(node.UID) != rec.UID) {
		fam.log.Warn("node gone or replaced since it was cordoned; nothing to uncordon", "assignment_id", rec.AssignmentID, "node", rec.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", rec.Name, err)
	}
	if !node.Spec.Unschedulable {
		return nil
	}
	if err := fam.setUnschedulable(ctx, rec.Name, false); err != nil {
		return fmt.Errorf("uncordon %s: %w", rec.Name, err)
	}
	fam.log.Info("node uncordoned", "assignment_id", rec.AssignmentID, "node", rec.Name)
	return nil
}
