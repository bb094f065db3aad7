package web

import (
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// hostSpecJSON has two probe metrics, latency (a ratio) and success (a proportion), and
// a deviation guardrail on latency.
const hostSpecJSON = `{"apiVersion":"murphy/v1","name":"fleet","baseline":"60s","hypothesis":{"metrics":[` +
	`{"name":"latency","source":{"probe":{"measure":"latency"}},"direction":"increase","tolerance":{"relative":0.1}},` +
	`{"name":"success","source":{"probe":{"measure":"success"}},"direction":"decrease","tolerance":{"absolute":0.01}}]},` +
	`"abort":[{"metric":"latency","deviation":{"relative":0.5}}],"steps":[{"fault":{"kind":"http.delay","duration":"300s"}}]}`

func target(id string, g murphyv1.Group, base, window float64, log, beyond bool) *murphyv1.TargetSummary {
	change := window - base
	if log {
		change = window/base - 1
	}
	return &murphyv1.TargetSummary{Id: id, Group: g, NBaseline: 600, NWindow: 3000, Baseline: base, Window: window, Change: change, Beyond: beyond}
}

const (
	ctl = murphyv1.Group_GROUP_CONTROL
	exp = murphyv1.Group_GROUP_EXPERIMENT
)

// hostVerdict: latency deviated, driven by w3 and w5; success inconclusive, with the
// hosts that would settle it.
func hostVerdict(start time.Time) *murphyv1.Verdict {
	return &murphyv1.Verdict{
		Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED, Reason: "1 of 2 metrics deviated", Confidence: 0.95,
		WindowStart: timestamppb.New(start.Add(time.Minute)), WindowEnd: timestamppb.New(start.Add(6 * time.Minute)),
		Metrics: []*murphyv1.MetricVerdict{{
			Name: "latency", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED, Direction: "increase", Tolerance: "relative 0.1", Critical: true,
			Method: "target-did-welch", Unit: "target", Kind: "continuous", Scale: "log", TargetsControl: 3, TargetsExperiment: 3,
			NControl: 9000, NExperiment: 9000, ControlMedian: 0.1, ExperimentMedian: 0.13, P: 0.0004, WelchT: 6.1, WelchDf: 3.2, WelchP: 0.0008,
			Shift: 0.03, ShiftLow: 0.012, ShiftHigh: 0.05, RelChange: 0.3, RelLow: 0.12, RelHigh: 0.5, ControlLevel: 0.1, ExperimentLevel: 0.13,
			Targets: []*murphyv1.TargetSummary{
				target("w0", ctl, 0.1, 0.101, true, false), target("w2", ctl, 0.12, 0.1176, true, false), target("w4", ctl, 0.09, 0.09045, true, false),
				target("w1", exp, 0.1, 0.104, true, false), target("w3", exp, 0.11, 0.1485, true, true), target("w5", exp, 0.1, 0.128, true, true),
			},
			Pooled: &murphyv1.PooledView{Method: "asymptotic", NControl: 9000, NExperiment: 9000, ControlMedian: 0.1, ExperimentMedian: 0.13, U: 1.2e7, P: 1e-90,
				Shift: 0.03, ShiftLow: 0.029, ShiftHigh: 0.031, RelChange: 0.3, RelLow: 0.29, RelHigh: 0.31},
		}, {
			Name: "success", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Direction: "decrease", Tolerance: "absolute 0.01",
			Method: "target-did-welch", Unit: "target", Kind: "proportion", Scale: "linear", TargetsControl: 3, TargetsExperiment: 3, TargetsNeeded: 12,
			NControl: 9000, NExperiment: 9000, ControlMedian: 0.9973, ExperimentMedian: 0.991, P: 0.08, WelchT: -1.9, WelchDf: 3.9, WelchP: 0.13,
			Shift: -0.006, ShiftLow: -0.015, ShiftHigh: 0.003, RelChange: -0.006, RelLow: -0.015, RelHigh: 0.003, ControlLevel: 0.9973, ExperimentLevel: 0.991,
			Reason: "success fell by 0.006 (95% CI, 3 vs 3 targets -0.015 to 0.003), which straddles the 0.01 tolerance; about 12 targets per group would likely settle it (it has 3 and 3)",
			Targets: []*murphyv1.TargetSummary{
				target("w0", ctl, 0.998, 0.997, false, false), target("w2", ctl, 0.999, 0.998, false, false), target("w4", ctl, 0.997, 0.997, false, false),
				target("w1", exp, 0.998, 0.995, false, false), target("w3", exp, 0.999, 0.990, false, false), target("w5", exp, 0.998, 0.991, false, false),
			},
		}},
	}
}

// addHostRuns adds three runs decided host by host: one refuted with a verdict per host,
// one that ended before any fault, and one halted by its deviation guardrail.
func addHostRuns(t *testing.T, f *fsm.FSM) {
	t.Helper()
	idx := uint64(10_000)
	apply := func(at time.Time, cmd *murphyv1.Command) {
		idx++
		cmd.At = timestamppb.New(at)
		if err := f.ApplyCommand(idx, cmd); err != nil {
			t.Fatalf("command %d %T: %v", idx, cmd.Cmd, err)
		}
	}
	groups := &murphyv1.Groups{Control: []string{"w0", "w2", "w4", "w6"}, Experiment: []string{"w1", "w3", "w5", "w7"}, Seed: 3}
	start := t0.Add(24 * time.Hour)
	for _, id := range []string{"hosts-refuted", "hosts-before", "hosts-halted"} {
		apply(start, &murphyv1.Command{By: "alice", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: id, Experiment: "fleet", Spec: testSpec(hostSpecJSON)}}})
		apply(start, &murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: id, Groups: groups}}})
	}
	before := &murphyv1.Verdict{
		Outcome: murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE, BeforeFault: true, Confidence: 0.95,
		Reason:      "nothing was injected: the groups are too small to settle latency at the tolerance.",
		WindowStart: timestamppb.New(start), WindowEnd: timestamppb.New(start.Add(time.Minute)),
		Metrics: []*murphyv1.MetricVerdict{
			{Name: "latency", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Unit: "target", Method: "baseline plan", Scale: "log",
				TargetsControl: 4, TargetsExperiment: 4, TargetsNeeded: 14, Reason: "latency cannot be settled: about 14 targets per group would be needed"},
			{Name: "success", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE, Unit: "target", Method: "baseline plan", Reason: "not measured: no fault was injected"},
		},
	}
	apply(start.Add(time.Minute), &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: "hosts-before", Verdict: before}}})

	fault := &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "50ms"}, Duration: durationpb.New(5 * time.Minute)}
	for _, id := range []string{"hosts-refuted", "hosts-halted"} {
		apply(start.Add(time.Minute), &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: id, Fault: fault, Start: true, Injected: groups.Experiment}}})
		apply(start.Add(time.Minute), &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: id, Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}}})
	}
	apply(start.Add(6*time.Minute), &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: "hosts-refuted", End: true}}})
	apply(start.Add(6*time.Minute), &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: "hosts-refuted", Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}})
	apply(start.Add(6*time.Minute), &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: "hosts-refuted", Verdict: hostVerdict(start)}}})

	var ts []*murphyv1.TargetSummary
	for i, c := range []float64{0.02, -0.01, 0.0, 0.03} {
		ts = append(ts, target(groups.Control[i], ctl, 0.1, 0.1*(1+c), true, false))
	}
	for i, c := range []float64{0.3, 0.4, 0.45, 1.2} {
		ts = append(ts, target(groups.Experiment[i], exp, 0.1, 0.1*(1+c), true, i == 3))
	}
	apply(start.Add(3*time.Minute), &murphyv1.Command{By: "leader", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{
		RunId: "hosts-halted", Reason: "latency: the experimental group is 58% worse than control relative to their baselines; beyond it on their own: w7",
		Metric: "latency", Guardrail: "deviation 50%", Threshold: 4.2, FirstBreach: timestamppb.New(start.Add(2 * time.Minute)), Targets: ts,
	}}})
}

func hostHandler(t *testing.T) *Handler {
	h := newTestHandler(t, 1, 8)
	addHostRuns(t, h.cfg.FSM)
	return h
}

// TestHostPages: runs decided host by host show every host as a dot, name the hosts
// beyond the tolerance, say how many hosts would settle an open question, keep the
// pooled view secondary, show proportions as percentages, and say so when nothing was
// injected.
func TestHostPages(t *testing.T) {
	h := hostHandler(t)
	tests := []struct {
		name, path string
		// dots is the number of host marks, beyond those ringed as beyond the tolerance.
		dots, beyond int
		want, not    []string
	}{
		{"refuted run page", "/ui/runs/hosts-refuted", 12, 2, []string{
			`<h3 id="hosts-latency">latency: host by host</h3>`, "3 vs 3 hosts (experiment vs control)", "target-did-welch", "log scale: changes are ratios",
			"Estimate +30.0% (95% CI +12.0% to +50.0%)",
			`<p class="beyond" id="beyond-latency">Hosts beyond the tolerance on their own: w3, w5.</p>`,
			`<text x=`, `class="label beyond-label">w3</text>`, `class="label beyond-label">w5</text>`,
			"Inconclusive: about 12 hosts per group would likely settle it (it has 3 control and 3 experimental).",
			"<h4 id=\"pooled-latency\">Pooled view — every sample treated as independent; does not decide</h4>",
			// success is a proportion: its levels are shares, its changes points.
			"control 99.73%, experiment 99.1%", "<td>99.8% (600)</td>", "<td>99% (3000)</td>", "<td>-0.9 pts</td>", "<td>0 pts</td>", "Tolerance 1 percentage point (a decrease is harmful)",
			"success fell by 0.6 points (95% CI -1.5 points to 0.3 points, 3 vs 3 hosts): not enough evidence either way against the tolerance of 1 point",
			// the numbers table says what decided.
			"<td>3 vs 3 hosts</td>", "0.0004 (Welch's t on hosts)", "<td>0.1 (n=9000)</td>",
			`class="tolerance"`, `class="zero"`, `class="control-mean"`,
		}, []string{"Nothing was injected"}},
		{"before-fault run page", "/ui/runs/hosts-before", 0, 0, []string{
			`<p class="before-fault" role="status" id="before-fault">Nothing was injected: the groups were too small to settle the question. latency: about 14 hosts per group would be needed (it has 4 control and 4 experimental).</p>`,
			"The numbers behind the verdict (baseline", "<td>4 vs 4 hosts</td>", "not computed",
		}, []string{"Intervals against tolerances", "host by host"}},
		{"halted run page", "/ui/runs/hosts-halted", 8, 1, []string{
			"latency: hosts at the halting look", "4 vs 4 hosts (experiment vs control)", "Deviation tolerance 50% of the control level (an increase is harmful)",
			`<p class="beyond" id="halt-beyond">Hosts beyond the tolerance on their own: w7.</p>`, "<td>+120.0% — beyond the tolerance</td>",
		}, nil},
		{"html report", "/ui/runs/hosts-refuted/report", 12, 2, []string{"Murphy run hosts-refuted", "Pooled view — every sample treated as independent; does not decide"}, []string{"<script"}},
		{"markdown report", "/ui/runs/hosts-refuted/report?format=markdown", 0, 0, []string{
			"| latency (critical) | deviated | 3 vs 3 hosts | 0.1 (n=9000) | 0.13 (n=9000) |",
			"### latency: host by host", "**Hosts beyond the tolerance on their own: w3, w5.**",
			"| w3 | experiment | 0.11 (600) | 0.1485 (3000) | +35.0% | beyond the tolerance |",
			"| w0 | control | 0.1 (600) | 0.101 (3000) | +1.0% |  |",
			"_Pooled view — every sample treated as independent; does not decide:_ control median 0.1 (n=9000)",
			"### success: host by host", "Inconclusive: about 12 hosts per group would likely settle it", "| w3 | experiment | 99.9% (600) | 99% (3000) | -0.9 pts |  |",
		}, nil},
		{"markdown report before any fault", "/ui/runs/hosts-before/report?format=markdown", 0, 0, []string{
			"**Nothing was injected: the groups were too small to settle the question. latency: about 14 hosts per group would be needed", "- Baseline: ",
		}, []string{"host by host"}},
		{"markdown report of a halt", "/ui/runs/hosts-halted/report?format=markdown", 0, 0, []string{
			"Hosts at the halting look: 4 vs 4 hosts (experiment vs control)", "**Hosts beyond the tolerance on their own: w7.**", "| w7 | experiment | 0.1 (600) | 0.22 (3000) | +120.0% | beyond the tolerance |",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, tc.path)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			// Compare text as a reader sees it: html/template writes + as &#43;.
			body = html.UnescapeString(body)
			if n := strings.Count(body, `<circle class="host `); n != tc.dots {
				t.Errorf("%d host marks, want %d", n, tc.dots)
			}
			if n := strings.Count(body, `<circle class="host experiment beyond"`); n != tc.beyond {
				t.Errorf("%d hosts marked beyond, want %d", n, tc.beyond)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(body, w) {
					t.Errorf("has %q", w)
				}
			}
		})
	}
}

// TestHostReportJSON: the JSON report carries the per-host fields of the wire form.
func TestHostReportJSON(t *testing.T) {
	h := hostHandler(t)
	var doc struct {
		Run struct {
			Verdict struct {
				BeforeFault bool `json:"before_fault"`
				Metrics     []struct {
					Unit          string `json:"unit"`
					TargetsNeeded string `json:"targets_needed"`
					Targets       []struct {
						ID     string `json:"id"`
						Group  string `json:"group"`
						Beyond bool   `json:"beyond"`
					} `json:"targets"`
					Pooled *struct {
						Method string `json:"method"`
					} `json:"pooled"`
				} `json:"metrics"`
			} `json:"verdict"`
			Halt struct {
				Targets []json.RawMessage `json:"targets"`
			} `json:"halt"`
		} `json:"run"`
	}
	for _, tc := range []struct {
		run                         string
		beforeFault                 bool
		targets, beyond, haltTarget int
		needed                      string
	}{
		{"hosts-refuted", false, 12, 2, 0, "12"},
		{"hosts-before", true, 0, 0, 0, "14"},
		{"hosts-halted", false, 0, 0, 8, ""},
	} {
		_, body := get(t, h, "/ui/runs/"+tc.run+"/report?format=json")
		doc.Run.Verdict.Metrics, doc.Run.Halt.Targets, doc.Run.Verdict.BeforeFault = nil, nil, false
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("%s: %v\n%s", tc.run, err, body)
		}
		targets, beyond, needed := 0, 0, ""
		for _, m := range doc.Run.Verdict.Metrics {
			if m.Unit != "target" {
				t.Errorf("%s: unit %q", tc.run, m.Unit)
			}
			if m.TargetsNeeded != "" {
				needed = m.TargetsNeeded
			}
			for _, ts := range m.Targets {
				targets++
				if ts.Beyond {
					beyond++
					if ts.Group != "GROUP_EXPERIMENT" {
						t.Errorf("%s: control target %s beyond", tc.run, ts.ID)
					}
				}
			}
		}
		if doc.Run.Verdict.BeforeFault != tc.beforeFault || targets != tc.targets || beyond != tc.beyond || len(doc.Run.Halt.Targets) != tc.haltTarget || needed != tc.needed {
			t.Errorf("%s: before_fault %v, %d targets (%d beyond), %d halt targets, targets_needed %q; want %v, %d (%d), %d, %q",
				tc.run, doc.Run.Verdict.BeforeFault, targets, beyond, len(doc.Run.Halt.Targets), needed, tc.beforeFault, tc.targets, tc.beyond, tc.haltTarget, tc.needed)
		}
	}
}

// TestHostPlotTolerance: the dashed boundaries follow the harmful direction, sit at the
// tolerance from the control group's mean change, and hold one dot per host.
func TestHostPlotTolerance(t *testing.T) {
	ts := []*murphyv1.TargetSummary{
		target("c1", ctl, 1, 1, true, false), target("c2", ctl, 1, 1, true, false),
		target("e1", exp, 1, 1.05, true, false), target("e2", exp, 1, 1.2, true, true),
	}
	tests := []struct {
		dir       string
		g         hostGeometry
		lines     int
		labels    []string // tick and boundary values in the plot's words
		notLabels []string
	}{
		{"increase", hostGeometry{Log: true, Tol: 0.1, Relative: true, HasTol: true}, 1, []string{"tolerance boundary: +10.0%"}, []string{"tolerance boundary: -10.0%"}},
		{"decrease", hostGeometry{Log: true, Tol: 0.1, Relative: true, HasTol: true}, 1, []string{"tolerance boundary: -10.0%"}, []string{"tolerance boundary: +10.0%"}},
		{"either", hostGeometry{Log: true, Tol: 0.1, Relative: true, HasTol: true}, 2, []string{"tolerance boundary: +10.0%", "tolerance boundary: -10.0%"}, nil},
		{"either", hostGeometry{Tol: 0.05, HasTol: true}, 2, []string{"tolerance boundary: +0.05", "tolerance boundary: -0.05"}, nil},
		{"increase", hostGeometry{}, 0, []string{"no change"}, []string{"tolerance boundary"}},
	}
	for _, tc := range tests {
		tc.g.Direction = tc.dir
		svg := string(HostPlot("latency", "each host's change", ts, tc.g))
		if n := strings.Count(svg, `<line class="tolerance"`); n != tc.lines {
			t.Errorf("%s %+v: %d tolerance lines, want %d", tc.dir, tc.g, n, tc.lines)
		}
		if n := strings.Count(svg, `<circle class="host `); n != len(ts) {
			t.Errorf("%s: %d dots for %d hosts", tc.dir, n, len(ts))
		}
		for _, l := range tc.labels {
			if !strings.Contains(svg, l) {
				t.Errorf("%s %+v lacks %q", tc.dir, tc.g, l)
			}
		}
		for _, l := range tc.notLabels {
			if strings.Contains(svg, l) {
				t.Errorf("%s %+v has %q", tc.dir, tc.g, l)
			}
		}
	}
	// When control moved, the boundary moves with it: beyond is net of control's change.
	shifted := []*murphyv1.TargetSummary{target("c1", ctl, 1, 1.1, true, false), target("c2", ctl, 1, 1.1, true, false), target("e1", exp, 1, 1.15, true, false)}
	svg := string(HostPlot("latency", "change", shifted, hostGeometry{Log: true, Tol: 0.1, Relative: true, HasTol: true, Direction: "increase"}))
	if !strings.Contains(svg, "tolerance boundary: +21.0%") || !strings.Contains(svg, "the control group&#39;s mean: +10.0%") {
		t.Errorf("boundary after control rose 10%%:\n%s", svg)
	}
}

func TestInferScale(t *testing.T) {
	tests := []struct {
		name        string
		ts          []*murphyv1.TargetSummary
		log, levels bool
	}{
		{"ratios", []*murphyv1.TargetSummary{target("a", ctl, 0.1, 0.12, true, false), target("b", exp, 0.2, 0.3, true, false)}, true, false},
		{"differences", []*murphyv1.TargetSummary{target("a", ctl, 0.1, 0.12, false, false), target("b", exp, 0.2, 0.3, false, false)}, false, false},
		{"levels", []*murphyv1.TargetSummary{{Id: "a", Window: 0.3, Change: 0.3}, {Id: "b", Window: 0.5, Change: 0.5}}, false, true},
		{"log levels", []*murphyv1.TargetSummary{{Id: "a", Window: 0.3, Change: -0.7}, {Id: "b", Window: 0.5, Change: -0.5}}, true, true},
	}
	for _, tc := range tests {
		if log, levels := inferScale(tc.ts); log != tc.log || levels != tc.levels {
			t.Errorf("%s: log %v levels %v, want %v %v", tc.name, log, levels, tc.log, tc.levels)
		}
	}
}

type fakeLive struct{ resp *murphyv1.WatchResponse }

func (fakeLive) Leading() (bool, string, string) { return true, "n1", "" }
func (l fakeLive) Progress(run *murphyv1.Run) *murphyv1.WatchResponse {
	r := l.resp
	r.Run = run
	return r
}
func (fakeLive) Health(*murphyv1.Worker) []*murphyv1.ActiveFault { return nil }

// TestGuardrailNotes: the live guardrail rows say why a deviation guardrail did not test
// and how far the experimental group is from control.
func TestGuardrailNotes(t *testing.T) {
	h := newTestHandler(t, 1, 4)
	h.cfg.Live = fakeLive{&murphyv1.WatchResponse{PhaseLeft: durationpb.New(time.Minute), RunLeft: durationpb.New(2 * time.Minute), Guardrails: []*murphyv1.GuardrailStatus{
		{Metric: "latency", Guardrail: "deviation 50%", Note: "1 control and 1 experimental targets reported; the deviation test needs 4 per group"},
		{Metric: "errors", Guardrail: "deviation ±0.02", Value: 2.5, Threshold: 4.1, Closeness: 0.61, RelChange: 0.8},
		{Metric: "errors", Guardrail: "above 0.05 for 3s", Value: 0.01, Closeness: 0.2},
	}}}
	idx := uint64(1000)
	for _, c := range []*murphyv1.Command{
		{Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "live-1", Experiment: "checkout", Spec: testSpec(specJSON)}}},
		{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: "live-1", Groups: &murphyv1.Groups{Control: []string{"w0000"}, Experiment: []string{"w0001"}, Seed: 1}}}},
	} {
		idx++
		c.At = timestamppb.New(t0.Add(time.Hour))
		if err := h.cfg.FSM.ApplyCommand(idx, c); err != nil {
			t.Fatal(err)
		}
	}
	_, body := get(t, h, "/ui/runs/live-1/live")
	body = html.UnescapeString(body)
	for _, want := range []string{
		"<th scope=\"col\">Note</th>",
		"<td>deviation 50%</td><td>–</td><td></td>", "the deviation test needs 4 per group</td>",
		"<td>t = 2.50 (halts above 4.10)</td><td>+80.0%</td>",
		"<td>above 0.05 for 3s</td><td>0.01</td><td></td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("live guardrails lack %q:\n%s", want, body)
		}
	}
}

// TestNewHosts: which metrics get a per-host view, and what it holds when the test on
// the hosts could not run.
func TestNewHosts(t *testing.T) {
	pooled := &murphyv1.PooledView{Method: "exact", NControl: 40, NExperiment: 40, ControlMedian: 0.1, ExperimentMedian: 0.11}
	tests := []struct {
		name                  string
		m                     *murphyv1.MetricVerdict
		nilView               bool
		rows                  int
		estimate, pool, needs bool
		change                string // of the first row
	}{
		{"judged on samples", &murphyv1.MetricVerdict{Name: "q", Unit: "sample", NControl: 9, NExperiment: 9, Pooled: pooled}, true, 0, false, false, false, ""},
		{"before any fault", &murphyv1.MetricVerdict{Name: "latency", Unit: "target", Method: "baseline plan", TargetsNeeded: 14}, true, 0, false, false, false, ""},
		{"too few hosts", &murphyv1.MetricVerdict{Name: "latency", Unit: "target", Method: "target-did-welch", Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE,
			NControl: 40, NExperiment: 40, TargetsControl: 1, TargetsExperiment: 1, TargetsNeeded: 2, Pooled: pooled}, false, 0, false, true, true, ""},
		{"no baselines", &murphyv1.MetricVerdict{Name: "latency", Unit: "target", Method: "target-levels-welch", Scale: "linear", Tolerance: "absolute 0.01", Direction: "increase",
			NControl: 40, NExperiment: 40, TargetsControl: 2, TargetsExperiment: 2, WelchDf: 2, Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE,
			Targets: []*murphyv1.TargetSummary{{Id: "a", Group: ctl, NWindow: 20, Window: 0.1, Change: 0.1}, {Id: "b", Group: exp, NWindow: 20, Window: 0.105, Change: 0.105}}},
			false, 2, true, false, false, "–"},
	}
	for _, tc := range tests {
		h := NewHosts(tc.m, 0.95)
		if (h == nil) != tc.nilView {
			t.Fatalf("%s: view %v, want nil: %v", tc.name, h, tc.nilView)
		}
		if h == nil {
			continue
		}
		if len(h.Rows) != tc.rows || (h.Estimate != "") != tc.estimate || (h.Pooled != "") != tc.pool || (h.Needed != "") != tc.needs {
			t.Errorf("%s: %d rows, estimate %q, pooled %q, needed %q", tc.name, len(h.Rows), h.Estimate, h.Pooled, h.Needed)
		}
		if tc.rows > 0 && h.Rows[0].Change != tc.change {
			t.Errorf("%s: first row's change %q, want %q", tc.name, h.Rows[0].Change, tc.change)
		}
		if tc.rows == 0 && h.Plot != "" {
			t.Errorf("%s: a plot without hosts", tc.name)
		}
	}
}

// TestTimeChartRate: a 0/1 metric is drawn as each group's share per interval, so 5%
// failures on the experiment show (its median is 1 in every interval, like control's).
func TestTimeChartRate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var sums []*murphyv1.IntervalSummary
	for i := range 4 {
		from, to := timestamppb.New(t0.Add(time.Duration(i)*time.Second)), timestamppb.New(t0.Add(time.Duration(i+1)*time.Second))
		sums = append(sums,
			&murphyv1.IntervalSummary{Metric: "ok", Group: murphyv1.Group_GROUP_CONTROL, Start: from, End: to, Count: 20, Mean: 1, P50: 1, P90: 1},
			&murphyv1.IntervalSummary{Metric: "ok", Group: murphyv1.Group_GROUP_EXPERIMENT, Start: from, End: to, Count: 20, Mean: 0.95, P50: 1, P90: 1})
	}
	points := func(svg, class string) string {
		i := strings.Index(svg, `<polyline class="`+class+`" points="`)
		if i < 0 {
			return ""
		}
		rest := svg[i+len(`<polyline class="`+class+`" points="`):]
		return rest[:strings.Index(rest, `"`)]
	}
	tests := []struct {
		name      string
		rate      bool
		wantApart bool
		wantP90   bool
		wantDesc  string
	}{
		{"median of a 0/1 metric hides the failures", false, false, true, "Median (solid)"},
		{"the share per interval shows them", true, true, false, "Share per interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svg := string(TimeChart("ok", sums, nil, time.Time{}, tc.rate, nil, UnitPlain))
			ctl, exp := points(svg, "line control"), points(svg, "line experiment")
			if ctl == "" || exp == "" {
				t.Fatalf("no series in %s", svg)
			}
			if apart := ctl != exp; apart != tc.wantApart {
				t.Errorf("control %q and experiment %q drawn apart: %v, want %v", ctl, exp, apart, tc.wantApart)
			}
			if got := strings.Contains(svg, `class="line control p90"`); got != tc.wantP90 {
				t.Errorf("p90 line present %v, want %v", got, tc.wantP90)
			}
			if !strings.Contains(svg, tc.wantDesc) {
				t.Errorf("description lacks %q", tc.wantDesc)
			}
		})
	}
}

// TestHostRecoveries: a time_to_recover metric's per-host table lists each host's
// outages, the one still open last, in the text, Markdown and HTML forms; other metrics
// get no such column.
func TestHostRecoveries(t *testing.T) {
	m := &murphyv1.MetricVerdict{Name: "checkout_recovery", Unit: "target", Method: "target-levels-welch", Scale: "linear", Tolerance: "absolute 30", Direction: "increase",
		NControl: 40, NExperiment: 40, TargetsControl: 2, TargetsExperiment: 2, Outcome: murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE,
		Targets: []*murphyv1.TargetSummary{
			{Id: "a", Group: ctl, NWindow: 20},
			{Id: "b", Group: exp, NWindow: 20, Window: 0.1, Recoveries: []float64{0.063, 0.129}},
			{Id: "c", Group: exp, NWindow: 20, Window: 1.2, Recoveries: []float64{12.5}, Unrecovered: 2.5},
		}}
	h := NewHosts(m, 0.95)
	if h == nil || !h.Recoveries {
		t.Fatalf("view %+v: want a recoveries column", h)
	}
	want := map[string]string{"a": "none", "b": "0.06 s, 0.13 s", "c": "12.5 s; still short after 2.50 s"}
	for _, r := range h.Rows {
		if r.Recoveries != want[r.ID] {
			t.Errorf("host %s: recoveries %q, want %q", r.ID, r.Recoveries, want[r.ID])
		}
	}
	var text, md strings.Builder
	HostsText(&text, h, "")
	HostsMarkdown(&md, h, "###")
	if !strings.Contains(text.String(), "recoveries") || !strings.Contains(text.String(), "0.06 s, 0.13 s") {
		t.Errorf("text view:\n%s", text.String())
	}
	if !strings.Contains(md.String(), "| change | recoveries |") || !strings.Contains(md.String(), "| 12.5 s; still short after 2.50 s |") {
		t.Errorf("Markdown view:\n%s", md.String())
	}
	for _, r := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(r, "|") && strings.Count(r, "|") != 8 {
			t.Errorf("Markdown row with a wrong number of cells: %q", r)
		}
	}

	m.Targets = []*murphyv1.TargetSummary{{Id: "a", Group: ctl, NWindow: 20}, {Id: "b", Group: exp, NWindow: 20}}
	if h := NewHosts(m, 0.95); h.Recoveries {
		t.Error("a recoveries column for a metric with no outages")
	}
}

// TestHostsOfPods: a verdict of a run of pods counts and heads its table in pods.
func TestHostsOfPods(t *testing.T) {
	m := &murphyv1.MetricVerdict{Name: "latency", Unit: UnitTarget, Scale: "log", TargetsControl: 1, TargetsExperiment: 1,
		Targets: []*murphyv1.TargetSummary{
			{Id: "pod/shop/a", Group: murphyv1.Group_GROUP_EXPERIMENT, Baseline: 0.01, Window: 0.05, Change: 4},
			{Id: "pod/shop/b", Group: murphyv1.Group_GROUP_CONTROL, Baseline: 0.01, Window: 0.01},
		}}
	h := NewHosts(m, 0.95)
	if h.Noun != "pod" || h.Heading() != "Pod" || !strings.Contains(h.Count, "1 vs 1 pods") {
		t.Errorf("pods: noun %q heading %q count %q", h.Noun, h.Heading(), h.Count)
	}
	m.Targets[1].Id = "worker-1"
	if h := NewHosts(m, 0.95); h.Noun != "host" || !strings.Contains(h.Count, "hosts") {
		t.Errorf("mixed: noun %q count %q", h.Noun, h.Count)
	}
}
