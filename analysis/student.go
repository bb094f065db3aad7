package analysis

import "math"

// studentTUpper returns P(T > t) for Student's t with df degrees of freedom.
func studentTUpper(t, df float64) float64 {
	if t == 0 {
		return 0.5
	}
	if math.IsInf(t, 1) {
		return 0
	}
	if math.IsInf(t, -1) {
		return 1
	}
	half := 0.5 * incBeta(df/(df+t*t), df/2, 0.5)
	if t > 0 {
		return half
	}
	return 1 - half
}

// StudentTQuantile returns the t with P(T ≤ t) = p for Student's t with df > 0 degrees
// of freedom. Newton's method on the log upper tail, started from the Cornish-Fisher
// expansion and kept inside a bracket (a step that leaves it bisects instead), reaches
// full double precision in a handful of steps, also in the far tails the halt test asks
// for (levels near 1e-5), where a plain Newton step from a normal start can overshoot.
func StudentTQuantile(p, df float64) float64 {
	switch {
	case math.IsNaN(p) || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case p <= 0:
		return math.Inf(-1)
	case p >= 1:
		return math.Inf(1)
	case p == 0.5:
		return 0
	case p < 0.5:
		// By symmetry, from the lower tail itself: forming 1 − p would round it away.
		return -upperTQuantile(p, df)
	}
	return upperTQuantile(1-p, df)
}

// upperTQuantile returns the t > 0 with P(T > t) = a, for 0 < a < ½.
func upperTQuantile(a, df float64) float64 {
	z := normalUpperQuantile(a)
	if math.IsInf(df, 1) || df > 1e10 {
		return z
	}
	lnA := math.Log(a)
	// ln P(T > t) for t > 0 is ln ½ + ln I_x(df/2, ½) with x = df/(df + t²).
	f := func(t float64) float64 { return math.Ln2*-1 + lnIncBeta(df/(df+t*t), df/2, 0.5) - lnA }
	lg1, _ := math.Lgamma((df + 1) / 2)
	lg2, _ := math.Lgamma(df / 2)
	lnPDF := func(t float64) float64 { return lg1 - lg2 - 0.5*math.Log(df*math.Pi) - (df+1)/2*math.Log1p(t*t/df) }
	z2 := z * z
	t := z + z*(z2+1)/(4*df) + z*(5*z2*z2+16*z2+3)/(96*df*df)
	lo, hi := 0.0, math.Inf(1)
	if !(t > 0) || math.IsInf(t, 0) {
		t = 1
	}
	for i := 0; i < 200; i++ {
		ft := f(t)
		if ft > 0 { // tail still too heavy: t must grow
			lo = t
		} else {
			hi = t
		}
		// d/dt ln P(T > t) = −pdf(t)/P(T > t).
		step := ft / math.Exp(lnPDF(t)-(ft+lnA))
		next := t + step
		if !(next > lo && next < hi) {
			if math.IsInf(hi, 1) {
				next = 2 * t
			} else {
				next = lo + (hi-lo)/2
			}
		}
		if math.Abs(next-t) <= 1e-15*t {
			return next
		}
		t = next
	}
	return t
}

// tQuantileCache memoises upper quantiles by degrees of freedom for one tail level:
// the halt test asks for the same few values at every look.
type tQuantileCache struct {
	upper float64 // tail probability
	byDF  map[float64]float64
}

func (c *tQuantileCache) quantile(df float64) float64 {
	if q, ok := c.byDF[df]; ok {
		return q
	}
	if c.byDF == nil {
		c.byDF = map[float64]float64{}
	}
	q := StudentTQuantile(1-c.upper, df)
	c.byDF[df] = q
	return q
}
