package analysis

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// bruteForceP enumerates every way of labelling the pooled sample: the definition of
// the exact permutation p-value, independent of the dynamic programme.
func bruteForceP(control, experiment []float64, dir Direction) float64 {
	pool := append(append([]float64{}, control...), experiment...)
	n, m := len(pool), len(experiment)
	u2 := func(mask uint) int64 {
		var s int64
		for i := range n {
			if mask&(1<<i) == 0 {
				continue
			}
			for j := range n {
				if mask&(1<<j) != 0 {
					continue
				}
				switch {
				case pool[i] > pool[j]:
					s += 2
				case pool[i] == pool[j]:
					s++
				}
			}
		}
		return s
	}
	obs := u2(((1 << m) - 1) << len(control))
	mn := int64(len(control) * m)
	var total, hit float64
	for mask := uint(0); mask < 1<<n; mask++ {
		if bits.OnesCount(mask) != m {
			continue
		}
		s := u2(mask)
		total++
		switch dir {
		case DirectionIncrease:
			if s >= obs {
				hit++
			}
		case DirectionDecrease:
			if s <= obs {
				hit++
			}
		default:
			if math.Abs(float64(s-mn)) >= math.Abs(float64(obs-mn)) {
				hit++
			}
		}
	}
	return hit / total
}

func TestExactMatchesEnumeration(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		name   string
		nC, nE int
		levels int // 0: continuous, else integer values in [0, levels)
	}{
		{"no ties", 6, 7, 0},
		{"few ties", 7, 6, 6},
		{"heavy ties", 5, 8, 3},
		{"unbalanced", 3, 10, 4},
	} {
		for _, dir := range []Direction{DirectionIncrease, DirectionDecrease, DirectionEither} {
			t.Run(tc.name+"/"+dir.String(), func(t *testing.T) {
				draw := func(n int, shift float64) []float64 {
					x := make([]float64, n)
					for i := range x {
						if tc.levels == 0 {
							x[i] = r.NormFloat64() + shift
						} else {
							x[i] = float64(r.IntN(tc.levels)) + math.Round(shift)
						}
					}
					return x
				}
				c, e := draw(tc.nC, 0), draw(tc.nE, 0.7)
				if e[0] == e[1] && c[0] == e[0] {
					e[0]++ // keep the all-equal case out of this test
				}
				got, err := MannWhitney(c, e, dir, MethodExact)
				if err != nil {
					t.Fatal(err)
				}
				if want := bruteForceP(c, e, dir); !relClose(got.P, want, 1e-12) {
					t.Errorf("p = %.15g (%s), enumeration gives %.15g", got.P, got.Method, want)
				}
			})
		}
	}
}

func TestMannWhitneyDegenerate(t *testing.T) {
	ok := []float64{1, 2, 3}
	tests := []struct {
		name       string
		control    []float64
		experiment []float64
		want       error
	}{
		{"empty control", nil, ok, ErrEmptySample},
		{"empty experiment", ok, []float64{}, ErrEmptySample},
		{"single observation", []float64{1}, ok, ErrTooFewSamples},
		{"NaN", ok, []float64{1, math.NaN()}, ErrNonFinite},
		{"Inf", []float64{math.Inf(1), 2}, ok, ErrNonFinite},
		{"all equal", []float64{4, 4, 4}, []float64{4, 4}, ErrNoVariation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []Method{MethodAuto, MethodExact, MethodAsymptotic} {
				if _, err := MannWhitney(tc.control, tc.experiment, DirectionEither, m); !errors.Is(err, tc.want) {
					t.Errorf("MannWhitney(%q): err %v, want %v", m, err, tc.want)
				}
			}
			if _, err := HodgesLehmann(tc.control, tc.experiment, 0.95); !errors.Is(err, tc.want) {
				t.Errorf("HodgesLehmann: err %v, want %v", err, tc.want)
			}
			if _, err := Compare(tc.control, tc.experiment, DirectionIncrease, 0.95); !errors.Is(err, tc.want) {
				t.Errorf("Compare: err %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("exact too large", func(t *testing.T) {
		big := make([]float64, 500)
		for i := range big {
			big[i] = float64(i)
		}
		if _, err := MannWhitney(big, big[:400], DirectionEither, MethodExact); !errors.Is(err, ErrExactTooLarge) {
			t.Errorf("err %v, want ErrExactTooLarge", err)
		}
	})
	t.Run("constant but different groups", func(t *testing.T) {
		c, err := Compare([]float64{5, 5, 5, 5}, []float64{7, 7, 7}, DirectionIncrease, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if c.HL.Shift != 2 || c.Welch != (WelchResult{}) || len(c.Warnings) == 0 {
			t.Errorf("got shift %v, welch %+v, warnings %q", c.HL.Shift, c.Welch, c.Warnings)
		}
		assertFinite(t, c)
	})
}

// assertFinite fails if any float in a comparison is NaN or Inf.
func assertFinite(t *testing.T, c Comparison) {
	t.Helper()
	for name, v := range map[string]float64{
		"ControlMedian": c.ControlMedian, "ExperimentMedian": c.ExperimentMedian,
		"U": c.MannWhitney.U, "P": c.MannWhitney.P, "Z": c.MannWhitney.Z,
		"Shift": c.HL.Shift, "Low": c.HL.Low, "High": c.HL.High,
		"RelChange": c.RelChange, "RelLow": c.RelLow, "RelHigh": c.RelHigh,
		"WelchT": c.Welch.T, "WelchDF": c.Welch.DF, "WelchP": c.Welch.P,
		"Lag1Control": c.Lag1Control, "Lag1Experiment": c.Lag1Experiment,
	} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s = %v", name, v)
		}
	}
}

// TestAsymptoticTailPrecision guards the far tail: a p-value far below 1e-16 must come
// out positive and monotone, not rounded to zero by a 1 − Φ subtraction.
func TestAsymptoticTailPrecision(t *testing.T) {
	for _, z := range []float64{5, 10, 20, 30} {
		p := normalSF(z)
		if p <= 0 || p >= normalSF(z-1) {
			t.Errorf("normalSF(%v) = %v", z, p)
		}
	}
	if q := normalUpperQuantile(0.025); math.Abs(q-1.959963984540054) > 1e-12 {
		t.Errorf("z(0.025) = %.16g", q)
	}
}
