package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout restart` sets;
// changing it makes the Deployment roll every pod.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// deployment returns the step's Deployment after the policy's namespace and opt-in
// checks.
func (fam *Family) deployment(ctx context.Context, p catalogue.WorkloadFault) (*appsv1.Deployment, error) {
	nsLabels, err := fam.namespaceLabels(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	d, err := fam.cli.AppsV1().Deployments(p.Namespace).Get(ctx, p.Workload.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Workload, err)
	}
	if !fam.pol.OptedIn(d.Labels, nsLabels) {
		return nil, fmt.Errorf("%s in %s has not opted in (label it or the namespace %s=%s)", p.Workload, p.Namespace, fault.OptInLabel, fault.OptInValue)
	}
	return d, nil
}

// scale records the Deployment's replica count, then sets the step's through the scale
// subresource. The update carries the resourceVersion read, so a concurrent change
// fails the step instead of being overwritten unseen.
func (fam *Family) scale(ctx context.Context, id string, p catalogue.WorkloadFault) error {
	var rec changed
	if ok, err := fam.recs.Get(id, &rec); err != nil || ok {
		return err
	}
	d, err := fam.deployment(ctx, p)
	if err != nil {
		return err
	}
	deps := fam.cli.AppsV1().Deployments(p.Namespace)
	sc, err := deps.GetScale(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: scale: %w", p.Workload, err)
	}
	rec = changed{AssignmentID: id, Kind: p.Kind, Resource: "deployment", Namespace: p.Namespace, Name: d.Name,
		UID: string(d.UID), SavedReplicas: sc.Spec.Replicas, SetReplicas: p.Replicas}
	if err := fam.recs.Put(id, rec); err != nil {
		return fmt.Errorf("write fault state: %w (the Deployment was not touched)", err)
	}
	sc.Spec.Replicas = p.Replicas
	if _, err := deps.UpdateScale(ctx, d.Name, sc, metav1.UpdateOptions{FieldManager: fam.fieldManager}); err != nil {
		return errors.Join(fmt.Errorf("scale %s to %d: %w", p.Workload, p.Replicas, err), fam.undo(ctx, id, rec))
	}
	fam.log.Info("deployment scaled", "assignment_id", id, "namespace", p.Namespace, "deployment", d.Name,
		"from", rec.SavedReplicas, "to", p.Replicas)
	return nil
}

// unscale restores the saved replica count: only on the Deployment the fault scaled
// (same UID), only if its count is still the one the fault set. A count someone (an
// autoscaler, an operator) changed since is theirs, and is left.
func (fam *Family) unscale(ctx context.Context, rec changed) error {
	deps := fam.cli.AppsV1().Deployments(rec.Namespace)
	d, err := deps.Get(ctx, rec.Name, metav1.GetOptions{})
	if notFound(err) || (err == nil && string(d.UID) != rec.UID) {
		fam.log.Warn("deployment gone or replaced since it was scaled; nothing to restore", "assignment_id", rec.AssignmentID,
			"namespace", rec.Namespace, "deployment", rec.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	sc, err := deps.GetScale(ctx, rec.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("deployment %s/%s: scale: %w", rec.Namespace, rec.Name, err)
	}
	switch sc.Spec.Replicas {
	case rec.SavedReplicas:
		return nil
	case rec.SetReplicas:
	default:
		fam.log.Warn("replica count changed by someone else since the fault; leaving it", "assignment_id", rec.AssignmentID,
			"namespace", rec.Namespace, "deployment", rec.Name, "replicas", sc.Spec.Replicas, "saved", rec.SavedReplicas)
		return nil
	}
	sc.Spec.Replicas = rec.SavedReplicas
	if _, err := deps.UpdateScale(ctx, rec.Name, sc, metav1.UpdateOptions{FieldManager: fam.fieldManager}); err != nil {
		return fmt.Errorf("restore %s/%s to %d replicas: %w", rec.Namespace, rec.Name, rec.SavedReplicas, err)
	}
	fam.log.Info("deployment replica count restored", "assignment_id", rec.AssignmentID, "namespace", rec.Namespace,
		"deployment", rec.Name, "replicas", rec.SavedReplicas)
	return nil
}

// restart sets the restartedAt annotation as `kubectl rollout restart` does.
func (fam *Family) restart(ctx context.Context, id string, p catalogue.WorkloadFault) error {
	d, err := fam.deployment(ctx, p)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`,
		RestartedAtAnnotation, time.Now().Format(time.RFC3339))
	if _, err := fam.cli.AppsV1().Deployments(p.Namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: fam.fieldManager}); err != nil {
		return fmt.Errorf("restart %s: %w", p.Workload, err)
	}
	fam.log.Info("deployment restarted", "assignment_id", id, "namespace", p.Namespace, "deployment", d.Name)
	return nil
}
