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
		{"kubernetes: {namespace: shop, workload: statefulset/db}\n          measure: restarts", `want deployment/NAME`},
		{"kubernetes: {namespace: shop, workload: deployment/x}\n          measure: status", `"status" does not apply to a kubernetes probe`},
	} {
		bad := strings.Replace(y, "kubernetes: {namespace: shop, workload: deployment/checkout, interval: 250ms}\n          measure: ready_fraction", tc.probe, 1)
		if _, err := Parse([]byte(bad), "x.yaml", Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.probe, err, tc.want)
		}
	}
}
