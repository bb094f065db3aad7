package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// gracePtr is a grace period in the API's whole seconds, rounded up; nil keeps the
// pod's own.
func gracePtr(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	s := int64((*d + time.Second - 1) / time.Second)
	return &s
}

// podSelector is the step's label selector, narrowed to the workload's own selector
// when the step names one.
func (fam *Family) podSelector(ctx context.Context, p catalogue.PodDelete) (labels.Selector, error) {
	sel, err := labels.Parse(p.Selector)
	if err != nil {
		return nil, err
	}
	if p.Workload == nil {
		return sel, nil
	}
	o, err := fam.getWorkload(ctx, p.Namespace, *p.Workload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Workload, err)
	}
	ws, err := metav1.LabelSelectorAsSelector(o.selector)
	if err != nil {
		return nil, fmt.Errorf("%s: selector: %w", p.Workload, err)
	}
	reqs, _ := ws.Requirements()
	return sel.Add(reqs...), nil
}

// deletePods deletes the pods the kill mode picks among the eligible ones. Each delete
// carries the pod's UID as a precondition, so a pod replaced under the same name (a
// StatefulSet's) between the list and the delete is not touched.
func (fam *Family) deletePods(ctx context.Context, id string, p catalogue.PodDelete) error {
	nsLabels, err := fam.namespaceLabels(ctx, p.Namespace)
	if err != nil {
		return err
	}
	sel, err := fam.podSelector(ctx, p)
	if err != nil {
		return err
	}
	list, err := fam.cli.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	eligible, skipped := Eligible(list.Items, nsLabels, fam.pol)
	if len(eligible) == 0 {
		if skipped > 0 {
			return fmt.Errorf("none of the %d live pods matching %q in %s opted in (label them or the namespace %s=%s)",
				skipped, sel.String(), p.Namespace, "murphy.io/chaos", "enabled")
		}
		return fmt.Errorf("no live pod matches %q in namespace %s", sel.String(), p.Namespace)
	}
	victims := Choose(eligible, KillCount(p, len(eligible), fam.rng), fam.rng)
	var deleted []string
	var errs []error
	for _, v := range victims {
		uid := v.UID
		err := fam.cli.CoreV1().Pods(p.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{
			GracePeriodSeconds: gracePtr(p.Grace),
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		switch {
		case notFound(err):
			// Gone by itself since the list: the fault's effect happened anyway.
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
			continue
		}
		deleted = append(deleted, v.Name)
	}
	fam.log.Info("pods deleted", "assignment_id", id, "namespace", p.Namespace, "mode", string(p.Mode),
		"eligible", len(eligible), "not_opted_in", skipped, "pods", strings.Join(deleted, ","))
	if len(errs) > 0 {
		return fmt.Errorf("deleted %d of %d pods: %w", len(deleted), len(victims), errors.Join(errs...))
	}
	return nil
}
