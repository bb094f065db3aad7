package analysis

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// haltRun is one simulated fault window for the target-level halt: each host has a
// fixed offset and a baseline drawn once; every look sees a fresh recent window, drawn
// into the same slices (Look keeps nothing of its input).
type haltRun struct {
	r                *rand.Rand
	ctlHost, expHost []float64
	d                TargetData
	sigma            float64
}

func newHaltRun(r *rand.Rand, hosts, nBase, nWin int, hostCV, sigma float64) *haltRun {
	h := &haltRun{r: r, sigma: sigma}
	for i := range hosts {
		c, e := 50*math.Exp(hostCV*r.NormFloat64()), 50*math.Exp(hostCV*r.NormFloat64())
		h.ctlHost, h.expHost = append(h.ctlHost, c), append(h.expHost, e)
		h.d.Control = append(h.d.Control, Target{ID: fmt.Sprint("c", i), Baseline: hostValues(r, nBase, c, sigma), Window: make([]float64, nWin)})
		h.d.Experiment = append(h.d.Experiment, Target{ID: fmt.Sprint("e", i), Baseline: hostValues(r, nBase, e, sigma), Window: make([]float64, nWin)})
	}
	return h
}

// look draws the recent windows: shock multiplies both groups, fault the experiment.
// The result is only valid until the next call.
func (h *haltRun) look(shock, fault float64) TargetData {
	for i := range h.ctlHost {
		for j := range h.d.Control[i].Window {
			h.d.Control[i].Window[j] = h.ctlHost[i] * shock * math.Exp(h.sigma*h.r.NormFloat64())
		}
		for j := range h.d.Experiment[i].Window {
			h.d.Experiment[i].Window[j] = h.expHost[i] * shock * fault * math.Exp(h.sigma*h.r.NormFloat64())
		}
	}
	return h.d
}

// cloneTargets deep-copies d, so a test can spoil it without touching the run.
func cloneTargets(d TargetData) TargetData {
	cp := func(ts []Target) []Target {
		out := make([]Target, len(ts))
		for i, t := range ts {
			out[i] = Target{ID: t.ID, Baseline: slices.Clone(t.Baseline), Window: slices.Clone(t.Window)}
		}
		return out
	}
	return TargetData{Control: cp(d.Control), Experiment: cp(d.Experiment), Proportion: d.Proportion}
}

// haltRuns runs the simulation on two workers with one seed per run, so the outcome
// does not depend on scheduling, and returns the look each run halted at (0: never).
func haltRuns(t *testing.T, runs int, seed uint64, cfg HaltConfig, sim func(r *rand.Rand) *haltRun, shockAt int, fault float64) []int {
	t.Helper()
	halted := make([]int, runs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	const workers = 2
	for w := range workers {
		wg.Go(func() {
			for i := w; i < runs; i += workers {
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				run := sim(r)
				h, err := NewTargetHalt(cfg)
				if err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
					return
				}
				for look := 1; look <= cfg.Looks; look++ {
					shock := 1.0
					if shockAt > 0 && look >= shockAt {
						shock = 1.4
					}
					l := h.Look(run.look(shock, fault))
					if !l.Tested {
						mu.Lock()
						failure = fmt.Errorf("run %d look %d not tested: %s", i, look, l.Reason)
						mu.Unlock()
						return
					}
					if l.Halt {
						halted[i] = look
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	return halted
}

func TestTargetHaltAA(t *testing.T) {
	// No fault and a zero tolerance: the truth sits exactly on the boundary, the least
	// favourable case. Bonferroni over 180 looks bounds the chance of ever halting by
	// Alpha = 1%; the looks share their baselines, so the rate is usually lower. A shock
	// common to both groups arrives half-way and must not halt either. Hosts differ by
	// 10%; each look sees 6 fresh samples per host against a 12-sample baseline (the
	// per-look cost is the guardrail's own, and this is the package's slowest test under
	// -race, so the windows are small; their size does not change the null).
	const runs, looks = 300, 180
	cfg := HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{IsRelative: true}, Looks: looks}
	halted := haltRuns(t, runs, 121, cfg, func(r *rand.Rand) *haltRun {
		return newHaltRun(r, 6, 12, 6, 0.1, 0.3)
	}, looks/2, 1)
	k := 0
	for _, l := range halted {
		if l > 0 {
			k++
		}
	}
	// Fail on evidence of a rate above 1% (binomial P(≥ k | 1%) < 1%: k ≥ 8 of 300),
	// not on a fixed slack.
	if p := evidenceOfExcess(k, runs, 0.01); p < 0.01 {
		t.Errorf("%d of %d A/A runs halted (P = %.2g at a 1%% rate)", k, runs, p)
	}
	t.Logf("%d of %d A/A runs halted over %d looks", k, runs, looks)
}

func TestTargetHaltPower(t *testing.T) {
	// A doubled latency against a 50% tolerance: the experiment is ln 2 − ln 1.5 =
	// 0.29 beyond the boundary on the log scale, about 7 standard errors with 6 hosts
	// per group and these windows.
	const runs = 60
	cfg := HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{Relative: 0.5, IsRelative: true}, Looks: 180}
	halted := haltRuns(t, runs, 131, cfg, func(r *rand.Rand) *haltRun {
		return newHaltRun(r, 6, 60, 30, 0.1, 0.3)
	}, 0, 2)
	early, never := 0, 0
	for _, l := range halted {
		switch {
		case l == 0:
			never++
		case l <= 3:
			early++
		}
	}
	if early < runs*9/10 || never > 0 {
		t.Errorf("halted within 3 looks in %d of %d runs, never in %d", early, runs, never)
	}
	t.Logf("halted within 3 looks in %d of %d runs", early, runs)
}

func TestTargetHaltLooks(t *testing.T) {
	r := rand.New(rand.NewPCG(141, 1))
	rel50 := Tolerance{Relative: 0.5, IsRelative: true}
	run := newHaltRun(r, 6, 40, 20, 0.1, 0.1)

	t.Run("a huge slowdown halts and names the targets beyond", func(t *testing.T) {
		h, err := NewTargetHalt(HaltConfig{Direction: DirectionIncrease, Tolerance: rel50, Looks: 10})
		if err != nil {
			t.Fatal(err)
		}
		l := h.Look(run.look(1, 3))
		if !l.Tested || !l.Halt || l.Look != 1 || l.Scale != ScaleLog {
			t.Fatalf("look %+v", l)
		}
		if l.DF != 10 || l.Critical != StudentTQuantile(1-h.LookLevel(), 10) {
			t.Errorf("df %v, critical %v", l.DF, l.Critical)
		}
		if math.Abs(l.RelChange-2) > 0.1 || math.Abs(math.Expm1(l.Effect)-l.RelChange) > 1e-12 {
			t.Errorf("relative change %v, effect %v; want about +200%%", l.RelChange, l.Effect)
		}
		for _, s := range l.Targets {
			if s.Beyond != s.Experiment {
				t.Errorf("target %s (experiment %v) beyond %v", s.ID, s.Experiment, s.Beyond)
			}
		}
	})

	t.Run("looks beyond the plan test nothing", func(t *testing.T) {
		h, err := NewTargetHalt(HaltConfig{Direction: DirectionIncrease, Tolerance: rel50, Looks: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 2; i++ {
			if l := h.Look(run.look(1, 1)); !l.Tested || l.Halt || l.Look != i {
				t.Errorf("planned look %d: %+v", i, l)
			}
		}
		l := h.Look(run.look(1, 10))
		if l.Tested || l.Halt || l.Look != 3 || h.Looks() != 3 || !strings.Contains(l.Reason, "the 2 planned looks are spent") {
			t.Errorf("look beyond the plan: tested %v halt %v look %d (%d taken): %q", l.Tested, l.Halt, l.Look, h.Looks(), l.Reason)
		}
	})

	t.Run("fewer than MinHaltTargets per group", func(t *testing.T) {
		h, err := NewTargetHalt(HaltConfig{Direction: DirectionIncrease, Tolerance: rel50, Looks: 5})
		if err != nil {
			t.Fatal(err)
		}
		d := cloneTargets(run.look(1, 10))
		d.Control = d.Control[:MinHaltTargets-1]
		d.Experiment[0].Window = nil // stopped reporting: left out too
		l := h.Look(d)
		want := fmt.Sprintf("%d control and %d experimental targets reported; the deviation test needs %d per group",
			MinHaltTargets-1, 5, MinHaltTargets)
		if l.Tested || l.Halt || l.Reason != want || l.NControl != MinHaltTargets-1 || l.NExperiment != 5 {
			t.Errorf("tested %v halt %v counts %d/%d reason %q; want %q", l.Tested, l.Halt, l.NControl, l.NExperiment, l.Reason, want)
		}
		if h.Looks() != 1 {
			t.Errorf("an untested look still counts against the plan: %d looks", h.Looks())
		}
	})

	t.Run("bad data and no variation are reported, not tested", func(t *testing.T) {
		h, err := NewTargetHalt(HaltConfig{Direction: DirectionEither, Tolerance: Tolerance{Absolute: 1}, Looks: 5})
		if err != nil {
			t.Fatal(err)
		}
		d := cloneTargets(run.look(1, 1))
		d.Control[1].ID = d.Control[0].ID
		if l := h.Look(d); l.Tested || !strings.Contains(l.Reason, "listed twice") {
			t.Errorf("duplicate target: %+v", l)
		}
		d = cloneTargets(run.look(1, 1))
		d.Experiment[2].Window[0] = math.Inf(1)
		if l := h.Look(d); l.Tested || l.Reason == "" {
			t.Errorf("infinite value: %+v", l)
		}
		var flat TargetData
		for i := range 4 {
			flat.Control = append(flat.Control, Target{ID: fmt.Sprint(i), Baseline: []float64{5, 5}, Window: []float64{5, 5}})
			flat.Experiment = append(flat.Experiment, Target{ID: fmt.Sprint(i), Baseline: []float64{5, 5}, Window: []float64{9, 9}})
		}
		if l := h.Look(flat); l.Tested || l.Halt || l.Reason != "every target changed by exactly the same amount" {
			t.Errorf("no variation: %+v", l)
		}
	})

	t.Run("proportions", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			failRate float64
			halt     bool
		}{{"no failures anywhere", 0, false}, {"30% failing on experimental hosts", 0.3, true}} {
			h, err := NewTargetHalt(HaltConfig{Direction: DirectionDecrease, Tolerance: Tolerance{Absolute: 0.05}, Proportion: true, Looks: 60})
			if err != nil {
				t.Fatal(err)
			}
			d := TargetData{Proportion: true, Control: successTargets(r, "c", 6, 200, 0, 0), Experiment: successTargets(r, "e", 6, 200, 0, tc.failRate)}
			l := h.Look(d)
			// All-success groups have zero sample variance: the binomial floor keeps
			// the look testable.
			if !l.Tested || l.Halt != tc.halt || l.Scale != ScaleLinear {
				t.Errorf("%s: %+v", tc.name, l)
			}
		}
	})
}

func TestTargetHaltConfig(t *testing.T) {
	rel := Tolerance{Relative: 0.5, IsRelative: true}
	t.Run("look level", func(t *testing.T) {
		for _, tc := range []struct {
			cfg  HaltConfig
			want float64
		}{
			{HaltConfig{Direction: DirectionIncrease, Tolerance: rel, Looks: 180}, 0.01 / 180},
			{HaltConfig{Direction: DirectionDecrease, Tolerance: rel, Looks: 180, Alpha: 0.05}, 0.05 / 180},
			{HaltConfig{Direction: DirectionEither, Tolerance: rel, Looks: 180}, 0.01 / 180 / 2},
			{HaltConfig{Direction: DirectionEither, Tolerance: rel, Looks: 1, Alpha: 0.02}, 0.01},
		} {
			h, err := NewTargetHalt(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.LookLevel(); math.Abs(got-tc.want) > 1e-15*tc.want {
				t.Errorf("%+v: look level %v, want %v", tc.cfg, got, tc.want)
			}
			if h.Looks() != 0 {
				t.Errorf("a new guardrail has taken %d looks", h.Looks())
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		for _, cfg := range []HaltConfig{
			{Tolerance: rel, Looks: 10},
			{Direction: DirectionIncrease, Tolerance: rel, Looks: 0},
			{Direction: DirectionIncrease, Tolerance: rel, Looks: 10, Alpha: 1},
			{Direction: DirectionIncrease, Tolerance: rel, Looks: 10, Alpha: -0.01},
			{Direction: DirectionIncrease, Tolerance: rel, Looks: 10, Alpha: math.NaN()},
			{Direction: DirectionIncrease, Tolerance: Tolerance{Relative: -0.1, IsRelative: true}, Looks: 10},
			{Direction: DirectionIncrease, Tolerance: Tolerance{Absolute: math.NaN()}, Looks: 10},
			{Direction: DirectionIncrease, Tolerance: Tolerance{Absolute: math.Inf(1)}, Looks: 10},
		} {
			if _, err := NewTargetHalt(cfg); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%+v: error %v", cfg, err)
			}
		}
	})
}

// Front-loaded spending: the early looks share EarlyShare of alpha and the rest the
// remainder, so every look's level adds up to alpha (the union bound that keeps false
// halts at most alpha), and an early look is tested at a larger level than a late one.
func TestTargetHaltFrontLoadedSpending(t *testing.T) {
	h, err := NewTargetHalt(HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{Relative: 0.5, IsRelative: true},
		Alpha: 0.01, Looks: 183, EarlyLooks: 12, EarlyShare: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	var levels []float64
	for range 183 {
		levels = append(levels, h.LookLevel())
		sum += h.LookLevel()
		h.Look(TargetData{}) // counts the look; nothing to test
	}
	if math.Abs(sum-0.01) > 1e-12 {
		t.Errorf("levels add up to %v, want alpha 0.01", sum)
	}
	if want := 0.005 / 12; math.Abs(levels[0]-want) > 1e-15 || math.Abs(levels[11]-want) > 1e-15 {
		t.Errorf("early looks at %v and %v, want %v", levels[0], levels[11], want)
	}
	if want := 0.005 / 171; math.Abs(levels[12]-want) > 1e-15 {
		t.Errorf("late look at %v, want %v", levels[12], want)
	}
	for _, bad := range []HaltConfig{{EarlyLooks: 3, EarlyShare: 0}, {EarlyLooks: 3, EarlyShare: 1}, {EarlyLooks: -1}} {
		bad.Direction, bad.Looks = DirectionIncrease, 10
		if _, err := NewTargetHalt(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestTargetHaltANCOVA checks the ANCOVA look against numpy's least squares on the same
// levels (window = a + group·g + slope·baseline; one value per window, so each level is
// the value itself), and its fallbacks.
func TestTargetHaltANCOVA(t *testing.T) {
	targets := func(prefix string, base, win []float64) []Target {
		var ts []Target
		for i := range base {
			ts = append(ts, Target{ID: fmt.Sprint(prefix, i), Baseline: []float64{base[i]}, Window: []float64{win[i]}})
		}
		return ts
	}
	ctlBase, ctlWin := []float64{10, 12.5, 9, 11, 13}, []float64{10.4, 12.1, 9.9, 11.8, 12.6}
	expBase, expWin := []float64{11.5, 9.5, 12, 10}, []float64{16.2, 14.1, 17.5, 15}
	for _, tc := range []struct {
		name            string
		method          HaltMethod
		d               TargetData
		want            HaltMethod
		effect, t, df   float64
		tolerance, prec float64
	}{
		// numpy.linalg.lstsq: group term 4.6258899676375425, standard error
		// 0.34545350355292437; t against 3 is 4.706537785593632 on 6 degrees of freedom.
		{"ANCOVA against numpy", HaltANCOVA, TargetData{Control: targets("c", ctlBase, ctlWin), Experiment: targets("e", expBase, expWin)},
			HaltANCOVA, 4.6258899676375425, 4.706537785593632, 6, 3, 1e-12},
		{"change scores on the same data", HaltChangeScores, TargetData{Control: targets("c", ctlBase, ctlWin), Experiment: targets("e", expBase, expWin)},
			HaltChangeScores, 4.69, math.NaN(), 7, 3, 1e-12},
		{"baselines that do not vary leave no slope: change scores", HaltANCOVA,
			TargetData{Control: targets("c", []float64{10, 10, 10, 10}, []float64{10.4, 9.1, 10.9, 9.8}), Experiment: targets("e", []float64{10, 10, 10, 10}, []float64{16.2, 14.1, 17.5, 15})},
			HaltChangeScores, 15.7 - 10.05, math.NaN(), 6, 3, 1e-12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewTargetHalt(HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{Absolute: tc.tolerance}, Looks: 10})
			if err != nil {
				t.Fatal(err)
			}
			lv := h.Levels()
			lv.Method = tc.method
			if err := h.SetLevels(lv); err != nil {
				t.Fatal(err)
			}
			l := h.Look(tc.d)
			if !l.Tested || l.Method != tc.want || l.DF != tc.df || math.Abs(l.Effect-tc.effect) > tc.prec*math.Abs(tc.effect) {
				t.Fatalf("look %+v; want method %v, effect %v on %v degrees of freedom", l, tc.want, tc.effect, tc.df)
			}
			if !math.IsNaN(tc.t) && math.Abs(l.T-tc.t) > tc.prec*tc.t {
				t.Errorf("t %v, want %v", l.T, tc.t)
			}
			if l.Critical != StudentTQuantile(1-lv.EarlyLevel, tc.df) || l.Halt != (l.T > l.Critical) {
				t.Errorf("critical %v, halt %v", l.Critical, l.Halt)
			}
		})
	}
}

// TestChooseHaltMethod: the method comes from the baselines alone. Targets that hardly
// differ next to their baselines' noise take ANCOVA; targets that differ much take
// change scores; proportions and too few targets always take change scores.
func TestChooseHaltMethod(t *testing.T) {
	r := rand.New(rand.NewPCG(181, 1))
	cfg := HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{Relative: 0.5, IsRelative: true}, Looks: 33, EarlyLooks: 12, EarlyShare: 0.5}
	h, _ := NewTargetHalt(cfg)
	change := h.Levels()
	change.EarlyLevel *= 1.3 // as calibrated: change scores' early looks share their baseline
	ancova := h.Levels()
	ancova.Method = HaltANCOVA
	fleet := func(hosts int, hostSD, sigma float64) TargetData {
		var d TargetData
		for i := range hosts {
			for g, ts := range []*[]Target{&d.Control, &d.Experiment} {
				level := 3 * math.Exp(hostSD*r.NormFloat64())
				*ts = append(*ts, Target{ID: fmt.Sprint(g, i), Baseline: hostValues(r, 30, level, sigma), Window: hostValues(r, 60, level, sigma)})
			}
		}
		return d
	}
	for _, tc := range []struct {
		name string
		d    TargetData
		want HaltMethod
	}{
		{"identical hosts", fleet(6, 0, 0.3), HaltANCOVA},
		{"hosts 40% apart", fleet(6, 0.4, 0.3), HaltChangeScores},
		{"too few targets", fleet(MinHaltTargets-1, 0, 0.3), HaltChangeScores},
		{"proportions", TargetData{Proportion: true, Control: successTargets(r, "c", 6, 100, 0.02, 0.02), Experiment: successTargets(r, "e", 6, 100, 0.02, 0.02)}, HaltChangeScores},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ChooseHaltMethod(tc.d, cfg.Tolerance, 0.5, change, ancova); got != tc.want {
				t.Errorf("chose %v, want %v", got, tc.want)
			}
		})
	}
}
