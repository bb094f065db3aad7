package kube

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/record"
)

// The fault kinds this package executes.
const (
	KindPodDelete       = "pod.delete"
	KindNodeCordon      = "node.cordon"
	KindNodeDrain       = "node.drain"
	KindWorkloadScale   = "workload.scale"
	KindWorkloadRestart = "workload.restart"
)

// Config returns the client configuration of a worker: the pod's in-cluster
// configuration (its ServiceAccount token) when inCluster, else the kubeconfig file.
func Config(inCluster bool, kubeconfig string) (*rest.Config, error) {
	if inCluster {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes in-cluster config (is the worker running in a pod?): %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// Family is the Kubernetes fault family of one worker: its executors share the client,
// the records and the policy.
type Family struct {
	cli  kubernetes.Interface
	recs *record.Dir
	pol  fault.KubernetesPolicy
	log  *slog.Logger
	// mu serialises injects and reverts, so a revert never races the inject it undoes on
	// the same object.
	mu           sync.Mutex
	rng          *rand.Rand
	done         map[string]bool // instant kinds' assignments already carried out
	fieldManager string
}

// New returns the family acting through cli. stateDir holds the records reverts need;
// it must survive the worker, so it belongs in the worker's data directory. A nil logger
// discards.
func New(cli kubernetes.Interface, stateDir string, pol fault.KubernetesPolicy, log *slog.Logger) *Family {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Family{cli: cli, recs: record.At(stateDir), pol: pol, log: log,
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), done: map[string]bool{}, fieldManager: "murphy"}
}

// Executors returns the executors of every kind of the family.
func (fam *Family) Executors() []fault.Executor {
	return []fault.Executor{
		&executor{kind: KindPodDelete, fam: fam},
		&executor{kind: KindNodeCordon, fam: fam},
		&executor{kind: KindNodeDrain, fam: fam},
		&executor{kind: KindWorkloadScale, fam: fam},
		&executor{kind: KindWorkloadRestart, fam: fam},
	}
}

type executor struct {
	kind string
	fam  *Family
}

var _ fault.Executor = (*executor)(nil)

func (e *executor) Kind() string { return e.kind }

// Validate implements fault.Executor: the namespace lists of the worker's policy are
// judged here, before anything is journalled; opt-in needs the objects' labels and is
// judged at inject.
func (e *executor) Validate(p catalogue.Params) error {
	switch p := p.(type) {
	case catalogue.PodDelete:
		if e.kind == KindPodDelete {
			return e.fam.pol.AllowsNamespace(p.Namespace)
		}
	case catalogue.NodeFault:
		if e.kind == p.Kind {
			return nil
		}
	case catalogue.WorkloadFault:
		if e.kind == p.Kind {
			return e.fam.pol.AllowsNamespace(p.Namespace)
		}
	}
	return fmt.Errorf("%s: params of type %T", e.kind, p)
}

// Inject implements fault.Executor.
func (e *executor) Inject(ctx context.Context, f fault.Fault) error {
	if err := e.Validate(f.Params); err != nil {
		return err
	}
	fam := e.fam
	fam.mu.Lock()
	defer fam.mu.Unlock()
	if fam.done[f.AssignmentID] {
		return nil
	}
	var err error
	switch p := f.Params.(type) {
	case catalogue.PodDelete:
		err = fam.deletePods(ctx, f.AssignmentID, p)
		fam.done[f.AssignmentID] = true // a retry must not delete more pods
	case catalogue.NodeFault:
		err = fam.injectNode(ctx, f.AssignmentID, p)
	case catalogue.WorkloadFault:
		if p.Kind == KindWorkloadRestart {
			err = fam.restart(ctx, f.AssignmentID, p)
			fam.done[f.AssignmentID] = true
		} else {
			err = fam.scale(ctx, f.AssignmentID, p)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	return nil
}

// Revert implements fault.Executor: it undoes what the assignment's record says, and
// drops the record only once that is done.
func (e *executor) Revert(ctx context.Context, f fault.Fault) error {
	fam := e.fam
	fam.mu.Lock()
	defer fam.mu.Unlock()
	delete(fam.done, f.AssignmentID)
	var rec changed
	ok, err := fam.recs.Get(f.AssignmentID, &rec)
	if err != nil {
		return fmt.Errorf("%s: read fault state: %w", e.kind, err)
	}
	if !ok {
		return nil
	}
	switch rec.Resource {
	case "node":
		err = fam.uncordon(ctx, rec)
	case "deployment", "statefulset":
		err = fam.unscale(ctx, rec)
	default:
		err = fmt.Errorf("unknown resource %q in the fault state", rec.Resource)
	}
	if err != nil {
		return fmt.Errorf("%s: revert: %w", e.kind, err)
	}
	return fam.recs.Delete(f.AssignmentID)
}

// changed is what a fault changed, written before the change and removed after its
// revert. It names the object by namespace, name and UID: an object deleted and created
// again under the same name is a different object and is left alone.
type changed struct {
	AssignmentID string `json:"assignment_id"`
	Kind         string `json:"kind"`
	Resource     string `json:"resource"` // node, deployment or statefulset
	Namespace    string `json:"namespace,omitempty"`
	Name         string `json:"name"`
	UID          string `json:"uid"`
	// WasUnschedulable: the node was cordoned before the fault, so the revert leaves it
	// cordoned.
	WasUnschedulable bool `json:"was_unschedulable,omitempty"`
	// SavedReplicas is the workload's replica count before workload.scale, SetReplicas
	// the count the fault set; the revert restores SavedReplicas if the count is still
	// SetReplicas.
	SavedReplicas int32 `json:"saved_replicas,omitempty"`
	SetReplicas   int32 `json:"set_replicas,omitempty"`
}

// namespaceLabels returns ns's labels after checking the policy's namespace lists.
func (fam *Family) namespaceLabels(ctx context.Context, ns string) (map[string]string, error) {
	if err := fam.pol.AllowsNamespace(ns); err != nil {
		return nil, err
	}
	n, err := fam.cli.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return n.Labels, nil
}

func notFound(err error) bool { return apierrors.IsNotFound(err) }
