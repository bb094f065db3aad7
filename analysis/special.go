package analysis

import "math"

// Special functions written here rather than imported: the package must stay free of
// heavy dependencies, and the tails Murphy needs (p-values near 1e-16, e-values at
// 10^5 events) are only safe when every tail is computed directly, never as 1 − CDF.

// normalSF is P(Z > z) for a standard normal, accurate in the far upper tail.
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// normalUpperQuantile returns z with P(Z > z) = p.
func normalUpperQuantile(p float64) float64 {
	return math.Sqrt2 * math.Erfcinv(2*p)
}

// lnBeta is ln B(a, b) for a, b > 0.
func lnBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

const (
	cfMaxIter = 1 << 20
	cfEps     = 1e-16
	cfTiny    = 1e-300
)

// betaCF evaluates the continued fraction of the regularised incomplete beta function
// (modified Lentz). It converges quickly for x < (a+1)/(a+b+2); callers swap the
// arguments otherwise. The number of iterations grows like sqrt(max(a, b)).
func betaCF(x, a, b float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c := 1.0
	d := 1 - qab*x/qap
	if math.Abs(d) < cfTiny {
		d = cfTiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= cfMaxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < cfTiny {
			d = cfTiny
		}
		c = 1 + aa/c
		if math.Abs(c) < cfTiny {
			c = cfTiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < cfTiny {
			d = cfTiny
		}
		c = 1 + aa/c
		if math.Abs(c) < cfTiny {
			c = cfTiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < cfEps {
			break
		}
	}
	return h
}

// lnIncBetaDirect is ln I_x(a, b) through the continued fraction, valid (fast and
// accurate) when x < (a+1)/(a+b+2).
func lnIncBetaDirect(x, a, b float64) float64 {
	return a*math.Log(x) + b*math.Log1p(-x) - lnBeta(a, b) - math.Log(a) + math.Log(betaCF(x, a, b))
}

// lnIncBeta returns ln I_x(a, b), the log of the regularised incomplete beta function
// (the Beta(a, b) CDF at x).
func lnIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return math.Inf(-1)
	case x >= 1:
		return 0
	}
	if x < (a+1)/(a+b+2) {
		return lnIncBetaDirect(x, a, b)
	}
	// The complement is the small side here, so 1 − exp(small) loses nothing.
	return math.Log1p(-math.Exp(lnIncBetaDirect(1-x, b, a)))
}

// lnIncBetaUpper returns ln(1 − I_x(a, b)), the log upper tail of Beta(a, b) at x,
// computed without forming 1 − I_x(a, b).
func lnIncBetaUpper(x, a, b float64) float64 {
	return lnIncBeta(1-x, b, a)
}

// incBeta returns I_x(a, b).
func incBeta(x, a, b float64) float64 {
	return math.Exp(lnIncBeta(x, a, b))
}

// betaQuantile returns x with I_x(a, b) = p by bisection on the log CDF. Bisection is
// slow but cannot diverge, and it only runs once per count metric in a verdict.
func betaQuantile(p, a, b float64) float64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lp := math.Log(p)
	lo, hi := 0.0, 1.0
	for i := 0; i < 200; i++ {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if lnIncBeta(mid, a, b) < lp {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// studentTTwoSided returns P(|T| ≥ |t|) for Student's t with df degrees of freedom.
func studentTTwoSided(t, df float64) float64 {
	if t == 0 {
		return 1
	}
	x := df / (df + t*t)
	return math.Min(1, incBeta(x, df/2, 0.5))
}
