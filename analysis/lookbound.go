package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// LookDesign describes how the deviation guardrail's looks share their data, in units
// of the interval between looks. Each look compares a target's level over the last
// Window intervals (or since the faults began, when that is shorter) with its level over
// a baseline of Baseline intervals taken once before the faults. Consecutive looks
// therefore share most of their window, and with change scores every look shares the
// baseline's noise: the 12 looks of a fault's first two minutes carry the false-halt
// chances of about two independent looks, and a Bonferroni split over 12 wastes most of
// their level on chances that are not there.
type LookDesign struct {
	// Window is the look window in look intervals (at least 1).
	Window int
	// Baseline is the baseline's length in look intervals. Zero credits no sharing
	// through the baseline: the least correlated looks, so the smallest levels.
	Baseline float64
}

func (d LookDesign) valid() bool {
	return d.Window >= 1 && d.Baseline >= 0 && !math.IsInf(d.Baseline, 0)
}

// calibrationPaths is the number of simulated null paths behind a calibrated level.
// With 100,000 paths a level of 0.005 rests on about 500 crossings (a relative standard
// error near 4.5%); calibrate aims below the level by four such errors.
const calibrationPaths = 100_000

// calibrate returns the nominal one-sided level at which each of looks 1..looks may be
// tested so that the chance that any of them crosses stays at most level. It simulates
// the guardrail's own statistic under the null, with independent normal samples: nC
// and nE targets, each with a baseline mean of variance 1/b (b = d.Baseline) and one
// unit-variance mean per look interval. At look k a target's window level is the mean
// of its min(k, d.Window) latest interval means; the statistic is the pooled t of the
// changes or the ANCOVA t of the window levels on the baselines. The critical value is
// the (1 − level) quantile of the simulated maxima, and the nominal level its upper
// tail under Student's t with the method's degrees of freedom. Simulating the t
// statistics themselves matters: Gaussian statistics with the same correlation gave
// levels that let 0.53% of boundary runs cross where 0.5% was asked (10 degrees of
// freedom). The generator is seeded from the arguments: the result is a fixed function
// of them.
func calibrate(d LookDesign, method HaltMethod, nC, nE, looks int, level float64) float64 {
	n := nC + nE
	r := rand.New(rand.NewPCG(uint64(looks)<<32|uint64(nC)<<16|uint64(nE), uint64(d.Window)<<32|uint64(method)<<31|math.Float64bits(d.Baseline)>>40))
	maxima := make([]float64, calibrationPaths)
	ring := make([]float64, n*d.Window)
	sums := make([]float64, n)
	us := make([]unit, n)
	bsd := 1.0 // ANCOVA: any baselines will do, the windows do not depend on them
	if method == HaltChangeScores {
		bsd = 0
		if d.Baseline > 0 {
			bsd = 1 / math.Sqrt(d.Baseline)
		}
	}
	df := float64(n - 2)
	if method == HaltANCOVA {
		df--
	}
	seScale := math.Sqrt(1/float64(nC) + 1/float64(nE))
	for p := range maxima {
		for i := range us {
			us[i].base = bsd * r.NormFloat64()
			sums[i] = 0
		}
		top := math.Inf(-1)
		for k := 1; k <= looks; k++ {
			slot := (k - 1) % d.Window
			m := float64(min(k, d.Window))
			var sC, sE, qC, qE float64
			for i := range n {
				x := r.NormFloat64()
				at := i*d.Window + slot
				if k > d.Window {
					sums[i] -= ring[at]
				}
				ring[at] = x
				sums[i] += x
				c := sums[i]/m - us[i].base
				us[i].d = c
				if i < nC {
					sC, qC = sC+c, qC+c*c
				} else {
					sE, qE = sE+c, qE+c*c
				}
			}
			var t float64
			if method == HaltANCOVA {
				eff, se, _ := ancova(us[:nC], us[nC:])
				t = eff / se
			} else {
				mC, mE := sC/float64(nC), sE/float64(nE)
				t = (mE - mC) / (math.Sqrt((qC-sC*mC+qE-sE*mE)/df) * seScale)
			}
			top = max(top, t)
		}
		maxima[p] = top
	}
	aim := level - 4*math.Sqrt(level*(1-level)/calibrationPaths)
	if aim <= 0 {
		return 0
	}
	slices.Sort(maxima)
	k := int(math.Ceil((1 - aim) * float64(len(maxima))))
	if k >= len(maxima) {
		return 0
	}
	return studentTUpper(maxima[k], df)
}

// LookLevels are the per-look levels of a deviation guardrail: looks 1..Early at
// EarlyLevel, the rest up to Looks at LateLevel, for the statistic Method. A guardrail
// takes them through SetLevels before its first look.
type LookLevels struct {
	Looks, Early          int
	EarlyLevel, LateLevel float64
	Method                HaltMethod
	// Calibrated is false for the Bonferroni split.
	Calibrated bool
}

// NewLookLevels calibrates the early looks' level of cfg's spending (the first
// EarlyLooks looks sharing EarlyShare of Alpha) to the correlation between those looks
// that design implies for method and nControl, nExperiment targets: together they may
// cross with at most their share, counted once rather than once per look. The late
// looks keep their Bonferroni level: they are many and far apart, and the early ones
// are where a fault's harm is cheapest to stop. No level is ever below Bonferroni's,
// which holds whatever the dependence. The simulation costs about 25 ms per target on
// one core; compute it once per design.
func NewLookLevels(cfg HaltConfig, method HaltMethod, design LookDesign, nControl, nExperiment int) (LookLevels, error) {
	cfg, err := cfg.validated()
	switch {
	case err != nil:
		return LookLevels{}, err
	case method == HaltANCOVA && cfg.Proportion:
		return LookLevels{}, fmt.Errorf("%w: ANCOVA is not used on proportions", ErrInvalidArgument)
	case nControl < MinHaltTargets || nExperiment < MinHaltTargets:
		return LookLevels{}, fmt.Errorf("%w: %d control and %d experimental targets; the deviation test needs %d per group", ErrInvalidArgument, nControl, nExperiment, MinHaltTargets)
	case !design.valid():
		return LookLevels{}, fmt.Errorf("%w: look design %+v: a window of at least one look interval and a finite, non-negative baseline", ErrInvalidArgument, design)
	}
	lv := cfg.bonferroni()
	lv.Method = method
	if lv.Early == 0 {
		return lv, nil
	}
	sides := 1.0
	if cfg.Direction == DirectionEither {
		sides = 2
	}
	if method == HaltANCOVA {
		// ANCOVA removes part of the baseline's noise from every look, how much
		// depending on how much the targets differ; crediting none of it errs
		// towards Bonferroni's levels.
		design.Baseline = 0
	}
	share, _ := cfg.shares()
	lv.EarlyLevel = max(lv.EarlyLevel, calibrate(design, method, nControl, nExperiment, lv.Early, cfg.Alpha*share/sides))
	lv.Calibrated = true
	return lv, nil
}
