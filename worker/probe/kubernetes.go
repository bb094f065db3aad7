package probe

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// The kubernetes probe's measures.
const (
	MeasureReadyReplicas = "ready_replicas"  // the Deployment's ready, live pods
	MeasureReadyFraction = "ready_fraction"  // ready_replicas / desired replicas (1 when 0 are desired)
	MeasureRestarts      = "restarts"        // container restarts summed over its live pods
	MeasureTimeToRecover = "time_to_recover" // seconds short of desired; see Recovery
)

// KindKubernetes is the kubernetes probe's kind.
const KindKubernetes = "kubernetes"

func (s *spec) compileKubernetes(k *murphyv1.KubernetesProbe, opts Options) error {
	if opts.Kubernetes == nil {
		return fmt.Errorf("this worker has no Kubernetes client: start it with --kubernetes or --kubeconfig")
	}
	if err := catalogue.CheckNamespace(k.GetNamespace()); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	w, err := catalogue.ParseWorkload(k.GetWorkload())
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	s.kubeNamespace, s.kubeWorkload = k.GetNamespace(), w.Name
	return nil
}

// Recovery tracks whether a Deployment is whole — every desired replica a ready, live
// pod, and the Deployment's status agreeing — from the API server's watch events, and
// how long each outage lasted. An outage starts at the first event that shows the
// Deployment short (for a deleted pod, the deletion itself: the pod leaves the live set
// when its deletionTimestamp is set), and ends at the event that makes it whole again.
// Safe for concurrent use.
type Recovery struct {
	mu          sync.Mutex
	now         func() time.Time
	synced      bool
	whole       bool
	brokenSince time.Time
	// lastOutage is the length of the last outage, reported once by the first sample
	// after it ended.
	lastOutage time.Duration
	reported   bool
	ready      int32
	desired    int32
	restarts   int32
	outages    []time.Duration
}

// NewRecovery returns a tracker that has seen nothing yet; now defaults to time.Now.
func NewRecovery(now func() time.Time) *Recovery {
	if now == nil {
		now = time.Now
	}
	return &Recovery{now: now, reported: true}
}

// Observe takes the current Deployment and its pods (as an informer holds them) and
// updates the state.
func (r *Recovery) Observe(d *appsv1.Deployment, pods []*corev1.Pod) {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	var ready, restarts int32
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			restarts += c.RestartCount
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	whole := ready >= desired && d.Status.ReadyReplicas >= desired && d.Status.ObservedGeneration >= d.Generation
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.ready, r.desired, r.restarts = ready, desired, restarts
	switch {
	case !r.synced:
		r.synced, r.whole = true, whole
		if !whole {
			r.brokenSince = now
		}
	case r.whole && !whole:
		r.whole, r.brokenSince = false, now
	case !r.whole && whole:
		r.whole = true
		r.lastOutage, r.reported = now.Sub(r.brokenSince), false
		r.outages = append(r.outages, r.lastOutage)
	}
}

// Sample returns the measure's current value and whether the Deployment is whole.
// time_to_recover is the outage's length so far while it lasts, the whole outage's
// length in the first sample after it ended, and 0 otherwise: its largest sample over a
// run is the longest time to recover, measured to the event, not to the interval.
func (r *Recovery) Sample(measure string) (whole bool, value float64, synced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.synced {
		return false, 0, false
	}
	switch measure {
	case MeasureReadyReplicas:
		value = float64(r.ready)
	case MeasureReadyFraction:
		value = 1
		if r.desired > 0 {
			value = float64(r.ready) / float64(r.desired)
		}
	case MeasureRestarts:
		value = float64(r.restarts)
	case MeasureTimeToRecover:
		switch {
		case !r.whole:
			value = r.now().Sub(r.brokenSince).Seconds()
		case !r.reported:
			value, r.reported = r.lastOutage.Seconds(), true
		}
	}
	return r.whole, value, true
}

// Outages returns the length of every outage that ended, oldest first.
func (r *Recovery) Outages() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.outages...)
}

// WatchDeployment keeps r up to date with deployment name in ns until ctx ends, from two
// informers (the Deployment, its pods by its selector). It returns once both have
// synced (within syncTimeout), or with the error that prevented it.
func WatchDeployment(ctx context.Context, cli kubernetes.Interface, ns, name string, r *Recovery, syncTimeout time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	d, err := cli.AppsV1().Deployments(ns).Get(sctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("deployment/%s in %s: %w", name, ns, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment/%s: selector: %w", name, err)
	}
	df := informers.NewSharedInformerFactoryWithOptions(cli, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	pf := informers.NewSharedInformerFactoryWithOptions(cli, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	dinf, pinf := df.Apps().V1().Deployments().Informer(), pf.Core().V1().Pods().Informer()
	var mu sync.Mutex // one Observe at a time, so events apply in order
	observe := func(any) {
		mu.Lock()
		defer mu.Unlock()
		obj, ok, err := dinf.GetIndexer().GetByKey(ns + "/" + name)
		if err != nil || !ok {
			return
		}
		var pods []*corev1.Pod
		for _, o := range pinf.GetIndexer().List() {
			pods = append(pods, o.(*corev1.Pod))
		}
		r.Observe(obj.(*appsv1.Deployment), pods)
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: observe, UpdateFunc: func(_, o any) { observe(o) }, DeleteFunc: observe}
	if _, err := dinf.AddEventHandler(h); err != nil {
		return err
	}
	if _, err := pinf.AddEventHandler(h); err != nil {
		return err
	}
	df.Start(ctx.Done())
	pf.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		df.Shutdown()
		pf.Shutdown()
	}()
	if !cache.WaitForCacheSync(sctx.Done(), dinf.HasSynced, pinf.HasSynced) {
		return fmt.Errorf("deployment/%s in %s: the watch did not sync within %s", name, ns, syncTimeout)
	}
	observe(nil)
	return nil
}

// kubeCheck reads a Recovery the informers keep current: a check costs no API call.
type kubeCheck struct {
	sp     spec
	r      *Recovery
	cancel context.CancelFunc
}

func newKubeCheck(sp spec, cli kubernetes.Interface) (*kubeCheck, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := NewRecovery(nil)
	if err := WatchDeployment(ctx, cli, sp.kubeNamespace, sp.kubeWorkload, r, maxTimeout); err != nil {
		cancel()
		return nil, err
	}
	return &kubeCheck{sp: sp, r: r, cancel: cancel}, nil
}

func (k *kubeCheck) check(context.Context) (bool, float64) {
	whole, v, _ := k.r.Sample(k.sp.measure)
	return whole, v
}

func (k *kubeCheck) close() { k.cancel() }
