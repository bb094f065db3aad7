package analysis

import (
	"fmt"
	"math"
)

// Method names how a Mann-Whitney p-value (or a Hodges-Lehmann interval) was obtained.
type Method string

const (
	// MethodAuto lets the package choose: exact for small samples, asymptotic otherwise.
	MethodAuto Method = ""
	// MethodExact is the exact null distribution of U without ties.
	MethodExact Method = "exact"
	// MethodExactTies is the exact permutation distribution of U with mid-ranks.
	MethodExactTies Method = "exact-ties"
	// MethodAsymptotic is the normal approximation with tie and continuity correction.
	MethodAsymptotic Method = "asymptotic"
)

// Limits for MethodAuto. Beyond them the normal approximation is already accurate to a
// few parts in a thousand, far below any tolerance a chaos experiment can resolve.
const (
	exactMaxN     = 50
	exactTiesMaxN = 25
	// exactMaxWork bounds a forced exact computation: the DP does about
	// N·n_E·2·n_E·n_C additions.
	exactMaxWork = 4e8
)

// MannWhitneyResult is the outcome of a Mann-Whitney U test.
type MannWhitneyResult struct {
	// U counts pairs with experiment > control plus half the tied pairs (SciPy's U for
	// the experiment sample). Its null mean is NControl·NExperiment/2.
	U float64
	// P is the p-value for the alternative implied by the harmful direction:
	// increase → experiment greater, decrease → experiment less, either → two-sided.
	P      float64
	Method Method
	// Z and Sigma are the standardised statistic and the tie-corrected σ_U; Z is only
	// meaningful for MethodAsymptotic, Sigma is always reported.
	Z, Sigma float64
	// Ties reports whether any value occurs more than once in the pooled sample.
	Ties bool

	dist uDist // kept so the Hodges-Lehmann interval can reuse a tie-free distribution
}

// twoSidedConvention picks how a two-sided exact p-value is formed when the permutation
// distribution is asymmetric (which happens only with ties).
type twoSidedConvention int

const (
	// twoSidedAbs is P(|U − mean| ≥ |u − mean|): the classical permutation p-value and
	// the one Murphy uses. It is a proper probability (never clipped) and matches the
	// |z| logic of the normal approximation.
	twoSidedAbs twoSidedConvention = iota
	// twoSidedMin is 2·min(P(U ≤ u), P(U ≥ u)), clipped at 1 (SciPy's convention for
	// permutation tests); kept for reference comparisons.
	twoSidedMin
)

// pooled holds what every rank statistic needs from the two sorted samples.
type pooled struct {
	c, e    []float64 // sorted control and experiment
	u2      int64     // 2U, an exact integer
	tieTerm float64   // Σ(t³ − t) over tie groups
	ties    bool
	groups  []int // tie-group sizes in ascending value order (only when requested)
}

// merge walks both sorted samples once. It is O(n) so the large-sample path never
// builds a rank array.
func merge(c, e []float64, wantGroups bool) pooled {
	p := pooled{c: c, e: e}
	i, j := 0, 0
	for i < len(c) || j < len(e) {
		var v float64
		switch {
		case i == len(c):
			v = e[j]
		case j == len(e):
			v = c[i]
		default:
			v = math.Min(c[i], e[j])
		}
		i0, j0 := i, j
		for i < len(c) && c[i] == v {
			i++
		}
		for j < len(e) && e[j] == v {
			j++
		}
		cc, ce := int64(i-i0), int64(j-j0)
		p.u2 += ce * (2*int64(i0) + cc)
		t := cc + ce
		if t > 1 {
			p.ties = true
			ft := float64(t)
			p.tieTerm += ft*ft*ft - ft
		}
		if wantGroups {
			p.groups = append(p.groups, int(t))
		}
	}
	return p
}

func (p *pooled) sigma() float64 {
	n1, n2 := float64(len(p.e)), float64(len(p.c))
	n := n1 + n2
	v := n1 * n2 / 12 * ((n + 1) - p.tieTerm/(n*(n-1)))
	if v <= 0 {
		return 0
	}
	return math.Sqrt(v)
}

func (p *pooled) allEqual() bool {
	return p.c[0] == p.c[len(p.c)-1] && p.e[0] == p.e[len(p.e)-1] && p.c[0] == p.e[0]
}

// checkPair validates both groups for a two-sample statistic.
func checkPair(control, experiment []float64) error {
	if err := checkSample("control", control); err != nil {
		return err
	}
	if err := checkSample("experiment", experiment); err != nil {
		return err
	}
	if len(control) < 2 || len(experiment) < 2 {
		return fmt.Errorf("%w: need at least 2 observations per group, have control %d, experiment %d",
			ErrTooFewSamples, len(control), len(experiment))
	}
	return nil
}

// MannWhitney tests whether the experiment sample is shifted against the control
// sample in the harmful direction. Neither input slice is modified.
func MannWhitney(control, experiment []float64, dir Direction, method Method) (MannWhitneyResult, error) {
	if err := checkPair(control, experiment); err != nil {
		return MannWhitneyResult{}, err
	}
	p := merge(sortedCopy(control), sortedCopy(experiment), true)
	return mannWhitneySorted(&p, dir, method, twoSidedAbs)
}

func mannWhitneySorted(p *pooled, dir Direction, method Method, conv twoSidedConvention) (MannWhitneyResult, error) {
	if !dir.valid() {
		return MannWhitneyResult{}, fmt.Errorf("%w: direction %v", ErrInvalidArgument, dir)
	}
	if p.allEqual() {
		return MannWhitneyResult{}, fmt.Errorf("%w: every observation equals %v", ErrNoVariation, p.c[0])
	}
	nE, nC := len(p.e), len(p.c)
	res := MannWhitneyResult{U: float64(p.u2) / 2, Sigma: p.sigma(), Ties: p.ties}
	switch method {
	case MethodAuto:
		switch {
		case !p.ties && nE <= exactMaxN && nC <= exactMaxN:
			method = MethodExact
		case p.ties && nE <= exactTiesMaxN && nC <= exactTiesMaxN:
			method = MethodExactTies
		default:
			method = MethodAsymptotic
		}
	case MethodExact, MethodExactTies:
		if p.ties {
			method = MethodExactTies
		} else {
			method = MethodExact
		}
		if work := float64(nE+nC) * float64(nE) * 2 * float64(nE) * float64(nC); work > exactMaxWork {
			return MannWhitneyResult{}, fmt.Errorf("%w: control %d, experiment %d", ErrExactTooLarge, nC, nE)
		}
	case MethodAsymptotic:
	default:
		return MannWhitneyResult{}, fmt.Errorf("%w: method %q", ErrInvalidArgument, method)
	}
	res.Method = method
	if method == MethodAsymptotic {
		res.Z, res.P = asymptoticP(res.U, float64(nE)*float64(nC), res.Sigma, dir)
		return res, nil
	}
	groups := p.groups
	if groups == nil {
		groups = merge(p.c, p.e, true).groups
	}
	res.dist = exactDist(groups, nE, nC)
	res.P = exactP(res.dist, p.u2, int64(nE)*int64(nC), dir, conv)
	return res, nil
}

// asymptoticP follows SciPy's mannwhitneyu exactly (same U choice per alternative, same
// continuity correction), so reference values agree to rounding.
func asymptoticP(u, mn, sigma float64, dir Direction) (z, p float64) {
	f := 1.0
	switch dir {
	case DirectionDecrease:
		u = mn - u
	case DirectionEither:
		u = math.Max(u, mn-u)
		f = 2
	}
	z = (u - mn/2 - 0.5) / sigma
	return z, math.Min(1, f*normalSF(z))
}

// uDist is the exact null distribution of U: Count[s] labelings give U = s/Unit.
// Unit is 2 when there are ties (mid-ranks make U a half-integer) and 1 otherwise,
// which halves the work for the common tie-free case.
type uDist struct {
	Count []float64
	Unit  int64
}

// exactDist counts, for each value of U, the labelings that give it when nE of the
// pooled observations, whose tie groups have the given sizes in ascending order, are
// drawn for the experiment. Only additions and multiplications of positive numbers
// occur, so the tails keep full relative precision (the classic product formula for
// the no-tie case subtracts).
func exactDist(groups []int, nE, nC int) uDist {
	unit := 1
	for _, t := range groups {
		if t > 1 {
			unit = 2
			break
		}
	}
	S := unit * nE * nC
	width := S + 1
	cur := make([]float64, (nE+1)*width)
	next := make([]float64, (nE+1)*width)
	cur[0] = 1
	maxT := 0
	for _, t := range groups {
		maxT = max(maxT, t)
	}
	binom := make([]float64, maxT+1)
	before := 0
	for _, t := range groups {
		pascalRow(binom, t)
		clear(next[:(min(nE, before+t)+1)*width])
		jLo := max(0, before-nC)
		jHi := min(nE, before)
		for j := jLo; j <= jHi; j++ {
			c := before - j
			row := cur[j*width:]
			sMax := min(S, unit*j*nC)
			eLo := max(0, before+t-nC-j)
			eHi := min(t, nE-j)
			for e := eLo; e <= eHi; e++ {
				w := binom[e]
				// Each new experiment value beats c controls and ties t−e of them:
				// 2U grows by e·(2c + t − e).
				shift := e * (2*c + t - e) * unit / 2
				dst := next[(j+e)*width+shift:]
				for s, v := range row[:sMax+1] {
					if v != 0 {
						dst[s] += v * w
					}
				}
			}
		}
		cur, next = next, cur
		before += t
	}
	return uDist{Count: cur[nE*width : nE*width+width], Unit: int64(unit)}
}

// pascalRow fills b[0..t] with binomial coefficients C(t, ·).
func pascalRow(b []float64, t int) {
	b[0] = 1
	for k := 1; k <= t; k++ {
		b[k] = b[k-1] * float64(t-k+1) / float64(k)
	}
}

// exactP turns the distribution into a p-value, summing only the tails it needs.
// Comparisons run on 2U so half-integers stay exact.
func exactP(d uDist, u2, mn int64, dir Direction, conv twoSidedConvention) float64 {
	var total, ge, le, far float64
	dev := u2 - mn
	if dev < 0 {
		dev = -dev
	}
	step := 2 / d.Unit
	for s, v := range d.Count {
		if v == 0 {
			continue
		}
		total += v
		s2 := int64(s) * step
		if s2 >= u2 {
			ge += v
		}
		if s2 <= u2 {
			le += v
		}
		dd := s2 - mn
		if dd < 0 {
			dd = -dd
		}
		if dd >= dev {
			far += v
		}
	}
	switch dir {
	case DirectionIncrease:
		return ge / total
	case DirectionDecrease:
		return le / total
	}
	if conv == twoSidedMin {
		return math.Min(1, 2*math.Min(ge, le)/total)
	}
	return far / total
}
