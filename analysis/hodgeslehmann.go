package analysis

import (
	"fmt"
	"math"
	"slices"
)

// HLResult is the Hodges-Lehmann shift estimate with its distribution-free interval.
type HLResult struct {
	// Shift is the median of all pairwise differences experiment − control.
	Shift float64
	// Low and High bound the shift at the requested confidence: order statistics of the
	// pairwise differences at the Mann-Whitney critical values.
	Low, High float64
	// Rank is k, the 1-based order statistic used for Low (High uses n_E·n_C − k + 1).
	Rank int64
	// Coverage is the nominal coverage actually achieved by k (≥ the requested
	// confidence unless the samples are too small to reach it).
	Coverage float64
	Method   Method
}

// HodgesLehmann estimates the shift of experiment against control and a two-sided
// interval at the given confidence (e.g. 0.95). It never builds the n_E·n_C matrix of
// differences, so 10^6 against 10^6 samples is fine.
func HodgesLehmann(control, experiment []float64, confidence float64) (HLResult, error) {
	if err := checkPair(control, experiment); err != nil {
		return HLResult{}, err
	}
	p := merge(sortedCopy(control), sortedCopy(experiment), false)
	if p.allEqual() {
		return HLResult{}, fmt.Errorf("%w: every observation equals %v", ErrNoVariation, p.c[0])
	}
	return hodgesLehmannSorted(&p, confidence, uDist{})
}

// hodgesLehmannSorted takes dist, the tie-free distribution of U, when the caller
// already has it (zero otherwise).
func hodgesLehmannSorted(p *pooled, confidence float64, dist uDist) (HLResult, error) {
	if !(confidence > 0 && confidence < 1) {
		return HLResult{}, fmt.Errorf("%w: confidence %v must lie strictly between 0 and 1", ErrInvalidArgument, confidence)
	}
	m := diffMatrix{e: p.e, c: p.c}
	// The extreme differences bound every other one; if they overflow, counts and
	// selection would compare against ±Inf and the estimate could become NaN.
	if hi, lo := p.e[len(p.e)-1]-p.c[0], p.e[0]-p.c[len(p.c)-1]; math.IsInf(hi, 0) || math.IsInf(lo, 0) {
		return HLResult{}, fmt.Errorf("%w: differences between the groups overflow float64", ErrNonFinite)
	}
	total := int64(len(p.e)) * int64(len(p.c))
	var res HLResult
	if total%2 == 1 {
		res.Shift = m.selectK((total + 1) / 2)
	} else {
		a := m.selectK(total / 2)
		b := m.next(a, total/2)
		res.Shift = midpoint(a, b)
	}
	alpha := 1 - confidence
	nE, nC := len(p.e), len(p.c)
	var k int64
	if nE <= exactMaxN && nC <= exactMaxN {
		res.Method = MethodExact
		if dist.Unit != 1 {
			dist = exactDist(ones(nE+nC), nE, nC)
		}
		k, res.Coverage = exactCriticalRank(dist, alpha)
	} else {
		res.Method = MethodAsymptotic
		sigma := p.sigma()
		mu := float64(total) / 2
		k = int64(math.Floor(mu + 0.5 - normalUpperQuantile(alpha/2)*sigma))
		k = max(k, 1)
		res.Coverage = 1 - 2*normalSF((mu-(float64(k)-0.5))/sigma)
	}
	res.Rank = k
	res.Low = m.selectK(k)
	res.High = m.selectK(total - k + 1)
	return res, nil
}

// midpoint is symmetric under negation, so swapping the groups mirrors the estimate
// exactly (a + (b−a)/2 is not), and halves first only where the sum could overflow.
func midpoint(a, b float64) float64 {
	if math.Abs(a) < math.MaxFloat64/4 && math.Abs(b) < math.MaxFloat64/4 {
		return (a + b) / 2
	}
	return a/2 + b/2
}

func ones(n int) []int {
	g := make([]int, n)
	for i := range g {
		g[i] = 1
	}
	return g
}

// exactCriticalRank returns the smallest k with P(U ≤ k) ≥ α/2 (at least 1, as R's
// wilcox.test does) and the coverage 1 − 2·P(U ≤ k − 1) it achieves. dist must be the
// tie-free distribution (Unit 1): ties make the interval conservative, not invalid.
func exactCriticalRank(dist uDist, alpha float64) (int64, float64) {
	var total float64
	for _, v := range dist.Count {
		total += v
	}
	var cum float64
	k := int64(0)
	for _, v := range dist.Count {
		if (cum+v)/total >= alpha/2 {
			break
		}
		cum += v
		k++
	}
	if k == 0 {
		return 1, 1 - 2*dist.Count[0]/total
	}
	return k, 1 - 2*cum/total
}

// diffMatrix is the implicit sorted matrix D[i][j] = e[i] − c[j]. Rows grow with i and
// shrink with j; that holds for the rounded differences too, because floating-point
// subtraction is monotone in each argument, so counting and enumerating agree exactly
// with what materialising the matrix would give.
type diffMatrix struct {
	e, c []float64
}

// countLE is #{(i, j): e[i] − c[j] ≤ t}, by two pointers in O(n_E + n_C).
func (m diffMatrix) countLE(t float64) int64 {
	var n int64
	j := 0
	nc := len(m.c)
	for _, ei := range m.e {
		for j < nc && ei-m.c[j] > t {
			j++
		}
		n += int64(nc - j)
	}
	return n
}

// selectK returns the k-th smallest difference (1-based). It keeps a bracket
// count(lo) < k ≤ count(hi) and shrinks it with two interpolation probes per round,
// aimed just below and just above the k-th difference assuming the differences are
// spread evenly inside the bracket (true enough once the bracket is small, since their
// distribution is smooth). A round that fails to halve the bracket is followed by a
// plain bisection, and after many rounds bisection runs on the float64 ordering, so
// the pass count stays bounded whatever the data. When few candidates remain they are
// enumerated and sorted. Each pass is O(n_E + n_C); 10⁶ × 10⁶ latency-like samples
// need about 15 passes per order statistic.
func (m diffMatrix) selectK(k int64) float64 {
	minD := m.e[0] - m.c[len(m.c)-1]
	maxD := m.e[len(m.e)-1] - m.c[0]
	cntMin := m.countLE(minD)
	if k <= cntMin {
		return minD
	}
	lo, hi := minD, maxD
	cntLo, cntHi := cntMin, int64(len(m.e))*int64(len(m.c))
	limit := int64(max(4096, (len(m.e)+len(m.c))/16))
	delta := float64(limit / 4)
	probe := func(t float64) {
		if !(t > lo && t < hi) {
			return
		}
		if c := m.countLE(t); c >= k {
			hi, cntHi = t, c
		} else {
			lo, cntLo = t, c
		}
	}
	for round := 0; cntHi-cntLo > limit; round++ {
		before := cntHi - cntLo
		switch {
		case round >= 64:
			probe(floatFromKey(floatKey(lo)/2 + floatKey(hi)/2 + (floatKey(lo) & floatKey(hi) & 1)))
		case round%2 == 1:
			// Odd rounds only run if the previous interpolation round did not halve the
			// bracket. With heavy ties that is usually because one value repeats more
			// than limit times; if it is hi, it is the answer.
			if below := math.Nextafter(hi, math.Inf(-1)); below > lo && m.countLE(below) < k {
				return hi
			}
			probe(lo/2 + hi/2)
		default:
			width := float64(before)
			r := float64(k - cntLo)
			if r-delta > 0 {
				probe(lo + (hi-lo)*((r-delta)/width))
			}
			if r+delta < width {
				probe(lo + (hi-lo)*((r+delta)/width))
			}
			if cntHi-cntLo <= before/2 {
				round++ // good progress: skip the bisection round
			}
		}
		if cntHi-cntLo == before && !(lo/2+hi/2 > lo && lo/2+hi/2 < hi) {
			// lo and hi are adjacent floats: every candidate equals hi.
			return hi
		}
	}
	cand := m.between(lo, hi, int(cntHi-cntLo))
	slices.Sort(cand)
	return cand[k-cntLo-1]
}

// between lists the differences in (lo, hi].
func (m diffMatrix) between(lo, hi float64, capacity int) []float64 {
	out := make([]float64, 0, capacity)
	jHi, jLo := 0, 0
	nc := len(m.c)
	for _, ei := range m.e {
		for jHi < nc && ei-m.c[jHi] > hi {
			jHi++
		}
		for jLo < nc && ei-m.c[jLo] > lo {
			jLo++
		}
		for j := jHi; j < jLo; j++ {
			out = append(out, ei-m.c[j])
		}
	}
	return out
}

// next returns the (k+1)-th smallest difference given v, the k-th.
func (m diffMatrix) next(v float64, k int64) float64 {
	if m.countLE(v) > k {
		return v
	}
	// Smallest difference strictly above v: in each row, the last column still above v.
	best := math.Inf(1)
	j := 0
	nc := len(m.c)
	for _, ei := range m.e {
		for j < nc && ei-m.c[j] > v {
			j++
		}
		if j > 0 {
			best = math.Min(best, ei-m.c[j-1])
		}
	}
	return best
}

// floatKey maps float64 to uint64 preserving order, so bisection on keys halves the
// number of representable values between lo and hi.
func floatKey(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func floatFromKey(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}
