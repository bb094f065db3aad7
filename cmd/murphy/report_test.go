package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/web"
	"github.com/murphy-chaos/murphy/internal/logging"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestReport writes the three report formats of a run from a one-node cluster.
func TestReport(t *testing.T) {
	srv, err := coordinator.New(coordinator.Config{
		NodeID: "n1", DataDir: filepath.Join(t.TempDir(), "n1"), GRPCAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Bootstrap: true, Insecure: true, Logger: logging.Discard(), WaitForWorkers: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := srv.FSM().Node("n1"); n == nil || n.HttpAddr == ""; n = srv.FSM().Node("n1") {
		if time.Now().After(deadline) {
			t.Fatal("the node never registered itself")
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := srv.GRPCAddr()
	c, err := dial(&clientFlags{addr: addr, timeout: 10 * time.Second, insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := c.ctx(context.Background())
	defer cancel()
	resp, err := c.exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: demoSpec, Filename: "demo.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	id := resp.Run.Id

	html, err := runCLI(t, "report", id, "--addr", addr, "--insecure")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!doctype html>", "<style>", "Murphy run " + id, "no verdict yet"} {
		if !strings.Contains(html, want) {
			t.Errorf("html report lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "<link", `src="http`} {
		if strings.Contains(html, external) {
			t.Errorf("html report is not self-contained: it has %q", external)
		}
	}
	md, err := runCLI(t, "report", id, "--addr", addr, "--insecure", "-o", "markdown")
	if err != nil || !strings.Contains(md, "# Run `"+id+"`") {
		t.Errorf("markdown report (%v):\n%s", err, md)
	}
	js, err := runCLI(t, "report", id, "--addr", addr, "--insecure", "-o", "json")
	var doc struct {
		Headline string          `json:"headline"`
		Run      json.RawMessage `json:"run"`
	}
	if err != nil || json.Unmarshal([]byte(js), &doc) != nil || !strings.Contains(string(doc.Run), id) {
		t.Errorf("json report (%v):\n%s", err, js)
	}
	// Submitting and validating remotely pass on the cluster's warnings, on stderr.
	guarded := writeFile(t, "guarded.yaml", guardedSpec)
	for _, args := range [][]string{{"run", guarded}, {"validate", "--remote", guarded}} {
		stdout, stderr, err := runCLIStreams(t, append(args, "--addr", addr, "--insecure")...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(stderr, deviationWarning) || strings.Contains(stdout, "warning:") {
			t.Errorf("%v: stdout %q, stderr %q; want the warning on stderr only", args, stdout, stderr)
		}
	}
	if _, err := runCLI(t, "report", "nope", "--addr", addr, "--insecure"); err == nil || !strings.Contains(err.Error(), `run "nope" not found`) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := runCLI(t, "report", id, "-o", "pdf"); err == nil || !strings.Contains(err.Error(), `unknown output "pdf"`) {
		t.Errorf("unknown output: %v", err)
	}
}

// guardedSpec is the demo with two hosts per group and a deviation guardrail, which
// needs more hosts than that to test.
var guardedSpec = strings.NewReplacer("{count: 6}", "{count: 2}").Replace(string(demoSpec)) + `abort:
  - metric: latency
    deviation: {relative: 0.5}
`

const deviationWarning = "warning: the deviation guardrail on latency needs at least 4 targets per group to test (this run has 2 control and 2 experimental)"

// runCLIStreams runs the command tree in-process and returns its standard output and
// standard error apart.
func runCLIStreams(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// TestValidateWarnings: local validation warns when the spec's own group counts are too
// small for its deviation guardrail, and only then.
func TestValidateWarnings(t *testing.T) {
	tests := []struct {
		name, spec string
		warn       bool
	}{
		{"two hosts per group", guardedSpec, true},
		{"six hosts per group", strings.Replace(guardedSpec, "{count: 2}", "{count: 6}", 2), false},
		{"no deviation guardrail", string(demoSpec), false},
	}
	for _, tc := range tests {
		stdout, stderr, err := runCLIStreams(t, "validate", writeFile(t, "spec.yaml", tc.spec))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := strings.Contains(stderr, deviationWarning); got != tc.warn || !strings.Contains(stdout, "valid") {
			t.Errorf("%s: stdout %q, stderr %q; want a warning: %v", tc.name, stdout, stderr, tc.warn)
		}
	}
}

// TestValidatePrometheusWarning: local validation warns about a Prometheus query that
// aggregates the instances away, whether or not the spec gives its group counts.
func TestValidatePrometheusWarning(t *testing.T) {
	spec := `apiVersion: murphy/v1
name: prom
targets:
  selector: {service: demo}
  experiment: {percent: 50}
hypothesis:
  metrics:
    - name: errors
      source: {prometheus: {query: 'sum(rate(errors_total{instance=~"{{.Instances}}"}[30s]))'}}
      direction: increase
      tolerance: {relative: 0.1}
steps:
  - fault: http.delay
    params: {delay: 100ms}
    duration: 30s
`
	for _, sp := range []string{spec, strings.Replace(spec, "{percent: 50}", "{count: 6}\n  control: {count: 6}", 1)} {
		stdout, stderr, err := runCLIStreams(t, "validate", writeFile(t, "spec.yaml", sp))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr, "warning: metric errors: sum(...) without a by clause") || !strings.Contains(stdout, "valid") {
			t.Errorf("stdout %q, stderr %q; want the instance warning", stdout, stderr)
		}
	}
}

// TestReportHosts fetches the reports of runs decided host by host from a coordinator's
// pages: each names the hosts beyond the tolerance, has one dot per host (HTML), a
// per-host table (Markdown), the hosts that would settle an open question, the pooled
// view labelled secondary, and says when nothing was injected.
func TestReportHosts(t *testing.T) {
	f := fsm.New()
	var idx uint64
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	apply := func(cmd *murphyv1.Command) {
		idx++
		at = at.Add(time.Second)
		cmd.At = timestamppb.New(at)
		if err := f.ApplyCommand(idx, cmd); err != nil {
			t.Fatalf("command %d %T: %v", idx, cmd.Cmd, err)
		}
	}
	runs := hostRuns()
	groups := &murphyv1.Groups{Control: []string{"w0", "w2", "w4"}, Experiment: []string{"w1", "w3", "w5"}}
	for _, id := range []string{"refuted", "before"} {
		r := runs[id]
		apply(&murphyv1.Command{Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: r.Id, Experiment: r.Experiment, Spec: r.Spec}}})
		apply(&murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: r.Id, Groups: groups}}})
		if !r.Verdict.BeforeFault {
			apply(&murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: r.Id, Fault: &murphyv1.FaultSpec{Kind: "http.delay"}, Start: true, Injected: groups.Experiment}}})
			apply(&murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: r.Id, Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}}})
			apply(&murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: r.Id, End: true}}})
			apply(&murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: r.Id, Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}})
		}
		apply(&murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: r.Id, Verdict: r.Verdict}}})
	}
	srv := httptest.NewServer(web.New(web.Config{NodeID: "n1", FSM: f, Auth: web.Auth{Insecure: true}}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		run, output string
		dots        int
		want        []string
	}{
		{"r-hosts", "html", 10, []string{
			"Hosts beyond the tolerance on their own: w3, w5.", `class="label beyond-label">w3</text>`,
			"Inconclusive: about 12 hosts per group would likely settle it", "Pooled view — every sample treated as independent; does not decide</h4>",
			"<td>99.8% (600)</td>",
		}},
		{"r-hosts", "markdown", 0, []string{
			"### latency: host by host", "| w5 | experiment | 0.1 (600) | 0.128 (3000) | +28.0% | beyond the tolerance |",
			"_Pooled view — every sample treated as independent; does not decide:_", "| w3 | experiment | 99.9% (600) | 99.2% (3000) | -0.7 pts |  |",
		}},
		{"r-before", "html", 0, []string{`id="before-fault">Nothing was injected: the groups were too small to settle the question. latency: about 14 hosts per group would be needed`}},
		{"r-before", "markdown", 0, []string{"**Nothing was injected: the groups were too small to settle the question."}},
	}
	for _, tc := range tests {
		out, err := runCLI(t, "report", tc.run, "--http", addr, "--insecure", "-o", tc.output)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.run, tc.output, err)
		}
		if n := strings.Count(out, `<circle class="host `); n != tc.dots {
			t.Errorf("%s %s: %d host dots, want %d", tc.run, tc.output, n, tc.dots)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s %s lacks %q", tc.run, tc.output, w)
			}
		}
	}
}
