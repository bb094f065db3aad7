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
	cfg   HaltConfig
	looks int
	// early is used for the first cfg.EarlyLooks looks, late after them; one cache
	// when the spending is even.
	early, late tQuantileCache
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
	if cfg.Alpha == 0 {
		cfg.Alpha = 0.01
	}
	tol := cfg.Tolerance.Absolute
	if cfg.Tolerance.IsRelative {
		tol = cfg.Tolerance.Relative
	}
	switch {
	case !cfg.Direction.valid():
		return nil, fmt.Errorf("%w: direction %v", ErrInvalidArgument, cfg.Direction)
	case !(cfg.Alpha > 0 && cfg.Alpha < 1):
		return nil, fmt.Errorf("%w: alpha %v must lie strictly between 0 and 1", ErrInvalidArgument, cfg.Alpha)
	case cfg.Looks < 1:
		return nil, fmt.Errorf("%w: %d planned looks; at least 1", ErrInvalidArgument, cfg.Looks)
	case !(tol >= 0) || math.IsInf(tol, 0):
		return nil, fmt.Errorf("%w: tolerance %v must be a finite, non-negative number", ErrInvalidArgument, tol)
	case cfg.EarlyLooks < 0 || (cfg.EarlyLooks > 0 && !(cfg.EarlyShare > 0 && cfg.EarlyShare < 1)):
		return nil, fmt.Errorf("%w: %d early looks sharing %v of alpha; the share must lie strictly between 0 and 1", ErrInvalidArgument, cfg.EarlyLooks, cfg.EarlyShare)
	}
	sides := 1.0
	if cfg.Direction == DirectionEither {
		sides = 2
	}
	if cfg.EarlyLooks == 0 || cfg.EarlyLooks >= cfg.Looks {
		level := cfg.Alpha / float64(cfg.Looks) / sides
		return &TargetHalt{cfg: cfg, early: tQuantileCache{upper: level}, late: tQuantileCache{upper: level}}, nil
	}
	return &TargetHalt{cfg: cfg,
		early: tQuantileCache{upper: cfg.Alpha * cfg.EarlyShare / float64(cfg.EarlyLooks) / sides},
		late:  tQuantileCache{upper: cfg.Alpha * (1 - cfg.EarlyShare) / float64(cfg.Looks-cfg.EarlyLooks) / sides},
	}, nil
}

// LookLevel is the one-sided level the next look is tested at.
func (h *TargetHalt) LookLevel() float64 { return h.cache(h.looks + 1).upper }

// cache holds the quantiles of look k (from 1).
func (h *TargetHalt) cache(k int) *tQuantileCache {
	if k <= h.cfg.EarlyLooks {
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
	out.DF = nC + nE - 2
	s2 := ((nC-1)*vC + (nE-1)*vE) / out.DF
	se := math.Sqrt(s2 * (1/nC + 1/nE))
	base := groupLevel(ctl, out.Scale, withBaseline)
	up, down := boundaries(h.cfg.Tolerance, out.Scale, base)
	out.Effect = mE - mC
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
