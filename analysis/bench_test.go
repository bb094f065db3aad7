package analysis

import (
	"math/rand/v2"
	"os"
	"testing"
)

// longBench selects the full simulation sizes. `make bench` runs every benchmark, and the
// full studies take several minutes, so by default they run at sizes that finish in about
// a minute together; MURPHY_BENCH_LONG=1 gives the figures quoted in DESIGN.md.
func longBench() bool { return os.Getenv("MURPHY_BENCH_LONG") != "" }

func latencySample(r *rand.Rand, n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = scale * r.ExpFloat64() * (1 + 0.1*r.NormFloat64()*r.NormFloat64())
	}
	return x
}

// BenchmarkCompareMillion is the speed target: Mann-Whitney plus Hodges-Lehmann with
// its interval (and Welch, medians, lag-1) on 10^6 against 10^6 samples, one core.
func BenchmarkCompareMillion(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	c := latencySample(r, 1_000_000, 30)
	e := latencySample(r, 1_000_000, 31)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Compare(c, e, DirectionIncrease, 0.95); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHodgesLehmannMillion(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	c := latencySample(r, 1_000_000, 30)
	e := latencySample(r, 1_000_000, 31)
	b.ResetTimer()
	for b.Loop() {
		if _, err := HodgesLehmann(c, e, 0.95); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMannWhitneyExact50(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	c := latencySample(r, 50, 30)
	e := latencySample(r, 50, 31)
	for b.Loop() {
		if _, err := MannWhitney(c, e, DirectionEither, MethodExact); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEProcessUpdateTwoSided(b *testing.B) {
	e, err := NewEProcess(EConfig{Share: 0.5})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e.Update(1, 1)
	}
}

func BenchmarkEProcessUpdateOneSided(b *testing.B) {
	e, err := NewEProcess(EConfig{Share: 0.5, ToleranceRatio: 1.2})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e.Update(1, 1)
	}
}

// BenchmarkEProcessAASimulation is the A/A halt study (2,000 runs per traffic level,
// time-varying load; 100,000 bad events per run with MURPHY_BENCH_LONG=1, else 20,000).
// It reports the false-halt rate as a metric; run it with -benchtime 1x.
func BenchmarkEProcessAASimulation(b *testing.B) {
	horizon := int64(20_000)
	if longBench() {
		horizon = 100_000
	}
	for _, cfg := range []EConfig{{Share: 0.5, Alpha: 0.01}, {Share: 0.5, Alpha: 0.01, ToleranceRatio: 1.2}} {
		for _, lambda := range []float64{1, 10, 100} {
			name := "r0=" + trimFloat(cfg.ToleranceRatio) + "/traffic=" + trimFloat(lambda)
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(101, 102))
				for b.Loop() {
					halts := 0
					const runs = 2000
					for range runs {
						e, err := NewEProcess(cfg)
						if err != nil {
							b.Fatal(err)
						}
						if _, halted := simulateHalt(r, e, cfg.Share, lambda, horizon); halted {
							halts++
						}
					}
					b.ReportMetric(100*float64(halts)/runs, "%false-halts")
				}
			})
		}
	}
}

// BenchmarkHodgesLehmannTiedMillion covers heavily tied data (integer milliseconds),
// where single difference values repeat far more often than the enumeration limit.
func BenchmarkHodgesLehmannTiedMillion(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	c := make([]float64, 1_000_000)
	e := make([]float64, 1_000_000)
	for i := range c {
		c[i] = float64(r.IntN(50))
		e[i] = float64(r.IntN(52))
	}
	for b.Loop() {
		if _, err := HodgesLehmann(c, e, 0.95); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEProcessLogEOneSidedAt measures the one-sided e-value at fixed, null-like
// counts. The continued fraction is slowest when θ₀ sits near the posterior's bulk.
func BenchmarkEProcessLogEOneSidedAt(b *testing.B) {
	for _, n := range []int64{100, 10_000, 1_000_000} {
		b.Run("events="+trimFloat(float64(2*n)), func(b *testing.B) {
			e, err := NewEProcess(EConfig{Share: 0.5, ToleranceRatio: 1.2})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.SetState(n, n); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				e.LogE()
			}
		})
	}
}
