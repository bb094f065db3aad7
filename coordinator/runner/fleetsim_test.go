package runner

// The heterogeneous-fleet simulation: fleets whose hosts differ from each other, driven
// through the same code a run uses — samples stored in fleet.Samples and judged by Judge,
// guardrails fed to a monitor.Monitor point by point and evaluated every second. `go test`
// runs a few cells (TestFleetSim*); MURPHY_SIM_LONG=1 runs the whole grid and prints the
// README's tables (make bench).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/monitor"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// simCell is one fleet configuration.
type simCell struct {
	hosts   int     // per group
	samples int     // per host per window (baseline and fault window alike)
	cv      float64 // host-to-host coefficient of variation of the level
	phi     float64 // AR(1) coefficient of the within-host noise
	shock   bool    // a shock hitting both groups during the fault window
}

func (c simCell) String() string {
	shock := ""
	if c.shock {
		shock = ", shock"
	}
	return fmt.Sprintf("%d hosts, %d samples, CV %.0f%%, phi %.1f%s", c.hosts, c.samples, 100*c.cv, c.phi, shock)
}

const (
	simMedian = 0.0033 // seconds
	simSigma  = 0.3    // within-host lognormal sigma
)

var simT0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// simHost draws one host's level and AR(1) noise, one sample per second.
type simHost struct {
	rng    *rand.Rand
	factor float64
	phi, e float64
}

func newSimHost(rng *rand.Rand, cv, phi float64) *simHost {
	s := math.Sqrt(math.Log1p(cv * cv))
	return &simHost{rng: rng, factor: math.Exp(s * rng.NormFloat64()), phi: phi, e: rng.NormFloat64()}
}

func (h *simHost) next() float64 {
	h.e = h.phi*h.e + math.Sqrt(1-h.phi*h.phi)*h.rng.NormFloat64()
	return simMedian * h.factor * math.Exp(simSigma*h.e)
}

// simLatencySpec is the experiment the simulations run: one latency probe metric with a
// relative tolerance of 10% at 95% confidence, and optionally a deviation guardrail.
func simLatencySpec(baseline, fault time.Duration, abort ...*spec.AbortCondition) *spec.Experiment {
	rel := 0.10
	return &spec.Experiment{
		Name: "sim",
		Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{{
			Name:      "latency",
			Source:    &spec.MetricSource{Probe: &spec.ProbeSource{Kind: &murphyv1.Probe_Http{Http: &spec.HTTPProbe{}}, Interval: durationpb.New(time.Second), Measure: spec.MeasureLatency}},
			Direction: spec.DirectionIncrease,
			Tolerance: &spec.Tolerance{Relative: &rel},
		}}},
		Abort:    abort,
		Baseline: durationpb.New(baseline),
		Steps:    []*spec.Step{{Fault: &murphyv1.FaultSpec{Kind: "network.delay", Duration: durationpb.New(fault)}}},
	}
}

func simRun(hosts int, fault time.Duration) *murphyv1.Run {
	run := &murphyv1.Run{Id: "sim", Groups: &murphyv1.Groups{}}
	for i := range hosts {
		run.Groups.Control = append(run.Groups.Control, fmt.Sprintf("c%02d", i))
		run.Groups.Experiment = append(run.Groups.Experiment, fmt.Sprintf("e%02d", i))
	}
	run.Steps = []*murphyv1.StepState{{
		StartedAt: timestamppb.New(simT0), EndedAt: timestamppb.New(simT0.Add(fault)),
		Fault: &murphyv1.FaultSpec{Duration: durationpb.New(fault)},
	}}
	return run
}

// simVerdict draws one run of the cell with the experimental hosts slowed by effect in
// the fault window and returns Judge's verdict on it.
func simVerdict(rng *rand.Rand, c simCell, effect float64) *murphyv1.Verdict {
	window := time.Duration(c.samples) * time.Second
	sp := simLatencySpec(window, window)
	run := simRun(c.hosts, window)
	samples := fleet.NewSamples()
	// The shock: for a third of the fault window, starting at a random second, every
	// host of both groups is 30% slower (a traffic spike, a deploy).
	shockFrom, shockTo := -1, -1
	if c.shock {
		shockFrom = rng.IntN(c.samples - c.samples/3 + 1)
		shockTo = shockFrom + c.samples/3
	}
	for _, ids := range [][]string{run.Groups.Control, run.Groups.Experiment} {
		for _, id := range ids {
			h := newSimHost(rng, c.cv, c.phi)
			pts := make([]fleet.Point, 0, 2*c.samples)
			for i := -c.samples; i < c.samples; i++ {
				v := h.next()
				if i >= 0 {
					if id[0] == 'e' {
						v *= effect
					}
					if i >= shockFrom && i < shockTo {
						v *= 1.3
					}
				}
				pts = append(pts, fleet.Point{At: simT0.Add(time.Duration(i) * time.Second), Value: v, OK: true})
			}
			samples.AddPoints(run.Id, "latency", id, pts)
		}
	}
	v, err := Judge(sp, run, samples, simT0, simT0.Add(window))
	if err != nil {
		panic(err)
	}
	return v
}

// verdictStats are the outcomes of many simulated runs of one cell.
type verdictStats struct {
	runs                     int
	refutedAt10, upheldAt15  int // the two errors at and beyond the boundary
	refutedAt15, refutedAt2x int // power
	inconclusiveAt10         int
	needed                   []int // targets needed, from the boundary runs
	elapsed                  time.Duration
}

// simVerdicts runs the cell n times at each true change, spread over the machine's cores.
func simVerdicts(c simCell, n int, seed uint64) verdictStats {
	start := time.Now()
	var mu sync.Mutex
	var st verdictStats
	st.runs = n
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := w; i < n; i += workers {
				at10 := simVerdict(rng, c, 1.10).Metrics[0]
				at15 := simVerdict(rng, c, 1.15).Metrics[0]
				at2x := simVerdict(rng, c, 2.0).Metrics[0]
				mu.Lock()
				if at10.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
					st.refutedAt10++
				}
				if at10.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE {
					st.inconclusiveAt10++
				}
				if at10.TargetsNeeded > 0 {
					st.needed = append(st.needed, int(at10.TargetsNeeded))
				}
				if at15.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE {
					st.upheldAt15++
				}
				if at15.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
					st.refutedAt15++
				}
				if at2x.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
					st.refutedAt2x++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	return st
}

// binomialTail is P(X ≥ k) for X ~ Bin(n, p), summed in log space.
func binomialTail(k, n int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	s := 0.0
	for i := k; i <= n; i++ {
		s += math.Exp(lg(n) - lg(i) - lg(n-i) + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return s
}

// excess reports whether k errors in n runs are evidence (P < 1%) of a rate above p.
func excess(k, n int, p float64) bool { return binomialTail(k, n, p) < 0.01 }

func pctOf(k, n int) string { return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(n)) }

func medianInt(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// haltCell is a deviation-guardrail configuration over a long fault window.
type haltCell struct {
	hosts    int
	cv       float64
	phi      float64
	baseline time.Duration // default: what a spec without one gets (spec.DefaultDeviationBaseline)
}

// simHalt runs one fault window (one sample per host per second, an evaluation every
// second) after the cell's baseline and returns the seconds into the fault at which the
// monitor halted, or -1.
func simHalt(rng *rand.Rand, c haltCell, effect float64, fault time.Duration) int {
	rel := 0.5
	baseline := c.baseline
	if baseline == 0 {
		baseline = spec.DefaultDeviationBaseline
	}
	sp := simLatencySpec(baseline, fault, &spec.AbortCondition{Metric: "latency", Deviation: &spec.Tolerance{Relative: &rel}, OnMissing: spec.MissingHold})
	m, err := monitor.New(sp)
	if err != nil {
		panic(err)
	}
	// Simulated time runs ahead of the background calibration a leader starts when the
	// faults begin and has ready by the first look, 10 s later.
	m.CalibrateInline()
	type src struct {
		id string
		g  monitor.Group
		h  *simHost
	}
	var hosts []src
	for i := range c.hosts {
		hosts = append(hosts, src{fmt.Sprintf("c%02d", i), monitor.Control, newSimHost(rng, c.cv, c.phi)})
		hosts = append(hosts, src{fmt.Sprintf("e%02d", i), monitor.Experiment, newSimHost(rng, c.cv, c.phi)})
	}
	pt := make([]fleet.Point, 1)
	for i := -int(baseline / time.Second); i < 0; i++ {
		for _, h := range hosts {
			pt[0] = fleet.Point{At: simT0.Add(time.Duration(i) * time.Second), Value: h.h.next(), OK: true}
			m.Observe("latency", h.g, h.id, pt, false)
		}
	}
	m.Start(simT0)
	for i := 0; i < int(fault/time.Second); i++ {
		now := simT0.Add(time.Duration(i) * time.Second)
		for _, h := range hosts {
			v := h.h.next()
			if h.g == monitor.Experiment {
				v *= effect
			}
			pt[0] = fleet.Point{At: now, Value: v, OK: true}
			m.Observe("latency", h.g, h.id, pt, true)
		}
		if d, _ := m.Evaluate(now); d != nil {
			return i
		}
	}
	return -1
}

// simErrorHalt runs one fault window for an error-rate guardrail: the probe's success
// (0/1, one sample per host per second) with a deviation guardrail of 2 points, hosts whose
// error rates differ with coefficient of variation cv around 2%, and the experimental hosts'
// error rate raised by extra points. It returns the seconds into the fault at which the
// monitor halted, or -1.
func simErrorHalt(rng *rand.Rand, hosts int, cv, extra float64, fault time.Duration) int {
	abs := 0.02
	baseline := spec.DefaultDeviationBaseline
	sp := simLatencySpec(baseline, fault, &spec.AbortCondition{Metric: "success", Deviation: &spec.Tolerance{Absolute: &abs}, OnMissing: spec.MissingHold})
	sp.Hypothesis.Metrics[0].Name = "success"
	sp.Hypothesis.Metrics[0].Source.Probe.Measure = spec.MeasureSuccess
	sp.Hypothesis.Metrics[0].Direction = spec.DirectionDecrease
	m, err := monitor.New(sp)
	if err != nil {
		panic(err)
	}
	// Simulated time runs ahead of the background calibration a leader starts when the
	// faults begin and has ready by the first look, 10 s later.
	m.CalibrateInline()
	s := math.Sqrt(math.Log1p(cv * cv))
	type src struct {
		id   string
		g    monitor.Group
		rate float64
	}
	var all []src
	for i := range hosts {
		for _, g := range []monitor.Group{monitor.Control, monitor.Experiment} {
			all = append(all, src{fmt.Sprintf("%d/%d", g, i), g, math.Min(0.5, 0.02*math.Exp(s*rng.NormFloat64()-s*s/2))})
		}
	}
	draw := func(rate float64) fleet.Point {
		if rng.Float64() < rate {
			return fleet.Point{Value: 0}
		}
		return fleet.Point{Value: 1, OK: true}
	}
	pt := make([]fleet.Point, 1)
	for i := -int(baseline / time.Second); i < 0; i++ {
		for _, h := range all {
			pt[0] = draw(h.rate)
			pt[0].At = simT0.Add(time.Duration(i) * time.Second)
			m.Observe("success", h.g, h.id, pt, false)
		}
	}
	m.Start(simT0)
	for i := 0; i < int(fault/time.Second); i++ {
		now := simT0.Add(time.Duration(i) * time.Second)
		for _, h := range all {
			rate := h.rate
			if h.g == monitor.Experiment {
				rate += extra
			}
			pt[0] = draw(rate)
			pt[0].At = now
			m.Observe("success", h.g, h.id, pt, true)
		}
		if d, _ := m.Evaluate(now); d != nil {
			return i
		}
	}
	return -1
}

type haltStats struct {
	runs, falseHalts int
	powerRuns        int
	within120        int
	haltSeconds      []int
}

// simHalts runs aa A/A windows of 30 minutes and power windows of 5 minutes with a 2x
// slowdown (latency) or 20 more points of errors (errors) on the experimental hosts.
func simHalts(c haltCell, aa, power int, seed uint64) haltStats {
	return simHaltsOf(c, aa, power, seed, false)
}

func simHaltsOf(c haltCell, aa, power int, seed uint64, errors bool) haltStats {
	var mu sync.Mutex
	st := haltStats{runs: aa, powerRuns: power}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := w; i < max(aa, power); i += workers {
				falseHalt, at := false, -1
				switch {
				case errors:
					if i < aa {
						falseHalt = simErrorHalt(rng, c.hosts, c.cv, 0, 30*time.Minute) >= 0
					}
					if i < power {
						at = simErrorHalt(rng, c.hosts, c.cv, 0.2, 5*time.Minute)
					}
				default:
					if i < aa {
						falseHalt = simHalt(rng, c, 1, 30*time.Minute) >= 0
					}
					if i < power {
						at = simHalt(rng, c, 2, 5*time.Minute)
					}
				}
				mu.Lock()
				if falseHalt {
					st.falseHalts++
				}
				if i < power {
					if at >= 0 {
						st.haltSeconds = append(st.haltSeconds, at)
					}
					if at >= 0 && at <= 120 {
						st.within120++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return st
}

// simBoundary runs n fault windows of 30 minutes with the experimental hosts exactly at
// the deviation tolerance (1.5x) and returns how many halted.
func simBoundary(c haltCell, n int, seed uint64) int {
	var mu sync.Mutex
	halts := 0
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := w; i < n; i += workers {
				if simHalt(rng, c, 1.5, 30*time.Minute) >= 0 {
					mu.Lock()
					halts++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return halts
}

// TestFleetSimVerdicts checks the verdict's two error rates at the tolerance boundary in
// a few heterogeneous cells: a true +10% (exactly the tolerance) must be refuted at most
// 2.5% of the time, a true +15% upheld at most 2.5%, each within binomial noise.
func TestFleetSimVerdicts(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 60
	}
	for i, c := range []simCell{
		{hosts: 6, samples: 150, cv: 0.10},
		{hosts: 3, samples: 20, cv: 0.20, phi: 0.5, shock: true},
		{hosts: 12, samples: 150, cv: 0.20, phi: 0.5, shock: true},
	} {
		t.Run(c.String(), func(t *testing.T) {
			st := simVerdicts(c, n, uint64(100+i))
			t.Logf("false refuted %s, false upheld %s, power at +15%% %s, at 2x %s, median hosts needed %d (%d runs, %s)",
				pctOf(st.refutedAt10, n), pctOf(st.upheldAt15, n), pctOf(st.refutedAt15, n), pctOf(st.refutedAt2x, n), medianInt(st.needed), n, st.elapsed.Round(time.Millisecond))
			if excess(st.refutedAt10, n, 0.025) {
				t.Errorf("false refuted %d of %d at the boundary: evidence of a rate above 2.5%%", st.refutedAt10, n)
			}
			if excess(st.upheldAt15, n, 0.025) {
				t.Errorf("false upheld %d of %d beyond the boundary: evidence of a rate above 2.5%%", st.upheldAt15, n)
			}
			if c.hosts >= 6 && st.refutedAt2x < n*9/10 {
				t.Errorf("a 2x slowdown refuted in only %d of %d runs", st.refutedAt2x, n)
			}
		})
	}
}

// TestFleetSimHalts checks the deviation guardrail: A/A runs over a 30-minute fault
// window with host CV 20% halt at most 1% of the time, and a 2x slowdown halts within
// 120 s in at least 90% of runs.
func TestFleetSimHalts(t *testing.T) {
	aa, power := 100, 60
	if testing.Short() {
		aa, power = 30, 20
	}
	c := haltCell{hosts: 6, cv: 0.20}
	st := simHalts(c, aa, power, 7)
	t.Logf("A/A false halts %d of %d; 2x halted within 120 s in %d of %d (median %d s)", st.falseHalts, aa, st.within120, power, medianInt(st.haltSeconds))
	if excess(st.falseHalts, aa, 0.01) {
		t.Errorf("%d false halts in %d A/A runs: evidence of a rate above 1%%", st.falseHalts, aa)
	}
	if st.within120 < power*9/10 {
		t.Errorf("a 2x slowdown halted within 120 s in only %d of %d runs", st.within120, power)
	}
	// An error-rate guardrail (deviation of 2 points on a probe's success) over hosts whose
	// error rates differ with CV 50% around 2%.
	est := simHaltsOf(haltCell{hosts: 6, cv: 0.5}, aa, power, 8, true)
	t.Logf("errors: A/A false halts %d of %d; +20 points halted within 120 s in %d of %d (median %d s)", est.falseHalts, aa, est.within120, power, medianInt(est.haltSeconds))
	if excess(est.falseHalts, aa, 0.01) {
		t.Errorf("%d false halts in %d A/A runs of the error-rate guardrail: evidence of a rate above 1%%", est.falseHalts, aa)
	}
	if est.within120 < power*9/10 {
		t.Errorf("20 more points of errors halted within 120 s in only %d of %d runs", est.within120, power)
	}
}

// simRates counts the rates the long study checks: 64 verdict cells with two error rates
// each, and 44 halt cells. A cell is flagged when its count is evidence of an excess at 1%
// for the whole study (Bonferroni over every rate), so that chance alone flags a cell of a
// correct procedure at most 1% of the time.
const simRates = 64*2 + 24 + 12 + 4 + 4

func simExcess(k, n int, p float64) bool { return binomialTail(k, n, p) < 0.01/simRates }

// simLongParams reads the long study's switches: MURPHY_SIM_LONG=1 runs it, MURPHY_SIM_RUNS
// sets the runs per verdict cell (a quarter of them per halt cell), MURPHY_SIM_SEED shifts
// every cell's seed for an independent replicate.
func simLongParams(t *testing.T) (runs int, seedBase uint64) {
	if os.Getenv("MURPHY_SIM_LONG") == "" {
		t.Skip("the long fleet simulation runs with MURPHY_SIM_LONG=1 (make bench)")
	}
	runs = 2000
	if v := os.Getenv("MURPHY_SIM_RUNS"); v != "" {
		fmt.Sscan(v, &runs)
	}
	if v := os.Getenv("MURPHY_SIM_SEED"); v != "" {
		fmt.Sscan(v, &seedBase)
	}
	return runs, seedBase
}

// simPrint prints a study's tables and writes them to MURPHY_SIM_OUT (with suffix) when set.
func simPrint(t *testing.T, suffix, text string) {
	fmt.Println(text)
	if out := os.Getenv("MURPHY_SIM_OUT"); out != "" {
		if err := os.WriteFile(out+suffix, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFleetSimLong runs the verdicts' whole grid and prints the README's table. It is the
// long study behind `make bench` (simLongParams), with TestFleetSimLongHalts.
func TestFleetSimLong(t *testing.T) {
	runs, seedBase := simLongParams(t)
	excess := simExcess
	var b strings.Builder
	fmt.Fprintf(&b, "Verdicts, %d runs per cell and true change (tolerance +10%%, 95%%; design: both errors at most 2.5%%; * marks evidence of an excess, binomial P < 1%% over the grid)\n\n", runs)
	b.WriteString("| hosts per group | samples per host | host CV | AR(1) phi, shock | false refuted at +10% | false upheld at +15% | refuted at +15% | refuted at 2x | median hosts needed |\n|---|---|---|---|---|---|---|---|---|\n")
	bad := 0
	seed := 1000 + 1_000_000*seedBase
	for _, hosts := range []int{3, 6, 12, 30} {
		for _, samples := range []int{20, 150} {
			for _, cv := range []float64{0, 0.05, 0.10, 0.20} {
				for _, prof := range []struct {
					phi   float64
					shock bool
				}{{0, false}, {0.5, true}} {
					seed++
					c := simCell{hosts: hosts, samples: samples, cv: cv, phi: prof.phi, shock: prof.shock}
					st := simVerdicts(c, runs, seed)
					mark := func(k int, p float64) string {
						if excess(k, runs, p) {
							bad++
							return pctOf(k, runs) + " *"
						}
						return pctOf(k, runs)
					}
					profile := fmt.Sprintf("%.1f", prof.phi)
					if prof.shock {
						profile += ", shock"
					}
					fmt.Fprintf(&b, "| %d | %d | %.0f%% | %s | %s | %s | %s | %s | %d |\n", hosts, samples, 100*cv, profile,
						mark(st.refutedAt10, 0.025), mark(st.upheldAt15, 0.025), pctOf(st.refutedAt15, runs), pctOf(st.refutedAt2x, runs), medianInt(st.needed))
				}
			}
		}
	}
	simPrint(t, "", b.String())
	if bad > 0 {
		t.Errorf("%d cells show evidence of an error rate above its design rate", bad)
	}
}

// TestFleetSimLongHalts runs the guardrails' grid and prints the README's tables: the
// deviation guardrail at the baseline a spec without one gets, the same with an explicit
// shorter baseline, the error-rate guardrail, and the deviation guardrail exactly at its
// tolerance.
func TestFleetSimLongHalts(t *testing.T) {
	runs, seedBase := simLongParams(t)
	excess := simExcess
	var b strings.Builder
	bad := 0
	seed := 5000 + 1_000_000*seedBase
	haltRuns := runs / 4
	flag := func(k int) string {
		s := pctOf(k, haltRuns)
		if excess(k, haltRuns, 0.01) {
			bad++
			s += " *"
		}
		return s
	}
	fmt.Fprintf(&b, "Deviation guardrail (relative 0.5; the %s baseline a spec with a deviation guardrail and no baseline of its own gets; one sample per host per second, evaluated every second; %d A/A runs of a 30-minute fault window and %d runs of a 2x slowdown per cell; design: false halts at most 1%%, a 2x slowdown halted within 120 s in at least 90%% with 6 or more hosts)\n\n", spec.DefaultDeviationBaseline, haltRuns, haltRuns)
	b.WriteString("| hosts per group | host CV | AR(1) phi | A/A false halts in 30 min | 2x halted within 120 s | median seconds to halt at 2x |\n|---|---|---|---|---|---|\n")
	short := 0
	for _, hosts := range []int{4, 6, 12, 30} {
		for _, cv := range []float64{0, 0.10, 0.20} {
			for _, phi := range []float64{0, 0.5} {
				seed++
				st := simHalts(haltCell{hosts: hosts, cv: cv, phi: phi}, haltRuns, haltRuns, seed)
				if hosts >= 6 && st.within120 < haltRuns*9/10 {
					short++
				}
				fmt.Fprintf(&b, "| %d | %.0f%% | %.1f | %s | %s | %d |\n", hosts, 100*cv, phi, flag(st.falseHalts), pctOf(st.within120, haltRuns), medianInt(st.haltSeconds))
			}
		}
	}
	b.WriteString("\nThe same guardrail with autocorrelated probes (phi 0.5) and a baseline set shorter in the spec (`murphy validate` warns about it):\n\n| baseline | hosts per group | host CV | A/A false halts in 30 min | 2x halted within 120 s | median seconds to halt at 2x |\n|---|---|---|---|---|---|\n")
	for _, base := range []time.Duration{30 * time.Second, time.Minute} {
		for _, hosts := range []int{6, 12} {
			for _, cv := range []float64{0, 0.10, 0.20} {
				seed++
				st := simHalts(haltCell{hosts: hosts, cv: cv, phi: 0.5, baseline: base}, haltRuns, haltRuns, seed)
				fmt.Fprintf(&b, "| %s | %d | %.0f%% | %s | %s | %d |\n", base, hosts, 100*cv, flag(st.falseHalts), pctOf(st.within120, haltRuns), medianInt(st.haltSeconds))
			}
		}
	}
	fmt.Fprintf(&b, "\nError-rate guardrail (deviation of 2 points on a probe's success; %s baseline; hosts' error rates around 2%% with host-to-host CV 50%%; %d A/A runs of 30 minutes and %d runs with 20 more points of errors per cell)\n\n", spec.DefaultDeviationBaseline, haltRuns, haltRuns)
	b.WriteString("| hosts per group | A/A false halts in 30 min | +20 points halted within 120 s | median seconds to halt |\n|---|---|---|---|\n")
	for _, hosts := range []int{4, 6, 12, 30} {
		seed++
		st := simHaltsOf(haltCell{hosts: hosts, cv: 0.5}, haltRuns, haltRuns, seed, true)
		if hosts >= 6 && st.within120 < haltRuns*9/10 {
			short++
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d |\n", hosts, flag(st.falseHalts), pctOf(st.within120, haltRuns), medianInt(st.haltSeconds))
	}
	fmt.Fprintf(&b, "\nThe deviation guardrail exactly at its tolerance (the experimental hosts 1.5x slower for the whole 30-minute fault window: the least favourable case, where the halt budget of 1%% applies in full; %s baseline; %d runs per cell)\n\n", spec.DefaultDeviationBaseline, haltRuns)
	b.WriteString("| hosts per group | host CV | AR(1) phi | halts at exactly +50% in 30 min |\n|---|---|---|---|\n")
	for _, c := range []haltCell{{hosts: 4, cv: 0.2}, {hosts: 6, cv: 0}, {hosts: 6, cv: 0.2, phi: 0.5}, {hosts: 12, cv: 0.1}} {
		seed++
		k := simBoundary(c, haltRuns, seed)
		fmt.Fprintf(&b, "| %d | %.0f%% | %.1f | %s |\n", c.hosts, 100*c.cv, c.phi, flag(k))
	}
	simPrint(t, ".halts", b.String())
	if bad > 0 {
		t.Errorf("%d cells show evidence of a false-halt rate above 1%%", bad)
	}
	if short > 0 {
		t.Errorf("%d cells of 6 or more hosts halted fewer than 90%% of runs within 120 s at the default baseline", short)
	}
}
