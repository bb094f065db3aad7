package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout restart` sets;
// changing it makes the workload roll every pod.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// workloadObject is what the kinds read of a Deployment, StatefulSet or DaemonSet.
type workloadObject struct {
	meta     metav1.ObjectMeta
	selector *metav1.LabelSelector
}

// getWorkload reads the workload w in ns, whatever its kind.
func (fam *Family) getWorkload(ctx context.Context, ns string, w catalogue.Workload) (workloadObject, error) {
	apps := fam.cli.AppsV1()
	opts := metav1.GetOptions{}
	switch w.Kind {
	case "statefulset":
		o, err := apps.StatefulSets(ns).Get(ctx, w.Name, opts)
		if err != nil {
			return workloadObject{}, err
		}
		return workloadObject{o.ObjectMeta, o.Spec.Selector}, nil
	case "daemonset":
		o, err := apps.DaemonSets(ns).Get(ctx, w.Name, opts)
		if err != nil {
			return workloadObject{}, err
		}
		return workloadObject{o.ObjectMeta, o.Spec.Selector}, nil
	default:
		o, err := apps.Deployments(ns).Get(ctx, w.Name, opts)
		if err != nil {
			return workloadObject{}, err
		}
		return workloadObject{o.ObjectMeta, o.Spec.Selector}, nil
	}
}

// scaler is a workload's scale subresource (Deployments and StatefulSets have one).
type scaler interface {
	GetScale(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error)
	UpdateScale(ctx context.Context, name string, scale *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
}

func (fam *Family) scaler(ns, kind string) scaler {
	if kind == "statefulset" {
		return fam.cli.AppsV1().StatefulSets(ns)
	}
	return fam.cli.AppsV1().Deployments(ns)
}

// workload returns the step's workload after the policy's namespace and opt-in checks.
func (fam *Family) workload(ctx context.Context, p catalogue.WorkloadFault) (workloadObject, error) {
	nsLabels, err := fam.namespaceLabels(ctx, p.Namespace)
	if err != nil {
		return workloadObject{}, err
	}
	o, err := fam.getWorkload(ctx, p.Namespace, p.Workload)
	if err != nil {
		return workloadObject{}, fmt.Errorf("%s: %w", p.Workload, err)
	}
	if !fam.pol.OptedIn(o.meta.Labels, nsLabels) {
		return workloadObject{}, fmt.Errorf("%s in %s has not opted in (label it or the namespace %s=%s)", p.Workload, p.Namespace, fault.OptInLabel, fault.OptInValue)
	}
	return o, nil
}

// scale records the workload's replica count, then sets the step's through the scale
// subresource. The update carries the resourceVersion read. The workload's controller
// bumps that version with every status update, so a conflict is read again and retried
// while the count is still the one recorded; a count someone changed meanwhile fails
// the step instead of being overwritten unseen.
func (fam *Family) scale(ctx context.Context, id string, p catalogue.WorkloadFault) error {
	var rec changed
	if ok, err := fam.recs.Get(id, &rec); err != nil || ok {
		return err
	}
	o, err := fam.workload(ctx, p)
	if err != nil {
		return err
	}
	sc := fam.scaler(p.Namespace, p.Workload.Kind)
	cur, err := sc.GetScale(ctx, o.meta.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: scale: %w", p.Workload, err)
	}
	rec = changed{AssignmentID: id, Kind: p.Kind, Resource: p.Workload.Kind, Namespace: p.Namespace, Name: o.meta.Name,
		UID: string(o.meta.UID), SavedReplicas: cur.Spec.Replicas, SetReplicas: p.Replicas}
	if err := fam.recs.Put(id, rec); err != nil {
		return fmt.Errorf("write fault state: %w (the %s was not touched)", err, p.Workload.Kind)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if cur == nil {
			if cur, err = sc.GetScale(ctx, o.meta.Name, metav1.GetOptions{}); err != nil {
				return err
			}
			if cur.Spec.Replicas != rec.SavedReplicas {
				return fmt.Errorf("its replica count changed from %d to %d while it was being scaled", rec.SavedReplicas, cur.Spec.Replicas)
			}
		}
		cur.Spec.Replicas = p.Replicas
		_, err := sc.UpdateScale(ctx, o.meta.Name, cur, metav1.UpdateOptions{FieldManager: fam.fieldManager})
		cur = nil // a conflict reads the scale again
		return err
	})
	if err != nil {
		return errors.Join(fmt.Errorf("scale %s to %d: %w", p.Workload, p.Replicas, err), fam.undo(ctx, id, rec))
	}
	fam.log.Info("workload scaled", "assignment_id", id, "namespace", p.Namespace, "workload", p.Workload.String(),
		"from", rec.SavedReplicas, "to", p.Replicas)
	return nil
}

// unscale restores the saved replica count: only on the workload the fault scaled (same
// UID), only if its count is still the one the fault set. A count someone (an
// autoscaler, an operator) changed since is theirs, and is left. Records written before
// StatefulSets could be scaled name the resource "deployment".
func (fam *Family) unscale(ctx context.Context, rec changed) error {
	w := catalogue.Workload{Kind: rec.Resource, Name: rec.Name}
	o, err := fam.getWorkload(ctx, rec.Namespace, w)
	if notFound(err) || (err == nil && string(o.meta.UID) != rec.UID) {
		fam.log.Warn("workload gone or replaced since it was scaled; nothing to restore", "assignment_id", rec.AssignmentID,
			"namespace", rec.Namespace, "workload", w.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s in %s: %w", w, rec.Namespace, err)
	}
	sc := fam.scaler(rec.Namespace, rec.Resource)
	restored := false
	// A conflict (the controller's status update bumped the version) reads and judges
	// the count again.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := sc.GetScale(ctx, rec.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		switch cur.Spec.Replicas {
		case rec.SavedReplicas:
			return nil
		case rec.SetReplicas:
		default:
			fam.log.Warn("replica count changed by someone else since the fault; leaving it", "assignment_id", rec.AssignmentID,
				"namespace", rec.Namespace, "workload", w.String(), "replicas", cur.Spec.Replicas, "saved", rec.SavedReplicas)
			return nil
		}
		cur.Spec.Replicas = rec.SavedReplicas
		_, err = sc.UpdateScale(ctx, rec.Name, cur, metav1.UpdateOptions{FieldManager: fam.fieldManager})
		restored = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("restore %s in %s to %d replicas: %w", w, rec.Namespace, rec.SavedReplicas, err)
	}
	if restored {
		fam.log.Info("workload replica count restored", "assignment_id", rec.AssignmentID, "namespace", rec.Namespace,
			"workload", w.String(), "replicas", rec.SavedReplicas)
	}
	return nil
}

// restart sets the restartedAt annotation as `kubectl rollout restart` does.
func (fam *Family) restart(ctx context.Context, id string, p catalogue.WorkloadFault) error {
	o, err := fam.workload(ctx, p)
	if err != nil {
		return err
	}
	patch := []byte(fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`,
		RestartedAtAnnotation, time.Now().Format(time.RFC3339)))
	opts := metav1.PatchOptions{FieldManager: fam.fieldManager}
	apps := fam.cli.AppsV1()
	switch p.Workload.Kind {
	case "statefulset":
		_, err = apps.StatefulSets(p.Namespace).Patch(ctx, o.meta.Name, types.StrategicMergePatchType, patch, opts)
	case "daemonset":
		_, err = apps.DaemonSets(p.Namespace).Patch(ctx, o.meta.Name, types.StrategicMergePatchType, patch, opts)
	default:
		_, err = apps.Deployments(p.Namespace).Patch(ctx, o.meta.Name, types.StrategicMergePatchType, patch, opts)
	}
	if err != nil {
		return fmt.Errorf("restart %s: %w", p.Workload, err)
	}
	fam.log.Info("workload restarted", "assignment_id", id, "namespace", p.Namespace, "workload", p.Workload.String())
	return nil
}
