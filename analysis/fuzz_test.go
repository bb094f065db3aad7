package analysis

import (
	"encoding/binary"
	"math"
	"testing"
)

// Fuzz targets for the comparison functions. Run one with e.g.
//
//	go test -run '^$' -fuzz FuzzMannWhitney -fuzztime 60s ./analysis/
//
// Seed and past-interesting inputs live in testdata/fuzz/<target>/ and run in every
// `go test`.

// smallValues decodes one byte per value into half-integers in [−64, 63.5]: few
// distinct values, so ties, tie groups and the exact paths are hit often.
func smallValues(raw []byte, split uint8) (control, experiment []float64) {
	x := make([]float64, len(raw))
	for i, b := range raw {
		x[i] = float64(int8(b)) / 2
	}
	k := int(split) % (len(x) + 1)
	return x[:k], x[k:]
}

// wideValues decodes 8 bytes per value as a float64 bit pattern, keeping only finite
// values: magnitudes from subnormal to 1e308, where subtraction overflows.
func wideValues(raw []byte, split uint8) (control, experiment []float64) {
	var x []float64
	for len(raw) >= 8 {
		v := math.Float64frombits(binary.LittleEndian.Uint64(raw))
		raw = raw[8:]
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			x = append(x, v)
		}
	}
	k := int(split) % (len(x) + 1)
	return x[:k], x[k:]
}

func closeOrEqual(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func checkP(t *testing.T, what string, p float64) {
	t.Helper()
	if !(p >= 0 && p <= 1) {
		t.Fatalf("%s: p = %v outside [0, 1]", what, p)
	}
}

// FuzzMannWhitney: p in [0, 1], never NaN, and the test is symmetric: swapping the
// groups and flipping the direction gives the same p, with U mirrored to n_E·n_C − U.
func FuzzMannWhitney(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(4))
	f.Add([]byte{0, 0, 0, 1, 1, 0, 1, 1, 1}, uint8(3))
	f.Add([]byte{10, 250, 10, 10, 3, 3, 3, 200, 7}, uint8(5))
	f.Add(make([]byte, 120), uint8(60))
	f.Fuzz(func(t *testing.T, raw []byte, split uint8) {
		c, e := smallValues(raw, split)
		for _, m := range []Method{MethodAuto, MethodAsymptotic, MethodExact} {
			for _, d := range []Direction{DirectionIncrease, DirectionDecrease, DirectionEither} {
				a, errA := MannWhitney(c, e, d, m)
				b, errB := MannWhitney(e, c, d.mirror(), m)
				if (errA == nil) != (errB == nil) {
					t.Fatalf("%s %v: errors differ when swapped: %v / %v", m, d, errA, errB)
				}
				if errA != nil {
					continue
				}
				checkP(t, string(a.Method), a.P)
				if a.Method != b.Method {
					t.Fatalf("method %s, swapped %s", a.Method, b.Method)
				}
				if !closeOrEqual(a.P, b.P) {
					t.Fatalf("%s %v: p = %.17g, swapped and flipped %.17g", a.Method, d, a.P, b.P)
				}
				if mn := float64(len(c) * len(e)); a.U+b.U != mn || a.U < 0 || a.U > mn {
					t.Fatalf("U = %v and %v, want a sum of %v", a.U, b.U, mn)
				}
				if math.IsNaN(a.Z) || math.IsNaN(a.Sigma) {
					t.Fatalf("z %v sigma %v", a.Z, a.Sigma)
				}
			}
		}
	})
}

// FuzzHodgesLehmann: a finite shift inside its interval, and swapping the groups
// mirrors estimate and interval exactly (floating-point negation is exact).
func FuzzHodgesLehmann(f *testing.F) {
	f.Add(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(1)), math.Float64bits(2)), uint8(1))
	seed := []byte{}
	for _, v := range []float64{1e308, -1e308, 5e-324, 0, 3, 3, 3, 1e-300, 7.5} {
		seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(v))
	}
	f.Add(seed, uint8(4))
	f.Fuzz(func(t *testing.T, raw []byte, split uint8) {
		c, e := wideValues(raw, split)
		if len(c)*len(e) > 4096 {
			return // brute-force-sized inputs only: the check below is O(n·m)
		}
		for _, conf := range []float64{0.5, 0.95} {
			a, errA := HodgesLehmann(c, e, conf)
			b, errB := HodgesLehmann(e, c, conf)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("errors differ when swapped: %v / %v", errA, errB)
			}
			if errA != nil {
				continue
			}
			for _, v := range []float64{a.Shift, a.Low, a.High, a.Coverage} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("NaN or Inf in %+v", a)
				}
			}
			if !(a.Low <= a.Shift && a.Shift <= a.High) {
				t.Fatalf("shift %v outside [%v, %v]", a.Shift, a.Low, a.High)
			}
			if a.Shift != -b.Shift || a.Low != -b.High || a.High != -b.Low {
				t.Fatalf("not mirrored: %+v vs %+v", a, b)
			}
			if a.Coverage < 0 || a.Coverage > 1 {
				t.Fatalf("coverage %v", a.Coverage)
			}
		}
	})
}

// FuzzCompare runs the whole continuous comparison (autocorrelation guard, Welch,
// relative change) on small tie-heavy samples: no panic, no NaN, p in [0, 1], and the
// mirrored result when the groups swap and the direction flips.
func FuzzCompare(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, uint8(6), uint8(0))
	f.Add([]byte{5, 5, 5, 5, 9, 9, 9, 9, 1, 2}, uint8(4), uint8(1))
	ramp := make([]byte, 200)
	for i := range ramp {
		ramp[i] = byte(i / 4) // strongly autocorrelated: exercises batch means
	}
	f.Add(ramp, uint8(100), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, split, dirByte uint8) {
		c, e := smallValues(raw, split)
		d := Direction(int(dirByte)%3 + 1)
		a, errA := Compare(c, e, d, 0.95)
		b, errB := Compare(e, c, d.mirror(), 0.95)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("errors differ when swapped: %v / %v", errA, errB)
		}
		if errA != nil {
			return
		}
		checkP(t, "mann-whitney", a.MannWhitney.P)
		checkP(t, "welch", a.Welch.P)
		for name, v := range map[string]float64{
			"rel": a.RelChange, "rel low": a.RelLow, "rel high": a.RelHigh, "welch t": a.Welch.T, "welch df": a.Welch.DF,
			"lag1 c": a.Lag1Control, "lag1 e": a.Lag1Experiment, "median": a.ControlMedian,
		} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s = %v", name, v)
			}
		}
		if !closeOrEqual(a.MannWhitney.P, b.MannWhitney.P) || a.HL.Shift != -b.HL.Shift ||
			a.HL.Low != -b.HL.High || !closeOrEqual(a.Welch.P, b.Welch.P) || a.Welch.T != -b.Welch.T {
			t.Fatalf("not mirrored:\n%+v\n%+v", a, b)
		}
	})
}

func (d Direction) mirror() Direction {
	switch d {
	case DirectionIncrease:
		return DirectionDecrease
	case DirectionDecrease:
		return DirectionIncrease
	}
	return d
}
