package analysis

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestLag1(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, phi := range []float64{0, 0.3, 0.6, 0.9} {
		t.Run("phi="+trimFloat(phi), func(t *testing.T) {
			got := Lag1(ar1Sample(r, 20000, 10, 2, phi))
			if math.Abs(got-phi) > 0.03 {
				t.Errorf("Lag1 = %.3f, want about %.1f", got, phi)
			}
		})
	}
	t.Run("degenerate", func(t *testing.T) {
		for _, x := range [][]float64{nil, {1, 2}, {3, 3, 3, 3}} {
			if got := Lag1(x); got != 0 {
				t.Errorf("Lag1(%v) = %v, want 0", x, got)
			}
		}
	})
}

func TestBatchMeans(t *testing.T) {
	got := BatchMeans([]float64{1, 3, 5, 7, 9, 11, 100}, 2)
	want := []float64{2, 6, 10}
	if len(got) != len(want) {
		t.Fatalf("BatchMeans = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("BatchMeans = %v, want %v", got, want)
		}
	}
}

func TestAutocorrelationGuard(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	tests := []struct {
		name      string
		phi       float64
		n         int
		batched   bool
		warnMatch string
	}{
		{"independent", 0, 500, false, ""},
		{"correlated", 0.6, 2000, true, "analysed as means of"},
		{"correlated and short", -1, 15, false, "too few to batch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			control, experiment := ar1Sample(r, tc.n, 10, 1, tc.phi), ar1Sample(r, tc.n, 10, 1, tc.phi)
			if tc.phi < 0 {
				// A slow drift: as correlated as a series gets, and too short to batch.
				for i := range control {
					control[i], experiment[i] = float64(i), float64(i)+0.5
				}
			}
			c, err := Compare(control, experiment, DirectionIncrease, 0.95)
			if err != nil {
				t.Fatal(err)
			}
			if (c.BatchSize > 1) != tc.batched {
				t.Errorf("batch size %d, lag-1 %.2f/%.2f", c.BatchSize, c.Lag1Control, c.Lag1Experiment)
			}
			if c.BatchSize > 1 {
				if c.AnalysedControl != tc.n/c.BatchSize || c.AnalysedControl < minBatches {
					t.Errorf("analysed %d samples with batch size %d", c.AnalysedControl, c.BatchSize)
				}
				pb := math.Pow(tc.phi, float64(c.BatchSize))
				residual := tc.phi * (1 - pb) * (1 - pb) / (float64(c.BatchSize)*(1-tc.phi*tc.phi) - 2*tc.phi*(1-pb))
				if residual > 2*residualTarget {
					t.Errorf("batch size %d leaves lag-1 %.3f in the batch means", c.BatchSize, residual)
				}
			}
			joined := strings.Join(c.Warnings, "; ")
			if tc.warnMatch != "" && !strings.Contains(joined, tc.warnMatch) {
				t.Errorf("warnings %q lack %q", joined, tc.warnMatch)
			}
			if tc.warnMatch == "" && joined != "" {
				t.Errorf("unexpected warnings %q", joined)
			}
		})
	}
}
