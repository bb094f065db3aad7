package runner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func probeMetric(name string, measure spec.Measure, dir spec.Direction, tol *spec.Tolerance) *spec.Metric {
	return &spec.Metric{
		Name:      name,
		Source:    &spec.MetricSource{Probe: &spec.ProbeSource{Kind: &murphyv1.Probe_Http{Http: &spec.HTTPProbe{}}, Interval: durationpb.New(100 * time.Millisecond), Measure: measure}},
		Direction: dir, Tolerance: tol,
	}
}

func f64p(v float64) *float64 { return &v }

// addProbeSamples stores one probe's samples for every member: n baseline samples before
// simT0 and n in the fault window, one every 100 ms. fail says whether an experimental
// sample in the window fails; a failed request is answered fast.
func addProbeSamples(samples *fleet.Samples, run *murphyv1.Run, rng *rand.Rand, n int, fail func() bool) {
	for _, ids := range [][]string{run.Groups.Control, run.Groups.Experiment} {
		for _, id := range ids {
			level := simMedian * math.Exp(0.1*rng.NormFloat64())
			var lat, ok []fleet.Point
			for i := -n; i < n; i++ {
				at := simT0.Add(time.Duration(i) * 100 * time.Millisecond)
				v, good := level*math.Exp(0.3*rng.NormFloat64()), true
				if i >= 0 && id[0] == 'e' && fail() {
					v, good = 0.0001, false // an http.abort answers at once
				}
				success := 0.0
				if good {
					success = 1
				}
				lat = append(lat, fleet.Point{At: at, Value: v, OK: good})
				ok = append(ok, fleet.Point{At: at, Value: success, OK: good})
			}
			samples.AddPoints(run.Id, "latency", id, lat)
			samples.AddPoints(run.Id, "success", id, ok)
		}
	}
}

// TestJudgeFailFastIsNotFaster: a fault that answers 5% of the experimental hosts'
// requests at once with an error must refute the success metric (absolute tolerance
// 0.02) and must not read as lower latency: failures are not latency samples.
func TestJudgeFailFastIsNotFaster(t *testing.T) {
	sp := &spec.Experiment{
		Baseline: durationpb.New(15 * time.Second),
		Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{
			probeMetric("latency", spec.MeasureLatency, spec.DirectionEither, &spec.Tolerance{Relative: f64p(0.10)}),
			probeMetric("success", spec.MeasureSuccess, spec.DirectionDecrease, &spec.Tolerance{Absolute: f64p(0.02)}),
		}},
	}
	sp.Hypothesis.Metrics[1].Critical = true
	run := simRun(6, 15*time.Second)
	samples := fleet.NewSamples()
	rng := rand.New(rand.NewPCG(3, 4))
	addProbeSamples(samples, run, rng, 150, func() bool { return rng.Float64() < 0.05 })
	v, err := Judge(sp, run, samples, simT0, simT0.Add(15*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	lat, ok := v.Metrics[0], v.Metrics[1]
	t.Logf("latency: %s\nsuccess: %s", lat.Reason, ok.Reason)
	if v.Outcome != murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED || ok.Outcome != murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
		t.Errorf("verdict %v, success %v: want the success metric deviated and the hypothesis refuted", v.Outcome, ok.Outcome)
	}
	if ok.Kind != "proportion" || ok.Unit != "target" || ok.TargetsExperiment != 6 || ok.TargetsControl != 6 {
		t.Errorf("success judged as %s per %s with %d vs %d targets, want a proportion per target, 6 vs 6", ok.Kind, ok.Unit, ok.TargetsExperiment, ok.TargetsControl)
	}
	if ok.RelHigh >= 0 || math.Abs(ok.ExperimentLevel-0.95) > 0.02 || ok.ControlLevel != 1 {
		t.Errorf("success levels control %v experiment %v, change CI high %v: want about 95%% against 100%%", ok.ControlLevel, ok.ExperimentLevel, ok.RelHigh)
	}
	if lat.RelLow < -0.10 || lat.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
		t.Errorf("latency %v, CI low %+.1f%%: failed requests read as faster ones", lat.Outcome, 100*lat.RelLow)
	}
	if lat.NExperiment >= lat.NControl {
		t.Errorf("latency used %d experimental samples against %d control: failed samples were not left out", lat.NExperiment, lat.NControl)
	}
}

// TestFutility: a run whose baseline shows its groups cannot settle the question ends
// before any fault, saying how many targets it would need; one that can, or that allows
// underpowered runs, goes ahead.
func TestFutility(t *testing.T) {
	tests := []struct {
		name        string
		hosts       int
		noise       float64
		tolerance   float64
		allow       bool
		wantVerdict bool
	}{
		{"quiet hosts, six per group", 6, 0.05, 0.10, false, false},
		{"noisy hosts, two per group, tight tolerance", 2, 1.0, 0.02, false, true},
		{"the same, allowed to run underpowered", 2, 1.0, 0.02, true, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spec.Experiment{
				Baseline: durationpb.New(10 * time.Second),
				Hypothesis: &spec.Hypothesis{Confidence: 0.95, AllowUnderpowered: tc.allow, Metrics: []*spec.Metric{
					probeMetric("latency", spec.MeasureLatency, spec.DirectionIncrease, &spec.Tolerance{Relative: f64p(tc.tolerance)}),
				}},
				Steps: []*spec.Step{{Fault: &murphyv1.FaultSpec{Kind: "http.delay", Duration: durationpb.New(10 * time.Second)}}},
			}
			run := simRun(tc.hosts, 10*time.Second)
			run.Steps = nil
			samples := fleet.NewSamples()
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			for _, ids := range [][]string{run.Groups.Control, run.Groups.Experiment} {
				for _, id := range ids {
					var pts []fleet.Point
					for j := -100; j < 0; j++ {
						pts = append(pts, fleet.Point{At: simT0.Add(time.Duration(j) * 100 * time.Millisecond), Value: simMedian * math.Exp(tc.noise*rng.NormFloat64()), OK: true})
					}
					samples.AddPoints(run.Id, "latency", id, pts)
				}
			}
			v := Futility(sp, run, samples, simT0)
			if (v != nil) != tc.wantVerdict {
				t.Fatalf("verdict before fault %v, want one: %v", v, tc.wantVerdict)
			}
			if v == nil {
				return
			}
			m := v.Metrics[0]
			if !v.BeforeFault || v.Outcome != murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE || m.TargetsNeeded <= int64(tc.hosts) {
				t.Errorf("verdict %v before fault %v, targets needed %d: want inconclusive before any fault, needing more than %d", v.Outcome, v.BeforeFault, m.TargetsNeeded, tc.hosts)
			}
			for _, want := range []string{"nothing was injected", fmt.Sprintf("about %d targets per group", m.TargetsNeeded), "allowUnderpowered"} {
				if !strings.Contains(v.Reason, want) {
					t.Errorf("reason %q does not say %q", v.Reason, want)
				}
			}
		})
	}
}

// TestSpecWarnings: a deviation guardrail warns about too few targets and a short
// baseline; absolute guardrails and a long enough baseline do not.
func TestSpecWarnings(t *testing.T) {
	rel := 0.5
	dev := &spec.AbortCondition{Metric: "latency", Deviation: &spec.Tolerance{Relative: &rel}}
	above := 1.0
	abs := &spec.AbortCondition{Metric: "latency", Above: &above}
	tests := []struct {
		name     string
		abort    []*spec.AbortCondition
		baseline time.Duration
		n        int
		want     []string
	}{
		{"absolute only", []*spec.AbortCondition{abs}, 30 * time.Second, 2, nil},
		{"deviation, enough hosts and baseline", []*spec.AbortCondition{dev}, 2 * time.Minute, 6, nil},
		{"deviation, short baseline", []*spec.AbortCondition{dev}, 30 * time.Second, 6, []string{"a baseline of 30s makes them slow to halt"}},
		{"deviation, too few hosts", []*spec.AbortCondition{dev}, 5 * time.Minute, 3, []string{"needs at least 4 targets per group"}},
		{"deviation, few hosts", []*spec.AbortCondition{dev}, 2 * time.Minute, 5, []string{"but slowly"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spec.Experiment{Abort: tc.abort, Baseline: durationpb.New(tc.baseline)}
			got := SpecWarnings(sp, tc.n, tc.n)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q lacks %q", got[i], w)
				}
			}
		})
	}
}

// TestJudgeNothing: a spec that declares no steady state (metrics: []) is judged
// inconclusive with nothing to judge, not failed by the analysis, and says so at
// submission.
func TestJudgeNothing(t *testing.T) {
	sp := &spec.Experiment{Baseline: durationpb.New(10 * time.Second), Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{}}}
	run := simRun(2, 10*time.Second)
	v, err := Judge(sp, run, fleet.NewSamples(), simT0, simT0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome != murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE || v.Reason != NothingToJudge || len(v.Metrics) != 0 || !v.WindowEnd.AsTime().Equal(simT0.Add(10*time.Second)) {
		t.Errorf("verdict %v", v)
	}
	if ws := SpecWarnings(sp, 1, 1); len(ws) != 1 || !strings.Contains(ws[0], "the hypothesis has no metrics") {
		t.Errorf("warnings %q", ws)
	}
	if Futility(sp, run, fleet.NewSamples(), simT0) != nil {
		t.Error("futility stopped a run with nothing to plan")
	}
}
