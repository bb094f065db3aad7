package analysis

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestLookLevels(t *testing.T) {
	rel := Tolerance{Relative: 0.5, IsRelative: true}
	cfg := HaltConfig{Direction: DirectionIncrease, Tolerance: rel, Looks: 33, EarlyLooks: 12, EarlyShare: 0.5}
	for _, tc := range []struct {
		name   string
		cfg    HaltConfig
		method HaltMethod
		design LookDesign
		n      int
		// above: the calibrated early level must exceed Bonferroni's by this factor
		// at least (a floor, so that the test does not pin Monte Carlo digits).
		above float64
	}{
		{"change scores share the baseline", cfg, HaltChangeScores, LookDesign{Window: 6, Baseline: 3}, 6, 1.2},
		{"ANCOVA is credited no baseline", cfg, HaltANCOVA, LookDesign{Window: 6, Baseline: 3}, 4, 1},
		{"two-sided", HaltConfig{Direction: DirectionEither, Tolerance: rel, Looks: 33, EarlyLooks: 12, EarlyShare: 0.5}, HaltChangeScores, LookDesign{Window: 6, Baseline: 3}, 6, 1.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lv, err := NewLookLevels(tc.cfg, tc.method, tc.design, tc.n, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := tc.cfg.validated()
			want := b.bonferroni()
			if !lv.Calibrated || lv.Method != tc.method || lv.Looks != want.Looks || lv.Early != want.Early || lv.LateLevel != want.LateLevel {
				t.Errorf("levels %+v; the late looks keep Bonferroni's %+v", lv, want)
			}
			if !(lv.EarlyLevel >= tc.above*want.EarlyLevel) || !(lv.EarlyLevel < 12*want.EarlyLevel) {
				t.Errorf("early level %.3g against Bonferroni's %.3g; want at least %.2f times it and below the share unsplit", lv.EarlyLevel, want.EarlyLevel, tc.above)
			}
		})
	}
	t.Run("a fixed function of its arguments; the baseline's sharing credited", func(t *testing.T) {
		a, _ := NewLookLevels(cfg, HaltChangeScores, LookDesign{Window: 6, Baseline: 3}, 4, 4)
		b, _ := NewLookLevels(cfg, HaltChangeScores, LookDesign{Window: 6, Baseline: 3}, 4, 4)
		none, _ := NewLookLevels(cfg, HaltChangeScores, LookDesign{Window: 6}, 4, 4)
		if a != b || !(none.EarlyLevel < a.EarlyLevel) {
			t.Errorf("%+v, then %+v; with no baseline credited %+v", a, b, none)
		}
	})
	t.Run("even spending is left alone", func(t *testing.T) {
		even := HaltConfig{Direction: DirectionIncrease, Tolerance: rel, Looks: 33}
		lv, err := NewLookLevels(even, HaltChangeScores, LookDesign{Window: 6, Baseline: 3}, 6, 6)
		if err != nil || lv.Calibrated || lv.EarlyLevel != 0.01/33 || lv.LateLevel != 0.01/33 {
			t.Errorf("%+v, %v", lv, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			cfg    HaltConfig
			method HaltMethod
			design LookDesign
			n      int
		}{
			{HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{Absolute: 0.02}, Proportion: true, Looks: 33, EarlyLooks: 12, EarlyShare: 0.5}, HaltANCOVA, LookDesign{Window: 6}, 6},
			{cfg, HaltChangeScores, LookDesign{Window: 6, Baseline: 3}, MinHaltTargets - 1},
			{cfg, HaltChangeScores, LookDesign{Window: 0, Baseline: 3}, 6},
			{cfg, HaltChangeScores, LookDesign{Window: 6, Baseline: math.Inf(1)}, 6},
			{cfg, HaltChangeScores, LookDesign{Window: 6, Baseline: -1}, 6},
			{HaltConfig{Direction: DirectionIncrease, Looks: 0}, HaltChangeScores, LookDesign{Window: 6}, 6},
		} {
			if _, err := NewLookLevels(tc.cfg, tc.method, tc.design, tc.n, tc.n); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%+v %v %+v n %d: error %v", tc.cfg, tc.method, tc.design, tc.n, err)
			}
		}
	})
}

func TestSetLevels(t *testing.T) {
	cfg := HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{Relative: 0.5, IsRelative: true}, Looks: 33, EarlyLooks: 12, EarlyShare: 0.5}
	h, err := NewTargetHalt(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := h.Levels()
	if b.Calibrated || b.Method != HaltChangeScores || b.EarlyLevel != 0.005/12 || b.LateLevel != 0.005/21 {
		t.Fatalf("a new guardrail's levels %+v; want Bonferroni's", b)
	}
	for _, tc := range []struct {
		name string
		lv   LookLevels
		ok   bool
	}{
		{"calibrated early level", LookLevels{Looks: 33, Early: 12, EarlyLevel: 2 * b.EarlyLevel, LateLevel: b.LateLevel, Calibrated: true}, true},
		{"ANCOVA at Bonferroni's levels", LookLevels{Looks: 33, Early: 12, EarlyLevel: b.EarlyLevel, LateLevel: b.LateLevel, Method: HaltANCOVA}, true},
		{"another plan", LookLevels{Looks: 34, Early: 12, EarlyLevel: b.EarlyLevel, LateLevel: b.LateLevel}, false},
		{"another early phase", LookLevels{Looks: 33, Early: 6, EarlyLevel: b.EarlyLevel, LateLevel: b.LateLevel}, false},
		{"below Bonferroni", LookLevels{Looks: 33, Early: 12, EarlyLevel: b.EarlyLevel / 2, LateLevel: b.LateLevel}, false},
		{"a level of one half", LookLevels{Looks: 33, Early: 12, EarlyLevel: 0.5, LateLevel: b.LateLevel}, false},
		{"NaN", LookLevels{Looks: 33, Early: 12, EarlyLevel: math.NaN(), LateLevel: b.LateLevel}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := NewTargetHalt(cfg)
			err := h.SetLevels(tc.lv)
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (h.Levels() != tc.lv || h.LookLevel() != tc.lv.EarlyLevel) {
				t.Errorf("levels %+v, next look at %v", h.Levels(), h.LookLevel())
			}
		})
	}
	t.Run("not after a look", func(t *testing.T) {
		h, _ := NewTargetHalt(cfg)
		h.Look(TargetData{})
		if err := h.SetLevels(b); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no ANCOVA on proportions", func(t *testing.T) {
		p := cfg
		p.Proportion, p.Tolerance = true, Tolerance{Absolute: 0.02}
		h, _ := NewTargetHalt(p)
		lv := h.Levels()
		lv.Method = HaltANCOVA
		if err := h.SetLevels(lv); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("error %v", err)
		}
	})
}

// TestLookLevelsHoldTheirShare runs the guardrail itself with calibrated levels on
// targets whose looks share their data as in a run (a baseline of 3 look intervals, a
// window of the last 6), with no change at all against a zero tolerance: the boundary,
// the least favourable case. The early looks may then cross with at most their share.
// The share is raised to 5% so that a miscalibration shows within a test's runs.
func TestLookLevelsHoldTheirShare(t *testing.T) {
	const runs, hosts, perInterval, early = 1000, 6, 4, 12
	design := LookDesign{Window: 6, Baseline: 3}
	for _, method := range []HaltMethod{HaltChangeScores, HaltANCOVA} {
		t.Run(method.String(), func(t *testing.T) {
			cfg := HaltConfig{Direction: DirectionIncrease, Tolerance: Tolerance{IsRelative: true}, Alpha: 0.1, Looks: 20, EarlyLooks: early, EarlyShare: 0.5}
			lv, err := NewLookLevels(cfg, method, design, hosts, hosts)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			crossed := 0
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := w; i < runs; i += 2 {
						r := rand.New(rand.NewPCG(171, uint64(i)))
						h, _ := NewTargetHalt(cfg)
						if err := h.SetLevels(lv); err != nil {
							panic(err)
						}
						var d TargetData
						series := make([][]float64, 2*hosts)
						for j := range series {
							level := 50 * math.Exp(0.2*r.NormFloat64())
							series[j] = hostValues(r, perInterval*(int(design.Baseline)+early), level, 0.3)
							target := Target{ID: fmt.Sprint(j), Baseline: series[j][:perInterval*int(design.Baseline)]}
							if j < hosts {
								d.Control = append(d.Control, target)
							} else {
								d.Experiment = append(d.Experiment, target)
							}
						}
						for k := 1; k <= early; k++ {
							from := perInterval * (int(design.Baseline) + max(0, k-design.Window))
							to := perInterval * (int(design.Baseline) + k)
							for j := range series {
								ts := d.Control
								if j >= hosts {
									ts = d.Experiment
								}
								ts[j%hosts].Window = series[j][from:to]
							}
							if h.Look(d).Halt {
								mu.Lock()
								crossed++
								mu.Unlock()
								break
							}
						}
					}
				})
			}
			wg.Wait()
			share := cfg.Alpha * cfg.EarlyShare
			t.Logf("%s: %d of %d runs crossed in the %d early looks (share %.2f, level %.3g per look, Bonferroni %.3g)",
				method, crossed, runs, early, share, lv.EarlyLevel, share/early)
			if p := evidenceOfExcess(crossed, runs, share); p < 0.01 {
				t.Errorf("%d of %d runs crossed: evidence of a rate above %.2f (P = %.2g)", crossed, runs, share, p)
			}
		})
	}
}
