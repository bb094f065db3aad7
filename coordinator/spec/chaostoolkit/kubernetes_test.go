package chaostoolkit

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// k8s writes a chaosk8s activity.
func k8s(typ, name, module, fn, args string) string {
	if args == "" {
		args = "{}"
	}
	return fmt.Sprintf(`{"type": %q, "name": %q, "provider": {"type": "python", "module": %q, "func": %q, "arguments": %s}}`,
		typ, name, module, fn, args)
}

func k8sAction(name, fn, args string) string {
	mod := map[string]string{"terminate_pods": "chaosk8s.pod.actions", "delete_pods": "chaosk8s.pod.actions",
		"scale_deployment": "chaosk8s.deployment.actions", "rollout_deployment": "chaosk8s.deployment.actions",
		"cordon_node": "chaosk8s.node.actions", "uncordon_node": "chaosk8s.node.actions", "drain_nodes": "chaosk8s.node.actions",
		"exec_in_pods": "chaosk8s.pod.actions", "scale_microservice": "chaosk8s.actions"}[fn]
	return k8s("action", name, mod, fn, args)
}

func k8sProbe(name, module, fn, args, tolerance string) string {
	p := k8s("probe", name, module, fn, args)
	return strings.TrimSuffix(p, "}") + `, "tolerance": ` + tolerance + `}`
}

// stepText renders a step as "kind k=v k=v", params sorted.
func stepText(s *spec.Step) string {
	p := s.Fault.GetParams()
	out := s.Fault.GetKind()
	for _, k := range slices.Sorted(maps.Keys(p)) {
		out += " " + k + "=" + p[k]
	}
	return out
}

// metricText renders a kubernetes metric as "ns/workload measure tolerance".
func metricText(m *spec.Metric) string {
	p := m.Source.GetProbe()
	k := p.GetKubernetes()
	ctk := m.CtkTolerance
	return fmt.Sprintf("%s/%s %s %s values=%v range=%v", k.GetNamespace(), k.GetWorkload(), p.Measure, m.Direction, ctk.GetValues(), ctk.GetRange())
}

// TestConvertKubernetes checks how each chaosk8s action and probe maps onto Murphy's
// Kubernetes kinds and kubernetes probe, what is noted, and what is refused (naming the
// activity).
func TestConvertKubernetes(t *testing.T) {
	const healthy = `{"type": "probe", "name": "ok", "tolerance": true, "provider": {"type": "python", "module": "chaosk8s.deployment.probes", "func": "deployment_available_and_healthy", "arguments": {"name": "checkout", "ns": "shop"}}}`
	tests := []struct {
		name      string
		config    string // configuration mapping
		probes    string // default: healthy
		method    string // default: anAction
		rollbacks string
		skip      bool
		steps     []string
		rbs       []string
		metrics   []string
		notes     []string
		wantErr   string
	}{
		{name: "terminate_pods fixed at random", method: k8sAction("kill", "terminate_pods", `{"label_selector": "app=checkout", "qty": 2, "rand": true, "ns": "shop", "grace_period": 0}`),
			steps: []string{"pod.delete count=2 grace=0s mode=fixed namespace=shop selector=app=checkout"},
			notes: []string{"method[0]: pod.delete deletes only pods that opted in"}},
		{name: "terminate_pods first in order", method: k8sAction("kill", "terminate_pods", `{"label_selector": "app=checkout", "order": "oldest"}`),
			steps: []string{"pod.delete mode=one namespace=default selector=app=checkout"},
			notes: []string{"chaosk8s deletes the first matching pods in oldest order (rand is false); Murphy chooses them at random"}},
		{name: "terminate_pods all", method: k8sAction("kill", "terminate_pods", `{"all": true, "ns": "shop"}`),
			steps: []string{"pod.delete mode=all namespace=shop"}},
		{name: "terminate_pods percentage", method: k8sAction("kill", "terminate_pods", `{"mode": "percentage", "qty": 50, "rand": true, "ns": "shop"}`),
			steps: []string{"pod.delete mode=random-max-percent namespace=shop percent=50"},
			notes: []string{"chaosk8s deletes 50% of the matching pods, rounded up; Murphy's nearest kill mode, random-max-percent, deletes a share drawn from 0 to 50%, rounded down, so possibly none"}},
		{name: "terminate_pods 100 percent", method: k8sAction("kill", "terminate_pods", `{"mode": "percentage", "qty": 100, "ns": "shop"}`),
			steps: []string{"pod.delete mode=all namespace=shop"}},
		{name: "a whole ${name} keeps its type", config: `{"n": 3, "sel": {"type": "env", "key": "SEL", "default": "app=x"}}`,
			method: k8sAction("kill", "terminate_pods", `{"label_selector": "${sel}", "qty": "${n}", "rand": true}`),
			steps:  []string{"pod.delete count=3 mode=fixed namespace=default selector=app=x"}},
		{name: "a number written as a string", config: `{"n": "3"}`, method: k8sAction("kill", "terminate_pods", `{"qty": "${n}"}`),
			wantErr: `method[0].provider.arguments.qty: must be a whole number, got the string "3" (activity "kill")`},
		{name: "a name pattern", method: k8sAction("kill", "terminate_pods", `{"name_pattern": "^checkout-"}`),
			wantErr: `method[0].provider.arguments.name_pattern: Murphy's pod.delete selects pods by labels (label_selector) or Deployment, not by a pattern on their names (activity "kill")`},
		{name: "an argument chaosk8s does not take", method: k8sAction("kill", "terminate_pods", `{"namespace": "shop"}`),
			wantErr: `chaosk8s.pod.actions.terminate_pods takes no argument "namespace"`},
		{name: "qty 0", method: k8sAction("kill", "terminate_pods", `{"qty": 0}`), wantErr: "deletes no pod"},
		{name: "an unknown mode", method: k8sAction("kill", "terminate_pods", `{"mode": "some"}`), wantErr: `"some" is not a chaosk8s mode`},
		{name: "delete_pods", method: k8sAction("kill", "delete_pods", `{"label_selector": "app=x", "ns": "shop"}`),
			steps: []string{"pod.delete mode=one namespace=shop selector=app=x"},
			notes: []string{"chaosk8s.pod.actions.delete_pods is chaosk8s's deprecated alias of terminate_pods"}},
		{name: "scale, and the rollback that scales back", method: k8sAction("down", "scale_deployment", `{"name": "checkout", "replicas": 0, "ns": "shop"}`),
			rollbacks: k8sAction("up", "scale_deployment", `{"name": "checkout", "replicas": 3, "ns": "shop"}`),
			steps:     []string{"workload.scale namespace=shop replicas=0 workload=deployment/checkout"},
			notes:     []string{`rollbacks[0]: dropped: the revert of the workload.scale step from method[0] restores the replica count deployment/checkout had`}},
		{name: "scale_microservice", method: k8sAction("down", "scale_microservice", `{"name": "checkout", "replicas": 1}`),
			steps: []string{"workload.scale namespace=default replicas=1 workload=deployment/checkout"}},
		{name: "a scale rollback without a scale", rollbacks: k8sAction("up", "scale_deployment", `{"name": "checkout", "replicas": 3}`),
			wantErr: `rollbacks[0].provider: scale_deployment as a rollback: Murphy restores a replica count only as the revert of its own workload.scale, and no activity of the method scales deployment/checkout in default (activity "up")`},
		{name: "rollout", method: k8sAction("roll", "rollout_deployment", `{"name": "checkout", "ns": "shop"}`),
			rbs: nil, steps: []string{"workload.restart namespace=shop workload=deployment/checkout"}},
		{name: "a rollout as a rollback", rollbacks: k8sAction("roll", "rollout_deployment", `{"name": "checkout"}`),
			steps: []string{"exec inject=[\"true\"] revert=true timeout=9s"}, rbs: []string{"workload.restart namespace=default workload=deployment/checkout"}},
		{name: "cordon, and the uncordon rollback", method: k8sAction("cordon", "cordon_node", `{"name": "n1"}`),
			rollbacks: k8sAction("uncordon", "uncordon_node", `{"name": "n1"}`),
			steps:     []string{"node.cordon node=n1"},
			notes:     []string{`rollbacks[0]: dropped: the revert of the step from method[0] uncordons node n1 when that step ends`, "node.cordon is reverted when the step ends"}},
		{name: "drain", method: k8sAction("drain", "drain_nodes", `{"name": "n1", "delete_pods_with_local_storage": true}`),
			steps: []string{"node.drain node=n1 timeout=8s"},
			notes: []string{"node.drain retries evictions a PodDisruptionBudget refuses for 8s (a worker bounds it at 8s), where chaosk8s waits up to 120s", "ignored: node.drain evicts pods with local storage too"}},
		{name: "drain by label", method: k8sAction("drain", "drain_nodes", `{"label_selector": "zone=a"}`),
			wantErr: `Murphy's node kinds act on one node named by params.node; give drain_nodes a name instead of a label selector (activity "drain")`},
		{name: "uncordon without a cordon", rollbacks: k8sAction("uncordon", "uncordon_node", `{"name": "n1"}`),
			wantErr: `uncordon_node of node n1: Murphy uncordons a node only as the revert of its own node.cordon or node.drain`},
		{name: "an unmapped function", method: k8sAction("exec", "exec_in_pods", `{"cmd": "ls"}`),
			wantErr: `method[0].provider: python activity "exec" (module chaosk8s.pod.actions, function exec_in_pods) cannot run in Murphy: it has no Murphy equivalent; Murphy maps chaosk8s's terminate_pods`},
		{name: "an unmapped function, skipped", method: anAction + "," + k8sAction("exec", "exec_in_pods", `{"cmd": "ls"}`), skip: true,
			steps: []string{"exec inject=[\"true\"] revert=true timeout=9s"}, notes: []string{`dropped: python activity "exec"`}},

		{name: "deployment available and healthy",
			metrics: []string{"shop/deployment/checkout success decrease values=[1] range=[]"},
			notes:   []string{"targets: the worker labelled role=kubernetes", "the kubernetes probe's success is 1 while every desired replica of deployment/checkout is a ready, live pod"}},
		{name: "expected unhealthy", probes: k8sProbe("bad", "chaosk8s.deployment.probes", "deployment_available_and_healthy", `{"name": "x", "raise_on_unavailable": false}`, "false"),
			metrics: []string{"default/deployment/x success increase values=[0] range=[]"}},
		{name: "the deprecated alias", probes: k8sProbe("ok", "chaosk8s.probes", "microservice_available_and_healthy", `{"name": "x"}`, "true"),
			metrics: []string{"default/deployment/x success decrease values=[1] range=[]"},
			notes:   []string{"chaosk8s's alias returns nothing (None), which chaoslib never finds equal to true"}},
		{name: "fully available within a timeout", probes: k8sProbe("back", "chaosk8s.deployment.probes", "deployment_fully_available", `{"name": "x", "ns": "shop", "timeout": 60}`, "true"),
			metrics: []string{"shop/deployment/x time_to_recover increase values=[] range=[0 60]"},
			notes:   []string{"chaosk8s waits up to 60s for deployment/x to be fully available; Murphy measures time_to_recover"}},
		{name: "the alias, default timeout", probes: k8sProbe("back", "chaosk8s.probes", "deployment_is_fully_available", `{"name": "x"}`, "true"),
			metrics: []string{"default/deployment/x time_to_recover increase values=[] range=[0 30]"}},
		{name: "not fully available in the hypothesis", probes: k8sProbe("down", "chaosk8s.probes", "deployment_is_not_fully_available", `{"name": "x"}`, "true"),
			wantErr: `waits up to 30s for deployment/x to fall short of its replicas`},
		{name: "a string tolerance on a boolean", probes: k8sProbe("ok", "chaosk8s.deployment.probes", "deployment_available_and_healthy", `{"name": "x"}`, `"yes"`),
			wantErr: `chaosk8s.deployment.probes.deployment_available_and_healthy returns true or false, which chaoslib compares with the tolerance "yes"; write true (or false) (activity "ok")`},
		{name: "count_pods", probes: k8sProbe("n", "chaosk8s.pod.probes", "count_pods", `{"label_selector": "app=checkout", "phase": "Running", "ns": "shop"}`, "3"),
			metrics: []string{"shop/deployment/checkout ready_replicas decrease values=[3] range=[]"},
			notes:   []string{"the selector app=checkout is read as deployment/checkout"}},
		{name: "count_pods, a list of two is a range", probes: k8sProbe("n", "chaosk8s.pod.probes", "count_pods", `{"label_selector": "app=checkout"}`, "[2, 3]"),
			metrics: []string{"default/deployment/checkout ready_replicas decrease values=[] range=[2 3]"},
			notes:   []string{"chaoslib reads a list of two values as the range [2, 3]"}},
		{name: "count_pods, a list of three", probes: k8sProbe("n", "chaosk8s.pod.probes", "count_pods", `{"label_selector": "app=checkout"}`, "[1, 2, 3]"),
			metrics: []string{"default/deployment/checkout ready_replicas decrease values=[1 2 3] range=[]"}},
		{name: "count_pods, a range", probes: k8sProbe("n", "chaosk8s.pod.probes", "count_pods", `{"label_selector": "app=checkout"}`, `{"type": "range", "range": [2, 5]}`),
			metrics: []string{"default/deployment/checkout ready_replicas decrease values=[] range=[2 5]"}},
		{name: "count_pods, a selector of two labels", probes: k8sProbe("n", "chaosk8s.pod.probes", "count_pods", `{"label_selector": "app=checkout,tier=web"}`, "3"),
			wantErr: `"app=checkout,tier=web" is not of that shape (activity "n")`},
		{name: "count_pods, a regex", probes: k8sProbe("n", "chaosk8s.pod.probes", "count_pods", `{"label_selector": "app=checkout"}`, `{"type": "regex", "pattern": "3"}`),
			wantErr: `count_pods returns a number`},
		{name: "pod logs in the hypothesis", probes: k8sProbe("logs", "chaosk8s.pod.probes", "read_pod_logs", `{"label_selector": "app=x"}`, `{"type": "regex", "pattern": "ok"}`),
			wantErr: `python activity "logs" (chaosk8s.pod.probes.read_pod_logs) cannot run in Murphy: pod logs are text Murphy does not collect`},
		{name: "every pod of a namespace", probes: healthy + "," + k8sProbe("all", "chaosk8s.probes", "all_microservices_healthy", `{"ns": "shop"}`, "true"), skip: true,
			metrics: []string{"shop/deployment/checkout success decrease values=[1] range=[]"},
			notes:   []string{`dropped: python activity "all" (chaosk8s.probes.all_microservices_healthy) cannot run in Murphy: it checks every pod of a namespace`}},
		{name: "an unmapped probe in the method", method: anAction + "," + k8s("probe", "status", "chaosk8s.deployment.probes", "collect_deployment_status", `{"deployment_name": "x"}`),
			steps: []string{"exec inject=[\"true\"] revert=true timeout=9s"},
			notes: []string{`left out: "status" (chaosk8s.deployment.probes.collect_deployment_status) is a chaosk8s probe, which only records its result`}},
		{name: "a probe in the method", method: anAction + "," + k8sProbe("check", "chaosk8s.probes", "deployment_is_not_fully_available", `{"name": "x"}`, "true"),
			steps: []string{"exec inject=[\"true\"] revert=true timeout=9s"},
			notes: []string{`left out: "check" (chaosk8s.probes.deployment_is_not_fully_available) only records its result in Chaos Toolkit's journal`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes, method := tt.probes, tt.method
			if probes == "" {
				probes = healthy
			}
			if method == "" {
				method = anAction
			}
			doc := `{"title": "t", "steady-state-hypothesis": {"title": "h", "probes": [` + probes + `]}, "method": [` + method + `]`
			if tt.config != "" {
				doc += `, "configuration": ` + tt.config
			}
			if tt.rollbacks != "" {
				doc += `, "rollbacks": [` + tt.rollbacks + `]`
			}
			doc += "}"
			r := convertWant(t, doc, Options{SkipUnsupported: tt.skip, Spec: specOpts()}, tt.wantErr)
			if r == nil {
				return
			}
			e := r.Experiment
			var steps, rbs, metrics []string
			for _, s := range e.Steps {
				steps = append(steps, stepText(s))
			}
			for _, s := range e.Rollbacks {
				rbs = append(rbs, stepText(s))
			}
			for _, m := range e.Hypothesis.Metrics {
				metrics = append(metrics, metricText(m))
			}
			wantSteps := tt.steps
			if wantSteps == nil {
				wantSteps = []string{`exec inject=["true"] revert=true timeout=9s`}
			}
			wantMetrics := tt.metrics
			if wantMetrics == nil {
				wantMetrics = []string{"shop/deployment/checkout success decrease values=[1] range=[]"}
			}
			if !slices.Equal(steps, wantSteps) || !slices.Equal(rbs, tt.rbs) || !slices.Equal(metrics, wantMetrics) {
				t.Errorf("got steps %q, rollbacks %q, metrics %q\nwant %q, %q, %q", steps, rbs, metrics, wantSteps, tt.rbs, wantMetrics)
			}
			// Kubernetes steps and probes run on the designated worker, one per group.
			if e.Targets.Selector["role"] != "kubernetes" || e.Targets.Experiment.GetCount() != 1 {
				t.Errorf("targets %v", e.Targets)
			}
			notes := notesOf(r)
			for _, w := range tt.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
			checkRenderings(t, r)
		})
	}
}

// TestKubernetesSelector checks that a selector given on the command line or in the
// murphy extension wins over the Kubernetes default.
func TestKubernetesSelector(t *testing.T) {
	doc := experiment(k8sProbe("ok", "chaosk8s.deployment.probes", "deployment_available_and_healthy", `{"name": "x"}`, "true"),
		k8sAction("kill", "terminate_pods", `{"label_selector": "app=x"}`))
	r := convertWant(t, doc, Options{Selector: map[string]string{"pool": "k8s"}, Spec: specOpts()}, "")
	if s := r.Experiment.Targets.Selector; len(s) != 1 || s["pool"] != "k8s" || r.Experiment.Targets.Experiment.GetPercent() != 50 {
		t.Errorf("targets %v", r.Experiment.Targets)
	}
}
