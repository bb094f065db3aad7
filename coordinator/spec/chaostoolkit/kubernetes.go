package chaostoolkit

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Chaos Toolkit's Kubernetes driver (chaostoolkit-kubernetes, module chaosk8s) calls the
// API server from the machine that runs chaos; Murphy's own Kubernetes kinds do the same
// from a worker started with --kubernetes. The common actions and probes map onto them;
// each difference in meaning is noted where it occurs.

// k8sRole is what a chaosk8s function becomes.
type k8sRole int

const (
	k8sPodDelete k8sRole = iota + 1
	k8sScale
	k8sRestart
	k8sCordon
	k8sDrain
	k8sUncordon
	k8sHealthy      // a Deployment available now: success
	k8sRecovers     // a Deployment fully available within a timeout: time_to_recover
	k8sNotAvailable // a Deployment short of its replicas within a timeout
	k8sCountPods    // pods matching a selector: ready_replicas
	k8sLogs         // pod logs: nothing measurable
	k8sAllHealthy   // every pod of a namespace: no Deployment to watch
)

type k8sFunc struct {
	role k8sRole
	// args are the function's parameters (secrets aside): any other argument makes
	// chaoslib's call fail.
	args []string
	// deprecated names the function chaosk8s forwards to, for the deprecated aliases.
	deprecated string
}

func (f k8sFunc) probe() bool { return f.role >= k8sHealthy }

var (
	terminateArgs = []string{"label_selector", "name_pattern", "all", "rand", "mode", "qty", "grace_period", "ns", "order"}
	deployArgs    = []string{"name", "ns", "label_selector", "raise_on_unavailable"}
	waitArgs      = []string{"name", "ns", "label_selector", "timeout"}
	logArgs       = []string{"name", "last", "ns", "from_previous", "label_selector", "container_name"}
)

// k8sFuncs are the chaosk8s functions the conversion knows, by module.function; the
// aliases in chaosk8s.probes and chaosk8s.actions forward to the newer ones.
var k8sFuncs = map[string]k8sFunc{
	"chaosk8s.pod.actions.terminate_pods":                         {role: k8sPodDelete, args: terminateArgs},
	"chaosk8s.pod.actions.delete_pods":                            {role: k8sPodDelete, args: []string{"name", "ns", "label_selector"}, deprecated: "terminate_pods"},
	"chaosk8s.deployment.actions.scale_deployment":                {role: k8sScale, args: []string{"name", "replicas", "ns"}},
	"chaosk8s.actions.scale_microservice":                         {role: k8sScale, args: []string{"name", "replicas", "ns"}, deprecated: "scale_deployment"},
	"chaosk8s.deployment.actions.rollout_deployment":              {role: k8sRestart, args: []string{"name", "ns"}},
	"chaosk8s.node.actions.cordon_node":                           {role: k8sCordon, args: []string{"name", "label_selector"}},
	"chaosk8s.node.actions.drain_nodes":                           {role: k8sDrain, args: []string{"name", "label_selector", "delete_pods_with_local_storage", "timeout", "count", "pod_label_selector", "pod_namespace"}},
	"chaosk8s.node.actions.uncordon_node":                         {role: k8sUncordon, args: []string{"name", "label_selector"}},
	"chaosk8s.deployment.probes.deployment_available_and_healthy": {role: k8sHealthy, args: deployArgs},
	"chaosk8s.probes.microservice_available_and_healthy":          {role: k8sHealthy, args: []string{"name", "ns", "label_selector"}, deprecated: "deployment_available_and_healthy"},
	"chaosk8s.deployment.probes.deployment_fully_available":       {role: k8sRecovers, args: append(slices.Clone(waitArgs), "raise_on_not_fully_available")},
	"chaosk8s.probes.deployment_is_fully_available":               {role: k8sRecovers, args: waitArgs, deprecated: "deployment_fully_available"},
	"chaosk8s.deployment.probes.deployment_not_fully_available":   {role: k8sNotAvailable, args: append(slices.Clone(waitArgs), "raise_on_fully_available")},
	"chaosk8s.probes.deployment_is_not_fully_available":           {role: k8sNotAvailable, args: waitArgs, deprecated: "deployment_not_fully_available"},
	"chaosk8s.pod.probes.count_pods":                              {role: k8sCountPods, args: []string{"label_selector", "phase", "ns"}},
	"chaosk8s.pod.probes.read_pod_logs":                           {role: k8sLogs, args: logArgs},
	"chaosk8s.probes.read_microservices_logs":                     {role: k8sLogs, args: logArgs, deprecated: "read_pod_logs"},
	"chaosk8s.pod.probes.all_pods_healthy":                        {role: k8sAllHealthy, args: []string{"ns", "raise_on_any_unhealthy"}},
	"chaosk8s.probes.all_microservices_healthy":                   {role: k8sAllHealthy, args: []string{"ns"}, deprecated: "all_pods_healthy"},
}

// k8sMapped is what the messages say chaosk8s maps to.
const k8sMapped = "Murphy maps chaosk8s's terminate_pods and delete_pods (pod.delete), scale_deployment (workload.scale), rollout_deployment (workload.restart), cordon_node, drain_nodes and uncordon_node (node.cordon, node.drain and their revert), and the probes deployment_available_and_healthy, deployment_fully_available, deployment_not_fully_available, count_pods and their chaosk8s.probes aliases (kubernetes probe)"

// isK8s reports whether a is a chaosk8s activity.
func isK8s(a activity) bool {
	if a.ptype != "python" {
		return false
	}
	m := a.provider.get("module")
	return m.isScalar() && (m.n.Value == "chaosk8s" || strings.HasPrefix(m.n.Value, "chaosk8s."))
}

// k8sLookup returns the function a chaosk8s activity calls and its qualified name.
func k8sLookup(a activity) (k8sFunc, string, bool) {
	if !isK8s(a) {
		return k8sFunc{}, "", false
	}
	fn := a.provider.get("func")
	if !fn.isScalar() {
		return k8sFunc{}, "", false
	}
	name := a.provider.get("module").n.Value + "." + fn.n.Value
	f, ok := k8sFuncs[name]
	return f, name, ok
}

// k8sRunnable decides where a known chaosk8s activity goes: a probe in the
// hypothesis becomes a metric; a probe in the method or the rollbacks only records its
// result in Chaos Toolkit's journal and is left out; uncordon_node is the revert of
// Murphy's node.cordon and node.drain.
func (c *converter) k8sRunnable(a activity, f k8sFunc, name string, hypothesis bool) bool {
	switch {
	case hypothesis && f.probe():
		if f.role == k8sLogs || f.role == k8sAllHealthy {
			return c.k8sUnsupported(a, name, c.k8sWhy(f))
		}
		return true
	case hypothesis:
		return true // the hypothesis refuses actions itself
	case f.probe():
		c.note(a.at, "left out: %q (%s) only records its result in Chaos Toolkit's journal; Murphy measures a Deployment throughout the run with a kubernetes probe in the hypothesis instead", a.name, name)
		return false
	case f.role == k8sScale && c.inRollbacks:
		args := c.k8sArgs(a, f, name)
		ns, w, ok := c.k8sWorkload(args, "scale_deployment")
		if !ok {
			return false
		}
		if where, done := c.scaled[ns+"/"+w]; done {
			c.note(a.at, "dropped: the revert of the workload.scale step from %s restores the replica count %s had when that step began (also for failed and halted runs)", where, w)
			return false
		}
		c.fail(a.provider, "scale_deployment as a rollback: Murphy restores a replica count only as the revert of its own workload.scale, and no activity of the method scales %s in %s", w, ns)
		return false
	case f.role == k8sUncordon:
		args := c.k8sArgs(a, f, name)
		node, ok := c.k8sNode(args, "uncordon_node")
		if !ok {
			return false
		}
		if where, done := c.cordoned[node]; done {
			c.note(a.at, "dropped: the revert of the step from %s uncordons node %s when that step ends (and for failed and halted runs too), so %q is not needed", where, node, a.name)
			return false
		}
		c.fail(a.provider, "uncordon_node of node %s: Murphy uncordons a node only as the revert of its own node.cordon or node.drain, and no earlier activity cordons or drains it", node)
		return false
	}
	return true
}

// k8sWhy says why a known chaosk8s probe has no metric.
func (c *converter) k8sWhy(f k8sFunc) string {
	if f.role == k8sLogs {
		return "pod logs are text Murphy does not collect; watch the Deployment with a kubernetes probe (ready_replicas, restarts) or count errors with a Prometheus query"
	}
	return "it checks every pod of a namespace, and Murphy's kubernetes probe watches one Deployment; write one deployment_available_and_healthy probe (or Murphy kubernetes probe) per Deployment"
}

// k8sUnsupported refuses a chaosk8s activity, or drops it with SkipUnsupported.
func (c *converter) k8sUnsupported(a activity, name, why string) bool {
	if c.opts.SkipUnsupported {
		c.note(a.provider, "dropped: python activity %q (%s) cannot run in Murphy: %s", a.name, name, why)
		return false
	}
	c.fail(a.provider, "python activity %q (%s) cannot run in Murphy: %s; or import with --skip-unsupported to drop it", a.name, name, why)
	return false
}

// k8sArgs returns the activity's arguments with ${name} substituted (a whole ${name}
// keeps its declared type), refusing any the function does not take: chaoslib's call
// would fail with a TypeError.
func (c *converter) k8sArgs(a activity, f k8sFunc, name string) node {
	args := c.expand(a.provider.get("arguments"))
	if args.present() && !args.isMap() {
		c.fail(args, "must be a mapping of %s's arguments, got %s", name, args.describe())
		return node{path: args.path, ln: args.line()}
	}
	for _, k := range args.keys() {
		if k == "secrets" || !slices.Contains(f.args, k) {
			c.fail(args.get(k), "%s takes no argument %q (it takes %s), so chaoslib's call fails", name, k, strings.Join(f.args, ", "))
		}
	}
	return args
}

// k8sStr reads an optional string argument with its default.
func (c *converter) k8sStr(args node, key, def string) (string, bool) {
	v := args.get(key)
	if !v.present() {
		return def, true
	}
	if !v.isScalar() || v.tag() != "!!str" {
		c.fail(v, "must be a string, got %s", v.describe())
		return "", false
	}
	return c.str(v)
}

// k8sInt reads an optional whole-number argument.
func (c *converter) k8sInt(args node, key string, def int) (int, bool) {
	v := args.get(key)
	if !v.present() {
		return def, true
	}
	n, err := strconv.Atoi(v.n.Value)
	if !v.isScalar() || v.tag() != "!!int" || err != nil {
		c.fail(v, "must be a whole number, got %s", v.describe())
		return 0, false
	}
	return n, true
}

// k8sBool reads an optional boolean argument.
func (c *converter) k8sBool(args node, key string) (bool, bool) {
	v := args.get(key)
	if !v.present() {
		return false, true
	}
	if !v.isScalar() || v.tag() != "!!bool" {
		c.fail(v, "must be true or false, got %s", v.describe())
		return false, false
	}
	return v.n.Value == "true", true
}

// k8sName reads the required name of a Deployment or node.
func (c *converter) k8sName(args node, fn string) (string, bool) {
	v := args.get("name")
	if !v.present() {
		c.fail(v, "required; %s names the object to act on", fn)
		return "", false
	}
	return c.k8sStr(args, "name", "")
}

// k8sNode reads the node a node action names; chaosk8s also selects nodes by label,
// which Murphy's node kinds do not.
func (c *converter) k8sNode(args node, fn string) (string, bool) {
	if sel := args.get("label_selector"); sel.present() && !args.get("name").present() {
		c.fail(sel, "Murphy's node kinds act on one node named by params.node; give %s a name instead of a label selector", fn)
		return "", false
	}
	return c.k8sName(args, fn)
}

// k8sWorkload reads {ns, name} into the namespace and deployment/NAME.
func (c *converter) k8sWorkload(args node, fn string) (ns, workload string, ok bool) {
	name, ok1 := c.k8sName(args, fn)
	ns, ok2 := c.k8sStr(args, "ns", "default")
	return ns, "deployment/" + name, ok1 && ok2
}

// k8sStep maps a chaosk8s action to a Murphy Kubernetes step.
func (c *converter) k8sStep(a activity, rollback bool) (step, bool) {
	f, name, _ := k8sLookup(a)
	args := c.k8sArgs(a, f, name)
	if f.deprecated != "" {
		c.note(a.provider.get("func"), "%s is chaosk8s's deprecated alias of %s, mapped as that", name, f.deprecated)
	}
	var s step
	ok := true
	switch f.role {
	case k8sPodDelete:
		s, ok = c.podDelete(a, f, args)
	case k8sScale:
		ns, w, good := c.k8sWorkload(args, "scale_deployment")
		n, good2 := c.k8sInt(args, "replicas", -1)
		switch {
		case !good || !good2:
			return step{}, false
		case n < 0:
			c.fail(args.get("replicas"), "required; the replica count, not negative")
			return step{}, false
		}
		c.scaled[ns+"/"+w] = a.at.path
		s = step{Fault: "workload.scale", Params: map[string]string{"namespace": ns, "workload": w, "replicas": strconv.Itoa(n)}}
		c.note(a.at, "workload.scale restores the replica count it replaced when the step ends (also for failed and halted runs); chaosk8s leaves the Deployment scaled until something scales it back")
	case k8sRestart:
		ns, w, good := c.k8sWorkload(args, "rollout_deployment")
		if !good {
			return step{}, false
		}
		s = step{Fault: "workload.restart", Params: map[string]string{"namespace": ns, "workload": w}}
	case k8sCordon, k8sDrain:
		fn := "cordon_node"
		if f.role == k8sDrain {
			fn = "drain_nodes"
		}
		node, good := c.k8sNode(args, fn)
		if !good {
			return step{}, false
		}
		s = step{Fault: "node.cordon", Params: map[string]string{"node": node}}
		if f.role == k8sDrain {
			s.Fault = "node.drain"
			for _, k := range []string{"count", "pod_label_selector", "pod_namespace"} {
				if v := args.get(k); v.present() {
					c.fail(v, "Murphy's node.drain evicts every pod of the named node; %s has no equivalent", k)
					ok = false
				}
			}
			if v := args.get("delete_pods_with_local_storage"); v.present() {
				c.note(v, "ignored: node.drain evicts pods with local storage too, through the Eviction API")
			}
			t, good := c.k8sInt(args, "timeout", 120)
			ok = ok && good
			wait := min(time.Duration(t)*time.Second, 8*time.Second)
			s.Params["timeout"] = wait.String()
			c.note(args.get("timeout"), "node.drain retries evictions a PodDisruptionBudget refuses for %s (a worker bounds it at 8s), where chaosk8s waits up to %ds; a drain still blocked then fails the step and uncordons the node", wait, t)
		}
		if !rollback {
			c.cordoned[node] = a.at.path
		}
		c.note(a.at, "%s is reverted when the step ends: Murphy uncordons node %s (also for failed and halted runs)", s.Fault, node)
	default:
		return step{}, false
	}
	if !ok {
		return step{}, false
	}
	if rollback {
		s.Duration = rollbackHold.String()
	}
	c.kube = true
	return s, true
}

// podDelete maps terminate_pods (and delete_pods) to pod.delete.
func (c *converter) podDelete(a activity, f k8sFunc, args node) (step, bool) {
	ns, ok := c.k8sStr(args, "ns", "default")
	sel, good := c.k8sStr(args, "label_selector", "")
	ok = ok && good
	pattern := "name_pattern"
	if f.deprecated != "" {
		pattern = "name"
	}
	if v := args.get(pattern); v.present() {
		c.fail(v, "Murphy's pod.delete selects pods by labels (label_selector) or Deployment, not by a pattern on their names")
		ok = false
	}
	all, good := c.k8sBool(args, "all")
	ok = ok && good
	rnd, good := c.k8sBool(args, "rand")
	ok = ok && good
	mode, good := c.k8sStr(args, "mode", "fixed")
	ok = ok && good
	qty, good := c.k8sInt(args, "qty", 1)
	ok = ok && good
	grace, good := c.k8sInt(args, "grace_period", -1)
	ok = ok && good
	order, good := c.k8sStr(args, "order", "alphabetic")
	ok = ok && good
	if !ok {
		return step{}, false
	}
	switch {
	case mode != "fixed" && mode != "percentage":
		c.fail(args.get("mode"), "%q is not a chaosk8s mode (fixed or percentage), so terminate_pods fails", mode)
		return step{}, false
	case order != "alphabetic" && order != "oldest":
		c.fail(args.get("order"), "%q is not a chaosk8s order (alphabetic or oldest), so terminate_pods fails", order)
		return step{}, false
	case qty < 0:
		c.fail(args.get("qty"), "must not be negative; chaosk8s refuses it")
		return step{}, false
	}
	p := map[string]string{"namespace": ns}
	if sel != "" {
		p["selector"] = sel
	}
	if grace >= 0 {
		p["grace"] = strconv.Itoa(grace) + "s"
	}
	at := a.at
	switch {
	case all:
		p["mode"] = "all"
	case mode == "percentage" && qty >= 100:
		p["mode"] = "all"
	case qty == 0:
		c.fail(args.get("qty"), "terminate_pods with qty 0 deletes no pod; Murphy's pod.delete deletes at least one")
		return step{}, false
	case mode == "percentage":
		p["mode"], p["percent"] = "random-max-percent", strconv.Itoa(qty)
		c.note(args.get("mode"), "chaosk8s deletes %d%% of the matching pods, rounded up; Murphy's nearest kill mode, random-max-percent, deletes a share drawn from 0 to %d%%, rounded down, so possibly none", qty, qty)
	case qty == 1:
		p["mode"] = "one"
	default:
		p["mode"], p["count"] = "fixed", strconv.Itoa(qty)
	}
	if !all && !(mode == "percentage" && qty >= 100) && !rnd {
		c.note(at, "chaosk8s deletes the first matching pods in %s order (rand is false); Murphy chooses them at random", order)
	}
	c.note(at, "pod.delete deletes only pods that opted in (they or their namespace carry murphy.io/chaos=enabled) and that the worker's policy allows; their controllers replace them, and nothing is reverted")
	return step{Fault: "pod.delete", Params: p}, true
}

// k8sMetric maps a chaosk8s probe and its tolerance to a kubernetes probe metric.
func (c *converter) k8sMetric(a activity, t tol, m *metric) bool {
	f, name, _ := k8sLookup(a)
	args := c.k8sArgs(a, f, name)
	if f.deprecated != "" {
		c.note(a.provider.get("func"), "%s is chaosk8s's deprecated alias of %s, mapped as that", name, f.deprecated)
	}
	kp := &kubeProbe{}
	m.Source.Probe = &probe{Kubernetes: kp}
	c.kube = true
	c.note(a.provider, "the probe watches a Deployment, the same for both groups, so the comparison between them says nothing and the Chaos Toolkit tolerance is what judges this metric")
	if f.role == k8sCountPods {
		return c.countPods(args, t, m, kp)
	}
	ns, w, ok := c.k8sWorkload(args, name)
	kp.Namespace, kp.Workload = ns, w
	if sel := args.get("label_selector"); sel.present() {
		c.note(sel, "ignored: Murphy watches the Deployment by its name, and the label selector only narrowed which Deployments of that name chaosk8s looked at")
	}
	for _, k := range []string{"raise_on_unavailable", "raise_on_not_fully_available", "raise_on_fully_available"} {
		if v := args.get(k); v.present() {
			c.note(v, "ignored: Murphy samples the Deployment whether or not chaosk8s would have raised")
		}
	}
	want, good := c.k8sBoolTolerance(t, name)
	if !ok || !good {
		return false
	}
	switch f.role {
	case k8sHealthy:
		m.Source.Probe.Measure = "success"
		m.CTKTolerance.Values = []float64{b2f(want)}
		m.Direction = "decrease"
		if !want {
			m.Direction = "increase"
		}
		c.note(t.at, "the kubernetes probe's success is 1 while every desired replica of %s is a ready, live pod (chaosk8s compares available replicas with the desired count), sampled every second instead of once before and once after the method: a pod the method deletes fails the tolerance until its replacement is ready, which chaoslib would not see if it was ready when it checked", w)
		if f.deprecated != "" {
			c.note(a.provider.get("func"), "chaosk8s's alias returns nothing (None), which chaoslib never finds equal to %s; Murphy checks what it names, the Deployment being available", t.text)
		}
	case k8sRecovers, k8sNotAvailable:
		timeout, good := c.k8sInt(args, "timeout", 30)
		if !good {
			return false
		}
		if f.role == k8sNotAvailable || !want {
			c.fail(t.at, "%s waits up to %ds for %s to fall short of its replicas, which a steady state cannot ask of every sample; Murphy's kubernetes probe measures the opposite, time_to_recover", name, timeout, w)
			return false
		}
		m.Source.Probe.Measure = "time_to_recover"
		m.CTKTolerance.Range = []float64{0, float64(timeout)}
		m.Direction = "increase"
		c.note(t.at, "chaosk8s waits up to %ds for %s to be fully available; Murphy measures time_to_recover (the seconds it is short of its desired ready replicas) and the tolerance accepts 0 to %d s on every sample", timeout, w, timeout)
	}
	return true
}

// k8sBoolTolerance reads the tolerance of a chaosk8s probe that returns true or false.
// chaoslib compares a boolean or a number with the result (True == 1 in Python); any
// other tolerance is refused.
func (c *converter) k8sBoolTolerance(t tol, name string) (bool, bool) {
	switch {
	case t.kind == "bool":
		return t.boolean, true
	case t.kind == "values" && len(t.values) == 1 && (t.values[0] == 0 || t.values[0] == 1) && !t.at.isList():
		return t.values[0] == 1, true
	}
	c.fail(t.at, "%s returns true or false, which chaoslib compares with the tolerance %s; write true (or false)", name, t.text)
	return false, false
}

// countPods maps count_pods to a Deployment's ready_replicas: Murphy's kubernetes probe
// watches a Deployment, so a selector app=NAME is read as deployment/NAME.
func (c *converter) countPods(args node, t tol, m *metric, kp *kubeProbe) bool {
	ns, ok := c.k8sStr(args, "ns", "default")
	sel, good := c.k8sStr(args, "label_selector", "")
	ok = ok && good
	phase, good := c.k8sStr(args, "phase", "")
	ok = ok && good
	if !ok {
		return false
	}
	k, v, eq := strings.Cut(strings.ReplaceAll(sel, "==", "="), "=")
	if !eq || strings.ContainsAny(v, ",!=()") || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
		c.fail(args.get("label_selector"), "Murphy's kubernetes probe watches a Deployment, which the conversion reads from a selector of one label, such as app=checkout (deployment/checkout); %q is not of that shape", sel)
		return false
	}
	kp.Namespace, kp.Workload = ns, "deployment/"+strings.TrimSpace(v)
	m.Source.Probe.Measure = "ready_replicas"
	if phase != "" && phase != "Running" {
		c.fail(args.get("phase"), "Murphy counts ready, live pods of a Deployment; pods in phase %s have no equivalent", phase)
		return false
	}
	c.note(args.get("label_selector"), "the selector %s is read as %s: Murphy counts the ready, live pods of that Deployment (ready_replicas), where chaosk8s counts the pods matching the selector%s; change the workload if the Deployment has another name", sel, kp.Workload, map[bool]string{true: " in phase Running (running but not ready pods are not counted here)", false: " in any phase"}[phase != ""])
	switch t.kind {
	case "values":
		if t.at.isList() && len(t.values) == 2 {
			// chaoslib reads a list of two as a range when the result is no mapping.
			m.CTKTolerance.Range = []float64{min(t.values[0], t.values[1]), max(t.values[0], t.values[1])}
			c.note(t.at, "chaoslib reads a list of two values as the range [%g, %g] when the result is a number, and so does the conversion", t.values[0], t.values[1])
			if t.values[0] > t.values[1] {
				c.fail(t.at, "chaoslib reads this list of two as the range %g..%g, which holds for no count", t.values[0], t.values[1])
				return false
			}
		} else {
			m.CTKTolerance.Values = t.values
		}
	case "range":
		if t.target != "" {
			c.fail(t.at.get("target"), "count_pods returns a number, which has no %s; leave the target out", t.target)
			return false
		}
		m.CTKTolerance.Range = t.rng
	default:
		c.fail(t.at, "count_pods returns a number, which chaoslib compares with the tolerance %s; write a number, a list of numbers or a range", t.text)
		return false
	}
	m.Direction = "decrease"
	return true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// k8sTargets are the default targets of an experiment with Kubernetes steps or probes:
// the worker that deploy/kubernetes designates for the Kubernetes kinds, one in each
// group, so that each step runs once.
var k8sTargets = map[string]string{"role": "kubernetes"}
