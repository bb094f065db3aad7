package analysis

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

// refCase mirrors testdata/mannwhitney-reference.json (see testdata/README.md).
type refCase struct {
	Kind          string    `json:"kind"`
	Direction     string    `json:"direction"`
	Control       []float64 `json:"control"`
	Experiment    []float64 `json:"experiment"`
	U             float64   `json:"u"`
	PAsymptotic   float64   `json:"p_asymptotic"`
	PExact        *float64  `json:"p_exact"`
	PExactTiesMin *float64  `json:"p_exact_ties_min"`
	PExactTiesAbs *float64  `json:"p_exact_ties_abs"`
	HL            float64   `json:"hl"`
	WelchT        float64   `json:"welch_t"`
	WelchDF       float64   `json:"welch_df"`
	WelchP        float64   `json:"welch_p"`
}

// referenceFiles: the starter set and the cases gen_reference.py produces.
var referenceFiles = []string{"testdata/mannwhitney-reference.json", "testdata/mannwhitney-generated.json"}

func loadReference(t *testing.T) []refCase {
	t.Helper()
	var all []refCase
	for _, name := range referenceFiles {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Cases []refCase `json:"cases"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(doc.Cases) == 0 {
			t.Fatalf("%s has no cases", name)
		}
		all = append(all, doc.Cases...)
	}
	return all
}

func (c refCase) name(i int) string {
	return fmt.Sprintf("%s/%s/%d", c.Kind, c.Direction, i)
}

func (c refCase) dir(t *testing.T) Direction {
	t.Helper()
	d, err := ParseDirection(c.Direction)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// relClose compares with a relative tolerance, falling back to absolute near zero.
func relClose(got, want, tol float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1e-300)
}

const refTol = 1e-9

func TestReferenceMannWhitney(t *testing.T) {
	for i, c := range loadReference(t) {
		t.Run(c.name(i), func(t *testing.T) {
			dir := c.dir(t)
			asym, err := MannWhitney(c.Control, c.Experiment, dir, MethodAsymptotic)
			if err != nil {
				t.Fatal(err)
			}
			if asym.U != c.U {
				t.Errorf("U = %v, want %v", asym.U, c.U)
			}
			if asym.Method != MethodAsymptotic {
				t.Errorf("method = %q", asym.Method)
			}
			if !relClose(asym.P, c.PAsymptotic, refTol) {
				t.Errorf("asymptotic p = %.17g, want %.17g", asym.P, c.PAsymptotic)
			}
			if c.PExact != nil {
				ex, err := MannWhitney(c.Control, c.Experiment, dir, MethodExact)
				if err != nil {
					t.Fatal(err)
				}
				if ex.Method != MethodExact {
					t.Errorf("method = %q, want exact", ex.Method)
				}
				if !relClose(ex.P, *c.PExact, refTol) {
					t.Errorf("exact p = %.17g, want %.17g", ex.P, *c.PExact)
				}
			}
			if c.PExactTiesAbs != nil {
				ex, err := MannWhitney(c.Control, c.Experiment, dir, MethodExact)
				if err != nil {
					t.Fatal(err)
				}
				if ex.Method != MethodExactTies {
					t.Errorf("method = %q, want exact-ties", ex.Method)
				}
				// Murphy's convention (twoSidedAbs) through the public API.
				if !relClose(ex.P, *c.PExactTiesAbs, refTol) {
					t.Errorf("exact ties p = %.17g, want (abs convention) %.17g", ex.P, *c.PExactTiesAbs)
				}
				p := merge(sortedCopy(c.Control), sortedCopy(c.Experiment), true)
				alt, err := mannWhitneySorted(&p, dir, MethodExactTies, twoSidedMin)
				if err != nil {
					t.Fatal(err)
				}
				if !relClose(alt.P, *c.PExactTiesMin, refTol) {
					t.Errorf("exact ties p (min convention) = %.17g, want %.17g", alt.P, *c.PExactTiesMin)
				}
			}
		})
	}
}

func TestReferenceAutoMethod(t *testing.T) {
	for i, c := range loadReference(t) {
		t.Run(c.name(i), func(t *testing.T) {
			r, err := MannWhitney(c.Control, c.Experiment, c.dir(t), MethodAuto)
			if err != nil {
				t.Fatal(err)
			}
			var want float64
			switch r.Method {
			case MethodExact:
				want = *c.PExact
			case MethodExactTies:
				want = *c.PExactTiesAbs
			case MethodAsymptotic:
				want = c.PAsymptotic
				small := len(c.Control) <= exactMaxN && len(c.Experiment) <= exactMaxN
				if c.PExact != nil && small {
					t.Errorf("small tie-free case fell back to the normal approximation")
				}
			}
			if !relClose(r.P, want, refTol) {
				t.Errorf("%s p = %.17g, want %.17g", r.Method, r.P, want)
			}
		})
	}
}

func TestReferenceHodgesLehmann(t *testing.T) {
	for i, c := range loadReference(t) {
		t.Run(c.name(i), func(t *testing.T) {
			r, err := HodgesLehmann(c.Control, c.Experiment, 0.95)
			if err != nil {
				t.Fatal(err)
			}
			if !relClose(r.Shift, c.HL, refTol) {
				t.Errorf("shift = %.17g, want %.17g", r.Shift, c.HL)
			}
			// The interval must be the order statistics of the differences: value v is
			// the k-th smallest iff #(d < v) < k ≤ #(d ≤ v). Counted by brute force.
			total := int64(len(c.Control) * len(c.Experiment))
			for _, os := range []struct {
				v float64
				k int64
			}{{r.Low, r.Rank}, {r.High, total - r.Rank + 1}} {
				var below, atOrBelow int64
				for _, e := range c.Experiment {
					for _, x := range c.Control {
						switch d := e - x; {
						case d < os.v:
							below++
							atOrBelow++
						case d == os.v:
							atOrBelow++
						}
					}
				}
				if !(below < os.k && os.k <= atOrBelow) {
					t.Errorf("%v is not order statistic %d of the differences", os.v, os.k)
				}
			}
			if !(r.Low <= r.Shift && r.Shift <= r.High) {
				t.Errorf("shift %v outside its interval [%v, %v]", r.Shift, r.Low, r.High)
			}
		})
	}
}

func TestReferenceWelch(t *testing.T) {
	for i, c := range loadReference(t) {
		t.Run(c.name(i), func(t *testing.T) {
			r, err := Welch(c.Control, c.Experiment)
			if err != nil {
				t.Fatal(err)
			}
			if !relClose(r.T, c.WelchT, refTol) {
				t.Errorf("t = %.17g, want %.17g", r.T, c.WelchT)
			}
			if !relClose(r.DF, c.WelchDF, refTol) {
				t.Errorf("df = %.17g, want %.17g", r.DF, c.WelchDF)
			}
			if !relClose(r.P, c.WelchP, refTol) {
				t.Errorf("p = %.17g, want %.17g", r.P, c.WelchP)
			}
		})
	}
}

// allDiffs materialises every experiment − control difference, sorted: the slow,
// obviously correct model the selection code is checked against.
func allDiffs(control, experiment []float64) []float64 {
	d := make([]float64, 0, len(control)*len(experiment))
	for _, e := range experiment {
		for _, c := range control {
			d = append(d, e-c)
		}
	}
	slices.Sort(d)
	return d
}
