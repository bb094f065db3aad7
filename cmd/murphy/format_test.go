package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func hostSummary(id string, g murphyv1.Group, base, window float64, log, beyond bool) *murphyv1.TargetSummary {
	change := window - base
	if log {
		change = window/base - 1
	}
	return &murphyv1.TargetSummary{Id: id, Group: g, NBaseline: 600, NWindow: 3000, Baseline: base, Window: window, Change: change, Beyond: beyond}
}

const (
	gc = murphyv1.Group_GROUP_CONTROL
	ge = murphyv1.Group_GROUP_EXPERIMENT
)

// hostRuns are runs decided host by host: refuted with w3 and w5 beyond the tolerance
// and an inconclusive proportion; ended before any fault; halted by a deviation
// guardrail driven by w7.
func hostRuns() map[string]*murphyv1.Run {
	at := timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	spec := &murphyv1.Experiment{}
	js := `{"hypothesis":{"metrics":[{"name":"latency","source":{"probe":{"measure":"latency"}},"direction":"increase","tolerance":{"relative":0.1}}]},"abort":[{"metric":"latency","deviation":{"relative":0.5}}]}`
	if err := protojson.Unmarshal([]byte(js), spec); err != nil {
		panic(err)
	}
	refuted := &murphyv1.Run{Id: "r-hosts", Experiment: "fleet", Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED, Spec: spec, Verdict: &murphyv1.Verdict{
		Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED, Reason: "1 of 2 metrics deviated", Confidence: 0.95, WindowStart: at, WindowEnd: at,
		Metrics: []*murphyv1.MetricVerdict{{
			Name: "latency", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED, Direction: "increase", Tolerance: "relative 0.1",
			Method: "target-did-welch", Unit: "target", Kind: "continuous", Scale: "log", TargetsControl: 3, TargetsExperiment: 3,
			NControl: 9000, NExperiment: 9000, P: 0.0004, WelchT: 6.1, WelchDf: 3.2, WelchP: 0.0008,
			Shift: 0.03, ShiftLow: 0.012, ShiftHigh: 0.05, RelChange: 0.3, RelLow: 0.12, RelHigh: 0.5, ControlLevel: 0.1, ExperimentLevel: 0.13,
			Reason: "latency rose 30% (95% CI, 3 vs 3 targets 12% to 50%), beyond the 10% tolerance",
			Targets: []*murphyv1.TargetSummary{
				hostSummary("w0", gc, 0.1, 0.101, true, false), hostSummary("w2", gc, 0.12, 0.1176, true, false), hostSummary("w4", gc, 0.09, 0.09045, true, false),
				hostSummary("w1", ge, 0.1, 0.104, true, false), hostSummary("w3", ge, 0.11, 0.1485, true, true), hostSummary("w5", ge, 0.1, 0.128, true, true),
			},
			Pooled: &murphyv1.PooledView{Method: "asymptotic", NControl: 9000, NExperiment: 9000, ControlMedian: 0.1, ExperimentMedian: 0.13, U: 1.2e7, P: 1e-90,
				Shift: 0.03, ShiftLow: 0.029, ShiftHigh: 0.031, RelChange: 0.3, RelLow: 0.29, RelHigh: 0.31},
		}, {
			Name: "success", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Direction: "decrease", Tolerance: "absolute 0.01",
			Method: "target-did-welch", Unit: "target", Kind: "proportion", Scale: "linear", TargetsControl: 2, TargetsExperiment: 2, TargetsNeeded: 12,
			NControl: 6000, NExperiment: 6000, P: 0.08, WelchT: -1.9, WelchDf: 2.9, WelchP: 0.15,
			Shift: -0.004, ShiftLow: -0.015, ShiftHigh: 0.007, RelChange: -0.004, RelLow: -0.015, RelHigh: 0.007, ControlLevel: 0.9975, ExperimentLevel: 0.9935,
			Reason: "success fell by 0.004 (95% CI, 2 vs 2 targets -0.015 to 0.007), which straddles the 0.01 tolerance",
			Targets: []*murphyv1.TargetSummary{
				hostSummary("w0", gc, 0.998, 0.997, false, false), hostSummary("w2", gc, 0.999, 0.998, false, false),
				hostSummary("w1", ge, 0.998, 0.995, false, false), hostSummary("w3", ge, 0.999, 0.992, false, false),
			},
		}},
	}}
	before := &murphyv1.Run{Id: "r-before", Experiment: "fleet", Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED, Spec: spec, Verdict: &murphyv1.Verdict{
		Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE, BeforeFault: true, Confidence: 0.95, WindowStart: at, WindowEnd: at,
		Reason: "nothing was injected: the groups are too small to settle latency at the tolerance",
		Metrics: []*murphyv1.MetricVerdict{{Name: "latency", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Unit: "target", Method: "baseline plan",
			TargetsControl: 3, TargetsExperiment: 3, TargetsNeeded: 14, Reason: "latency cannot be settled"}},
	}}
	var ts []*murphyv1.TargetSummary
	for i, c := range []float64{0.02, -0.01, 0.0, 0.03} {
		ts = append(ts, hostSummary([]string{"w0", "w2", "w4", "w6"}[i], gc, 0.1, 0.1*(1+c), true, false))
	}
	for i, c := range []float64{0.3, 0.4, 0.45, 1.2} {
		ts = append(ts, hostSummary([]string{"w1", "w3", "w5", "w7"}[i], ge, 0.1, 0.1*(1+c), true, i == 3))
	}
	halted := &murphyv1.Run{Id: "r-halted", Experiment: "fleet", Phase: murphyv1.RunPhase_RUN_PHASE_HALTED, Spec: spec, PhaseSince: at, CreatedAt: at,
		Halt: &murphyv1.HaltRecord{Reason: "latency: the experimental group is 58% worse than control", By: "leader", At: at, Metric: "latency",
			Guardrail: "deviation 50%", Threshold: 4.2, FirstBreach: at, Targets: ts}}
	return map[string]*murphyv1.Run{"refuted": refuted, "before": before, "halted": halted}
}

// TestVerdictHosts: the verdict's text and Markdown, and a halted run's explanation,
// show the hosts: which drove a deviation, how many would settle an open question, every
// host's change, and the pooled view as a secondary one.
func TestVerdictHosts(t *testing.T) {
	runs := hostRuns()
	text := func(r *murphyv1.Run) string { var b bytes.Buffer; printVerdict(&b, r); return b.String() }
	markdown := func(r *murphyv1.Run) string { var b bytes.Buffer; printVerdictMarkdown(&b, r); return b.String() }
	status := func(r *murphyv1.Run) string { var b bytes.Buffer; printRun(&b, r); return b.String() }
	jsonOut := func(r *murphyv1.Run) string {
		var b bytes.Buffer
		if err := printJSON(&b, &murphyv1.GetVerdictResponse{RunId: r.Id, Phase: r.Phase, Verdict: r.Verdict}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	tests := []struct {
		name      string
		out       string
		want, not []string
	}{
		{"text", text(runs["refuted"]), []string{
			"decided on hosts: 3 vs 3 hosts (experiment vs control); Welch's t on each host's change against its own baseline (target-did-welch); log scale: changes are ratios",
			"Welch t=6.1 df=3.2 p=0.0008 on the hosts' changes",
			"estimate +30.0% (95% CI +12.0% to +50.0%); levels control 0.1, experiment 0.13",
			"beyond the tolerance on their own: w3, w5",
			"    w3    experiment          0.11        0.1485      +35.0%  beyond the tolerance\n",
			"    w0    control              0.1         0.101       +1.0%\n",
			"Pooled view — every sample treated as independent; does not decide (secondary):\n      control median 0.1 (n=9000)",
			// success: a proportion, inconclusive.
			"about 12 hosts per group would likely settle it (it has 2 control and 2 experimental)",
			"    w3    experiment         99.9%         99.2%    -0.7 pts\n", "levels control 99.75%, experiment 99.35%",
		}, []string{"shift 0.03 (CI", "Nothing was injected"}},
		{"text before any fault", text(runs["before"]), []string{
			"Nothing was injected: the groups were too small to settle the question. latency: about 14 hosts per group would be needed (it has 3 control and 3 experimental).",
			"baseline ",
		}, []string{"Welch's t on hosts not computed", "decided on hosts"}},
		{"markdown", markdown(runs["refuted"]), []string{
			"| latency | deviated | 3 vs 3 hosts | 0.1 (n=9000) | 0.13 (n=9000) |",
			"### latency: host by host", "**Hosts beyond the tolerance on their own: w3, w5.**",
			"| w3 | experiment | 0.11 (600) | 0.1485 (3000) | +35.0% | beyond the tolerance |",
			"_Pooled view — every sample treated as independent; does not decide:_",
			"### success: host by host", "Inconclusive: about 12 hosts per group would likely settle it", "| w1 | experiment | 99.8% (600) | 99.5% (3000) | -0.3 pts |  |",
		}, nil},
		{"markdown before any fault", markdown(runs["before"]), []string{"**Nothing was injected: the groups were too small to settle the question."}, []string{"host by host"}},
		{"markdown of a halt", markdown(runs["halted"]), []string{"Hosts at the halting look: 4 vs 4 hosts", "**Hosts beyond the tolerance on their own: w7.**", "| w7 | experiment | 0.1 (600) | 0.22 (3000) | +120.0% | beyond the tolerance |"}, nil},
		{"verdict of a halt", text(runs["halted"]), []string{
			"hosts at the halting look: 4 vs 4 hosts (experiment vs control); log scale: changes are ratios; tolerance 50% of the control level (an increase is harmful)",
			"  beyond the tolerance on their own: w7\n", "  w7    experiment           0.1          0.22     +120.0%  beyond the tolerance\n",
		}, nil},
		{"status of a halt", status(runs["halted"]), []string{"hosts at the halting look: 4 vs 4 hosts", "beyond the tolerance on their own: w7"}, nil},
	}
	// protojson spaces its output unpredictably on purpose: compare the parsed fields.
	var doc struct {
		Verdict struct {
			BeforeFault bool `json:"beforeFault"`
			Metrics     []struct {
				Unit          string `json:"unit"`
				TargetsNeeded string `json:"targetsNeeded"`
				Targets       []struct {
					ID     string `json:"id"`
					Beyond bool   `json:"beyond"`
				} `json:"targets"`
				Pooled *struct{ Method string } `json:"pooled"`
			} `json:"metrics"`
		} `json:"verdict"`
	}
	for _, tc := range []struct {
		run                   string
		beforeFault           bool
		targets               int
		beyond, needed, units string
		pooled                int
	}{
		{"refuted", false, 10, "w3 w5", "12", "target target", 1},
		{"before", true, 0, "", "14", "target", 0},
	} {
		doc.Verdict.Metrics = nil
		out := jsonOut(runs[tc.run])
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%s: %v\n%s", tc.run, err, out)
		}
		var targets, pooled int
		var beyond, needed, units []string
		for _, m := range doc.Verdict.Metrics {
			units = append(units, m.Unit)
			if m.TargetsNeeded != "" {
				needed = append(needed, m.TargetsNeeded)
			}
			if m.Pooled != nil {
				pooled++
			}
			for _, ts := range m.Targets {
				targets++
				if ts.Beyond {
					beyond = append(beyond, ts.ID)
				}
			}
		}
		if doc.Verdict.BeforeFault != tc.beforeFault || targets != tc.targets || strings.Join(beyond, " ") != tc.beyond ||
			strings.Join(needed, " ") != tc.needed || strings.Join(units, " ") != tc.units || pooled != tc.pooled {
			t.Errorf("json of %s: before_fault %v, %d targets, beyond %v, needed %v, units %v, %d pooled views; want %+v\n%s",
				tc.run, doc.Verdict.BeforeFault, targets, beyond, needed, units, pooled, tc, out)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				if !strings.Contains(tc.out, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(tc.out, w) {
					t.Errorf("has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", tc.out)
			}
		})
	}
}

// TestProgressLineGuardrails: the live line says why a deviation guardrail did not test,
// and where the experimental group stands against control when it did.
func TestProgressLineGuardrails(t *testing.T) {
	line := progressLine(&murphyv1.WatchResponse{
		Run: &murphyv1.Run{Phase: murphyv1.RunPhase_RUN_PHASE_COMPLETED},
		Guardrails: []*murphyv1.GuardrailStatus{
			{Metric: "latency", Guardrail: "deviation 50%", Note: "needs at least 4 targets per group"},
			{Metric: "errors", Guardrail: "deviation ±0.02", Value: 2.5, Threshold: 4.1, Closeness: 0.61, RelChange: 0.8},
		},
	})
	for _, want := range []string{
		"guard latency deviation 50%: 0% of the way to a halt (needs at least 4 targets per group)",
		"guard errors deviation ±0.02: 61% of the way to a halt, experiment +80.0% vs control",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line lacks %q:\n%s", want, line)
		}
	}
}
