package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// No kubelet and no scheduler run in this tier (README: "Could a kubelet run here?"), so
// pods would stay unbound and Pending and no Deployment would ever have a ready replica.
// kubeletStandIn plays the two roles' API side for one namespace, nothing more: it binds
// each new pod to a schedulable node of its list (the scheduler's Binding), reports a
// bound pod Running and Ready (the kubelet's status update), and completes the deletion
// of a terminating pod (the kubelet's final delete once containers stopped). Everything
// else — ReplicaSets, Deployment status, the disruption controller's PodDisruptionBudget
// status, the Eviction API, RBAC — is the real control plane reacting to those updates,
// which is what the tests measure. Its own latency (a watch event and one API call) is
// part of every recovery time measured here.
type kubeletStandIn struct {
	c     kubernetes.Interface
	ns    string
	nodes []string
	rt    podRuntime // nil: pods run nowhere, only their API status moves
	logf  func(string, ...any)
	queue chan string
	mu    sync.Mutex
	next  int
}

// podRuntime runs a bound pod's sandbox and containers for real, as a kubelet does
// through CRI, and reports the sandbox's IP; remove stops them when the pod is deleted.
// Both are called from the stand-in's one goroutine, run again for a pod it already
// runs (a pod's events come more than once).
type podRuntime interface {
	run(ctx context.Context, p *corev1.Pod) (ip string, err error)
	remove(ctx context.Context, p *corev1.Pod)
}

// startKubelet runs the stand-in for ns until the test ends, and a heartbeat for nodes so
// the node lifecycle controller keeps them Ready (it marks every pod of a node whose
// Ready condition is not True as not ready, which would fight the stand-in).
func startKubelet(t *testing.T, c kubernetes.Interface, ns string, nodes ...string) {
	t.Helper()
	startKubeletOn(t, c, ns, nil, nodes...)
}

// startKubeletOn is startKubelet with the pods run by rt, their status carrying the IP
// rt reports.
func startKubeletOn(t *testing.T, c kubernetes.Interface, ns string, rt podRuntime, nodes ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubeletStandIn{c: c, ns: ns, nodes: nodes, rt: rt, logf: t.Logf, queue: make(chan string, 4096)}
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			k.queue <- key
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		t.Fatalf("kubelet stand-in: %v", err)
	}
	var wg sync.WaitGroup
	f.Start(ctx.Done())
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case key := <-k.queue:
				obj, ok, err := inf.GetIndexer().GetByKey(key)
				if err == nil && ok {
					k.sync(ctx, obj.(*corev1.Pod))
				}
			}
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			for _, n := range nodes {
				heartbeat(ctx, c, n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		f.Shutdown()
		wg.Wait()
	})
}

// sync moves one pod a step along: bind, then Running and Ready; a terminating pod is
// deleted for good.
func (k *kubeletStandIn) sync(ctx context.Context, p *corev1.Pod) {
	pods := k.c.CoreV1().Pods(k.ns)
	switch {
	case p.DeletionTimestamp != nil:
		if k.rt != nil {
			k.rt.remove(ctx, p)
		}
		zero := int64(0)
		_ = pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
	case p.Spec.NodeName == "":
		node := k.schedulable(ctx)
		if node == "" {
			return // every node cordoned: the pod stays Pending, as with a real scheduler
		}
		_ = pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
	case !podReady(p):
		now := metav1.Now()
		st := p.DeepCopy()
		st.Status.Phase = corev1.PodRunning
		st.Status.StartTime = &now
		st.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if k.rt != nil {
			ip, err := k.rt.run(ctx, p)
			if err != nil {
				// No informer resync: the pod is tried again after a pause.
				k.logf("kubelet stand-in: run %s/%s: %v", p.Namespace, p.Name, err)
				go func() {
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
						k.queue <- p.Namespace + "/" + p.Name
					}
				}()
				return
			}
			st.Status.PodIP, st.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		}
		st.Status.ContainerStatuses = nil
		for _, c := range p.Spec.Containers {
			st.Status.ContainerStatuses = append(st.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Ready: true, Started: new(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		_, _ = pods.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	}
}

// schedulable returns the next node of the list, round robin, that is not cordoned.
func (k *kubeletStandIn) schedulable(ctx context.Context) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for range k.nodes {
		name := k.nodes[k.next%len(k.nodes)]
		k.next++
		n, err := k.c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && !n.Spec.Unschedulable {
			return name
		}
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// heartbeat posts node's Ready condition, as a kubelet's status updates do.
func heartbeat(ctx context.Context, c kubernetes.Interface, node string) {
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return
	}
	now := metav1.Now()
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletStandIn",
		LastHeartbeatTime: now, LastTransitionTime: now}
	i := slices.IndexFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == corev1.NodeReady })
	if i >= 0 {
		if n.Status.Conditions[i].Status == corev1.ConditionTrue {
			ready.LastTransitionTime = n.Status.Conditions[i].LastTransitionTime
		}
		n.Status.Conditions[i] = ready
	} else {
		n.Status.Conditions = append(n.Status.Conditions, ready)
	}
	_, _ = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
}

// testNode creates a Node object labelled with labels (plus the zone labels), Ready from
// the start, deleted when the test ends.
func testNode(t *testing.T, c kubernetes.Interface, labels map[string]string) string {
	t.Helper()
	l := map[string]string{"topology.kubernetes.io/region": "eu-west", "topology.kubernetes.io/zone": "eu-west-1a"}
	for k, v := range labels {
		l[k] = v
	}
	n, err := c.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "murphy-e2e-node-", Labels: l}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node: %v", err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{}) })
	heartbeat(t.Context(), c, n.Name)
	return n.Name
}
