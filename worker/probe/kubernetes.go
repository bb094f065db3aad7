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
	s.kubeNamespace, s.kubeWorkload = k.GetNamespace(), w
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
	r.ObserveWorkload(d, pods)
}

// workloadStatus is what wholeness needs of a Deployment, StatefulSet or DaemonSet: the
// replicas it wants, those its controller counts ready, and whether that count is of
// its current spec.
func workloadStatus(obj any) (desired, ready int32, current bool) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		desired = 1
		if w.Spec.Replicas != nil {
			desired = *w.Spec.Replicas
		}
		return desired, w.Status.ReadyReplicas, w.Status.ObservedGeneration >= w.Generation
	case *appsv1.StatefulSet:
		desired = 1
		if w.Spec.Replicas != nil {
			desired = *w.Spec.Replicas
		}
		return desired, w.Status.ReadyReplicas, w.Status.ObservedGeneration >= w.Generation
	case *appsv1.DaemonSet:
		// One pod per eligible node: the controller's count of those nodes is the want.
		return w.Status.DesiredNumberScheduled, w.Status.NumberReady, w.Status.ObservedGeneration >= w.Generation
	}
	return 0, 0, false
}

// ObserveWorkload takes the current workload (a Deployment, StatefulSet or DaemonSet)
// and its pods and updates the state. The workload is whole when every desired replica
// is a ready, live pod and the controller's status, of the current spec, agrees.
func (r *Recovery) ObserveWorkload(obj any, pods []*corev1.Pod) {
	desired, statusReady, current := workloadStatus(obj)
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
	whole := ready >= desired && statusReady >= desired && current
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

// WatchDeployment keeps r up to date with deployment name in ns; see WatchWorkload.
func WatchDeployment(ctx context.Context, cli kubernetes.Interface, ns, name string, r *Recovery, syncTimeout time.Duration) error {
	return WatchWorkload(ctx, cli, ns, catalogue.Workload{Kind: "deployment", Name: name}, r, syncTimeout)
}

// WatchWorkload keeps r up to date with workload w in ns until ctx ends, from two
// informers (the workload, its pods by its selector). It returns once both have synced
// (within syncTimeout), or with the error that prevented it.
func WatchWorkload(ctx context.Context, cli kubernetes.Interface, ns string, w catalogue.Workload, r *Recovery, syncTimeout time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	var sel *metav1.LabelSelector
	var err error
	apps := cli.AppsV1()
	switch w.Kind {
	case "statefulset":
		var o *appsv1.StatefulSet
		if o, err = apps.StatefulSets(ns).Get(sctx, w.Name, metav1.GetOptions{}); err == nil {
			sel = o.Spec.Selector
		}
	case "daemonset":
		var o *appsv1.DaemonSet
		if o, err = apps.DaemonSets(ns).Get(sctx, w.Name, metav1.GetOptions{}); err == nil {
			sel = o.Spec.Selector
		}
	default:
		var o *appsv1.Deployment
		if o, err = apps.Deployments(ns).Get(sctx, w.Name, metav1.GetOptions{}); err == nil {
			sel = o.Spec.Selector
		}
	}
	if err != nil {
		return fmt.Errorf("%s in %s: %w", w, ns, err)
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return fmt.Errorf("%s: selector: %w", w, err)
	}
	wf := informers.NewSharedInformerFactoryWithOptions(cli, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.Name).String()
		}))
	pf := informers.NewSharedInformerFactoryWithOptions(cli, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = ls.String() }))
	var winf cache.SharedIndexInformer
	switch w.Kind {
	case "statefulset":
		winf = wf.Apps().V1().StatefulSets().Informer()
	case "daemonset":
		winf = wf.Apps().V1().DaemonSets().Informer()
	default:
		winf = wf.Apps().V1().Deployments().Informer()
	}
	pinf := pf.Core().V1().Pods().Informer()
	var mu sync.Mutex // one Observe at a time, so events apply in order
	observe := func(any) {
		mu.Lock()
		defer mu.Unlock()
		obj, ok, err := winf.GetIndexer().GetByKey(ns + "/" + w.Name)
		if err != nil || !ok {
			return
		}
		var pods []*corev1.Pod
		for _, o := range pinf.GetIndexer().List() {
			pods = append(pods, o.(*corev1.Pod))
		}
		r.ObserveWorkload(obj, pods)
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: observe, UpdateFunc: func(_, o any) { observe(o) }, DeleteFunc: observe}
	if _, err := winf.AddEventHandler(h); err != nil {
		return err
	}
	if _, err := pinf.AddEventHandler(h); err != nil {
		return err
	}
	wf.Start(ctx.Done())
	pf.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		wf.Shutdown()
		pf.Shutdown()
	}()
	if !cache.WaitForCacheSync(sctx.Done(), winf.HasSynced, pinf.HasSynced) {
		return fmt.Errorf("%s in %s: the watch did not sync within %s", w, ns, syncTimeout)
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
	if err := WatchWorkload(ctx, cli, sp.kubeNamespace, sp.kubeWorkload, r, maxTimeout); err != nil {
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
