package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/murphy-chaos/murphy/coordinator/selector"
)

var (
	// Names end up in DNS names, metric labels and file names; the DNS
	// label rules fit all three.
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	metricName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	faultKind  = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$`)

	templatePrefix = regexp.MustCompile(`^template: query:(\d+:)* *`)
)

var (
	directions = []string{DirectionIncrease, DirectionDecrease, DirectionEither}
	methods    = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

func (w *walker) experiment(root *yaml.Node, opts Options) *Experiment {
	at := loc{line: root.Line, col: root.Column}
	if root.Kind != yaml.MappingNode {
		w.addf(at, "a spec is a mapping with apiVersion, name, targets, hypothesis and steps; got %s", describe(root))
		return nil
	}
	o := w.object(root, at, "apiVersion", "name", "description", "labels", "targets",
		"hypothesis", "abort", "baseline", "cooldown", "steps", "schedule", "rollbacks", "escalate")
	e := &Experiment{}

	if v, l := o.get("apiVersion"); v == nil {
		o.required(l, "required; set it to %q", APIVersion)
	} else if s, ok := w.text(v, l); ok {
		if s != APIVersion {
			w.addf(l, "unsupported version %q; this Murphy reads %q", s, APIVersion)
		}
		e.ApiVersion = s
	}

	if v, l := o.get("name"); v == nil {
		o.required(l, "required; name the experiment, e.g. checkout-latency-one-dc")
	} else if s, ok := w.text(v, l); ok {
		if len(s) > 63 || !dnsLabel.MatchString(s) {
			w.addf(l, "%q is not a valid name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", s)
		}
		e.Name = s
	}

	v, l := o.get("description")
	e.Description, _ = w.text(v, l)
	v, l = o.get("labels")
	e.Labels, _ = w.stringMap(v, l, false)

	v, tl := o.get("targets")
	if v == nil {
		o.required(tl, "required; say which workers take part (selector, experiment)")
	} else {
		e.Targets = w.targets(v, tl)
	}

	if v, l := o.get("hypothesis"); v == nil {
		o.required(l, "required; the steady state is what the experiment tests")
	} else {
		e.Hypothesis = w.hypothesis(v, l)
	}

	if v, l := o.get("abort"); v != nil {
		e.Abort = w.aborts(v, l)
	}

	v, l = o.get("baseline")
	baseline, _ := w.duration(v, l, true)
	e.Baseline = pbDur(baseline)
	v, l = o.get("cooldown")
	cooldown, _ := w.duration(v, l, false)
	e.Cooldown = pbDur(cooldown)

	if v, l := o.get("steps"); v == nil {
		o.required(l, "required; list at least one fault to inject")
	} else {
		e.Steps = w.steps(v, l, opts)
	}

	if v, l := o.get("schedule"); v != nil {
		e.Schedule = w.schedule(v, l)
	}
	if v, l := o.get("rollbacks"); v != nil {
		e.Rollbacks = w.rollbacks(v, l, opts)
	}
	if v, l := o.get("escalate"); v != nil {
		if levels, ok := w.stringList(v, l); ok {
			rank := map[string]int{"host": 1, "datacenter": 2, "region": 3}
			last := 0
			for _, lv := range levels {
				r, known := rank[lv]
				switch {
				case !known:
					w.addf(l, "%q is not a level; use host, datacenter and region, narrowest first", lv)
				case r <= last:
					w.addf(l, "levels must widen (host, datacenter, region), each once; %q comes too late", lv)
				default:
					last = r
					e.Escalate = append(e.Escalate, lv)
				}
			}
			if len(levels) == 0 {
				w.addf(l, "name at least one level, e.g. [host, datacenter, region]")
			}
		}
	}
	if e.Targets != nil {
		w.checkPodUnits(e, tl)
	}
	return e
}

func (w *walker) targets(n *yaml.Node, at loc) *Targets {
	t := &Targets{}
	o := w.object(n, at, "selector", "experiment", "control", "stratify", "blastRadius", "seed", "onConflict", "kubernetes")
	if o == nil {
		return t
	}
	if v, l := o.get("kubernetes"); v != nil {
		t.Kubernetes = w.kubernetesTargets(v, l)
		w.pods = true
	}
	before := len(w.problems)
	if v, l := o.get("selector"); v == nil {
		// Pods are chosen by their own selector; the workers that offer them may all.
		if t.Kubernetes == nil {
			o.required(l, "required; match workers by label, e.g. {service: checkout}, or select pods with kubernetes")
		}
	} else if v.Kind == yaml.ScalarNode {
		// An expression: `region in (eu-west,us-east), tier=web, !canary`.
		if s, ok := w.text(v, l); ok {
			switch sel, err := selector.Parse(s); {
			case err != nil:
				w.addf(l, "%v", err)
			case len(sel) == 0:
				w.addf(l, "must match at least one label; an empty selector would select every worker")
			default:
				t.Match = sel.String()
			}
		}
	} else if sel, ok := w.stringMap(v, l, false); ok {
		if len(sel) == 0 && len(w.problems) == before {
			w.addf(l, "must match at least one label; an empty selector would select every worker")
		}
		t.Selector = sel
	}
	if v, l := o.get("onConflict"); v != nil {
		if s, ok := w.text(v, l); ok {
			switch s {
			case ConflictQueue, ConflictRefuse:
				t.OnConflict = s
			default:
				w.addf(l, "must be queue or refuse, got %q", s)
			}
		}
	}

	var countAt loc
	if v, l := o.get("experiment"); v == nil {
		o.required(l, "required; set count or percent, e.g. {count: 4}")
	} else {
		t.Experiment, countAt = w.groupSize(v, l)
	}
	if v, l := o.get("control"); v != nil {
		t.Control, _ = w.groupSize(v, l)
	}

	if v, l := o.get("stratify"); v != nil {
		if s, ok := w.stringList(v, l); ok {
			seen := map[string]bool{}
			for i, label := range s {
				// Indexes line up with the items only when every item read.
				if seen[label] && len(s) == len(v.Content) {
					w.addf(l.index(i, v.Content[i]), "label %q is listed twice", label)
				}
				seen[label] = true
			}
			t.Stratify = s
		}
	}

	maxAt := loc{}
	if v, l := o.get("blastRadius"); v != nil {
		t.BlastRadius, maxAt = w.blastRadius(v, l)
	}
	if v, l := o.get("seed"); v != nil {
		if s, ok := w.integer(v, l); ok {
			t.Seed = &s
		}
	}

	// A count beyond the cap can never be scheduled; say so now rather
	// than at run time.
	limit := t.GetBlastRadius().GetMaxWorkers()
	why := fmt.Sprintf("targets.blastRadius.maxWorkers of %d (line %d)", limit, maxAt.line)
	if limit == 0 {
		limit = DefaultMaxWorkers
		why = fmt.Sprintf("the default targets.blastRadius.maxWorkers of %d", limit)
	}
	if t.GetExperiment().GetCount() > limit {
		w.addf(countAt, "%d workers exceeds %s; lower the count or raise the cap", t.GetExperiment().GetCount(), why)
	}
	return t
}

// kubernetesTargets reads targets.kubernetes: which of the pods the node workers offer
// are the run's units.
func (w *walker) kubernetesTargets(n *yaml.Node, at loc) *KubernetesTargets {
	k := &KubernetesTargets{}
	o := w.object(n, at, "namespaces", "selector", "workload")
	if o == nil {
		return k
	}
	if v, l := o.get("namespaces"); v != nil {
		if ns, ok := w.stringList(v, l); ok {
			for i, s := range ns {
				if (len(s) > 63 || !dnsLabel.MatchString(s)) && len(ns) == len(v.Content) {
					w.addf(l.index(i, v.Content[i]), "%q is not a namespace name", s)
				}
			}
			k.Namespaces = ns
		}
	}
	if v, l := o.get("selector"); v != nil {
		if s, ok := w.text(v, l); ok {
			switch sel, err := selector.Parse(s); {
			case err != nil:
				w.addf(l, "%v", err)
			case len(sel) == 0:
				w.addf(l, "must match at least one label, e.g. app=checkout; leave it out to take every opted-in pod")
			default:
				k.Selector = sel.String()
			}
		}
	}
	if v, l := o.get("workload"); v != nil {
		if s, ok := w.text(v, l); ok {
			kind, name, found := strings.Cut(s, "/")
			if !found || !slices.Contains(workloadKinds, kind) || !dnsSubdomain.MatchString(name) {
				w.addf(l, "%q is not a workload; write kind/name with kind one of %s, e.g. deployment/checkout", s, strings.Join(workloadKinds, ", "))
			} else {
				k.Workload = s
			}
		}
	}
	if len(k.Namespaces) == 0 && k.Selector == "" && k.Workload == "" && len(o.keys) == 0 {
		w.addf(at, "name namespaces, a selector or a workload; an empty kubernetes would take every opted-in pod of the fleet")
	}
	return k
}

// workloadKinds are the owners a pod's workload label can name (worker/targets).
var workloadKinds = []string{"deployment", "statefulset", "daemonset", "replicaset", "job", "pod"}

var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// checkPodUnits refuses what a run of pods cannot do yet, and {{target}} without pods.
func (w *walker) checkPodUnits(e *Experiment, at loc) {
	pods := e.GetTargets().GetKubernetes() != nil
	for _, m := range e.GetHypothesis().GetMetrics() {
		if !pods && UsesTarget(m.GetSource().GetProbe()) {
			w.addf(at, "metric %s's probe uses %s, which stands for a pod's address; it needs targets.kubernetes", m.GetName(), TargetPlaceholder)
		}
		if pods && m.GetSource().GetPrometheus() != nil {
			w.addf(at, "metric %s reads Prometheus, whose series Murphy maps to workers' hosts, not pods; with targets.kubernetes use a probe (at %s, each pod's address)", m.GetName(), TargetPlaceholder)
		}
	}
	if !pods {
		return
	}
	if len(e.Rollbacks) > 0 {
		w.addf(at, "rollbacks run on workers, not pods: a run of pods cannot have them yet")
	}
	if len(e.Escalate) > 0 {
		w.addf(at, "escalate widens over hosts, data centres and regions: a run of pods cannot escalate yet")
	}
}

// groupSize also returns where the count sits, for the blast radius check.
func (w *walker) groupSize(n *yaml.Node, at loc) (*GroupSize, loc) {
	g := &GroupSize{}
	o := w.object(n, at, "count", "percent")
	if o == nil {
		return g, at
	}
	cv, cl := o.get("count")
	pv, pl := o.get("percent")
	switch {
	case cv != nil && pv != nil:
		w.addf(at, "set count or percent, not both")
		return g, cl
	case cv == nil && pv == nil:
		w.addf(at, "set count or percent, e.g. {count: 4} or {percent: 25}")
		return g, cl
	}
	if c, ok := w.integer(cv, cl); ok {
		if c < 1 {
			w.addf(cl, "must be at least 1")
		} else if c > 1<<20 {
			w.addf(cl, "must be at most %d", 1<<20)
		} else {
			g.Count = int32(c)
		}
	}
	if p, ok := w.number(pv, pl); ok {
		if p <= 0 || p > 100 {
			w.addf(pl, "must be greater than 0 and at most 100, got %v", p)
		} else {
			g.Percent = p
		}
	}
	return g, cl
}

func (w *walker) blastRadius(n *yaml.Node, at loc) (*BlastRadius, loc) {
	b := &BlastRadius{}
	o := w.object(n, at, "maxWorkers", "maxPercentPerDatacenter", "maxPercentPerRegion")
	if o == nil {
		return b, at
	}
	v, maxAt := o.get("maxWorkers")
	if c, ok := w.integer(v, maxAt); ok {
		if c < 1 {
			w.addf(maxAt, "must be at least 1")
		} else {
			b.MaxWorkers = int32(min(c, 1<<20))
		}
	}
	b.MaxPercentPerDatacenter = w.percent(o, "maxPercentPerDatacenter")
	b.MaxPercentPerRegion = w.percent(o, "maxPercentPerRegion")
	return b, maxAt
}

func (w *walker) percent(o *object, name string) float64 {
	v, l := o.get(name)
	p, ok := w.number(v, l)
	if !ok {
		return 0
	}
	if p <= 0 || p > 100 {
		w.addf(l, "must be greater than 0 and at most 100, got %v", p)
		return 0
	}
	return p
}
