package catalogue

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The Kubernetes kinds act on API objects (pods, nodes, Deployments) through the API
// server, not on the worker's host. Only a worker started with --kubernetes or
// --kubeconfig offers them, under its ServiceAccount's RBAC and its policy's namespace
// lists; the catalogue checks that names and selectors are well formed.

// KillMode is how many of the selected pods pod.delete deletes, named as kube-monkey's
// kill modes.
type KillMode string

const (
	// KillOne deletes one pod chosen at random.
	KillOne KillMode = "one"
	// KillFixed deletes Count pods chosen at random (all of them if fewer match).
	KillFixed KillMode = "fixed"
	// KillRandomMaxPercent draws a percentage uniformly from 0 to Percent and deletes
	// that share of the pods, rounded down: "up to Percent %", possibly none.
	KillRandomMaxPercent KillMode = "random-max-percent"
	// KillAll deletes every selected pod.
	KillAll KillMode = "all"
)

var killModes = []KillMode{KillOne, KillFixed, KillRandomMaxPercent, KillAll}

// Workload names a Deployment, StatefulSet or DaemonSet as "KIND/NAME" (the form kubectl
// and the target labels use): the controllers that keep a set of pods whole, which is
// what kube-monkey and "trust the scheduler" exercise.
type Workload struct {
	Kind string // "deployment", "statefulset" or "daemonset"
	Name string
}

func (w Workload) String() string { return w.Kind + "/" + w.Name }

// Scalable reports whether the workload has a replica count (a DaemonSet's is its
// nodes').
func (w Workload) Scalable() bool { return w.Kind != "daemonset" }

// workloadKinds maps the names kubectl accepts to the kind.
var workloadKinds = map[string]string{
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
}

// ParseWorkload reads "KIND/NAME", KIND a Deployment, StatefulSet or DaemonSet in any of
// the forms kubectl accepts ("deploy/", "sts/", "ds/", plurals).
func ParseWorkload(s string) (Workload, error) {
	k, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	kind, known := workloadKinds[strings.ToLower(k)]
	switch {
	case !ok:
		return Workload{}, fmt.Errorf("%q is not KIND/NAME (e.g. deployment/checkout)", s)
	case !known:
		return Workload{}, fmt.Errorf("%q: the workload must be a deployment, statefulset or daemonset", s)
	}
	if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
		return Workload{}, fmt.Errorf("%q: name %q: %s", s, n, strings.Join(errs, "; "))
	}
	return Workload{Kind: kind, Name: n}, nil
}

func parseWorkload(v string) (any, error) { return ParseWorkload(v) }

// CheckNamespace accepts a namespace name (a DNS-1123 label).
func CheckNamespace(v string) error {
	if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
		return fmt.Errorf("%q is not a namespace name: %s", v, strings.Join(errs, "; "))
	}
	return nil
}

func checkNodeName(v string) error {
	if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		return fmt.Errorf("%q is not a node name: %s", v, strings.Join(errs, "; "))
	}
	return nil
}

func checkLabelSelector(v string) error {
	if _, err := labels.Parse(v); err != nil {
		return fmt.Errorf("%q is not a label selector (e.g. app=checkout,tier!=db): %w", v, err)
	}
	return nil
}

func parseKillMode(v string) (any, error) {
	for _, m := range killModes {
		if string(m) == v {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%q is not a kill mode (one, fixed, random-max-percent, all)", v)
}

// PodDelete is pod.delete's parameters.
type PodDelete struct {
	Namespace string
	// Selector is a label selector ("" for every pod of the namespace); Workload, when
	// set, narrows the pods to that Deployment's selector as well.
	Selector string
	Workload *Workload
	Mode     KillMode
	// Count is KillFixed's number of pods; Percent is KillRandomMaxPercent's ceiling.
	Count   int
	Percent float64
	// Grace is the deletion's grace period; nil keeps each pod's own
	// terminationGracePeriodSeconds.
	Grace *time.Duration
}

func (p PodDelete) String() string {
	what := fmt.Sprintf("pods in namespace %s", p.Namespace)
	if p.Selector != "" {
		what += fmt.Sprintf(" matching %q", p.Selector)
	}
	if p.Workload != nil {
		what += " of " + p.Workload.String()
	}
	var n string
	switch p.Mode {
	case KillOne:
		n = "one of the"
	case KillFixed:
		n = fmt.Sprintf("%d of the", p.Count)
	case KillRandomMaxPercent:
		n = fmt.Sprintf("up to %g%% of the", p.Percent)
	default:
		n = "all"
	}
	grace := "each pod's own grace period"
	if p.Grace != nil {
		grace = fmt.Sprintf("grace period %s", *p.Grace)
	}
	return fmt.Sprintf("delete %s opted-in %s (%s); their controllers replace them", n, what, grace)
}

// NodeFault is node.cordon's and node.drain's parameters.
type NodeFault struct {
	Kind string
	Node string
	// Grace is the evicted pods' grace period (node.drain); nil keeps each pod's own.
	Grace *time.Duration
	// Timeout is how long node.drain retries evictions a PodDisruptionBudget refuses.
	Timeout time.Duration
}

func (p NodeFault) String() string {
	if p.Kind == "node.cordon" {
		return fmt.Sprintf("cordon node %s; revert uncordons it", p.Node)
	}
	return fmt.Sprintf("drain node %s (cordon, then evict its pods through the Eviction API, retried for %s while a PodDisruptionBudget refuses); revert uncordons it", p.Node, p.Timeout)
}

// WorkloadFault is workload.scale's and workload.restart's parameters.
type WorkloadFault struct {
	Kind      string
	Namespace string
	Workload  Workload
	// Replicas is workload.scale's replica count while the fault lasts.
	Replicas int32
}

func (p WorkloadFault) String() string {
	if p.Kind == "workload.scale" {
		return fmt.Sprintf("scale %s in %s to %d replicas; revert restores the count saved at inject", p.Workload, p.Namespace, p.Replicas)
	}
	return fmt.Sprintf("rolling restart of %s in %s (the restartedAt annotation kubectl rollout restart sets)", p.Workload, p.Namespace)
}

const (
	kubeNeeds = "a worker started with --kubernetes (in-cluster) or --kubeconfig, whose ServiceAccount's RBAC allows it (deploy/kubernetes)"
	// maxKubeWait keeps a drain's retries inside the worker's 10 s bound on one executor
	// call, like container stop timeouts.
	maxKubeWait = 8 * time.Second
)

func graceParam(what string) Param {
	return Param{Name: "grace", Type: TypeDuration, Min: 0, Max: int64(time.Hour),
		Help: "grace period of the " + what + " (whole seconds); default: each pod's own terminationGracePeriodSeconds"}
}

func grace(v values) *time.Duration {
	if _, ok := v.vals["grace"]; !ok {
		return nil
	}
	d := v.dur("grace")
	return &d
}

func namespaceParam() Param {
	return Param{Name: "namespace", Type: TypeString, Required: true, Parse: check(CheckNamespace),
		Help: "the namespace; the worker's policy may refuse it, and by default it or the objects must carry murphy.io/chaos=enabled"}
}

func workloadParam(required bool) Param {
	return Param{Name: "workload", Type: TypeString, Required: required, Parse: parseWorkload,
		Help: "deployment/NAME, statefulset/NAME or daemonset/NAME"}
}

func decodeNode(kind string) func(v values) (Params, error) {
	return func(v values) (Params, error) {
		return NodeFault{Kind: kind, Node: v.str("node"), Grace: grace(v), Timeout: v.dur("timeout")}, nil
	}
}

func decodeWorkload(kind string) func(v values) (Params, error) {
	return func(v values) (Params, error) {
		p := WorkloadFault{Kind: kind, Namespace: v.str("namespace"), Workload: value[Workload](v, "workload"),
			Replicas: int32(v.int("replicas"))}
		if kind == "workload.scale" && !p.Workload.Scalable() {
			return nil, fmt.Errorf("params.workload %s: a DaemonSet runs one pod per node and has no replica count to scale", p.Workload)
		}
		return p, nil
	}
}

func init() {
	nodeParam := Param{Name: "node", Type: TypeString, Required: true, Parse: check(checkNodeName),
		Help: "the node's name; by default it must carry the label murphy.io/chaos=enabled"}
	register(
		Kind{
			Name:    "pod.delete",
			Needs:   kubeNeeds,
			Reverts: "nothing: the pods' controllers (ReplicaSet, StatefulSet...) create replacements",
			Instant: true,
			Summary: "delete opted-in pods of a namespace, chosen by kube-monkey's kill modes; instantaneous",
			Params: []Param{
				namespaceParam(),
				{Name: "selector", Type: TypeString, Parse: check(checkLabelSelector),
					Help: "label selector of the pods (e.g. app=checkout); default: every pod of the namespace"},
				workloadParam(false),
				{Name: "mode", Type: TypeString, Default: string(KillOne), Parse: parseKillMode,
					Help: "one, fixed (params.count pods), random-max-percent (up to params.percent % of the pods) or all"},
				{Name: "count", Type: TypeInt, Min: 1, Max: 10000, Help: "pods to delete in mode fixed"},
				{Name: "percent", Type: TypePercent, Help: "the most pods to delete in mode random-max-percent, as a percentage"},
				graceParam("deletion"),
			},
			decode: func(v values) (Params, error) {
				p := PodDelete{Namespace: v.str("namespace"), Selector: strings.TrimSpace(v.str("selector")),
					Mode: value[KillMode](v, "mode"), Count: int(v.int("count")), Percent: v.percent("percent"), Grace: grace(v)}
				if w, ok := v.vals["workload"].(Workload); ok {
					p.Workload = &w
				}
				_, hasCount := v.vals["count"]
				_, hasPercent := v.vals["percent"]
				switch {
				case p.Mode == KillFixed && !hasCount:
					return nil, errors.New("mode fixed needs params.count")
				case p.Mode != KillFixed && hasCount:
					return nil, fmt.Errorf("params.count applies to mode fixed, not %s", p.Mode)
				case p.Mode == KillRandomMaxPercent && !hasPercent:
					return nil, errors.New("mode random-max-percent needs params.percent")
				case p.Mode != KillRandomMaxPercent && hasPercent:
					return nil, fmt.Errorf("params.percent applies to mode random-max-percent, not %s", p.Mode)
				}
				return p, nil
			},
		},
		Kind{
			Name:    "node.cordon",
			Needs:   kubeNeeds,
			Reverts: "the worker uncordons the node (by name, if it is still the node it cordoned); after a crash, at its start-up or the guardian",
			Summary: "mark a node unschedulable; revert uncordons it",
			Params:  []Param{nodeParam},
			decode:  decodeNode("node.cordon"),
		},
		Kind{
			Name:    "node.drain",
			Needs:   kubeNeeds,
			Reverts: "the worker uncordons the node; evicted pods are not brought back (their controllers placed them elsewhere)",
			Summary: "cordon a node and evict its pods through the Eviction API, so PodDisruptionBudgets are respected; revert uncordons it",
			Params: []Param{
				nodeParam,
				graceParam("evictions"),
				{Name: "timeout", Type: TypeDuration, Default: "5s", Min: 0, Max: int64(maxKubeWait),
					Help: "how long to retry evictions a PodDisruptionBudget refuses before the step fails (at most 8s)"},
			},
			decode: decodeNode("node.drain"),
		},
		Kind{
			Name:    "workload.scale",
			Needs:   kubeNeeds,
			Reverts: "the worker sets the replica count saved at inject (kept on disk, so a restarted worker or the guardian restores it too), unless someone changed it since",
			Summary: "scale a Deployment to params.replicas; revert restores the count it had",
			Params: []Param{
				namespaceParam(),
				workloadParam(true),
				{Name: "replicas", Type: TypeInt, Required: true, Min: 0, Max: 10000, Help: "replica count while the fault lasts"},
			},
			decode: decodeWorkload("workload.scale"),
		},
		Kind{
			Name:    "workload.restart",
			Needs:   kubeNeeds,
			Reverts: "nothing: the Deployment rolls its pods once, as kubectl rollout restart",
			Instant: true,
			Summary: "rolling restart of a Deployment; instantaneous",
			Params:  []Param{namespaceParam(), workloadParam(true)},
			decode:  decodeWorkload("workload.restart"),
		},
	)
}
