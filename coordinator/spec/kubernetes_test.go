package spec

import (
	"os"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// TestKubernetesExample: the README's Kubernetes example (the first yaml block of its
// section "Kubernetes: kube-monkey's use case") parses, its probes are kubernetes probes
// with their measures, and its pod.delete step passes the catalogue.
func TestKubernetesExample(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### Kubernetes: kube-monkey's use case")
	if !ok {
		t.Fatal("no Kubernetes section in README.md")
	}
	_, rest, _ := strings.Cut(section, "```yaml\n")
	y, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no yaml block in the README's Kubernetes section")
	}
	e, err := Parse([]byte(y), "README.md", Options{ValidateFault: catalogue.Validate, FaultIsInstant: catalogue.IsInstant})
	if err != nil {
		t.Fatal(err)
	}
	p := e.Hypothesis.Metrics[1].Source.Probe
	if ProbeKind(p) != ProbeKubernetes || p.Measure != MeasureTimeToRecover || p.GetKubernetes().Workload != "deployment/checkout" {
		t.Errorf("probe %v", p)
	}
	if got := SourceText(e.Hypothesis.Metrics[1].Source); got != "probe kubernetes shop/deployment/checkout time_to_recover" {
		t.Errorf("SourceText %q", got)
	}

	for _, tc := range []struct{ probe, want string }{
		{"kubernetes: {namespace: shop}\n          measure: restarts", "workload: required"},
		{"kubernetes: {namespace: shop, workload: job/db}\n          measure: restarts", `want deployment/NAME, statefulset/NAME or daemonset/NAME`},
		{"kubernetes: {namespace: shop, workload: deployment/x}\n          measure: status", `"status" does not apply to a kubernetes probe`},
	} {
		bad := strings.Replace(y, "kubernetes: {namespace: shop, workload: deployment/checkout, interval: 250ms}\n          measure: ready_fraction", tc.probe, 1)
		if _, err := Parse([]byte(bad), "x.yaml", Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.probe, err, tc.want)
		}
	}
}

// TestKubernetesTargets: targets.kubernetes makes pods the units: the worker selector
// becomes optional, node joins the default strata, {{target}} is accepted in probes only
// with pods, and what a run of pods cannot do yet is refused by name.
func TestKubernetesTargets(t *testing.T) {
	const base = `apiVersion: murphy/v1
name: pods
targets:
  kubernetes: {namespaces: [shop], selector: "app=checkout", workload: deployment/checkout}
  experiment: {count: 2}
hypothesis:
  metrics:
    - name: latency
      source: {probe: {http: {url: "http://{{target}}:8080/health"}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.10}
steps:
  - fault: process.kill
    params: {name: checkout}
    duration: 30s
`
	e, err := Parse([]byte(base), "pods.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := e.Targets.Kubernetes
	if k == nil || k.Selector != "app=checkout" || k.Workload != "deployment/checkout" || len(k.Namespaces) != 1 || k.Namespaces[0] != "shop" {
		t.Errorf("kubernetes targets %v", k)
	}
	if got := strings.Join(e.Targets.Stratify, ","); got != "region,datacenter,node" {
		t.Errorf("default strata %q, want region,datacenter,node", got)
	}
	if len(e.Targets.Selector) != 0 || e.Targets.Match != "" {
		t.Errorf("a worker selector appeared: %v %q", e.Targets.Selector, e.Targets.Match)
	}

	for _, tc := range []struct{ from, to, want string }{
		{`{namespaces: [shop], selector: "app=checkout", workload: deployment/checkout}`, `{namespaces: [Shop]}`, `"Shop" is not a namespace name`},
		{`{namespaces: [shop], selector: "app=checkout", workload: deployment/checkout}`, `{workload: checkout}`, `"checkout" is not a workload`},
		{`{namespaces: [shop], selector: "app=checkout", workload: deployment/checkout}`, `{selector: "app in ("}`, `selector`},
		{`{namespaces: [shop], selector: "app=checkout", workload: deployment/checkout}`, `{}`, `an empty kubernetes would take every opted-in pod`},
		{`{namespaces: [shop], selector: "app=checkout", workload: deployment/checkout}`, `{namespaces: [shop], nodes: [a]}`, `nodes`},
		{"  kubernetes: {namespaces: [shop], selector: \"app=checkout\", workload: deployment/checkout}\n", "  selector: {service: checkout}\n", `uses {{target}}, which stands for a pod's address; it needs targets.kubernetes`},
		{"steps:", "escalate: [host, datacenter]\nsteps:", "a run of pods cannot escalate yet"},
		{"steps:", "rollbacks:\n  - action: exec\n    params: {command: [\"true\"]}\nsteps:", "a run of pods cannot have them yet"},
		{`{probe: {http: {url: "http://{{target}}:8080/health"}, measure: latency}}`, `{prometheus: {query: "up"}}`, "with targets.kubernetes use a probe"},
	} {
		bad := strings.Replace(base, tc.from, tc.to, 1)
		if bad == base {
			t.Fatalf("%q is not in the base spec", tc.from)
		}
		if _, err := Parse([]byte(bad), "pods.yaml", Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.to, err, tc.want)
		}
	}

	// A worker selector still narrows the workers whose pods may take part.
	both := strings.Replace(base, "  kubernetes:", "  selector: {region: eu}\n  kubernetes:", 1)
	if e, err := Parse([]byte(both), "pods.yaml", Options{}); err != nil || e.Targets.Selector["region"] != "eu" {
		t.Errorf("worker selector with pods: %v %v", err, e.GetTargets().GetSelector())
	}
}

// TestKubernetesTargetSteps: with pods as units, every step must be a kind that takes a
// pod, and the pod is Murphy's to set.
func TestKubernetesTargetSteps(t *testing.T) {
	const base = `apiVersion: murphy/v1
name: pods
targets:
  kubernetes: {workload: deployment/checkout}
  experiment: {count: 1}
hypothesis:
  metrics:
    - name: up
      source: {probe: {tcp: {address: "{{target}}:8080"}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0.1}
steps:
  - fault: STEP
    duration: 10s
`
	opts := Options{ValidateFault: catalogue.Validate, FaultIsInstant: catalogue.IsInstant}
	for _, tc := range []struct{ step, want string }{
		{"process.kill\n    params: {name: checkout}", ""},
		{"network.delay\n    params: {delay: 50ms, interface: eth0}", ""},
		{"network.delay\n    params: {delay: 50ms}", "params.interface is required"},
		{"stress.cpu", ""},
		{"container.pause\n    params: {container: app}", ""},
		{"container.stop\n    params: {name: web}", "container.stop cannot act on a pod of targets.kubernetes"},
		{"process.kill\n    params: {name: checkout, pod: shop/x}", "pod is set by Murphy"},
	} {
		_, err := Parse([]byte(strings.Replace(base, "STEP", tc.step, 1)), "pods.yaml", opts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.step, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.step, err, tc.want)
		}
	}
}
