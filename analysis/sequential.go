package analysis

import (
	"fmt"
	"math"
)

// EConfig configures an anytime-valid halt test on bad-event counts.
type EConfig struct {
	// Share is ρ, the experimental group's share of traffic or targets (0.5 for equal
	// groups). Under "no difference" each bad event is the experiment's with
	// probability ρ, whatever the shared, time-varying load.
	Share float64
	// K is the prior concentration of the Beta mixture over θ; default 20. Small K bets
	// on large effects (fast halts on big regressions), large K on small ones.
	K float64
	// Alpha is the probability of ever halting without a real difference; default 0.01.
	// Split it across the guarded metrics of an experiment.
	Alpha float64
	// ToleranceRatio r₀: 0 means a two-sided test (halt on any difference in rate);
	// r₀ ≥ 1 means halt only when the experiment's rate exceeds r₀ × control's.
	ToleranceRatio float64
}

// EProcess is the sequential halt test on counts (DESIGN.md, "Halt test"): a Beta-mixture likelihood
// ratio for the share θ of bad events that fall in the experimental group. By Ville's
// inequality, halting when log E ≥ ln(1/α) keeps the chance of a false halt at most α
// however often it is evaluated.
//
// Its state is the two counters; SetState restores it (e.g. from a snapshot). An
// EProcess is not safe for concurrent use.
type EProcess struct {
	cfg       EConfig
	nE, nC    int64
	a, b      float64 // prior Beta parameters
	theta0    float64
	lnTheta0  float64 // ln θ₀
	lnTheta0c float64 // ln(1 − θ₀)
	lnPrior   float64 // ln B(a, b) + ln P_prior(θ > θ₀) for the one-sided test
	oneSided  bool
	threshold float64
}

// NewEProcess validates cfg, fills defaults and returns a process at zero counts.
func NewEProcess(cfg EConfig) (*EProcess, error) {
	if cfg.K == 0 {
		cfg.K = 20
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = 0.01
	}
	switch {
	case !(cfg.Share > 0 && cfg.Share < 1):
		return nil, fmt.Errorf("%w: share %v must lie strictly between 0 and 1", ErrInvalidArgument, cfg.Share)
	case !(cfg.K > 0) || math.IsInf(cfg.K, 0):
		return nil, fmt.Errorf("%w: prior concentration %v must be positive", ErrInvalidArgument, cfg.K)
	case !(cfg.Alpha > 0 && cfg.Alpha < 1):
		return nil, fmt.Errorf("%w: alpha %v must lie strictly between 0 and 1", ErrInvalidArgument, cfg.Alpha)
	case cfg.ToleranceRatio != 0 && !(cfg.ToleranceRatio >= 1) || math.IsInf(cfg.ToleranceRatio, 0):
		return nil, fmt.Errorf("%w: tolerance ratio %v must be 0 (two-sided) or at least 1", ErrInvalidArgument, cfg.ToleranceRatio)
	}
	e := &EProcess{cfg: cfg, threshold: math.Log(1 / cfg.Alpha)}
	rho := cfg.Share
	e.theta0 = rho
	if cfg.ToleranceRatio >= 1 {
		r0 := cfg.ToleranceRatio
		e.oneSided = true
		e.theta0 = r0 * rho / (r0*rho + 1 - rho)
	}
	e.a, e.b = cfg.K*e.theta0, cfg.K*(1-e.theta0)
	e.lnTheta0, e.lnTheta0c = math.Log(e.theta0), math.Log1p(-e.theta0)
	e.lnPrior = lnBeta(e.a, e.b)
	if e.oneSided {
		e.lnPrior += lnIncBetaUpper(e.theta0, e.a, e.b)
	}
	return e, nil
}

// Update adds the bad events seen since the last call and returns log E and whether
// it has reached the halt threshold ln(1/α). The caller halts on the first true.
// Negative deltas are treated as zero: counters never go back.
func (e *EProcess) Update(badExperiment, badControl int64) (logE float64, halt bool) {
	e.nE += max(badExperiment, 0)
	e.nC += max(badControl, 0)
	logE = e.LogE()
	return logE, logE >= e.threshold
}

// LogE is the current log e-value.
func (e *EProcess) LogE() float64 {
	nE, nC := float64(e.nE), float64(e.nC)
	lnPost := lnBeta(e.a+nE, e.b+nC)
	if e.oneSided {
		// The tail of the posterior above θ₀ shrinks to e^-(large) when the data favour
		// the null; it must stay in log space or 1 − I underflows and halts every run.
		lnPost += lnIncBetaUpper(e.theta0, e.a+nE, e.b+nC)
	}
	return lnPost - e.lnPrior - nE*e.lnTheta0 - nC*e.lnTheta0c
}

// Threshold is ln(1/α), the log e-value at which the process halts.
func (e *EProcess) Threshold() float64 { return e.threshold }

// State returns the bad-event counters.
func (e *EProcess) State() (badExperiment, badControl int64) { return e.nE, e.nC }

// SetState replaces the counters, for restoring from a snapshot.
func (e *EProcess) SetState(badExperiment, badControl int64) error {
	if badExperiment < 0 || badControl < 0 {
		return fmt.Errorf("%w: counters %d, %d must not be negative", ErrInvalidArgument, badExperiment, badControl)
	}
	e.nE, e.nC = badExperiment, badControl
	return nil
}
