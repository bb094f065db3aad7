package analysis

import (
	"errors"
	"math"
	"testing"
)

// binomTail sums the binomial pmf directly in log space: slow, but the definition.
func binomTail(x, n int64, p float64, upper bool) float64 {
	var s float64
	lo, hi := int64(0), x
	if upper {
		lo, hi = x, n
	}
	for k := lo; k <= hi; k++ {
		lc, _ := math.Lgamma(float64(n + 1))
		l1, _ := math.Lgamma(float64(k + 1))
		l2, _ := math.Lgamma(float64(n - k + 1))
		s += math.Exp(lc - l1 - l2 + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
	}
	return s
}

func TestCompareCounts(t *testing.T) {
	tests := []struct {
		name string
		c    Counts
		dir  Direction
	}{
		{"equal groups, more experiment errors", Counts{20, 10000, 45, 10000}, DirectionIncrease},
		{"unequal shares", Counts{30, 30000, 12, 10000}, DirectionEither},
		{"decrease", Counts{50, 5000, 31, 5000}, DirectionDecrease},
		{"large counts", Counts{4000, 1e7, 4300, 1e7}, DirectionIncrease},
		{"no experiment events", Counts{5, 1000, 0, 1000}, DirectionIncrease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const conf = 0.95
			res, err := CompareCounts(tc.c, tc.dir, conf)
			if err != nil {
				t.Fatal(err)
			}
			x, b := tc.c.BadExperiment, tc.c.BadExperiment+tc.c.BadControl
			rho := res.Share
			ge, le := binomTail(x, b, rho, true), binomTail(x, b, rho, false)
			want := map[Direction]float64{
				DirectionIncrease: ge, DirectionDecrease: le,
				DirectionEither: math.Min(1, 2*math.Min(ge, le)),
			}[tc.dir]
			if !relClose(res.P, want, 1e-9) {
				t.Errorf("p = %.15g, direct binomial sum %.15g", res.P, want)
			}
			// Clopper-Pearson bounds: the binomial tails at the bounds are α/2.
			theta := func(r float64) float64 { return r * rho / (r*rho + 1 - rho) }
			if x > 0 {
				if got := binomTail(x, b, theta(res.RatioLow), true); !relClose(got, 0.025, 1e-7) {
					t.Errorf("P(X ≥ x) at lower bound = %v, want 0.025", got)
				}
			} else if res.RatioLow != 0 {
				t.Errorf("lower bound %v with no experiment events", res.RatioLow)
			}
			if got := binomTail(x, b, theta(res.RatioHigh), false); !relClose(got, 0.025, 1e-7) {
				t.Errorf("P(X ≤ x) at upper bound = %v, want 0.025", got)
			}
			if !(res.RatioLow <= res.RateRatio && res.RateRatio <= res.RatioHigh) {
				t.Errorf("ratio %v outside [%v, %v]", res.RateRatio, res.RatioLow, res.RatioHigh)
			}
		})
	}
}

func TestCompareCountsEdges(t *testing.T) {
	t.Run("no events", func(t *testing.T) {
		res, err := CompareCounts(Counts{0, 100, 0, 100}, DirectionIncrease, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if res.P != 1 || res.RatioLow != 0 || res.RatioHigh != Unbounded {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("no control events", func(t *testing.T) {
		res, err := CompareCounts(Counts{0, 100, 9, 100}, DirectionIncrease, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if res.RateRatio != Unbounded || res.RatioHigh != Unbounded || res.RatioLow <= 1 {
			t.Errorf("got %+v", res)
		}
	})
	for _, tc := range []struct {
		name string
		c    Counts
		want error
	}{
		{"zero total", Counts{0, 0, 1, 10}, ErrEmptySample},
		{"bad above total", Counts{11, 10, 1, 10}, ErrInvalidArgument},
		{"negative", Counts{1, 10, -1, 10}, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CompareCounts(tc.c, DirectionIncrease, 0.95); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}
