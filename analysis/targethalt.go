package analysis

import (
	"fmt"
	"math"
)

// MinHaltTargets is the fewest targets per group the target-level deviation guardrail
// tests with. With fewer, the pooled t has at most 4 degrees of freedom and a per-look
// level near 1e-4 needs t beyond 10: only an absurd slowdown could halt, so the guardrail
// says so and leaves halting to the absolute guardrails instead of pretending.
const MinHaltTargets = 4

// HaltConfig configures the target-level deviation guardrail.
type HaltConfig struct {
	Direction Direction
	// Tolerance is how much worse the experimental group may become than the control
	// group, relative to both groups' baselines, before the run must halt: relative 0.5
	// halts once the experiment is shown to be more than 50% worse.
	Tolerance  Tolerance
	Proportion bool
	// Alpha is the chance of halting when the experiment is exactly at the tolerance
	// (and far less when it is not worse at all); default 0.01.
	Alpha float64
	// Looks is the number of looks planned over the fault window; each look is tested at
	// Alpha/Looks (Bonferroni), which holds whatever the dependence between looks. Looks
	// beyond the plan test nothing.
	Looks int
	// EarlyLooks and EarlyShare front-load the spending: the first EarlyLooks looks share
	// EarlyShare of Alpha and the rest share the remainder. A weighted Bonferroni split
	// still bounds the chance of any false halt by Alpha, whatever the dependence between
	// looks; it buys power where harm is cheapest to stop, at the start of a fault, for a
	// little power late. Zero EarlyLooks (or Looks no greater) spends evenly.
	EarlyLooks int
	EarlyShare float64
}

// TargetHalt is the deviation guardrail's test: at each planned look, each target's
// level over the recent window is compared with its own baseline, and the pooled t test
// asks whether the experimental group's mean change exceeds the control group's by more
// than the tolerance. Pooled rather than Welch: under the null the two groups' changes
// have the same spread, and at the small per-look level the degrees of freedom Welch
// gives up cost most of the power. Not safe for concurrent use.
type TargetHalt struct {
	cfg    HaltConfig
	levels LookLevels
	method HaltMethod
	looks  int
	// early is used for the first cfg.EarlyLooks looks, late after them; one cache
	// when the spending is even.
	early, late tQuantileCache
}

// HaltMethod is how the deviation guardrail adjusts each target's window level for its
// baseline.
type HaltMethod int

const (
	// HaltChangeScores compares the targets' changes (window level minus baseline
	// level) with the pooled t on nC + nE − 2 degrees of freedom.
	HaltChangeScores HaltMethod = iota
	// HaltANCOVA regresses the window levels on the baseline levels with a group term
	// (one common slope) and tests the group term on nC + nE − 3 degrees of freedom.
	// Change scores are ANCOVA with the slope fixed at 1: when targets hardly differ,
	// a target's baseline level is mostly its baseline's noise, the fitted slope is
	// near 0, and ANCOVA keeps that noise out of the comparison instead of adding it.
	HaltANCOVA
)

func (m HaltMethod) String() string {
	if m == HaltANCOVA {
		return "ancova"
	}
	return "change-scores"
}

// HaltLook is the outcome of one look.
type HaltLook struct {
	// Look counts from 1.
	Look int
	// Tested is false when the look could not test (Reason says why).
	Tested, Halt bool
	Scale        Scale
	// NControl and NExperiment count the targets compared.
	NControl, NExperiment int
	// Effect is the experimental group's mean change minus the control group's on the
	// analysis scale; RelChange the same as a relative change (0.8 = 80% worse).
	Effect, RelChange float64
	// Method is how the window levels were adjusted for the baselines at this look.
	Method HaltMethod
	// T is the statistic against the tolerance boundary (positive beyond it), Critical
	// the value it must exceed at this look, DF the degrees of freedom.
	T, Critical, DF float64
	Reason          string
	// Targets holds every target's summary; Beyond marks the experimental targets
	// beyond the tolerance net of the control group's change.
	Targets []TargetSummary
}

// NewTargetHalt validates cfg and fills the default Alpha.
func NewTargetHalt(cfg HaltConfig) (*TargetHalt, error) {
	cfg, err := cfg.validated()
	if err != nil {
		return nil, err
	}
	h := &TargetHalt{cfg: cfg}
	h.setLevels(cfg.bonferroni())
	return h, nil
}

func (h *TargetHalt) setLevels(lv LookLevels) {
	h.levels, h.method = lv, lv.Method
	h.early, h.late = tQuantileCache{upper: lv.EarlyLevel}, tQuantileCache{upper: lv.LateLevel}
}

// SetLevels replaces the guardrail's per-look levels before its first look: a caller
// that learns the baseline's length only when the faults begin calibrates then
// (NewLookLevels). Levels for another plan, or below the Bonferroni split, are refused.
func (h *TargetHalt) SetLevels(lv LookLevels) error {
	if h.looks > 0 {
		return fmt.Errorf("%w: look levels changed after %d looks", ErrInvalidArgument, h.looks)
	}
	b := h.cfg.bonferroni()
	if lv.Looks != b.Looks || lv.Early != b.Early || !(lv.EarlyLevel >= b.EarlyLevel) || !(lv.LateLevel >= b.LateLevel) ||
		lv.EarlyLevel >= 0.5 || lv.LateLevel >= 0.5 || (lv.Method == HaltANCOVA && h.cfg.Proportion) {
		return fmt.Errorf("%w: look levels %+v do not belong to this guardrail's plan (%d looks, %d early)", ErrInvalidArgument, lv, b.Looks, b.Early)
	}
	h.setLevels(lv)
	return nil
}

// Levels returns the per-look levels in force.
func (h *TargetHalt) Levels() LookLevels { return h.levels }

func (cfg HaltConfig) validated() (HaltConfig, error) {
	if cfg.Alpha == 0 {
		cfg.Alpha = 0.01
	}
	tol := cfg.Tolerance.Absolute
	if cfg.Tolerance.IsRelative {
		tol = cfg.Tolerance.Relative
	}
	switch {
	case !cfg.Direction.valid():
		return cfg, fmt.Errorf("%w: direction %v", ErrInvalidArgument, cfg.Direction)
	case !(cfg.Alpha > 0 && cfg.Alpha < 1):
		return cfg, fmt.Errorf("%w: alpha %v must lie strictly between 0 and 1", ErrInvalidArgument, cfg.Alpha)
	case cfg.Looks < 1:
		return cfg, fmt.Errorf("%w: %d planned looks; at least 1", ErrInvalidArgument, cfg.Looks)
	case !(tol >= 0) || math.IsInf(tol, 0):
		return cfg, fmt.Errorf("%w: tolerance %v must be a finite, non-negative number", ErrInvalidArgument, tol)
	case cfg.EarlyLooks < 0 || (cfg.EarlyLooks > 0 && !(cfg.EarlyShare > 0 && cfg.EarlyShare < 1)):
		return cfg, fmt.Errorf("%w: %d early looks sharing %v of alpha; the share must lie strictly between 0 and 1", ErrInvalidArgument, cfg.EarlyLooks, cfg.EarlyShare)
	}
	return cfg, nil
}

// shares returns the parts of Alpha the early and the late looks spend.
func (cfg HaltConfig) shares() (early, late float64) {
	if cfg.EarlyLooks == 0 || cfg.EarlyLooks >= cfg.Looks {
		return 0, 1
	}
	return cfg.EarlyShare, 1 - cfg.EarlyShare
}

// bonferroni is the per-look split of a validated cfg: valid whatever the dependence
// between looks.
func (cfg HaltConfig) bonferroni() LookLevels {
	sides := 1.0
	if cfg.Direction == DirectionEither {
		sides = 2
	}
	se, sl := cfg.shares()
	lv := LookLevels{Looks: cfg.Looks}
	if se > 0 {
		lv.Early = cfg.EarlyLooks
		lv.EarlyLevel = cfg.Alpha * se / float64(lv.Early) / sides
	}
	lv.LateLevel = cfg.Alpha * sl / float64(cfg.Looks-lv.Early) / sides
	if lv.Early == 0 {
		// Even spending: the "early" cache is the late one's twin, never consulted.
		lv.EarlyLevel = lv.LateLevel
	}
	return lv
}

// LookLevel is the one-sided level the next look is tested at.
func (h *TargetHalt) LookLevel() float64 { return h.cache(h.looks + 1).upper }

// cache holds the quantiles of look k (from 1).
func (h *TargetHalt) cache(k int) *tQuantileCache {
	if k <= h.levels.Early {
		return &h.early
	}
	return &h.late
}

// Looks is how many looks have been taken.
func (h *TargetHalt) Looks() int { return h.looks }

// Look takes the next planned look at the targets' baselines and recent windows.
func (h *TargetHalt) Look(d TargetData) HaltLook {
	h.looks++
	out := HaltLook{Look: h.looks, Scale: chooseScale(d, h.cfg.Tolerance)}
	if h.looks > h.cfg.Looks {
		out.Reason = fmt.Sprintf("the %d planned looks are spent", h.cfg.Looks)
		return out
	}
	withBaseline := hasBaselines(d)
	ctl, _, err := reduce(d.Control, false, out.Scale, d.Proportion, withBaseline)
	if err != nil {
		out.Reason = trimPrefix(err)
		return out
	}
	exp, _, err := reduce(d.Experiment, true, out.Scale, d.Proportion, withBaseline)
	if err != nil {
		out.Reason = trimPrefix(err)
		return out
	}
	out.NControl, out.NExperiment = len(ctl), len(exp)
	if len(ctl) < MinHaltTargets || len(exp) < MinHaltTargets {
		out.Reason = fmt.Sprintf("%d control and %d experimental targets reported; the deviation test needs %d per group",
			len(ctl), len(exp), MinHaltTargets)
		return out
	}
	mC, vC := changeStats(ctl, d.Proportion)
	mE, vE := changeStats(exp, d.Proportion)
	nC, nE := float64(len(ctl)), float64(len(exp))
	out.Method = HaltChangeScores
	out.DF = nC + nE - 2
	s2 := ((nC-1)*vC + (nE-1)*vE) / out.DF
	se := math.Sqrt(s2 * (1/nC + 1/nE))
	out.Effect = mE - mC
	if h.method == HaltANCOVA && withBaseline && !d.Proportion {
		if eff, seA, ok := ancova(ctl, exp); ok {
			out.Method, out.Effect, se, out.DF = HaltANCOVA, eff, seA, nC+nE-3
		}
	}
	base := groupLevel(ctl, out.Scale, withBaseline)
	up, down := boundaries(h.cfg.Tolerance, out.Scale, base)
	out.RelChange, _, _, _ = relative(out.Effect, out.Effect, out.Effect, out.Scale, base)
	for _, u := range append(ctl, exp...) {
		s := u.sum
		if s.Experiment {
			s.Beyond = beyond(u.d-mC, up, down, h.cfg.Direction)
		}
		out.Targets = append(out.Targets, s)
	}
	if se == 0 {
		out.Reason = "every target changed by exactly the same amount"
		return out
	}
	tUp, tDown := (out.Effect-up)/se, math.Inf(-1)
	if !math.IsInf(down, -1) {
		tDown = (down - out.Effect) / se
	}
	switch h.cfg.Direction {
	case DirectionIncrease:
		out.T = tUp
	case DirectionDecrease:
		out.T = tDown
	default:
		out.T = math.Max(tUp, tDown)
	}
	out.Tested = true
	out.Critical = h.cache(h.looks).quantile(out.DF)
	out.Halt = out.T > out.Critical
	return out
}

// ancova fits window = a + group·g + slope·baseline on the targets' levels (analysis
// scale) and returns the group term with its standard error; ok is false when the
// baselines do not vary within the groups (no slope to fit) or nothing is left for the
// residual variance.
func ancova(ctl, exp []unit) (effect, se float64, ok bool) {
	type moments struct{ n, b, w float64 }
	mom := func(us []unit) moments {
		m := moments{n: float64(len(us))}
		for _, u := range us {
			m.b += u.base
			m.w += u.base + u.d
		}
		m.b /= m.n
		m.w /= m.n
		return m
	}
	c, e := mom(ctl), mom(exp)
	var sbb, sbw, sww float64
	for _, g := range []struct {
		us []unit
		m  moments
	}{{ctl, c}, {exp, e}} {
		for _, u := range g.us {
			db, dw := u.base-g.m.b, u.base+u.d-g.m.w
			sbb += db * db
			sbw += db * dw
			sww += dw * dw
		}
	}
	df := c.n + e.n - 3
	if !(sbb > 0) || df < 1 {
		return 0, 0, false
	}
	slope := sbw / sbb
	rss := max(0, sww-slope*sbw)
	gap := e.b - c.b
	effect = (e.w - c.w) - slope*gap
	se = math.Sqrt(rss / df * (1/c.n + 1/e.n + gap*gap/sbb))
	return effect, se, se > 0
}

// ChooseHaltMethod picks, from the baselines alone and before the first look, the
// statistic whose early looks would halt at the smaller effect: ANCOVA when the targets
// differ little next to the noise of their baselines, change scores when they differ
// much. From each target's baseline split in halves it estimates the baseline level's
// noise σ²b (the halves' differences: var = 4σ²b), the targets' spread σ²h (the
// baseline levels' pooled variance less σ²b) and the full window's noise σ²w =
// σ²b·baselineOverWindow; the variance per target is then σ²b + σ²w for change scores
// and σ²w + σ²hσ²b/(σ²h + σ²b) for ANCOVA (the part of a target's offset its baseline
// cannot tell from noise) times the fitted slope's cost, each weighed by its early
// critical value squared. Because
// only baselines decide, the choice cannot favour a method on the looks' evidence:
// ANCOVA's t is exact given the baselines, and change scores are chosen when the
// baselines spread widely, which widens their t's standard error, never narrows it.
// Proportions always use change scores.
func ChooseHaltMethod(d TargetData, tol Tolerance, baselineOverWindow float64, changeScores, ancova LookLevels) HaltMethod {
	if d.Proportion || !(baselineOverWindow > 0) {
		return HaltChangeScores
	}
	scale := chooseScale(d, tol)
	var diffs float64
	var levels [2][]float64
	for g, ts := range [][]Target{d.Control, d.Experiment} {
		for _, t := range ts {
			if len(t.Baseline) < 4 || len(t.Window) == 0 {
				continue
			}
			h := len(t.Baseline) / 2
			a, _ := summarise(t.Baseline[:h], scale, false)
			b, _ := summarise(t.Baseline[h:], scale, false)
			whole, _ := summarise(t.Baseline, scale, false)
			diffs += (a - b) * (a - b)
			levels[g] = append(levels[g], whole)
		}
	}
	nC, nE := len(levels[0]), len(levels[1])
	if nC < MinHaltTargets || nE < MinHaltTargets {
		return HaltChangeScores
	}
	_, vC := meanVar(levels[0])
	_, vE := meanVar(levels[1])
	spread := ((float64(nC)-1)*vC + (float64(nE)-1)*vE) / float64(nC+nE-2)
	noise := diffs / float64(nC+nE) / 4
	hosts := max(0, spread-noise)
	window := noise * baselineOverWindow
	vChange := noise + window
	vANCOVA := window
	if hosts+noise > 0 {
		vANCOVA += hosts * noise / (hosts + noise)
	}
	// The fitted slope costs ANCOVA's standard error the term (b̄E − b̄C)²/Sbb, whose
	// expectation over baselines drawn at random is (1/nC + 1/nE)/(nC + nE − 4).
	if n := nC + nE; n > 4 {
		vANCOVA *= 1 + 1/float64(n-4)
	} else {
		return HaltChangeScores
	}
	cChange := StudentTQuantile(1-changeScores.EarlyLevel, float64(nC+nE-2))
	cANCOVA := StudentTQuantile(1-ancova.EarlyLevel, float64(nC+nE-3))
	if vANCOVA*cANCOVA*cANCOVA < vChange*cChange*cChange {
		return HaltANCOVA
	}
	return HaltChangeScores
}
