package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/internal/testenv"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// review is a state the pages are reviewed in: one run of every outcome, built by
// applying commands to a real FSM as a cluster would, and writes that apply to it too.
type review struct {
	t   testing.TB
	mu  sync.Mutex
	f   *fsm.FSM
	idx uint64
}

func (x *review) apply(at time.Time, cmd *murphyv1.Command) {
	x.t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.idx++
	cmd.At = timestamppb.New(at)
	if err := x.f.ApplyCommand(x.idx, cmd); err != nil {
		x.t.Errorf("command %d %T: %v", x.idx, cmd.Cmd, err)
	}
}

const deviationSpec = `{"apiVersion":"murphy/v1","name":"payments","baseline":"10s","hypothesis":{"metrics":[{"name":"latency","direction":"increase","tolerance":{"relative":0.1}}]},"abort":[{"metric":"latency","deviation":{"relative":0.5}}],"steps":[{"fault":{"kind":"http.delay","duration":"30s"}}]}`

const reviewSpec = `{"apiVersion":"murphy/v1","name":"checkout","baseline":"10s","hypothesis":{"metrics":[{"name":"latency","direction":"increase","tolerance":{"relative":0.1}}]},"abort":[{"metric":"latency","above":0.05,"for":"3s"}],"steps":[{"fault":{"kind":"http.delay","duration":"30s"}}]}`

// warmUpSpike is the median latency of every run's first second, as a probe's first
// requests read while they open connections: far above anything after it.
const warmUpSpike = 0.25

// inject creates run id at start on two control and two experimental workers and has
// the fault injected on the experimental ones ten seconds later, with summaries of the
// experimental latency moving from base to fault.
func (x *review) inject(id string, start time.Time, base, fault float64, createRun bool) {
	ctl, exp := []string{"w0", "w1"}, []string{"w2", "w3"}
	if createRun {
		x.apply(start, &murphyv1.Command{By: "alice", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: id, Experiment: "checkout", Spec: testSpec(reviewSpec)}}})
	}
	x.apply(start, &murphyv1.Command{Cmd: &murphyv1.Command_StartRun{StartRun: &murphyv1.StartRun{RunId: id, Groups: &murphyv1.Groups{Control: ctl, Experiment: exp, Seed: 7}}}})
	f := &murphyv1.FaultSpec{Kind: "http.delay", Params: map[string]string{"delay": "20ms"}, Duration: durationpb.New(30 * time.Second)}
	x.apply(start.Add(10*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: id, Fault: f, Start: true, Injected: exp}}})
	x.apply(start.Add(10*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: id, Phase: murphyv1.RunPhase_RUN_PHASE_INJECTING}}})
	var sums []*murphyv1.IntervalSummary
	for s := range 40 {
		for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
			v := base
			if g == murphyv1.Group_GROUP_EXPERIMENT && s >= 10 {
				v = fault
			}
			if s == 0 {
				v = warmUpSpike // the probes' first requests open their connections
			}
			sums = append(sums, &murphyv1.IntervalSummary{Metric: "latency", Group: g, Start: timestamppb.New(start.Add(time.Duration(s) * time.Second)), End: timestamppb.New(start.Add(time.Duration(s+1) * time.Second)), Count: 20, Mean: v, P50: v, P90: v * 1.2, P99: v * 1.4, Min: v * 0.8, Max: v * 1.6})
		}
	}
	x.apply(start.Add(40*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: id, Summaries: sums}}})
}

// finish ends run id with a verdict of outcome and a relative change rel (its interval
// rel±0.05) against a 10% tolerance.
func (x *review) finish(id string, start time.Time, outcome murphyv1.VerdictOutcome, rel float64) {
	mo := map[murphyv1.VerdictOutcome]murphyv1.MetricOutcome{
		murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD:       murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE,
		murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED:      murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED,
		murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE: murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE,
	}[outcome]
	x.apply(start.Add(40*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordStep{RecordStep: &murphyv1.RecordStep{RunId: id, End: true}}})
	x.apply(start.Add(40*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_AdvanceRun{AdvanceRun: &murphyv1.AdvanceRun{RunId: id, Phase: murphyv1.RunPhase_RUN_PHASE_ANALYSING}}})
	x.apply(start.Add(41*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordVerdict{RecordVerdict: &murphyv1.RecordVerdict{RunId: id, Verdict: &murphyv1.Verdict{
		Outcome: outcome, Reason: "1 of 1 metrics " + metricOutcome(mo), Confidence: 0.95,
		WindowStart: timestamppb.New(start.Add(10 * time.Second)), WindowEnd: timestamppb.New(start.Add(40 * time.Second)),
		Metrics: []*murphyv1.MetricVerdict{{Name: "latency", Outcome: mo, Direction: "increase", Tolerance: "relative 0.1",
			NControl: 600, NExperiment: 600, ControlMedian: 0.003, ExperimentMedian: 0.003 * (1 + rel), Shift: 0.003 * rel, ShiftLow: 0.003 * (rel - 0.05), ShiftHigh: 0.003 * (rel + 0.05), RelChange: rel, RelLow: rel - 0.05, RelHigh: rel + 0.05, P: 1e-3}},
	}}}})
	x.apply(start.Add(42*time.Second), &murphyv1.Command{Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: id, Final: true}}})
}

// Halt is the pages' halt written to the FSM as the leader would commit it.
func (x *review) Halt(_ context.Context, in *murphyv1.HaltRequest, _ ...grpc.CallOption) (*murphyv1.HaltResponse, error) {
	x.apply(time.Now(), &murphyv1.Command{By: "operator:olga", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{RunId: in.RunId, Reason: in.Reason}}})
	return &murphyv1.HaltResponse{}, nil
}
func (x *review) HaltAll(context.Context, *murphyv1.HaltAllRequest, ...grpc.CallOption) (*murphyv1.HaltAllResponse, error) {
	return nil, errors.New("not in this test")
}
func (x *review) Resume(context.Context, *murphyv1.ResumeRequest, ...grpc.CallOption) (*murphyv1.ResumeResponse, error) {
	return nil, errors.New("not in this test")
}
func (x *review) PauseSchedules(context.Context, *murphyv1.PauseSchedulesRequest, ...grpc.CallOption) (*murphyv1.PauseSchedulesResponse, error) {
	return nil, errors.New("not in this test")
}
func (x *review) ResumeSchedules(context.Context, *murphyv1.ResumeSchedulesRequest, ...grpc.CallOption) (*murphyv1.ResumeSchedulesResponse, error) {
	return nil, errors.New("not in this test")
}

// reviewState fills an FSM with a refuted, an upheld, an inconclusive, a
// guardrail-halted and a scheduled run, and two active runs to halt from the page.
func reviewState(t *testing.T) *review {
	x := &review{t: t, f: fsm.New()}
	for i := range 4 {
		x.apply(t0, &murphyv1.Command{Cmd: &murphyv1.Command_RegisterWorker{RegisterWorker: &murphyv1.RegisterWorker{
			WorkerId: fmt.Sprintf("w%d", i), Labels: map[string]string{"region": "eu-west-1", "datacenter": "dc" + fmt.Sprint(i%2), "host": fmt.Sprintf("checkout-%d.eu-west-1.example.internal", i)},
		}}})
	}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	x.inject("checkout-refuted", at(1), 0.0031, 0.0176, true)
	x.finish("checkout-refuted", at(1), murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED, 4.84)
	x.inject("checkout-upheld", at(2), 0.0031, 0.0032, true)
	x.finish("checkout-upheld", at(2), murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD, 0.02)
	x.inject("checkout-unsure", at(3), 0.0031, 0.0034, true)
	x.finish("checkout-unsure", at(3), murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE, 0.08)
	// A guardrail halts a run whose latency went far above its 50 ms threshold.
	x.inject("checkout-guarded", at(4), 0.0031, 0.058, true)
	halt := at(4).Add(25 * time.Second)
	x.apply(halt, &murphyv1.Command{By: "monitor", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{
		RunId: "checkout-guarded", Reason: "guardrail above 0.05 for 3s breached on latency", Metric: "latency",
		Values: []float64{0.047, 0.052, 0.058, 0.061, 0.062}, Guardrail: "above 0.05 for 3s", Threshold: 0.05, FirstBreach: timestamppb.New(halt.Add(-4 * time.Second)),
		Samples: []*murphyv1.BreachSample{
			{WorkerId: "w2", At: timestamppb.New(halt.Add(-5 * time.Second)), Value: 0.047},
			{WorkerId: "w3", At: timestamppb.New(halt.Add(-4 * time.Second)), Value: 0.052},
			{WorkerId: "w2", At: timestamppb.New(halt.Add(-3 * time.Second)), Value: 0.058},
			{WorkerId: "w3", At: timestamppb.New(halt.Add(-2 * time.Second)), Value: 0.061},
			{WorkerId: "w2", At: timestamppb.New(halt.Add(-1 * time.Second)), Value: 0.062},
		},
	}}})
	x.apply(halt, &murphyv1.Command{Cmd: &murphyv1.Command_RecordRevert{RecordRevert: &murphyv1.RecordRevert{RunId: "checkout-guarded", Reverts: []*murphyv1.WorkerRevert{
		{WorkerId: "w2", At: timestamppb.New(halt.Add(18 * time.Millisecond)), Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT},
		{WorkerId: "w3", At: timestamppb.New(halt.Add(25 * time.Millisecond)), Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT},
		// A control worker answers the halt too, with nothing to revert: it must not count.
		{WorkerId: "w0", At: timestamppb.New(halt.Add(30 * time.Millisecond)), Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT},
	}}}})
	// A deviation guardrail halts a run of another experiment: checkout-2 alone went
	// beyond the tolerance against its own baseline.
	x.apply(at(4), &murphyv1.Command{By: "alice", Cmd: &murphyv1.Command_CreateRun{CreateRun: &murphyv1.CreateRun{RunId: "payments-deviation", Experiment: "payments", Spec: testSpec(deviationSpec)}}})
	x.inject("payments-deviation", at(4), 0.0031, 0.009, false)
	dev := at(4).Add(30 * time.Second)
	x.apply(dev, &murphyv1.Command{By: "monitor", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{
		RunId: "payments-deviation", Reason: "latency: the experimental group is 190% worse than control relative to their baselines; beyond it on their own: w2", Metric: "latency",
		Guardrail: "deviation 50%", Threshold: 4.2, FirstBreach: timestamppb.New(dev.Add(-20 * time.Second)), Values: []float64{3.1, 0.7}, Scale: "log",
		Targets: []*murphyv1.TargetSummary{
			{Id: "w0", Group: murphyv1.Group_GROUP_CONTROL, NBaseline: 200, NWindow: 400, Baseline: 0.0031, Window: 0.00313, Change: 0.01},
			{Id: "w1", Group: murphyv1.Group_GROUP_CONTROL, NBaseline: 200, NWindow: 400, Baseline: 0.0030, Window: 0.00297, Change: -0.01},
			{Id: "w2", Group: murphyv1.Group_GROUP_EXPERIMENT, NBaseline: 200, NWindow: 400, Baseline: 0.0031, Window: 0.0127, Change: 3.1, Beyond: true},
			{Id: "w3", Group: murphyv1.Group_GROUP_EXPERIMENT, NBaseline: 200, NWindow: 400, Baseline: 0.0032, Window: 0.0054, Change: 0.7},
		},
	}}})
	// A schedule fires a run that refutes.
	x.apply(at(5), &murphyv1.Command{By: "admin:ada", Cmd: &murphyv1.Command_CreateSchedule{CreateSchedule: &murphyv1.CreateSchedule{ScheduleId: "nightly-1", Name: "checkout", Spec: testSpec(reviewSpec), SpecDigest: "sha256:abcdef0123456789", NextAt: timestamppb.New(at(6))}}})
	// A schedule fires the experiment six times: refuted five times, upheld once; the
	// last of them is checkout-nightly.
	for k, rel := range []float64{1.8, 2.4, 0.03, 1.2, 3.1, 2.2} {
		id, slot := fmt.Sprintf("checkout-nightly-%d", k+1), at(6+k)
		if k == 5 {
			id = "checkout-nightly"
		}
		x.apply(slot, &murphyv1.Command{By: "scheduler", Cmd: &murphyv1.Command_FireSchedule{FireSchedule: &murphyv1.FireSchedule{ScheduleId: "nightly-1", Slot: timestamppb.New(slot), RunId: id, Spec: testSpec(reviewSpec), Day: "2026-03-01", NextAt: timestamppb.New(at(7 + k))}}})
		x.inject(id, slot, 0.0031, 0.0031*(1+rel), false)
		outcome := murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED
		if rel < 0.1 {
			outcome = murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD
		}
		x.finish(id, slot, outcome, rel)
	}
	// Two runs in force, one for each width, to halt from the page.
	x.inject("checkout-live-1300", at(20), 0.0031, 0.0176, true)
	x.inject("checkout-live-390", at(21), 0.0031, 0.0176, true)
	return x
}

// contrastJS returns, for every element matching the selector, its text, badge class,
// and the contrast ratio of its text against its background (WCAG 2 relative luminance).
const contrastJS = `(sel => Array.from(document.querySelectorAll(sel)).map(el => {
  const rgb = s => s.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const cs = getComputedStyle(el), a = lum(rgb(cs.color)), b = lum(rgb(cs.backgroundColor));
  return {text: el.textContent.trim(), class: el.dataset.badge, bg: cs.backgroundColor, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
}))`

type badgeSeen struct {
	Text  string  `json:"text"`
	Class string  `json:"class"`
	BG    string  `json:"bg"`
	Ratio float64 `json:"ratio"`
}

// TestReviewInBrowser drives the review pages in headless Chromium at a desktop width and
// at a phone's 390 px: the verdict-first badge's words and colours per outcome with
// enough contrast, no page wider than the screen, the 404 in the layout with a skip link,
// a guardrail halt's chart drawing the threshold and the breach, and an operator's halt
// whose reverts fill in without a reload.
func TestReviewInBrowser(t *testing.T) {
	x := reviewState(t)
	h := New(Config{NodeID: "n1", FSM: x.f, Auth: Auth{Insecure: true}, Experiments: x, Done: make(chan struct{})})
	streams := &streamWatch{}
	srv := httptest.NewServer(streams.wrap(h))
	t.Cleanup(srv.Close)
	ctx := reviewBrowser(t)
	ui := srv.URL + "/ui/"

	for _, width := range []int64{1300, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			live := "checkout-live-" + fmt.Sprint(width)
			want := map[string]string{"checkout-refuted": "refuted", "checkout-upheld": "upheld", "checkout-unsure": "inconclusive", "checkout-guarded": "halted", "checkout-nightly": "refuted", live: "running"}
			opts := []chromedp.EmulateViewportOption{}
			if width < 500 {
				opts = append(opts, chromedp.EmulateMobile)
			}
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 844, opts...)); err != nil {
				t.Fatal(err)
			}
			// The runs list: the badge says the verdict, in its own colour, readable.
			load(t, ctx, ui, `table.runs`)
			rows := pageText(t, ctx, `table.runs tbody`)
			for id := range want {
				if !strings.Contains(rows, id) {
					t.Errorf("the runs list lacks %s", id)
				}
			}
			badges := badgesOf(t, ctx, "table.runs tbody tr")
			bg := map[string]string{}
			for id, outcome := range want {
				b, ok := badges[id]
				if !ok || b.Text != outcome || b.Class != outcome {
					t.Errorf("%s's badge in the list: %+v, want %q", id, b, outcome)
				}
				if b.Ratio < 4.5 {
					t.Errorf("%s's %q badge has contrast %.2f:1, want at least 4.5:1", id, b.Text, b.Ratio)
				}
				if prev, ok := bg[outcome]; ok && prev != b.BG {
					t.Errorf("two %q badges in two colours: %s and %s", outcome, prev, b.BG)
				}
				bg[outcome] = b.BG
			}
			for _, pair := range [][2]string{{"refuted", "upheld"}, {"refuted", "inconclusive"}, {"upheld", "inconclusive"}, {"refuted", "halted"}, {"running", "refuted"}, {"running", "halted"}} {
				if bg[pair[0]] == bg[pair[1]] {
					t.Errorf("%s and %s badges share the colour %s", pair[0], pair[1], bg[pair[0]])
				}
			}
			noSideways(t, ctx, width, "runs")
			screenshot(t, ctx, fmt.Sprintf("runs-%d", width))

			// Each run's page and report lead with the same badge, the phase beside it.
			for id, outcome := range want {
				load(t, ctx, ui+"runs/"+id, `#lede .badge`)
				lede, err := chromedp.Run(ctx, chromedp.Evaluate[[]badgeSeen](fmt.Sprintf("%s(%q)", contrastJS, "#lede .badge")))
				if err != nil {
					t.Fatal(err)
				}
				if len(lede) != 1 || lede[0].Text != outcome || lede[0].BG != bg[outcome] || lede[0].Ratio < 4.5 {
					t.Errorf("%s's page leads with %+v, want the %q badge in %s", id, lede, outcome, bg[outcome])
				}
				noSideways(t, ctx, width, id)
			}
			load(t, ctx, ui+"runs/checkout-refuted/report?format=html", `.lede .badge`)
			if got := pageText(t, ctx, `.lede .badge`); got != "refuted" {
				t.Errorf("the report's badge reads %q", got)
			}
			load(t, ctx, ui+"runs/checkout-refuted", `#verdict`)
			// Charts read in the metric's unit on round ticks, the tolerance ticked, and their
			// text is at least 10 px on the screen.
			ticks, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("figure.timechart svg text.tick")).map(t => t.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ticks, "5 ms") || !slices.Contains(ticks, "20 ms") {
				t.Errorf("the time chart's ticks %q, want round milliseconds", ticks)
			}
			if n := pageCount(t, ctx, `figure.timechart svg rect.baseline`); n != 1 {
				t.Errorf("the time chart marks the baseline %d times, want once", n)
			}
			// The warm-up is marked, and its spike is left out of the scale: it shows as
			// chevrons on the axis's edge, each titled with its value.
			if n := pageCount(t, ctx, `figure.timechart svg rect.warmup`); n != 1 {
				t.Errorf("the time chart marks the warm-up %d times, want once", n)
			}
			if slices.Contains(ticks, "250 ms") || slices.Contains(ticks, "200 ms") || slices.Contains(ticks, "100 ms") {
				t.Errorf("the warm-up's %v spike sets the scale: ticks %q", warmUpSpike, ticks)
			}
			clipped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("figure.timechart svg path.clipped")).map(p => p.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			if len(clipped) != 4 || !slices.Contains(clipped, "250 ms, beyond the axis") {
				t.Errorf("the warm-up's clipped points are marked %q, want 4 chevrons (both groups' median and 90th percentile)", clipped)
			}
			if got, _ := chromedp.Run(ctx, chromedp.TextContent(`svg text.tolerance-tick`)); got != "+10%" {
				t.Errorf("the forest plot's tolerance tick reads %q", got)
			}
			px, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => { const t = document.querySelector("figure.timechart svg text.tick"); return t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize); })()`))
			if err != nil || px < 10 {
				t.Errorf("chart text is %.1f px on the screen (%v), want at least 10", px, err)
			}
			screenshot(t, ctx, fmt.Sprintf("run-refuted-%d", width))
			if width == 1300 {
				readme(t, ctx, "review-refuted.png", false)
			}

			// A guardrail's halt: the chart reaches the breach and draws the threshold; the
			// actor is the guardrail; only the workers that held faults count.
			load(t, ctx, ui+"runs/checkout-guarded", `#halt-reason`)
			if n := pageCount(t, ctx, `figure.timechart svg line.threshold`); n != 1 {
				t.Errorf("the guardrail-halted run's chart has %d threshold lines, want 1", n)
			}
			inside, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
				const svg = document.querySelector("figure.timechart svg"), h = svg.viewBox.baseVal.height;
				const dots = Array.from(svg.querySelectorAll("circle.breach:not(.within)"));
				const line = svg.querySelector("line.threshold");
				return dots.length >= 4 && dots.every(c => { const y = +c.getAttribute("cy"); return y > 0 && y < h && y < +line.getAttribute("y1"); });
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if !inside {
				t.Error("the breaching samples are not drawn above the threshold inside the chart")
			}
			// Each sample is drawn at its own time and names its host, in order of time.
			byHost, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("figure.timechart svg circle.breach")).map(c => c.dataset.host + " " + c.getAttribute("cx"))`))
			if err != nil {
				t.Fatal(err)
			}
			var order []string
			lastX := -1.0
			for _, hx := range byHost {
				h, xs, _ := strings.Cut(hx, " ")
				x, _ := strconv.ParseFloat(xs, 64)
				if x < lastX {
					t.Errorf("breach samples out of time order: %q", byHost)
				}
				lastX = x
				order = append(order, strings.Split(h, ".")[0])
			}
			if want := []string{"checkout-2", "checkout-3", "checkout-2", "checkout-3", "checkout-2"}; !slices.Equal(order, want) {
				t.Errorf("the breach's samples name the hosts %q, want %q", order, want)
			}
			if got := pageText(t, ctx, `#halt-reason`); !strings.Contains(got, "the guardrail “above 0.05 for 3s” on latency") || strings.Contains(got, "by monitor") {
				t.Errorf("the halt reads %q, want the guardrail as its actor", got)
			}
			if tl := pageText(t, ctx, `#timeline-h + figure + table tbody`); strings.Contains(tl, "by monitor") {
				t.Errorf("the timeline names the monitor as the halt's actor:\n%s", tl)
			}
			if got := pageText(t, ctx, `#headline`); !strings.HasPrefix(got, "Halted by the guardrail “above 0.05 for 3s” on latency:") {
				t.Errorf("the headline reads %q, want the guardrail as the actor", got)
			}
			if got := pageText(t, ctx, `#halt-values`); !strings.HasPrefix(got, "47 ms, 52 ms, 58 ms, 61 ms, 62 ms") {
				t.Errorf("the guardrail's evidence reads %q, want values with their unit", got)
			}
			if got := pageText(t, ctx, `#reverts-summary`); got != "2 of 2 experimental workers reverted, slowest 25 ms." {
				t.Errorf("reverts summary %q", got)
			}
			// The guardrail pooled the experimental hosts' samples: the chart names them at
			// the breach, the evidence with their fault's times.
			hosts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("figure.timechart svg text.breach-host")).map(t => t.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(hosts, []string{"checkout-2", "checkout-3"}) {
				t.Errorf("the breach names the hosts %q, want the two experimental hosts", hosts)
			}
			if got := pageText(t, ctx, `#halt-hosts`); !strings.Contains(got, "checkout-2.eu-west-1.example.internal (w2), fault from 12:04:10.000Z") || !strings.Contains(got, "checkout-3.eu-west-1.example.internal (w3)") {
				t.Errorf("the evidence's hosts read %q", got)
			}
			noSideways(t, ctx, width, "checkout-guarded")
			screenshot(t, ctx, fmt.Sprintf("run-guardrail-halted-%d", width))
			if width == 1300 {
				readme(t, ctx, "review-halted.png", true)
			}

			// A deviation guardrail's halt draws each experimental host's level over the
			// halting look, the one beyond the tolerance on its own in red; no threshold
			// line, as its threshold is a test statistic.
			load(t, ctx, ui+"runs/payments-deviation", `#halt-reason`)
			type level struct {
				Host   string  `json:"host"`
				Y      float64 `json:"y"`
				Beyond bool    `json:"beyond"`
			}
			levels, err := chromedp.Run(ctx, chromedp.Evaluate[[]level](`Array.from(document.querySelectorAll("figure.timechart svg g.breach-host-level")).map(g => { const l = g.querySelector("line"); return {host: g.querySelector("title").textContent, y: +l.getAttribute("y1"), beyond: l.classList.contains("beyond")}; })`))
			if err != nil {
				t.Fatal(err)
			}
			if len(levels) != 2 || !strings.HasPrefix(levels[0].Host, "checkout-2.eu-west-1.example.internal (w2): 12.7 ms") || !levels[0].Beyond || levels[1].Beyond || levels[0].Y >= levels[1].Y || levels[0].Y <= 0 {
				t.Errorf("the deviation halt's hosts: %+v, want w2 beyond and above w3", levels)
			}
			if n := pageCount(t, ctx, `figure.timechart svg line.threshold`); n != 0 {
				t.Errorf("the deviation halt's chart draws %d threshold lines", n)
			}
			noSideways(t, ctx, width, "payments-deviation")
			screenshot(t, ctx, fmt.Sprintf("run-deviation-halted-%d", width))

			// Every other page fits too; an unknown one answers inside the layout.
			for _, p := range []string{"workers", "cluster", "audit", "schedules"} {
				load(t, ctx, ui+p, `main h1`)
				noSideways(t, ctx, width, p)
			}
			if n := pageCount(t, ctx, `table.schedules ul.decisions .badge.refuted`); n < 2 {
				t.Errorf("the schedule's recent decisions show %d refuted badges", n)
			}
			// The next slot shows only while the schedule can fire.
			nextSlot := func() string { return pageText(t, ctx, `table.schedules tbody tr td:nth-of-type(2)`) }
			if got := nextSlot(); got != "2026-03-01 12:12:00 UTC" {
				t.Errorf("the schedule's next slot reads %q", got)
			}
			for _, c := range []struct {
				pause *murphyv1.PauseSchedules
				want  string
			}{
				{&murphyv1.PauseSchedules{Paused: true, ScheduleId: "nightly-1"}, "paused (this schedule)"},
				{&murphyv1.PauseSchedules{Paused: false, ScheduleId: "nightly-1"}, "2026-03-01 12:12:00 UTC"},
				{&murphyv1.PauseSchedules{Paused: true}, "paused"},
				{&murphyv1.PauseSchedules{Paused: false}, "2026-03-01 12:12:00 UTC"},
			} {
				x.apply(time.Now(), &murphyv1.Command{By: "admin:ada", Cmd: &murphyv1.Command_PauseSchedules{PauseSchedules: c.pause}})
				load(t, ctx, ui+"schedules", `table.schedules`)
				if got := nextSlot(); got != c.want {
					t.Errorf("after %v the next slot reads %q, want %q", c.pause, got, c.want)
				}
			}
			badges = badgesOf(t, ctx, "table.schedules tbody tr")
			if b := badges["checkout-nightly"]; b.Text != "refuted" || b.BG != bg["refuted"] {
				t.Errorf("the schedule's last run shows %+v, want the refuted badge", b)
			}
			// The schedule leads to its experiment's trend: a dot and bar per verdict, the
			// streak and the counts, a link to each run.
			if err := chromedp.Do(ctx, chromedp.Click(`table.schedules a[href="/ui/experiments/checkout"]`), chromedp.WaitVisible(`#streak`)); err != nil {
				t.Fatal(err)
			}
			if n := pageCount(t, ctx, `figure.trend svg circle.est`); n != 9 {
				t.Errorf("the trend draws %d estimates, want one for each of the 9 runs with a verdict", n)
			}
			if n := pageCount(t, ctx, `figure.trend svg line.tolerance`); n != 1 {
				t.Errorf("the trend draws %d tolerance lines, want 1", n)
			}
			streak := pageText(t, ctx, `#streak`)
			if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#streak .badge").dataset.badge`)); (width == 1300 && got != "refuted") || (width == 390 && got != "halted") {
				t.Errorf("the trend leads with the %q badge, want the newest finished run's", got)
			}
			if !strings.Contains(streak, "refuted 6") || !strings.Contains(streak, "upheld 2") || !strings.Contains(streak, "inconclusive 1") {
				t.Errorf("the trend's streak reads %q", streak)
			}
			if n := pageCount(t, ctx, `table.trend-runs a[href^="/ui/runs/checkout-"]`); n != 12 {
				t.Errorf("the trend links %d runs, want 12", n)
			}
			noSideways(t, ctx, width, "experiment trend")
			screenshot(t, ctx, fmt.Sprintf("experiment-%d", width))
			if width == 1300 {
				if got := pageText(t, ctx, `#streak`); !strings.Contains(got, "the last 3 runs refuted in a row") {
					t.Errorf("at first the streak reads %q", got)
				}
				readme(t, ctx, "review-trend.png", false)
			}
			load(t, ctx, ui+"no/such/page", `main h1`)
			if got := pageText(t, ctx, `main h1`); got != "Page not found" || pageCount(t, ctx, `nav[aria-label=Main]`) != 1 || pageCount(t, ctx, `a.skip[href="#main"]`) != 1 || pageCount(t, ctx, `main#main`) != 1 {
				t.Errorf("an unknown page: %q, with the layout's navigation and skip link %d %d", got, pageCount(t, ctx, `nav[aria-label=Main]`), pageCount(t, ctx, `a.skip[href="#main"]`))
			}

			// An operator halts a run: the confirmation is a page of its own (GET), the
			// halt a POST, and the reverts fill in as the workers confirm them.
			load(t, ctx, ui+"runs/"+live, `#reason`)
			// While it runs, its charts redraw as summaries arrive, without a reload.
			points := `(() => { const p = document.querySelector("figure.timechart svg polyline.line.experiment:not(.p90)"); return p ? p.points.length : 0; })()`
			before, err := chromedp.Run(ctx, chromedp.Evaluate[int](points))
			if err != nil || before == 0 {
				t.Fatalf("the live run's chart has %d points (%v)", before, err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
				t.Fatal(err)
			}
			// A change applied before the page's event stream subscribes would go unseen
			// until the next one: wait for the stream.
			streams.wait(t, live)
			started := x.f.Run(live).GetCreatedAt().AsTime()
			var more []*murphyv1.IntervalSummary
			for s := 40; s < 45; s++ {
				more = append(more, &murphyv1.IntervalSummary{Metric: "latency", Group: murphyv1.Group_GROUP_EXPERIMENT, Start: timestamppb.New(started.Add(time.Duration(s) * time.Second)), End: timestamppb.New(started.Add(time.Duration(s+1) * time.Second)), Count: 20, Mean: 0.02, P50: 0.02, P90: 0.024, P99: 0.03, Min: 0.01, Max: 0.04})
			}
			x.apply(time.Now(), &murphyv1.Command{Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: live, Summaries: more}}})
			redrawn := time.Now().Add(10 * time.Second)
			for {
				n, err := chromedp.Run(ctx, chromedp.Evaluate[int](points))
				if err != nil {
					t.Fatal(err)
				}
				if n == before+5 {
					break
				}
				if time.Now().After(redrawn) {
					t.Fatalf("the live chart has %d points ten seconds after 5 more intervals, want %d", n, before+5)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !kept {
				t.Errorf("the page reloaded to redraw its chart (%v)", err)
			}
			if err := chromedp.Do(ctx, chromedp.SendKeys(`#reason`, "pager went off"), chromedp.Click(`#halt`), chromedp.WaitVisible(`#confirm-halt`)); err != nil {
				t.Fatal(err)
			}
			if loc := location(t, ctx); !strings.HasSuffix(loc, "/ui/runs/"+live+"/halt?reason=pager+went+off") {
				t.Errorf("the confirmation is at %q", loc)
			}
			noSideways(t, ctx, width, "halt confirmation")
			if err := chromedp.Do(ctx, chromedp.Click(`#confirm-halt`), chromedp.WaitVisible(`#reverts-summary`)); err != nil {
				t.Fatal(err)
			}
			if got := pageText(t, ctx, `#reverts-summary`); got != "0 of 2 experimental workers reverted so far; waiting for w2, w3." {
				t.Errorf("just after the halt the reverts read %q", got)
			}
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
				t.Fatal(err)
			}
			halt := x.f.Run(live).GetHalt().GetAt().AsTime()
			for i, w := range []string{"w2", "w3"} {
				x.apply(time.Now(), &murphyv1.Command{Cmd: &murphyv1.Command_RecordRevert{RecordRevert: &murphyv1.RecordRevert{RunId: live, Reverts: []*murphyv1.WorkerRevert{
					{WorkerId: w, At: timestamppb.New(halt.Add(time.Duration(12+10*i) * time.Millisecond)), Cause: murphyv1.RevertCause_REVERT_CAUSE_HALT}}}}})
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				// Read in one evaluation: the fragment may be replaced between a query and a read.
				got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#reverts-summary") || {}).textContent || ""`))
				if err != nil {
					t.Fatal(err)
				}
				if got == "2 of 2 experimental workers reverted, slowest 22 ms." {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the reverts still read %q ten seconds after the workers confirmed", got)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !kept {
				t.Errorf("the page reloaded to show the reverts (%v)", err)
			}
			if n := pageCount(t, ctx, `#reverts-table tbody tr:not(.pending)`); n != 2 {
				t.Errorf("%d reverts in the table, want 2", n)
			}
		})
	}
}

// streamWatch notes the runs whose event stream has subscribed: a stream's first flush
// comes after it subscribed to the FSM's changes.
type streamWatch struct {
	mu   sync.Mutex
	runs map[string]bool
}

func (s *streamWatch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui/events" {
			w = &flushWatch{ResponseWriter: w, flushed: func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.runs == nil {
					s.runs = map[string]bool{}
				}
				s.runs[r.URL.Query().Get("run")] = true
			}}
		}
		h.ServeHTTP(w, r)
	})
}

func (s *streamWatch) wait(t *testing.T, run string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		ok := s.runs[run]
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page of %s opened no event stream in ten seconds", run)
		}
	}
}

type flushWatch struct {
	http.ResponseWriter
	flushed func()
}

func (f *flushWatch) Flush() {
	f.ResponseWriter.(http.Flusher).Flush()
	f.flushed()
}

// badgesOf maps the run ID first linked from each row matching sel to the row's first
// badge.
func badgesOf(t *testing.T, ctx context.Context, sel string) map[string]badgeSeen {
	t.Helper()
	type row struct {
		ID    string      `json:"id"`
		Badge []badgeSeen `json:"badge"`
	}
	js := fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(tr => { const a = tr.querySelector("a[href^='/ui/runs/']"); tr.dataset.probe = "1"; const b = %s("tr[data-probe] .badge"); delete tr.dataset.probe; return {id: a ? a.textContent.trim() : "", badge: b}; })`, sel, contrastJS)
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](js))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]badgeSeen{}
	for _, r := range rows {
		if len(r.Badge) >= 1 { // the row's first badge: a schedule's last run
			out[r.ID] = r.Badge[0]
		}
	}
	return out
}

// lowContrastJS lists the text outside charts whose colour against its effective
// background (the nearest ancestor's opaque background) is below 4.5:1.
const lowContrastJS = `(() => {
  const rgba = s => s.match(/[\d.]+/g).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bgOf = el => { for (; el; el = el.parentElement) { const c = rgba(getComputedStyle(el).backgroundColor); if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg") || el.closest(".skip")) continue;
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === "hidden" || cs.display === "none") continue;
    const a = lum(rgba(cs.color)), b = lum(bgOf(el)), r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (r < 4.5) out.push(el.tagName + "." + el.className + " " + JSON.stringify(el.textContent.trim().slice(0, 30)) + " " + r.toFixed(2));
  }
  return out;
})()`

// noSideways fails unless the page is exactly as wide as the viewport, and unless all
// its text (charts aside) has a contrast of at least 4.5:1.
func noSideways(t *testing.T, ctx context.Context, width int64, page string) {
	t.Helper()
	low, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](lowContrastJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(low) > 0 {
		t.Errorf("%s at %d px: text below 4.5:1 contrast: %q", page, width, low)
	}
	type widths struct {
		Doc  int64  `json:"doc"`
		View int64  `json:"view"`
		Wide string `json:"wide"`
	}
	// Wide names the first element that sticks out, to say what to fix.
	w, err := chromedp.Run(ctx, chromedp.Evaluate[widths](`(() => {
		const view = document.documentElement.clientWidth;
		let wide = "";
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.right > view + 1 && !el.closest(".scroll, table, pre, figure")) { wide = el.tagName + (el.id ? "#" + el.id : "") + "." + el.className; break; }
		}
		return {doc: document.documentElement.scrollWidth, view: view, wide: wide};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if w.Doc != w.View || w.View != width {
		t.Errorf("%s at %d px: the page is %d px wide in a %d px viewport (first too wide: %s)", page, width, w.Doc, w.View, w.Wide)
	}
}

func load(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(sel)); err != nil {
		t.Fatalf("load %s and wait for %s: %v", url, sel, err)
	}
}

func pageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func pageCount(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	return u.RequestURI()
}

// reviewBrowser starts headless Chromium, or skips (fails with MURPHY_REQUIRE_CHROMIUM).
func reviewBrowser(t *testing.T) context.Context {
	// Both widths walk every page; beside other tests on two loaded cores one width alone
	// has taken three minutes.
	return testenv.Browser(t, 8*time.Minute, chromedp.WindowSize(1300, 900))
}

// screenshot keeps a full-page PNG in $MURPHY_ARTIFACTS/murphy-ui (or the temp dir).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MURPHY_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	save(t, ctx, filepath.Join(dir, "murphy-ui", name+".png"), true)
}

// readme saves the viewport (or the full page) as one of the README's screenshots when
// MURPHY_README_SCREENSHOTS names their directory (deploy/docs).
func readme(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	if dir := os.Getenv("MURPHY_README_SCREENSHOTS"); dir != "" {
		save(t, ctx, filepath.Join(dir, name), full)
	}
}

func save(t *testing.T, ctx context.Context, path string, full bool) {
	t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
