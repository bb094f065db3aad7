package analysis

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func normalSample(r *rand.Rand, n int, mean, sd float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = mean + sd*r.NormFloat64()
	}
	return x
}

// ar1Sample draws a stationary AR(1) series: what per-second samples from one instance
// look like.
func ar1Sample(r *rand.Rand, n int, mean, sd, phi float64) []float64 {
	x := make([]float64, n)
	prev := r.NormFloat64()
	innov := math.Sqrt(1 - phi*phi)
	for i := range x {
		prev = phi*prev + innov*r.NormFloat64()
		x[i] = mean + sd*prev
	}
	return x
}

func TestJudgeOutcomes(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	rel10 := Tolerance{Relative: 0.10, IsRelative: true}
	tests := []struct {
		name        string
		metrics     []Metric
		want        Outcome
		wantMetric  []MetricOutcome
		reasonParts []string
	}{
		{
			name: "latency rose beyond tolerance",
			metrics: []Metric{{Name: "latency", Direction: DirectionIncrease, Tolerance: rel10, Critical: true,
				Control: normalSample(r, 400, 100, 10), Experiment: normalSample(r, 400, 134, 10)}},
			want: OutcomeRefuted, wantMetric: []MetricOutcome{MetricDeviated},
			reasonParts: []string{"latency rose", "95% CI", "beyond the 10% tolerance"},
		},
		{
			name: "no change, plenty of data",
			metrics: []Metric{{Name: "latency", Direction: DirectionIncrease, Tolerance: rel10,
				Control: normalSample(r, 2000, 100, 10), Experiment: normalSample(r, 2000, 100, 10)}},
			want: OutcomeUpheld, wantMetric: []MetricOutcome{MetricWithinTolerance},
			reasonParts: []string{"within tolerance"},
		},
		{
			name: "too noisy to tell",
			metrics: []Metric{{Name: "latency", Direction: DirectionIncrease, Tolerance: rel10,
				Control: normalSample(r, 20, 100, 30), Experiment: normalSample(r, 20, 108, 30)}},
			want: OutcomeInconclusive, wantMetric: []MetricOutcome{MetricInconclusive},
			reasonParts: []string{"straddles the 10% tolerance", "per group"},
		},
		{
			name: "throughput fell, absolute tolerance",
			metrics: []Metric{{Name: "throughput", Direction: DirectionDecrease, Tolerance: Tolerance{Absolute: 5},
				Control: normalSample(r, 300, 200, 8), Experiment: normalSample(r, 300, 170, 8)}},
			want: OutcomeRefuted, wantMetric: []MetricOutcome{MetricDeviated},
			reasonParts: []string{"throughput fell by", "beyond the 5 tolerance"},
		},
		{
			name: "missing data is never a pass",
			metrics: []Metric{
				{Name: "latency", Direction: DirectionIncrease, Tolerance: rel10,
					Control: normalSample(r, 2000, 100, 10), Experiment: normalSample(r, 2000, 100, 10)},
				{Name: "cpu", Direction: DirectionIncrease, Tolerance: rel10, Control: normalSample(r, 50, 1, 0.1)},
			},
			want: OutcomeInconclusive, wantMetric: []MetricOutcome{MetricWithinTolerance, MetricInconclusive},
			reasonParts: []string{"cpu is missing data"},
		},
		{
			name: "doubled error rate",
			metrics: []Metric{{Name: "errors", Direction: DirectionIncrease, Tolerance: Tolerance{Relative: 0.2, IsRelative: true},
				Counts: &Counts{BadControl: 100, TotalControl: 100000, BadExperiment: 200, TotalExperiment: 100000}}},
			want: OutcomeRefuted, wantMetric: []MetricOutcome{MetricDeviated},
			reasonParts: []string{"errors rose 100%", "beyond the 20% tolerance"},
		},
		{
			name: "error rate unchanged within an absolute tolerance",
			metrics: []Metric{{Name: "errors", Direction: DirectionIncrease, Tolerance: Tolerance{Absolute: 0.005},
				Counts: &Counts{BadControl: 1000, TotalControl: 100000, BadExperiment: 1010, TotalExperiment: 100000}}},
			want: OutcomeUpheld, wantMetric: []MetricOutcome{MetricWithinTolerance},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Judge(tc.metrics, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tc.want {
				t.Errorf("outcome %q, want %q (%s)", v.Outcome, tc.want, v.Reason)
			}
			for i, want := range tc.wantMetric {
				mv := v.Metrics[i]
				if mv.Outcome != want {
					t.Errorf("%s: %q, want %q (%s)", mv.Name, mv.Outcome, want, mv.Reason)
				}
				assertVerdictFinite(t, mv)
				if mv.Outcome == MetricInconclusive && mv.Kind == KindContinuous && mv.P != 0 &&
					mv.SamplesNeeded <= min(mv.NControl, mv.NExperiment) {
					t.Errorf("%s: inconclusive but SamplesNeeded = %d", mv.Name, mv.SamplesNeeded)
				}
			}
			all := v.Reason
			for _, mv := range v.Metrics {
				all += " | " + mv.Reason
			}
			for _, part := range tc.reasonParts {
				if !strings.Contains(all, part) {
					t.Errorf("reason %q lacks %q", all, part)
				}
			}
		})
	}
}

func assertVerdictFinite(t *testing.T, mv MetricVerdict) {
	t.Helper()
	for name, v := range map[string]float64{
		"ControlMedian": mv.ControlMedian, "ExperimentMedian": mv.ExperimentMedian, "U": mv.U, "P": mv.P,
		"Alpha": mv.Alpha, "Shift": mv.Shift, "ShiftLow": mv.ShiftLow, "ShiftHigh": mv.ShiftHigh,
		"RelChange": mv.RelChange, "RelLow": mv.RelLow, "RelHigh": mv.RelHigh, "WelchT": mv.WelchT,
		"WelchDF": mv.WelchDF, "WelchP": mv.WelchP, "Lag1Control": mv.Lag1Control,
		"Lag1Experiment": mv.Lag1Experiment, "ToleranceValue": mv.ToleranceValue, "RateRatio": mv.RateRatio,
	} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s: %s = %v", mv.Name, name, v)
		}
	}
}

func TestHolmLevels(t *testing.T) {
	mvs := []MetricVerdict{{PTolerance: 0.04}, {PTolerance: 0.001}, {PTolerance: 0.02}, {PTolerance: 0.04, Critical: true}, {PTolerance: 0.5}}
	ok := []bool{true, true, true, true, false}
	assignLevels(mvs, ok, 0.05)
	tests := []struct {
		name  string
		alpha float64
		sig   bool
	}{
		{"a", 0.05 / 2, false}, // third smallest of four: 0.05/2, and Holm stops here
		{"b", 0.05 / 4, true},
		{"c", 0.05 / 3, false},
		{"d", 0.05, false}, // critical: in the same family, no level of its own
		{"e", 0, false},    // no data: not tested
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !relClose(mvs[i].Alpha, tc.alpha, 1e-15) || mvs[i].Significant != tc.sig {
				t.Errorf("alpha %v significant %v, want %v %v", mvs[i].Alpha, mvs[i].Significant, tc.alpha, tc.sig)
			}
		})
	}
	// All pass when each clears its step: 0.001 ≤ 0.0125, 0.015 ≤ 0.0167, 0.02 ≤ 0.025, 0.04 ≤ 0.05.
	mvs = []MetricVerdict{{PTolerance: 0.04}, {PTolerance: 0.001}, {PTolerance: 0.015}, {PTolerance: 0.02}}
	assignLevels(mvs, []bool{true, true, true, true}, 0.05)
	for i, mv := range mvs {
		if !mv.Significant {
			t.Errorf("metric %d (p %v, level %v) not significant", i, mv.PTolerance, mv.Alpha)
		}
	}
}

func TestJudgeRejectsMalformedRequests(t *testing.T) {
	good := Metric{Name: "m", Direction: DirectionIncrease, Control: []float64{1, 2}, Experiment: []float64{1, 2}}
	tests := []struct {
		name    string
		metrics []Metric
		opts    Options
	}{
		{"no metrics", nil, Options{}},
		{"duplicate", []Metric{good, good}, Options{}},
		{"no name", []Metric{{Direction: DirectionIncrease}}, Options{}},
		{"no direction", []Metric{{Name: "m"}}, Options{}},
		{"negative tolerance", []Metric{{Name: "m", Direction: DirectionIncrease, Tolerance: Tolerance{Absolute: -1}}}, Options{}},
		{"NaN tolerance", []Metric{{Name: "m", Direction: DirectionIncrease, Tolerance: Tolerance{Relative: math.NaN(), IsRelative: true}}}, Options{}},
		{"samples and counts", []Metric{{Name: "m", Direction: DirectionIncrease, Control: []float64{1}, Counts: &Counts{}}}, Options{}},
		{"confidence 1", []Metric{good}, Options{Confidence: 1}},
		{"negative alpha", []Metric{good}, Options{FamilyAlpha: -0.1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Judge(tc.metrics, tc.opts); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("err %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestParseDirection(t *testing.T) {
	for _, d := range []Direction{DirectionIncrease, DirectionDecrease, DirectionEither} {
		t.Run(d.String(), func(t *testing.T) {
			got, err := ParseDirection(" " + strings.ToUpper(d.String()) + " ")
			if err != nil || got != d {
				t.Errorf("ParseDirection(%q) = %v, %v", d.String(), got, err)
			}
		})
	}
	if _, err := ParseDirection("up"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ParseDirection(up): err %v", err)
	}
}

// poisson draws by multiplying uniforms (Knuth); fine for the small means used here.
func poisson(r *rand.Rand, mean float64) int64 {
	limit, p, k := math.Exp(-mean), 1.0, int64(0)
	for {
		p *= r.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}
