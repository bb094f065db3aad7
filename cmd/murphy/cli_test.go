package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// runCLI runs the command tree in-process and returns its output and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOneLineErrors checks that bad input gets a single line saying what is wrong and
// what to do, and a non-zero exit (an error from Execute).
func TestOneLineErrors(t *testing.T) {
	badSpec := writeFile(t, "bad.yaml", "apiVersion: murphy/v1\nname: x\n")
	unknownFault := writeFile(t, "fault.yaml", strings.Replace(string(demoSpec), "http.delay", "http.dealy", 1))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"validate a bad spec", []string{"validate", badSpec}, "bad.yaml"},
		{"validate an unknown fault", []string{"validate", unknownFault}, `unknown fault kind "http.dealy"`},
		{"validate a missing file", []string{"validate", "/nonexistent.yaml"}, "read spec: open /nonexistent.yaml"},
		{"run against no coordinator", []string{"run", writeFile(t, "ok.yaml", string(demoSpec)), "--addr", "127.0.0.1:1", "--timeout", "2s", "--insecure"}, "cannot reach a coordinator at 127.0.0.1:1; is it running? (set --addr or MURPHY_ADDR)"},
		{"ls against no coordinator", []string{"ls", "--addr", "127.0.0.1:1", "--timeout", "2s", "--insecure"}, "cannot reach a coordinator at 127.0.0.1:1"},
		{"ls without credentials", []string{"ls", "--addr", "127.0.0.1:1", "--ca", ""}, "no credentials for the cluster: set MURPHY_CA with MURPHY_CERT and MURPHY_KEY"},
		{"coordinator without TLS", []string{"coordinator", "--node-id", "n1", "--data-dir", t.TempDir()}, "TLS is required: pass --tls-ca, --tls-cert and --tls-key"},
		{"bad selector", []string{"workers", "-l", "region in eu"}, `-l: selector "region in eu": at 11: expected '(' after in`},
		{"bad verdict output", []string{"verdict", "x", "-o", "yaml"}, `unknown output "yaml": use text, json or markdown`},
		{"worker without coordinators", []string{"worker", "--coordinators", "", "--id", "w"}, "--coordinators is required"},
		{"worker without topology", []string{"worker", "--id", "w", "--data-dir", t.TempDir(), "--labels", "host=h1"}, "--labels must include region and datacenter"},
		{"worker with a bad policy", []string{"worker", "--id", "w", "--policy", writeFile(t, "policy.yaml", "allow: [proces.kill]\n")}, `allow[0]: unknown fault kind "proces.kill"`},
		{"coordinator without data dir", []string{"coordinator", "--node-id", "n1"}, "a data directory is required (--data-dir)"},
		{"coordinator with both bootstrap and join", []string{"coordinator", "--node-id", "n1", "--data-dir", t.TempDir(), "--bootstrap", "--join", "127.0.0.1:1", "--insecure"}, "use either --bootstrap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCLI(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestValidateDemoSpec(t *testing.T) {
	out, err := runCLI(t, "validate", writeFile(t, "demo.yaml", string(demoSpec)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "demo.yaml: valid (demo-latency, 1 metrics, 1 steps") {
		t.Errorf("output %q", out)
	}
}

func TestHelpEverywhere(t *testing.T) {
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Short == "" {
			t.Errorf("%s has no short help", c.Name())
		}
	}
}

// TestVerdictWithoutTests: a metric whose tests did not run prints no statistics, since
// zeros would read as p=0.
func TestVerdictWithoutTests(t *testing.T) {
	run := &murphyv1.Run{Id: "r1", Verdict: &murphyv1.Verdict{
		Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE, Reason: "1 of 2 metrics inconclusive",
		Metrics: []*murphyv1.MetricVerdict{
			{Name: "flat", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Reason: "flat did not vary at all in either group"},
			{Name: "latency", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE, Method: "asymptotic", U: 120, P: 0.42},
		},
	}}
	var out strings.Builder
	printVerdict(&out, run)
	text := out.String()
	if !strings.Contains(text, "Mann-Whitney and Welch not computed") || strings.Count(text, "p=") != 2 || !strings.Contains(text, "U=120 p=0.42 (asymptotic)") {
		t.Errorf("verdict text:\n%s", text)
	}
}
