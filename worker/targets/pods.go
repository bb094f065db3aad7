// Package targets owns what a worker offers beyond its own host as things a run can
// fault, probe and analyse: the pods bound to its node, found through the API server and
// kept current by a watch. It decides which pods are offered (alive, opted in, in a
// namespace the worker's policy allows) and how each is named and labelled; the fault
// kinds find a target's pod again through the node's CRI runtime at every inject and
// revert.
package targets

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// The labels Murphy adds to a pod's own. They win over a pod label of the same key: a
// selector on region or node must mean the pod's real place, whatever the pod says.
const (
	LabelNamespace  = "namespace"
	LabelWorkload   = "workload"
	LabelNode       = "node"
	LabelRegion     = "region"
	LabelDatacenter = "datacenter"
	LabelPod        = "pod"
)

// The node labels a pod's region and datacenter come from.
const (
	nodeRegionLabel = "topology.kubernetes.io/region"
	nodeZoneLabel   = "topology.kubernetes.io/zone"
)

// PodID is the target ID of a pod.
func PodID(namespace, name string) string { return "pod/" + namespace + "/" + name }

// Pods watches the pods bound to one node and reports the targets among them.
type Pods struct {
	cli  kubernetes.Interface
	node string
	pol  fault.KubernetesPolicy
	log  *slog.Logger

	mu      sync.Mutex
	current []*murphyv1.Target
	changed chan struct{} // closed and replaced when current changes
}

// NewPods returns a watcher of node's pods under pol; Run starts it.
func NewPods(cli kubernetes.Interface, node string, pol fault.KubernetesPolicy, log *slog.Logger) *Pods {
	return &Pods{cli: cli, node: node, pol: pol, log: log, changed: make(chan struct{})}
}

// Current returns the targets as last computed, sorted by ID, and a channel closed when
// they change.
func (p *Pods) Current() ([]*murphyv1.Target, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, p.changed
}

// settle is how long Run waits after a change before recomputing: a rollout moves many
// pods at once, and one report for the lot is enough.
const settle = 200 * time.Millisecond

// Run watches the node's pods, their namespaces and the node until ctx ends. It returns
// an error if the first listing does not succeed within a minute (no API server, or no
// right to list), so a worker started with a wrong configuration says so at once.
func (p *Pods) Run(ctx context.Context) error {
	// Three informers, each narrowed to what one node needs: its pods by field selector,
	// the node itself by name, and namespaces (few, and their labels carry the opt-in).
	pods := informers.NewSharedInformerFactoryWithOptions(p.cli, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", p.node).String()
	}))
	nodes := informers.NewSharedInformerFactoryWithOptions(p.cli, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.node).String()
	}))
	nss := informers.NewSharedInformerFactory(p.cli, 0)
	podInf, nodeInf, nsInf := pods.Core().V1().Pods(), nodes.Core().V1().Nodes(), nss.Core().V1().Namespaces()
	kick := make(chan struct{}, 1)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(kick) },
		UpdateFunc: func(any, any) { poke(kick) },
		DeleteFunc: func(any) { poke(kick) },
	}
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), nodeInf.Informer(), nsInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	stop := make(chan struct{})
	pods.Start(stop)
	nodes.Start(stop)
	nss.Start(stop)
	// Shutdown waits for the informers, which end when stop closes: close it first.
	defer func() { close(stop); pods.Shutdown(); nodes.Shutdown(); nss.Shutdown() }()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	synced := cache.WaitForCacheSync(sctx.Done(), podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, nsInf.Informer().HasSynced)
	cancel()
	if !synced {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kubernetes: could not list the pods of node %s, its node object and the namespaces within a minute (API server reachable? RBAC: get, list and watch on pods, nodes and namespaces)", p.node)
	}
	for {
		node, _ := nodeInf.Lister().Get(p.node)
		podList, err := podInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		nsList, err := nsInf.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		nsLabels := make(map[string]map[string]string, len(nsList))
		for _, ns := range nsList {
			nsLabels[ns.Name] = ns.Labels
		}
		p.publish(Offered(podList, nsLabels, node, p.pol))
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(settle):
		}
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// publish replaces the current targets when they differ.
func (p *Pods) publish(ts []*murphyv1.Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.EqualFunc(ts, p.current, sameTarget) && p.current != nil {
		return
	}
	if ts == nil {
		ts = []*murphyv1.Target{}
	}
	p.current = ts
	close(p.changed)
	p.changed = make(chan struct{})
	p.log.Info("targets changed", "node", p.node, "pods", len(ts))
}

// sameTarget compares everything a coordinator reads from a target; a new address is a
// change, since the probes of a run that starts later must reach the pod where it is now.
func sameTarget(a, b *murphyv1.Target) bool {
	return a.Id == b.Id && a.Uid == b.Uid && a.Address == b.Address && maps.Equal(a.Labels, b.Labels)
}

// Offered returns, sorted by ID, the targets among pods: running, not being deleted, in a
// namespace pol allows, and opted in (the pod's or its namespace's label) unless pol
// waives it. node, when known, gives their region and datacenter.
func Offered(pods []*corev1.Pod, nsLabels map[string]map[string]string, node *corev1.Node, pol fault.KubernetesPolicy) []*murphyv1.Target {
	var out []*murphyv1.Target
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		if pol.AllowsNamespace(pod.Namespace) != nil || !pol.OptedIn(pod.Labels, nsLabels[pod.Namespace]) {
			continue
		}
		out = append(out, PodTarget(pod, node))
	}
	slices.SortFunc(out, func(a, b *murphyv1.Target) int { return strings.Compare(a.Id, b.Id) })
	return out
}

// PodTarget names, labels and addresses one pod: its address is its IP, what a probe's
// {{target}} becomes when the pod is a run's unit.
func PodTarget(pod *corev1.Pod, node *corev1.Node) *murphyv1.Target {
	l := maps.Clone(pod.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelNamespace] = pod.Namespace
	l[LabelPod] = pod.Name
	l[LabelNode] = pod.Spec.NodeName
	if w := Workload(pod); w != "" {
		l[LabelWorkload] = w
	}
	if node != nil {
		if r := node.Labels[nodeRegionLabel]; r != "" {
			l[LabelRegion] = r
		}
		if z := node.Labels[nodeZoneLabel]; z != "" {
			l[LabelDatacenter] = z
		}
	}
	return &murphyv1.Target{Id: PodID(pod.Namespace, pod.Name), Uid: string(pod.UID), Labels: l, Address: pod.Status.PodIP}
}

// Workload names the object that owns pod, as kind/name in lower case: deployment/checkout,
// statefulset/db, daemonset/agent, job/backup, replicaset/x for a ReplicaSet of no
// Deployment. A Deployment's ReplicaSet is named after it plus the pod template's hash,
// which the pod carries as a label, so no ReplicaSet is read (and no right to read one
// is needed). A pod with no controller has no workload.
func Workload(pod *corev1.Pod) string {
	for _, o := range pod.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		kind := strings.ToLower(o.Kind)
		if o.Kind == "ReplicaSet" {
			if h := pod.Labels["pod-template-hash"]; h != "" {
				if d, ok := strings.CutSuffix(o.Name, "-"+h); ok && d != "" {
					return "deployment/" + d
				}
			}
		}
		return kind + "/" + o.Name
	}
	return ""
}
