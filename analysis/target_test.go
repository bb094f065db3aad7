package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// --- Reference values (testdata/target-reference.json, gen_target_reference.py) -----

type targetRefTarget struct {
	ID       string    `json:"id"`
	Baseline []float64 `json:"baseline"`
	Window   []float64 `json:"window"`
}

type targetRefSummary struct {
	ID         string  `json:"id"`
	Experiment bool    `json:"experiment"`
	D          float64 `json:"d"`
	Window     float64 `json:"window"`
	Baseline   float64 `json:"baseline"`
	Change     float64 `json:"change"`
	Beyond     bool    `json:"beyond"`
}

type targetRefWant struct {
	Scale           string             `json:"scale"`
	Method          string             `json:"method"`
	Targets         []targetRefSummary `json:"targets"`
	Floored         []bool             `json:"floored"`
	Effect          float64            `json:"effect"`
	SE              float64            `json:"se"`
	T               float64            `json:"t"`
	DF              float64            `json:"df"`
	P               float64            `json:"p"`
	PTwoSided       float64            `json:"p_two_sided"`
	PTolerance      float64            `json:"p_tolerance"`
	Low             float64            `json:"low"`
	High            float64            `json:"high"`
	RelChange       float64            `json:"rel_change"`
	RelLow          float64            `json:"rel_low"`
	RelHigh         float64            `json:"rel_high"`
	Up              float64            `json:"up"`
	Down            *float64           `json:"down"` // null: no lower boundary
	ControlLevel    float64            `json:"control_level"`
	ExperimentLevel float64            `json:"experiment_level"`
	ControlBase     float64            `json:"control_base"`
	SDControl       float64            `json:"sd_control"`
	SDExperiment    float64            `json:"sd_experiment"`
	WithinSD        float64            `json:"within_sd"`
	TargetsNeeded   int                `json:"targets_needed"`
	Halt            *struct {
		Looks    int      `json:"looks"`
		Alpha    float64  `json:"alpha"`
		Level    float64  `json:"level"`
		DF       float64  `json:"df"`
		T        *float64 `json:"t"` // null: −∞
		Critical float64  `json:"critical"`
		Halt     bool     `json:"halt"`
	} `json:"halt"`
	Plan *struct {
		WindowOverBaseline float64 `json:"window_over_baseline"`
		HalfWidth          float64 `json:"half_width"`
		Distance           float64 `json:"distance"`
		TargetsNeeded      int     `json:"targets_needed"`
		CanDecide          bool    `json:"can_decide"`
	} `json:"plan"`
}

type targetRefCase struct {
	Name      string `json:"name"`
	Direction string `json:"direction"`
	Tolerance struct {
		Relative   float64 `json:"relative"`
		Absolute   float64 `json:"absolute"`
		IsRelative bool    `json:"is_relative"`
	} `json:"tolerance"`
	Proportion bool              `json:"proportion"`
	Confidence float64           `json:"confidence"`
	Control    []targetRefTarget `json:"control"`
	Experiment []targetRefTarget `json:"experiment"`
	Want       targetRefWant     `json:"want"`
}

type targetRefQuantile struct {
	P   float64 `json:"p"`
	DF  float64 `json:"df"`
	PPF float64 `json:"ppf"` // scipy.stats.t.ppf as returned (cdflib: ~1e-9 relative)
	Q   float64 `json:"q"`   // polished on t.sf / t.cdf and checked against closed forms
}

type targetRefDoc struct {
	Generator string              `json:"generator"`
	Quantiles []targetRefQuantile `json:"quantiles"`
	Cases     []targetRefCase     `json:"cases"`
}

func loadTargetReference(t *testing.T) targetRefDoc {
	t.Helper()
	raw, err := os.ReadFile("testdata/target-reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc targetRefDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) == 0 || len(doc.Quantiles) == 0 {
		t.Fatal("target-reference.json has no cases or no quantiles")
	}
	return doc
}

func (c targetRefCase) data() TargetData {
	d := TargetData{Proportion: c.Proportion}
	for _, t := range c.Control {
		d.Control = append(d.Control, Target(t))
	}
	for _, t := range c.Experiment {
		d.Experiment = append(d.Experiment, Target(t))
	}
	return d
}

func (c targetRefCase) tolerance() Tolerance {
	return Tolerance{Relative: c.Tolerance.Relative, Absolute: c.Tolerance.Absolute, IsRelative: c.Tolerance.IsRelative}
}

// relErrs records the largest relative error seen per quantity, for the log.
type relErrs map[string]float64

// check compares with refTol relative error; exact zeros must match exactly.
func (e relErrs) check(t *testing.T, what string, got, want float64) {
	t.Helper()
	err := 0.0
	switch {
	case got == want:
	case want == 0 || math.IsNaN(got) || math.IsInf(got, 0):
		err = math.Inf(1)
	default:
		err = math.Abs(got-want) / math.Abs(want)
	}
	e[what] = math.Max(e[what], err)
	if err > refTol {
		t.Errorf("%s = %.17g, want %.17g (relative error %.3g)", what, got, want, err)
	}
}

func (e relErrs) log(t *testing.T) {
	t.Helper()
	var b strings.Builder
	for _, k := range []string{"quantile", "quantile vs raw scipy ppf", "T", "DF", "P", "P two-sided", "PTolerance",
		"Low", "High", "Effect", "SE", "RelChange", "RelLow", "RelHigh", "halt T", "halt critical", "plan half-width"} {
		if v, ok := e[k]; ok {
			fmt.Fprintf(&b, " %s %.2g;", k, v)
		}
	}
	t.Logf("largest relative errors:%s", b.String())
}

func TestStudentTQuantileReference(t *testing.T) {
	doc := loadTargetReference(t)
	errs := relErrs{}
	for _, q := range doc.Quantiles {
		got := StudentTQuantile(q.P, q.DF)
		errs.check(t, "quantile", got, q.Q)
		// SciPy 1.10's own t.ppf is only good to about 1e-9 (it differs from the
		// polished value by up to 2.5e-9 in this file), so it is held to 5e-9.
		if d := math.Abs(got-q.PPF) / math.Abs(q.PPF); d > 5e-9 {
			t.Errorf("StudentTQuantile(%v, %v) = %.17g, raw scipy ppf %.17g (relative %.3g)", q.P, q.DF, got, q.PPF, d)
		}
		errs["quantile vs raw scipy ppf"] = math.Max(errs["quantile vs raw scipy ppf"], math.Abs(got-q.PPF)/math.Abs(q.PPF))
		// The quantile inverts the tail the tests use.
		tail, want := studentTUpper(got, q.DF), 1-q.P
		if q.P < 0.5 {
			tail, want = studentTUpper(-got, q.DF), q.P // P(T ≤ got) = P(T > −got)
		}
		// For p < 0.5 StudentTQuantile works on the rounded 1 − p, whose upper tail
		// differs from p by up to half an ulp of 1 (see the report on precision).
		if math.Abs(tail-want) > 1e-12*want+0x1p-53 {
			t.Errorf("tail at StudentTQuantile(%v, %v) = %.17g, want %.17g", q.P, q.DF, tail, want)
		}
	}
	errs.log(t)
}

func TestStudentTQuantileEdges(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	pFar := 1 - 1e-9 // rounded to float64 here; 1 − pFar is then exact at run time
	tests := []struct {
		name  string
		p, df float64
		want  float64 // NaN means NaN
	}{
		{"median", 0.5, 3, 0},
		{"median, huge df", 0.5, 1e12, 0},
		{"p = 0", 0, 5, -inf},
		{"p < 0", -0.1, 5, -inf},
		{"p = 1", 1, 5, inf},
		{"p > 1", 1.5, 5, inf},
		{"NaN p", nan, 5, nan},
		{"NaN df", 0.9, nan, nan},
		{"zero df", 0.9, 0, nan},
		{"negative df", 0.9, -2, nan},
		{"infinite df is the normal", 0.975, inf, normalUpperQuantile(0.025)},
		{"df 1: Cauchy", 0.75, 1, 1},
		{"df 1: Cauchy far tail", pFar, 1, 1 / math.Tan(math.Pi*(1-pFar))},
		{"df 2: closed form", 0.95, 2, (2*0.95 - 1) / math.Sqrt(2*0.95*0.05)},
		{"df 2: closed form, lower", 0.05, 2, -(2*0.95 - 1) / math.Sqrt(2*0.95*0.05)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := StudentTQuantile(tc.p, tc.df)
			switch {
			case math.IsNaN(tc.want):
				if !math.IsNaN(got) {
					t.Errorf("StudentTQuantile(%v, %v) = %v, want NaN", tc.p, tc.df, got)
				}
			case math.IsInf(tc.want, 0) || tc.want == 0:
				if got != tc.want {
					t.Errorf("StudentTQuantile(%v, %v) = %v, want %v", tc.p, tc.df, got, tc.want)
				}
			default:
				if !relClose(got, tc.want, 1e-12) {
					t.Errorf("StudentTQuantile(%v, %v) = %.17g, want %.17g", tc.p, tc.df, got, tc.want)
				}
			}
		})
	}
	t.Run("symmetry and monotonicity", func(t *testing.T) {
		for _, df := range []float64{0.5, 1, 2.5, 9, 40, 1e4} {
			prev := math.Inf(-1)
			for _, p := range []float64{1e-6, 0.001, 0.02, 0.2, 0.45, 0.5, 0.55, 0.8, 0.98, 0.999, 1 - 1e-6} {
				q := StudentTQuantile(p, df)
				if !(q > prev) {
					t.Errorf("df %v: quantile(%v) = %v not above the previous %v", df, p, q, prev)
				}
				prev = q
				// 1 − p is rounded, so the mirrored quantile agrees to the rounding of p only.
				if m := StudentTQuantile(1-p, df); !relClose(m, -q, 1e-9) {
					t.Errorf("df %v: quantile(%v) = %v but quantile(%v) = %v", df, p, q, 1-p, m)
				}
			}
		}
	})
	t.Run("more df, smaller upper quantile", func(t *testing.T) {
		prev := math.Inf(1)
		for _, df := range []float64{1, 1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e6} {
			q := StudentTQuantile(1-1e-4, df)
			if !(q < prev) || !(q > normalUpperQuantile(1e-4)) {
				t.Errorf("df %v: quantile %v (previous %v, normal %v)", df, q, prev, normalUpperQuantile(1e-4))
			}
			prev = q
		}
	})
}

func TestCompareTargetsReference(t *testing.T) {
	doc := loadTargetReference(t)
	errs := relErrs{}
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			dir, err := ParseDirection(c.Direction)
			if err != nil {
				t.Fatal(err)
			}
			w := c.Want
			r, err := CompareTargets(c.data(), dir, c.tolerance(), c.Confidence)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Scale) != w.Scale || r.Method != w.Method {
				t.Errorf("scale %q, method %q; want %q, %q", r.Scale, r.Method, w.Scale, w.Method)
			}
			for _, q := range []struct {
				what      string
				got, want float64
			}{
				{"T", r.T, w.T}, {"DF", r.DF, w.DF}, {"P", r.P, w.P}, {"PTolerance", r.PTolerance, w.PTolerance},
				{"Low", r.Low, w.Low}, {"High", r.High, w.High}, {"Effect", r.Effect, w.Effect}, {"SE", r.SE, w.SE},
				{"RelChange", r.RelChange, w.RelChange}, {"RelLow", r.RelLow, w.RelLow}, {"RelHigh", r.RelHigh, w.RelHigh},
				{"Up", r.Up, w.Up}, {"ControlLevel", r.ControlLevel, w.ControlLevel},
				{"ExperimentLevel", r.ExperimentLevel, w.ExperimentLevel}, {"ControlBase", r.ControlBase, w.ControlBase},
				{"SDControl", r.SDControl, w.SDControl}, {"SDExperiment", r.SDExperiment, w.SDExperiment},
				{"WithinSD", r.WithinSD, w.WithinSD},
			} {
				errs.check(t, q.what, q.got, q.want)
			}
			if w.Down == nil {
				if !math.IsInf(r.Down, -1) {
					t.Errorf("Down = %v, want −Inf", r.Down)
				}
			} else {
				errs.check(t, "Down", r.Down, *w.Down)
			}
			if !r.RelDefined {
				t.Error("RelDefined false")
			}
			if r.TargetsNeeded != w.TargetsNeeded {
				t.Errorf("TargetsNeeded = %d, want %d", r.TargetsNeeded, w.TargetsNeeded)
			}
			if len(r.Targets) != len(w.Targets) {
				t.Fatalf("%d target summaries, want %d", len(r.Targets), len(w.Targets))
			}
			for i, s := range r.Targets {
				ws := w.Targets[i]
				if s.ID != ws.ID || s.Experiment != ws.Experiment || s.Beyond != ws.Beyond {
					t.Errorf("target %d: %q experiment %v beyond %v; want %q %v %v", i, s.ID, s.Experiment, s.Beyond, ws.ID, ws.Experiment, ws.Beyond)
				}
				errs.check(t, "target window level", s.Window, ws.Window)
				if ws.Baseline != 0 || s.Baseline != 0 {
					errs.check(t, "target baseline level", s.Baseline, ws.Baseline)
				}
				// A change is a difference of two levels of similar size: hold it to
				// the levels' precision rather than its own.
				if math.Abs(s.Change-ws.Change) > 1e-12*math.Max(1, math.Abs(ws.Window)) {
					t.Errorf("target %s change = %.17g, want %.17g", s.ID, s.Change, ws.Change)
				}
			}

			// The verdict reports the same numbers, and the two-sided Welch p.
			v, err := Judge([]Metric{{Name: "m", Direction: dir, Tolerance: c.tolerance(), Targets: ptr(c.data())}},
				Options{Confidence: c.Confidence})
			if err != nil {
				t.Fatal(err)
			}
			mv := v.Metrics[0]
			errs.check(t, "P two-sided", mv.WelchP, w.PTwoSided)
			errs.check(t, "PTolerance", mv.PTolerance, w.PTolerance)
			if mv.Unit != UnitTarget || mv.TargetsNeeded != 0 && mv.TargetsNeeded != w.TargetsNeeded {
				t.Errorf("unit %q, targets needed %d", mv.Unit, mv.TargetsNeeded)
			}

			if w.Halt != nil {
				h, err := NewTargetHalt(HaltConfig{Direction: dir, Tolerance: c.tolerance(), Proportion: c.Proportion,
					Alpha: w.Halt.Alpha, Looks: w.Halt.Looks})
				if err != nil {
					t.Fatal(err)
				}
				errs.check(t, "halt level", h.LookLevel(), w.Halt.Level)
				l := h.Look(c.data())
				if !l.Tested || l.Halt != w.Halt.Halt || l.DF != w.Halt.DF {
					t.Errorf("halt look: tested %v halt %v df %v (%s); want halt %v df %v", l.Tested, l.Halt, l.DF, l.Reason, w.Halt.Halt, w.Halt.DF)
				}
				if w.Halt.T == nil {
					if !math.IsInf(l.T, -1) {
						t.Errorf("halt T = %v, want −Inf", l.T)
					}
				} else {
					errs.check(t, "halt T", l.T, *w.Halt.T)
				}
				errs.check(t, "halt critical", l.Critical, w.Halt.Critical)
				errs.check(t, "halt effect", l.Effect, w.Effect)
			}

			if w.Plan != nil {
				p, err := PlanTargets(c.data(), dir, c.tolerance(), c.Confidence, w.Plan.WindowOverBaseline)
				if err != nil {
					t.Fatal(err)
				}
				errs.check(t, "plan half-width", p.HalfWidth, w.Plan.HalfWidth)
				errs.check(t, "plan distance", p.Distance, w.Plan.Distance)
				if p.TargetsNeeded != w.Plan.TargetsNeeded || p.CanDecide != w.Plan.CanDecide {
					t.Errorf("plan: targets needed %d, can decide %v; want %d, %v", p.TargetsNeeded, p.CanDecide, w.Plan.TargetsNeeded, w.Plan.CanDecide)
				}
				if p.CanDecide == (p.Reason != "") {
					t.Errorf("plan: can decide %v with reason %q", p.CanDecide, p.Reason)
				}
			}
		})
	}
	errs.log(t)
}

func ptr[T any](v T) *T { return &v }

// --- Scenarios ----------------------------------------------------------------------

// hostValues draws n lognormal latencies around median with log-scale noise sigma.
func hostValues(r *rand.Rand, n int, median, sigma float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = median * math.Exp(sigma*r.NormFloat64())
	}
	return x
}

// fleet describes one group of hosts for the scenarios.
type fleet struct {
	prefix       string
	hosts        int
	nBase, nWin  int
	median       float64 // fleet median before the fault
	hostCV       float64 // host-to-host spread of the median (log scale sd)
	offset       float64 // factor applied to every host of the group, baseline and window
	sigma        float64 // within-host log-scale noise
	windowFactor float64 // the fault and any shock: factor applied in the window only
}

func (f fleet) targets(r *rand.Rand) []Target {
	ts := make([]Target, f.hosts)
	for i := range ts {
		host := f.median * f.offset * math.Exp(f.hostCV*r.NormFloat64())
		ts[i] = Target{ID: fmt.Sprintf("%s%d", f.prefix, i+1),
			Baseline: hostValues(r, f.nBase, host, f.sigma),
			Window:   hostValues(r, f.nWin, host*f.windowFactor, f.sigma)}
	}
	return ts
}

// successes draws 0/1 outcomes with the given failure rate.
func successes(r *rand.Rand, n int, failRate float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		if r.Float64() >= failRate {
			x[i] = 1
		}
	}
	return x
}

func successTargets(r *rand.Rand, prefix string, hosts, n int, failBase, failWindow float64) []Target {
	ts := make([]Target, hosts)
	for i := range ts {
		ts[i] = Target{ID: fmt.Sprintf("%s%d", prefix, i+1), Baseline: successes(r, n, failBase), Window: successes(r, n, failWindow)}
	}
	return ts
}

func TestJudgeTargetLatencyScenarios(t *testing.T) {
	rel10 := Tolerance{Relative: 0.10, IsRelative: true}
	base := fleet{hosts: 6, nBase: 60, nWin: 40, median: 50, hostCV: 0.1, offset: 1, sigma: 0.3, windowFactor: 1}
	with := func(f fleet, edit func(*fleet)) fleet { edit(&f); return f }
	tests := []struct {
		name     string
		ctl, exp fleet
		check    func(t *testing.T, v Verdict, r *TargetResult)
	}{
		{
			name: "a +10% slowdown on every experimental host reads +10%",
			ctl:  with(base, func(f *fleet) { f.sigma = 0.01 }),
			exp:  with(base, func(f *fleet) { f.sigma, f.windowFactor = 0.01, 1.10 }),
			check: func(t *testing.T, v Verdict, r *TargetResult) {
				// ln 1.1 = 0.0953 read as a percentage would be 9.5%; +10% it must be.
				if math.Abs(r.RelChange-0.10) > 0.002 {
					t.Errorf("relative change %.4f, want 0.100 ± 0.002", r.RelChange)
				}
				if !(r.RelLow < 0.10 && 0.10 < r.RelHigh) {
					t.Errorf("interval %.4f to %.4f misses +10%%", r.RelLow, r.RelHigh)
				}
				for _, s := range r.Targets {
					want := 0.0
					if s.Experiment {
						want = 0.10
					}
					if math.Abs(s.Change-want) > 0.01 {
						t.Errorf("target %s changed %.4f, want %.2f", s.ID, s.Change, want)
					}
				}
			},
		},
		{
			name: "host offsets cancel: experimental hosts 30% slower in baseline and window",
			ctl:  base,
			exp:  with(base, func(f *fleet) { f.offset = 1.3 }),
			check: func(t *testing.T, v Verdict, r *TargetResult) {
				if v.Outcome == OutcomeRefuted {
					t.Errorf("refuted: %s", v.Reason)
				}
				if math.Abs(r.RelChange) > 0.04 {
					t.Errorf("relative change %.4f, want near 0", r.RelChange)
				}
				if !(r.RelLow < 0 && 0 < r.RelHigh) {
					t.Errorf("interval %.4f to %.4f excludes no change", r.RelLow, r.RelHigh)
				}
				// Pooling every sample sees the offset as a 30% slowdown: the reason
				// the target is the unit.
				if p := v.Metrics[0].Pooled; p == nil || p.RelChange < 0.2 {
					t.Errorf("pooled view %+v, expected it to show the host offset", p)
				}
			},
		},
		{
			name: "a shock common to both groups cancels",
			ctl:  with(base, func(f *fleet) { f.windowFactor = 1.5 }),
			exp:  with(base, func(f *fleet) { f.windowFactor = 1.5 }),
			check: func(t *testing.T, v Verdict, r *TargetResult) {
				if v.Outcome == OutcomeRefuted {
					t.Errorf("refuted: %s", v.Reason)
				}
				if math.Abs(r.RelChange) > 0.04 {
					t.Errorf("relative change %.4f, want near 0", r.RelChange)
				}
				for _, s := range r.Targets {
					if math.Abs(math.Log1p(s.Change)-math.Log(1.5)) > 0.25 { // about 4 sd of one host's change
						t.Errorf("target %s changed %.3f against its baseline, want about +50%%", s.ID, s.Change)
					}
				}
			},
		},
		{
			name: "a shock with a real fault on top: the fault remains",
			ctl:  with(base, func(f *fleet) { f.windowFactor, f.sigma = 1.5, 0.05 }),
			exp:  with(base, func(f *fleet) { f.windowFactor, f.sigma = 1.5*1.3, 0.05 }),
			check: func(t *testing.T, v Verdict, r *TargetResult) {
				if v.Outcome != OutcomeRefuted || v.Metrics[0].Outcome != MetricDeviated {
					t.Errorf("outcome %s / %s, want refuted / deviated: %s", v.Outcome, v.Metrics[0].Outcome, v.Reason)
				}
				if math.Abs(r.RelChange-0.30) > 0.03 {
					t.Errorf("relative change %.4f, want about +30%%", r.RelChange)
				}
				for _, s := range r.Targets {
					if s.Experiment && !s.Beyond {
						t.Errorf("experimental target %s not marked beyond the tolerance", s.ID)
					}
					if !s.Experiment && s.Beyond {
						t.Errorf("control target %s marked beyond", s.ID)
					}
				}
			},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(71, uint64(i)))
			ctl, exp := tc.ctl, tc.exp
			ctl.prefix, exp.prefix = "c", "e"
			m := Metric{Name: "latency", Direction: DirectionIncrease, Tolerance: rel10,
				Targets: &TargetData{Control: ctl.targets(r), Experiment: exp.targets(r)}}
			v, err := Judge([]Metric{m}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mv := v.Metrics[0]
			if mv.Target == nil || mv.Unit != UnitTarget || mv.Method != MethodTargetDiD || mv.Target.Scale != ScaleLog {
				t.Fatalf("not a target-level log-scale verdict: %+v", mv)
			}
			assertVerdictFinite(t, mv)
			tc.check(t, v, mv.Target)
		})
	}
}

func TestJudgeTargetProportions(t *testing.T) {
	abs2 := Tolerance{Absolute: 0.02}
	judge := func(failRate float64, seed uint64) Verdict {
		r := rand.New(rand.NewPCG(seed, 5))
		m := Metric{Name: "success", Direction: DirectionDecrease, Tolerance: abs2, Targets: &TargetData{Proportion: true,
			Control:    successTargets(r, "c", 6, 150, 0, 0),
			Experiment: successTargets(r, "e", 6, 150, 0, failRate)}}
		v, err := Judge([]Metric{m}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		failRate   float64
		want       Outcome
		wantMetric MetricOutcome
		reason     []string
	}{
		{"5% of requests failing on experimental hosts", 0.05, OutcomeRefuted, MetricDeviated, []string{"success fell by", "6 vs 6 targets", "beyond the 0.02 tolerance"}},
		{"no failures anywhere", 0, OutcomeUpheld, MetricWithinTolerance, []string{"within the 0.02 tolerance"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.failRate, 81)
			mv := v.Metrics[0]
			if v.Outcome != tc.want || mv.Outcome != tc.wantMetric {
				t.Fatalf("outcome %s / %s, want %s / %s: %s", v.Outcome, mv.Outcome, tc.want, tc.wantMetric, mv.Reason)
			}
			if mv.Kind != KindProportion || mv.Target.Scale != ScaleLinear || mv.Pooled != nil {
				t.Errorf("kind %q scale %q pooled %v", mv.Kind, mv.Target.Scale, mv.Pooled)
			}
			for _, part := range tc.reason {
				if !strings.Contains(mv.Reason, part) {
					t.Errorf("reason %q lacks %q", mv.Reason, part)
				}
			}
			// The control group never failed, so its sample variance is zero: the
			// binomial floor alone gives it an uncertainty.
			if !(mv.Target.SDControl > 0) {
				t.Errorf("control SD %v: the binomial floor did not apply", mv.Target.SDControl)
			}
			if math.Abs(mv.Target.Effect+tc.failRate) > 0.015 {
				t.Errorf("effect %.4f, want about %.2f", mv.Target.Effect, -tc.failRate)
			}
			assertVerdictFinite(t, mv)
		})
	}
	t.Run("the 5% failure is found in most seeded runs", func(t *testing.T) {
		const runs = 100
		refuted := 0
		for i := range runs {
			if judge(0.05, 1000+uint64(i)).Outcome == OutcomeRefuted {
				refuted++
			}
		}
		// Expected about 90%: the change is 3 points beyond the 2-point tolerance and
		// the interval with 6 hosts per group is about ±2.3 points.
		if refuted < 75 {
			t.Errorf("refuted in %d of %d runs", refuted, runs)
		}
	})
}

func TestCompareTargetsMissingTargets(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 1))
	f := fleet{prefix: "c", hosts: 2, nBase: 30, nWin: 30, median: 40, hostCV: 0.1, offset: 1, sigma: 0.2, windowFactor: 1}
	ctl := f.targets(r)
	f.prefix = "e"
	exp := f.targets(r)
	exp[1].Window = nil // stopped reporting
	rel10 := Tolerance{Relative: 0.10, IsRelative: true}

	// Groups below MinTargets: one target against one (no spread anywhere to judge it
	// by), and a group left empty by a silent target.
	for _, tc := range []struct {
		name     string
		ctl, exp []Target
		counts   string
	}{
		{"one against one", ctl[:1], exp, "1 control and 1 experimental targets have data"},
		{"an empty group", []Target{{ID: "c9", Baseline: ctl[0].Baseline}}, append(exp, ctl...), "0 control and 3 experimental targets have data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompareTargets(TargetData{Control: tc.ctl, Experiment: tc.exp}, DirectionIncrease, rel10, 0.95)
			if !errors.Is(err, ErrTooFewTargets) {
				t.Fatalf("error %v, want ErrTooFewTargets", err)
			}
			v, err := Judge([]Metric{{Name: "latency", Direction: DirectionIncrease, Tolerance: rel10,
				Targets: &TargetData{Control: tc.ctl, Experiment: tc.exp}}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mv := v.Metrics[0]
			if v.Outcome != OutcomeInconclusive || mv.Outcome != MetricInconclusive {
				t.Errorf("outcome %s / %s, want inconclusive", v.Outcome, mv.Outcome)
			}
			if mv.TargetsNeeded != MinTargets {
				t.Errorf("TargetsNeeded = %d, want %d", mv.TargetsNeeded, MinTargets)
			}
			for _, part := range []string{"latency cannot be judged", tc.counts, fmt.Sprintf("at least %d per group", MinTargets)} {
				if !strings.Contains(mv.Reason, part) {
					t.Errorf("reason %q lacks %q", mv.Reason, part)
				}
			}
			if !slices.Contains(mv.Warnings, "target e2 sent no samples in the window and is left out") {
				t.Errorf("warnings %q lack the silent target", mv.Warnings)
			}
		})
	}

	t.Run("a silent target is left out, the rest compared", func(t *testing.T) {
		more := append(exp, fleet{prefix: "x", hosts: 1, nBase: 30, nWin: 30, median: 40, offset: 1, sigma: 0.2, windowFactor: 1}.targets(r)...)
		res, err := CompareTargets(TargetData{Control: ctl, Experiment: more}, DirectionIncrease, rel10, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if res.NControl != 2 || res.NExperiment != 2 || len(res.Targets) != 4 {
			t.Errorf("compared %d and %d targets (%d summaries), want 2, 2, 4", res.NControl, res.NExperiment, len(res.Targets))
		}
		if !slices.Contains(res.Warnings, "target e2 sent no samples in the window and is left out") {
			t.Errorf("warnings %q", res.Warnings)
		}
	})

	t.Run("a target without a baseline is left out when others have one", func(t *testing.T) {
		c := append(append([]Target(nil), ctl...), Target{ID: "c3", Window: []float64{40, 41, 39}})
		f := fleet{prefix: "e", hosts: 2, nBase: 30, nWin: 30, median: 40, hostCV: 0.1, offset: 1, sigma: 0.2, windowFactor: 1}
		res, err := CompareTargets(TargetData{Control: c, Experiment: f.targets(r)}, DirectionIncrease, rel10, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if res.NControl != 2 || res.Method != MethodTargetDiD || !slices.Contains(res.Warnings, "target c3 has no baseline and is left out") {
			t.Errorf("NControl %d, method %q, warnings %q", res.NControl, res.Method, res.Warnings)
		}
	})

	t.Run("without any baseline the window levels are compared", func(t *testing.T) {
		strip := func(ts []Target) []Target {
			out := make([]Target, len(ts))
			for i, tg := range ts {
				out[i] = Target{ID: tg.ID, Window: tg.Window}
			}
			return out
		}
		f := fleet{prefix: "e", hosts: 3, nWin: 30, median: 40, hostCV: 0.1, offset: 1, sigma: 0.2, windowFactor: 1}
		res, err := CompareTargets(TargetData{Control: strip(ctl), Experiment: f.targets(r)}, DirectionIncrease, rel10, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if res.Method != MethodTargetLevels || res.ControlBase != res.ControlLevel || len(res.Warnings) == 0 {
			t.Errorf("method %q, control base %v level %v, warnings %q", res.Method, res.ControlBase, res.ControlLevel, res.Warnings)
		}
	})
}

func TestCompareTargetsRejectsBadInput(t *testing.T) {
	ok := []Target{{ID: "a", Baseline: []float64{1, 2}, Window: []float64{1, 3}}, {ID: "b", Baseline: []float64{2, 2}, Window: []float64{2, 5}}}
	rel := Tolerance{Relative: 0.1, IsRelative: true}
	tests := []struct {
		name string
		d    TargetData
		dir  Direction
		conf float64
		want error
	}{
		{"unknown direction", TargetData{Control: ok, Experiment: ok}, 0, 0.95, ErrInvalidArgument},
		{"confidence 1", TargetData{Control: ok, Experiment: ok}, DirectionIncrease, 1, ErrInvalidArgument},
		{"NaN confidence", TargetData{Control: ok, Experiment: ok}, DirectionIncrease, math.NaN(), ErrInvalidArgument},
		{"duplicate target", TargetData{Control: append(ok, ok[0]), Experiment: ok}, DirectionIncrease, 0.95, ErrInvalidArgument},
		{"NaN value", TargetData{Control: ok, Experiment: []Target{ok[0], {ID: "x", Baseline: []float64{1}, Window: []float64{math.NaN()}}}}, DirectionIncrease, 0.95, ErrNonFinite},
		{"no targets", TargetData{}, DirectionIncrease, 0.95, ErrTooFewTargets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CompareTargets(tc.d, tc.dir, rel, tc.conf); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// --- Targets needed -------------------------------------------------------------------

func TestTargetsNeeded(t *testing.T) {
	const conf = 0.95
	enough := func(n int, sd, delta float64) bool {
		df := float64(2*n - 2)
		return (StudentTQuantile(0.975, df)+StudentTQuantile(planPower, df))*sd*math.Sqrt(2/float64(n)) <= delta
	}
	t.Run("smallest n that is enough, monotone in the noise", func(t *testing.T) {
		prev := 0
		for _, sd := range []float64{0.001, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2, 0.5} {
			n := targetsNeeded(sd, 0.1, conf)
			if n < prev {
				t.Errorf("sd %v needs %d targets, fewer than %d for less noise", sd, n, prev)
			}
			prev = n
			if !enough(n, sd, 0.1) || n > MinTargets && enough(n-1, sd, 0.1) {
				t.Errorf("sd %v: %d targets is not the smallest enough", sd, n)
			}
		}
		if prev <= 100 {
			t.Errorf("sd 0.5 against a 0.1 tolerance needs only %d targets", prev)
		}
	})
	t.Run("edges", func(t *testing.T) {
		for _, tc := range []struct {
			sd, delta float64
			want      int
		}{{0, 0.1, 0}, {math.NaN(), 0.1, 0}, {0.1, math.NaN(), 0}, {0.1, 0, maxTargetsNeeded}, {0.1, -1, maxTargetsNeeded},
			{1, 1e-6, maxTargetsNeeded}, {1e-9, 1, MinTargets}} {
			if got := targetsNeeded(tc.sd, tc.delta, conf); got != tc.want {
				t.Errorf("targetsNeeded(%v, %v) = %d, want %d", tc.sd, tc.delta, got, tc.want)
			}
		}
	})
	t.Run("more between-host noise, more targets needed, and the reason says so", func(t *testing.T) {
		// The same draws scaled: each experimental and control host drifts by
		// noise·z against its baseline, so the between-target SD grows with noise.
		r := rand.New(rand.NewPCG(101, 1))
		z := make([]float64, 12)
		for i := range z {
			z[i] = r.NormFloat64()
		}
		base := hostValues(r, 30, 50, 0.01)
		prev, last := 0, MetricOutcome("")
		for _, noise := range []float64{0.02, 0.04, 0.08, 0.16} {
			var ctl, exp []Target
			for i, zi := range z {
				w := make([]float64, len(base))
				for j, b := range base {
					w[j] = b * math.Exp(noise*zi)
				}
				tg := Target{ID: fmt.Sprint(i), Baseline: base, Window: w}
				if i < 6 {
					ctl = append(ctl, tg)
				} else {
					exp = append(exp, tg)
				}
			}
			v, err := Judge([]Metric{{Name: "latency", Direction: DirectionIncrease, Tolerance: Tolerance{Relative: 0.05, IsRelative: true},
				Targets: &TargetData{Control: ctl, Experiment: exp}}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mv := v.Metrics[0]
			n := mv.Target.TargetsNeeded
			if n < prev {
				t.Errorf("noise %v: %d targets needed, fewer than %d with less noise", noise, n, prev)
			}
			prev, last = n, mv.Outcome
			if mv.Outcome == MetricInconclusive && n > 0 && n < maxTargetsNeeded {
				want := fmt.Sprintf("about %d targets per group would likely settle it (it has 6 experimental and 6 control)", n)
				if mv.TargetsNeeded != n || !strings.Contains(mv.Reason, want) {
					t.Errorf("noise %v: reason %q lacks %q (TargetsNeeded %d)", noise, mv.Reason, want, mv.TargetsNeeded)
				}
			}
		}
		if prev <= 6 || last != MetricInconclusive {
			t.Errorf("the noisiest fleet needs only %d targets per group and is %s", prev, last)
		}
	})
}

// --- The coverage rule -------------------------------------------------------------

func TestDecideCoverageRule(t *testing.T) {
	tests := []struct {
		name                string
		control, experiment []float64
		tol                 Tolerance
	}{
		// Both would decide on their interval alone: far beyond, and well inside.
		{"3 vs 3, far beyond", []float64{1, 2, 3}, []float64{50, 51, 52}, Tolerance{Absolute: 1}},
		{"3 vs 3, well inside", []float64{1, 2, 3}, []float64{1.1, 2.1, 3.1}, Tolerance{Absolute: 100}},
		{"2 vs 4, relative", []float64{10, 11}, []float64{30, 31, 32, 33}, Tolerance{Relative: 0.1, IsRelative: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Judge([]Metric{{Name: "m", Direction: DirectionIncrease, Tolerance: tc.tol, Control: tc.control, Experiment: tc.experiment}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mv := v.Metrics[0]
			if !(mv.Coverage < mv.Confidence) {
				t.Fatalf("coverage %v reaches %v: not a test of the rule", mv.Coverage, mv.Confidence)
			}
			if mv.Outcome != MetricInconclusive || v.Outcome != OutcomeInconclusive {
				t.Errorf("outcome %s / %s with coverage %.3f", v.Outcome, mv.Outcome, mv.Coverage)
			}
			if !strings.Contains(mv.Reason, "cannot decide") || !strings.Contains(mv.Reason, fmt.Sprintf("covers only %.1f%%", 100*mv.Coverage)) {
				t.Errorf("reason %q", mv.Reason)
			}
		})
	}
}

// --- The futility plan ----------------------------------------------------------------

func TestPlanTargets(t *testing.T) {
	rel := func(x float64) Tolerance { return Tolerance{Relative: x, IsRelative: true} }
	tests := []struct {
		name      string
		f         fleet
		tol       Tolerance
		canDecide bool
	}{
		{"quiet hosts, 10% tolerance", fleet{hosts: 6, nBase: 60, median: 50, hostCV: 0.2, offset: 1, sigma: 0.1}, rel(0.10), true},
		{"noisy hosts, 2% tolerance", fleet{hosts: 6, nBase: 20, median: 50, hostCV: 0.2, offset: 1, sigma: 0.8}, rel(0.02), false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(111, uint64(i)))
			c, e := tc.f, tc.f
			c.prefix, e.prefix = "c", "e"
			p, err := PlanTargets(TargetData{Control: c.targets(r), Experiment: e.targets(r)}, DirectionIncrease, tc.tol, 0.95, 1)
			if err != nil {
				t.Fatal(err)
			}
			if p.CanDecide != tc.canDecide || p.Scale != ScaleLog {
				t.Fatalf("CanDecide %v on scale %q, want %v: %+v", p.CanDecide, p.Scale, tc.canDecide, p)
			}
			if math.Abs(p.Distance-math.Log1p(tc.tol.Relative)) > 1e-15 {
				t.Errorf("distance %v, want ln(1 + %v)", p.Distance, tc.tol.Relative)
			}
			if tc.canDecide {
				if p.Reason != "" || p.TargetsNeeded > 6 || !(p.HalfWidth < p.Distance) {
					t.Errorf("decidable plan %+v", p)
				}
				return
			}
			if p.TargetsNeeded <= 6 {
				t.Errorf("TargetsNeeded %d, want more than the 6 configured", p.TargetsNeeded)
			}
			if !strings.Contains(p.Reason, "6 vs 6 targets") || !strings.Contains(p.Reason, "against a tolerance of 2%") {
				t.Errorf("reason %q", p.Reason)
			}
		})
	}
	t.Run("too few baselines to plan", func(t *testing.T) {
		ts := []Target{{ID: "a", Baseline: []float64{1, 2, 3, 4}}, {ID: "b", Baseline: []float64{1, 2, 3}}}
		p, err := PlanTargets(TargetData{Control: ts, Experiment: ts}, DirectionIncrease, rel(0.1), 0.95, 1)
		if err != nil {
			t.Fatal(err)
		}
		if p.CanDecide || !strings.Contains(p.Reason, "1 control and 1 experimental targets have a baseline") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		for _, a := range []struct {
			dir        Direction
			conf, wOvB float64
		}{{0, 0.95, 1}, {DirectionIncrease, 0, 1}, {DirectionIncrease, 0.95, 0}, {DirectionIncrease, 0.95, math.NaN()}} {
			if _, err := PlanTargets(TargetData{}, a.dir, rel(0.1), a.conf, a.wOvB); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%+v: error %v", a, err)
			}
		}
	})
	t.Run("the planned half-width predicts the verdict's", func(t *testing.T) {
		// Hosts with no drift: the baseline-halves estimate is unbiased for the
		// variance of the window-over-baseline changes, so the plan's half-width
		// should match the average realised one (up to the t interval's sd factor).
		for _, ratio := range []float64{0.5, 1, 2} {
			r := rand.New(rand.NewPCG(112, uint64(10*ratio)))
			f := fleet{hosts: 6, nBase: 40, nWin: int(40 * ratio), median: 50, hostCV: 0.2, offset: 1, sigma: 0.3, windowFactor: 1}
			const runs = 100
			var planned, realised float64
			for range runs {
				c, e := f, f
				c.prefix, e.prefix = "c", "e"
				d := TargetData{Control: c.targets(r), Experiment: e.targets(r)}
				p, err := PlanTargets(d, DirectionIncrease, rel(0.1), 0.95, ratio)
				if err != nil {
					t.Fatal(err)
				}
				res, err := CompareTargets(d, DirectionIncrease, rel(0.1), 0.95)
				if err != nil {
					t.Fatal(err)
				}
				planned += p.HalfWidth
				realised += (res.High - res.Low) / 2
			}
			q := planned / realised
			if q < 0.85 || q > 1.1 {
				t.Errorf("window/baseline %v: planned half-width / realised = %.3f", ratio, q)
			}
			t.Logf("window/baseline %v: planned half-width / realised = %.3f", ratio, q)
		}
	})
}
