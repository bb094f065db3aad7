package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/runner"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/coordinator/spec/chaostoolkit"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

const ctkDir = "../../coordinator/spec/chaostoolkit/testdata/"

func TestImportChaosToolkit(t *testing.T) {
	t.Setenv("STORAGE_URL", "http://127.0.0.1:8081/")
	t.Setenv("RETRIEVAL_URL", "http://127.0.0.1:8082/")
	quote := ctkDir + "chrisp777__chaostoolkit-example__experiment-quote-storage-process-kill.json"
	lab3 := ctkDir + "chaostoolkit__walkthrough__lab3__experiment.json"

	out, err := runCLI(t, "import", "chaostoolkit", quote, "--selector", "service=quotes")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	// The notes go to stderr (here mixed in); the spec itself validates.
	specText := out[strings.Index(out, "# Converted"):]
	if !strings.Contains(specText, "service: quotes") {
		t.Errorf("selector not applied:\n%s", specText)
	}
	if _, err := spec.Parse([]byte(specText), "out.yaml", importSpecOptions()); err != nil {
		t.Errorf("imported spec does not validate: %v", err)
	}

	out, err = runCLI(t, "import", "chaostoolkit", lab3)
	if err == nil || !strings.Contains(err.Error(), `method[1].provider: python activity "deny-all-ingress-traffic" (module chaosk8s.networking.actions, function deny_all_ingress)`) {
		t.Errorf("python activity: %v\n%s", err, out)
	}
	out, err = runCLI(t, "import", "chaostoolkit", lab3, "--skip-unsupported", "-o", "json")
	if err != nil || !strings.Contains(out, "dropped: python activity") || !strings.Contains(out, `"apiVersion": "murphy/v1"`) {
		t.Errorf("skip-unsupported: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "import", "litmus", lab3); err == nil || !strings.Contains(err.Error(), "murphy import chaostoolkit FILE") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := runCLI(t, "import", "chaostoolkit", quote, "-o", "toml"); err == nil {
		t.Error("unknown output accepted")
	}
}

func TestRunDetectsChaosToolkit(t *testing.T) {
	data := []byte(`{"title": "t", "extensions": [{"name": "murphy", "selector": {"service": "demo"}}],
 "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "http://{{proxy}}/"}}]},
 "method": [{"type": "action", "name": "a", "provider": {"type": "http", "url": "http://127.0.0.1:1/"}}]}`)
	var notes bytes.Buffer
	f := &importFlags{format: "auto"}
	out, err := f.chaosToolkitSpec(data, "ctk.json", &notes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spec.Parse(out, "converted.json", importSpecOptions()); err != nil {
		t.Fatalf("converted spec: %v", err)
	}
	if !strings.Contains(notes.String(), "a Chaos Toolkit experiment; converting it") {
		t.Errorf("notes %q", notes.String())
	}
	// A Murphy spec passes through untouched, and --format murphy never converts.
	if got, err := f.chaosToolkitSpec(demoSpec, "demo.yaml", &notes); err != nil || !bytes.Equal(got, demoSpec) {
		t.Errorf("murphy spec changed: %v", err)
	}
	f.format = "murphy"
	if got, _ := f.chaosToolkitSpec(data, "ctk.json", &notes); !bytes.Equal(got, data) {
		t.Error("--format murphy converted")
	}
	f.format = "xml"
	if _, err := f.chaosToolkitSpec(data, "ctk.json", &notes); err == nil {
		t.Error("unknown --format accepted")
	}
}

// runAt is a time of the journal tests' runs, s seconds after they were created.
func runAt(s int64) *timestamppb.Timestamp { return &timestamppb.Timestamp{Seconds: 1_700_000_000 + s} }

// completedRun converts a Chaos Toolkit experiment and returns a completed run of it
// that injected one http.call step on w1, and verdict v.
func completedRun(t *testing.T, doc string, v *murphyv1.Verdict) *murphyv1.Run {
	t.Helper()
	res, err := chaostoolkit.Convert([]byte(doc), "j.json", chaostoolkit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &murphyv1.Run{
		Id: "j-1", Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED, Spec: res.Experiment, CreatedAt: runAt(0), EndedAt: runAt(30),
		Groups:  &murphyv1.Groups{Experiment: []string{"w1"}, Control: []string{"w2"}},
		Steps:   []*murphyv1.StepState{{Fault: &murphyv1.FaultSpec{Kind: "http.call"}, StartedAt: runAt(10), EndedAt: runAt(20), Injected: []string{"w1"}}},
		Verdict: v,
	}
}

// journalOf writes the run's journal and decodes it.
func journalOf(t *testing.T, run *murphyv1.Run) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := writeJournal(&buf, run); err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(buf.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJournal(t *testing.T) {
	run := completedRun(t, `{"title": "j",
 "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "http://h/"}}]},
 "method": [{"type": "action", "name": "a", "provider": {"type": "http", "url": "http://h/"}}],
 "rollbacks": [{"type": "action", "name": "r", "provider": {"type": "process", "path": "true"}}]}`,
		&murphyv1.Verdict{Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD, WindowStart: runAt(10), WindowEnd: runAt(20),
			Metrics: []*murphyv1.MetricVerdict{{Name: "p", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE,
				CtkTolerance: &murphyv1.ToleranceCheck{Tolerance: "200", BaselineMet: 10, BaselineTotal: 10, ExperimentMet: 9, ExperimentTotal: 10, MetBefore: true}}}})
	run.Rollbacks = []*murphyv1.RollbackResult{{Index: 0, WorkerId: "w1", Ok: false, Error: "boom", At: runAt(31), Fault: &murphyv1.FaultSpec{Kind: "exec"}}}
	j := journalOf(t, run)
	ss := j["steady_states"].(map[string]any)
	before, after := ss["before"].(map[string]any), ss["after"].(map[string]any)
	if j["status"] != "failed" || j["deviated"] != true || before["steady_state_met"] != true || after["steady_state_met"] != false {
		t.Errorf("journal status %v deviated %v before %v after %v", j["status"], j["deviated"], before["steady_state_met"], after["steady_state_met"])
	}
	if rb := j["rollbacks"].([]any); len(rb) != 1 || rb[0].(map[string]any)["status"] != "failed" {
		t.Errorf("rollbacks %v", rb)
	}
	if r := j["run"].([]any); len(r) != 1 {
		t.Errorf("run %v", r)
	}
	var text bytes.Buffer
	printVerdict(&text, run)
	if !strings.Contains(text.String(), "Chaos Toolkit tolerance 200: before met (10 of 10 baseline samples), after NOT met (experiment 9 of 10") {
		t.Errorf("text verdict lacks the tolerance:\n%s", text.String())
	}
}

func importSpecOptions() spec.Options {
	f := &importFlags{}
	o, _ := f.options()
	return o.Spec
}

// TestJournalWithoutHypothesis: a run of an experiment without a steady-state
// hypothesis is written as chaoslib writes one, its steady states null and not deviated,
// and its text verdict says there was nothing to judge.
func TestJournalWithoutHypothesis(t *testing.T) {
	run := completedRun(t, `{"title": "j", "method": [{"type": "action", "name": "a", "provider": {"type": "http", "url": "http://h/"}}]}`,
		&murphyv1.Verdict{Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE, Reason: runner.NothingToJudge,
			WindowStart: runAt(10), WindowEnd: runAt(20), Confidence: 0.95})
	j := journalOf(t, run)
	ss := j["steady_states"].(map[string]any)
	if j["status"] != "completed" || j["deviated"] != false || ss["before"] != nil || ss["after"] != nil {
		t.Errorf("journal status %v deviated %v before %v after %v; want completed, false, null, null", j["status"], j["deviated"], ss["before"], ss["after"])
	}
	var text, md bytes.Buffer
	printVerdict(&text, run)
	if !strings.Contains(text.String(), "Verdict: hypothesis INCONCLUSIVE\n  no steady-state hypothesis: nothing to judge; the steps and rollbacks ran\n") {
		t.Errorf("text verdict:\n%s", text.String())
	}
	printVerdictMarkdown(&md, run)
	if !strings.Contains(md.String(), "**Hypothesis inconclusive.** no steady-state hypothesis: nothing to judge") || strings.Contains(md.String(), "| metric |") {
		t.Errorf("markdown verdict (the reason, and no empty table):\n%s", md.String())
	}
}
