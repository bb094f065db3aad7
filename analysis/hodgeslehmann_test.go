package analysis

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestSelectKMatchesMaterialisedDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	gen := map[string]func(n int) []float64{
		"normal": func(n int) []float64 {
			x := make([]float64, n)
			for i := range x {
				x[i] = 100 + 15*r.NormFloat64()
			}
			return x
		},
		"integers with ties": func(n int) []float64 {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(r.IntN(7))
			}
			return x
		},
		"heavy tail across magnitudes": func(n int) []float64 {
			x := make([]float64, n)
			for i := range x {
				x[i] = math.Copysign(math.Exp(40*r.NormFloat64()), r.NormFloat64())
			}
			return x
		},
		"clustered": func(n int) []float64 {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(r.IntN(3))*1e6 + 1e-3*r.Float64()
			}
			return x
		},
	}
	sizes := [][2]int{{2, 3}, {7, 5}, {90, 70}, {300, 240}}
	for name, g := range gen {
		for _, sz := range sizes {
			t.Run(name, func(t *testing.T) {
				c, e := g(sz[0]), g(sz[1])
				m := diffMatrix{e: sortedCopy(e), c: sortedCopy(c)}
				d := allDiffs(c, e)
				total := int64(len(d))
				ks := []int64{1, 2, total / 3, total / 2, total/2 + 1, total - 1, total}
				for i := 0; i < 20; i++ {
					ks = append(ks, 1+r.Int64N(total))
				}
				for _, k := range ks {
					if k < 1 || k > total {
						continue
					}
					if got := m.selectK(k); got != d[k-1] {
						t.Fatalf("%dx%d: selectK(%d) = %v, want %v", sz[0], sz[1], k, got, d[k-1])
					}
					if k < total {
						if got := m.next(d[k-1], k); got != d[k] {
							t.Fatalf("%dx%d: next after k=%d = %v, want %v", sz[0], sz[1], k, got, d[k])
						}
					}
				}
			})
		}
	}
}

func TestHodgesLehmannInterval(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	tests := []struct {
		name       string
		nC, nE     int
		shift      float64
		confidence float64
		method     Method
	}{
		{"small exact", 12, 15, 3, 0.95, MethodExact},
		{"exact at the limit", 50, 50, 1, 0.90, MethodExact},
		{"asymptotic", 400, 300, -2, 0.95, MethodAsymptotic},
		{"asymptotic high confidence", 800, 800, 0.5, 0.99, MethodAsymptotic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := make([]float64, tc.nC)
			e := make([]float64, tc.nE)
			for i := range c {
				c[i] = 10 * r.NormFloat64()
			}
			for i := range e {
				e[i] = tc.shift + 10*r.NormFloat64()
			}
			res, err := HodgesLehmann(c, e, tc.confidence)
			if err != nil {
				t.Fatal(err)
			}
			if res.Method != tc.method {
				t.Errorf("method %q, want %q", res.Method, tc.method)
			}
			d := allDiffs(c, e)
			if want := medianSorted(d); res.Shift != want {
				t.Errorf("shift %v, want median of differences %v", res.Shift, want)
			}
			if res.Low != d[res.Rank-1] || res.High != d[int64(len(d))-res.Rank] {
				t.Errorf("interval is not the order statistics of rank %d", res.Rank)
			}
			// The rank must be the largest one whose coverage reaches the confidence:
			// check the achieved coverage brackets the request.
			if res.Coverage < tc.confidence || res.Coverage > tc.confidence+0.05 {
				t.Errorf("coverage %v for requested %v", res.Coverage, tc.confidence)
			}
		})
	}
}

// TestHodgesLehmannCoverage checks the interval's frequentist promise by simulation.
func TestHodgesLehmannCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, n := range []int{8, 20, 120} {
		t.Run("n="+strconv.Itoa(n), func(t *testing.T) {
			const runs, shift = 300, 2.5
			miss := 0
			c := make([]float64, n)
			e := make([]float64, n)
			for range runs {
				for i := range c {
					c[i] = r.ExpFloat64() * 5
					e[i] = shift + r.ExpFloat64()*5
				}
				res, err := HodgesLehmann(c, e, 0.90)
				if err != nil {
					t.Fatal(err)
				}
				if shift < res.Low || shift > res.High {
					miss++
				}
			}
			// 10% nominal; 300 runs give a standard error of 1.7 points.
			if rate := float64(miss) / runs; rate > 0.15 {
				t.Errorf("interval missed the true shift in %.1f%% of runs, want about 10%%", 100*rate)
			}
		})
	}
}
