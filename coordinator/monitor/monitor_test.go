package monitor

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func f64(v float64) *float64 { return &v }

func experiment(aborts ...*spec.AbortCondition) *spec.Experiment {
	return &spec.Experiment{
		Hypothesis: &spec.Hypothesis{Metrics: []*spec.Metric{{
			Name:      "latency",
			Direction: spec.DirectionIncrease,
			Source:    &spec.MetricSource{Probe: &spec.ProbeSource{Kind: &murphyv1.Probe_Http{Http: &spec.HTTPProbe{}}, Interval: durationpb.New(100 * time.Millisecond)}},
		}}},
		Abort: aborts,
		Steps: []*spec.Step{{Fault: &murphyv1.FaultSpec{Kind: "network.delay", Duration: durationpb.New(time.Minute)}}},
	}
}

func pt(at time.Time, v float64) fleet.Point { return fleet.Point{At: at, Value: v, OK: true} }

// TestAbsoluteFor checks that an above guardrail halts exactly when the breach has lasted
// its for duration, measured from the first breaching sample.
func TestAbsoluteFor(t *testing.T) {
	m, err := New(experiment(&spec.AbortCondition{Metric: "latency", Above: f64(0.5), For: durationpb.New(time.Second), OnMissing: spec.MissingHold}))
	if err != nil {
		t.Fatal(err)
	}
	m.Start(t0)
	var first time.Time
	var halted time.Time
	for i := range 40 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		v := 0.1
		if i >= 10 {
			v = 0.9
			if first.IsZero() {
				first = now
			}
		}
		// Two experimental hosts: the evidence must say which sample came from which.
		m.Observe("latency", Experiment, "e1", []fleet.Point{pt(now, v)}, true)
		m.Observe("latency", Experiment, "e2", []fleet.Point{pt(now, v)}, true)
		m.Observe("latency", Control, "c", []fleet.Point{pt(now, 0.1)}, true)
		d, st := m.Evaluate(now)
		if len(st) != 1 {
			t.Fatalf("status %v", st)
		}
		if d != nil {
			halted = now
			if !d.FirstBreach.Equal(first) || d.Threshold != 0.5 || !strings.Contains(d.Reason, "above 0.5 for 1s") {
				t.Errorf("decision %+v", d)
			}
			if len(d.Samples) != len(d.Values) || len(d.Samples) == 0 {
				t.Fatalf("%d samples for %d values", len(d.Samples), len(d.Values))
			}
			for i, smp := range d.Samples {
				want := []string{"e1", "e2"}[i%2]
				if smp.Source != want || smp.Value != d.Values[i] || smp.At.After(now) || i > 0 && smp.At.Before(d.Samples[i-1].At) {
					t.Errorf("sample %d: %+v, want from %s, value %v, oldest first", i, smp, want, d.Values[i])
				}
			}
			break
		}
	}
	if halted.IsZero() {
		t.Fatal("never halted")
	}
	// The mean over the 1 s window crosses 0.5 after a few breaching samples; the halt
	// must come at most one interval after first breach + for.
	if lag := halted.Sub(first); lag < time.Second || lag > time.Second+600*time.Millisecond {
		t.Errorf("halted %s after the first breaching sample", lag)
	}
}

func TestBelowImmediate(t *testing.T) {
	m, _ := New(experiment(&spec.AbortCondition{Metric: "latency", Below: f64(0.9), OnMissing: spec.MissingHold}))
	m.Start(t0)
	m.Observe("latency", Experiment, "e", []fleet.Point{pt(t0, 1), pt(t0.Add(time.Millisecond), 0.5)}, true)
	m.Observe("latency", Control, "c", []fleet.Point{pt(t0, 1)}, true)
	if d, _ := m.Evaluate(t0.Add(2 * time.Millisecond)); d == nil {
		t.Fatal("below 0.9 with mean 0.75 did not halt")
	}
}

// simulate feeds ticks of per-target samples, one per target per tick, and returns the
// tick at which the monitor halted, or -1. Each target has its own level (host factor
// with coefficient of variation hostCV), as real hosts do.
func simulate(t *testing.T, seed uint64, ticks int, expFactor, hostCV float64) int {
	t.Helper()
	m, err := New(experiment(&spec.AbortCondition{Metric: "latency", Deviation: &spec.Tolerance{Relative: f64(0.5)}, OnMissing: spec.MissingHold}))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	factor := map[string]float64{}
	var ids []string
	for i := range 6 {
		for _, g := range []string{"c", "e"} {
			id := fmt.Sprintf("%s%d", g, i)
			ids = append(ids, id)
			factor[id] = math.Exp(hostCV * rng.NormFloat64())
		}
	}
	lat := func(id string) float64 { return 0.003 * factor[id] * (1 + rng.ExpFloat64()*0.25) }
	group := func(id string) Group {
		if id[0] == 'e' {
			return Experiment
		}
		return Control
	}
	// Baseline: 5 s of samples from every target.
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, id := range ids {
			m.Observe("latency", group(id), id, []fleet.Point{{At: now, Value: lat(id), OK: true}}, false)
		}
	}
	start := t0.Add(5 * time.Second)
	m.Start(start)
	for i := range ticks {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, id := range ids {
			v := lat(id)
			if group(id) == Experiment {
				v *= expFactor
			}
			m.Observe("latency", group(id), id, []fleet.Point{{At: now, Value: v, OK: true}}, true)
		}
		if d, _ := m.Evaluate(now); d != nil {
			return i
		}
	}
	return -1
}

// TestDeviationAA runs many A/A runs over hosts that differ from each other, with an
// evaluation every tick: the planned looks must keep false halts within the 1% budget.
func TestDeviationAA(t *testing.T) {
	runs, halts := 300, 0
	for s := range runs {
		if simulate(t, uint64(s), 600, 1, 0.2) >= 0 {
			halts++
		}
	}
	t.Logf("A/A: %d false halts in %d runs of 600 evaluations", halts, runs)
	// P(X >= 8 | n = 300, p = 0.01) < 1%: more than 7 halts is evidence of an excess.
	if halts > 7 {
		t.Errorf("%d false halts in %d runs, budget 1%%", halts, runs)
	}
}

func TestDeviationDetects(t *testing.T) {
	tick := simulate(t, 1, 600, 1.8, 0.2)
	if tick < 0 {
		t.Fatal("an 80% latency increase against a 50% guardrail never halted")
	}
	t.Logf("halted after %d ticks (%s)", tick, time.Duration(tick)*100*time.Millisecond)
	// Looks come every LookInterval (100 ticks); the first or second must see it.
	if tick > 200 {
		t.Errorf("took %d ticks", tick)
	}
}

// TestDeviationTooFewTargets: with fewer targets than the test needs, the guardrail says
// so and never halts, however bad the experiment looks.
func TestDeviationTooFewTargets(t *testing.T) {
	m, err := New(experiment(&spec.AbortCondition{Metric: "latency", Deviation: &spec.Tolerance{Relative: f64(0.5)}, OnMissing: spec.MissingHold}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, id := range []string{"c0", "c1"} {
			m.Observe("latency", Control, id, []fleet.Point{{At: now, Value: 1, OK: true}}, false)
		}
		for _, id := range []string{"e0", "e1"} {
			m.Observe("latency", Experiment, id, []fleet.Point{{At: now, Value: 1, OK: true}}, false)
		}
	}
	start := t0.Add(5 * time.Second)
	m.Start(start)
	var status []*murphyv1.GuardrailStatus
	for i := range 300 {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, id := range []string{"c0", "c1"} {
			m.Observe("latency", Control, id, []fleet.Point{{At: now, Value: 1, OK: true}}, true)
		}
		for _, id := range []string{"e0", "e1"} {
			m.Observe("latency", Experiment, id, []fleet.Point{{At: now, Value: 10, OK: true}}, true)
		}
		var d *Decision
		if d, status = m.Evaluate(now); d != nil {
			t.Fatalf("halted with 2 targets per group: %s", d.Reason)
		}
	}
	if len(status) != 1 || !strings.Contains(status[0].Note, "needs 4 per group") {
		t.Errorf("status %v, want a note that the test needs 4 targets per group", status)
	}
	if w := DeviationWarning("latency", 2, 2); !strings.Contains(w, "at least 4 targets per group") {
		t.Errorf("warning %q", w)
	}
	if w := DeviationWarning("latency", 4, 6); w != "" {
		t.Errorf("warning %q for groups large enough", w)
	}
}

func TestMissingData(t *testing.T) {
	tests := []struct {
		name        string
		policy      spec.MissingPolicy
		ctlReports  bool
		wantHalt    bool
		wantMessage string
	}{
		{"experiment silent, control reporting", spec.MissingHold, true, true, "experimental group stopped reporting"},
		{"both silent, hold", spec.MissingHold, false, false, ""},
		{"both silent, halt", spec.MissingHalt, false, true, "no samples from either group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := New(experiment(&spec.AbortCondition{Metric: "latency", Above: f64(10), OnMissing: tc.policy}))
			m.Start(t0)
			var d *Decision
			for i := range 60 {
				now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
				if i < 5 {
					m.Observe("latency", Experiment, "e", []fleet.Point{pt(now, 1)}, true)
				}
				if tc.ctlReports || i < 5 {
					m.Observe("latency", Control, "c", []fleet.Point{pt(now, 1)}, true)
				}
				if d, _ = m.Evaluate(now); d != nil {
					break
				}
			}
			if (d != nil) != tc.wantHalt {
				t.Fatalf("decision %+v, want halt=%v", d, tc.wantHalt)
			}
			if d != nil && !strings.Contains(d.Reason, tc.wantMessage) {
				t.Errorf("reason %q lacks %q", d.Reason, tc.wantMessage)
			}
		})
	}
}

// TestMissingDataAfterTakeover: a monitor created by a new leader long after the faults
// started must give the workers' replay time to arrive before calling data missing.
func TestMissingDataAfterTakeover(t *testing.T) {
	m, _ := New(experiment(&spec.AbortCondition{Metric: "latency", Above: f64(10), OnMissing: spec.MissingHalt}))
	m.Start(t0)
	takeover := t0.Add(8 * time.Second)
	if d, _ := m.Evaluate(takeover); d != nil {
		t.Fatalf("halted at its first look after a takeover: %s", d.Reason)
	}
	m.Observe("latency", Experiment, "e", []fleet.Point{pt(t0.Add(7*time.Second), 1)}, true)
	m.Observe("latency", Control, "c", []fleet.Point{pt(t0.Add(7*time.Second), 1)}, true)
	if d, _ := m.Evaluate(takeover.Add(time.Second)); d != nil {
		t.Fatalf("halted with replayed samples: %s", d.Reason)
	}
	if d, _ := m.Evaluate(takeover.Add(5 * time.Second)); d == nil {
		t.Fatal("no halt after 5 s of silence on this leader")
	}
}

// TestDeviationPlan: at its first look the guardrail fixes its test from the baselines.
// Hosts that differ much take change scores, with the early looks' level calibrated to
// the baseline they share (a lower critical value than Bonferroni's); identical hosts
// take ANCOVA, at one degree of freedom less. The calibration runs in the background from
// the moment the faults begin; a run whose calibration is not ready at its first look
// keeps Bonferroni's level for every look, and the next run of its design finds it ready.
func TestDeviationPlan(t *testing.T) {
	rel := 0.5
	bonferroni := func(df float64) float64 {
		return analysis.StudentTQuantile(1-HaltAlpha*earlyShare/float64(earlyLooks), df)
	}
	for _, tc := range []struct {
		name     string
		hostSD   float64
		baseline time.Duration
		mode     string // inline, background (waited for) or blocked (never ready)
		critical func(float64) bool
	}{
		{"hosts 30% apart: change scores, calibrated", 0.3, 30 * time.Second, "inline", func(c float64) bool { return c < bonferroni(10) }},
		{"identical hosts: ANCOVA", 0, 30 * time.Second, "inline", func(c float64) bool { return c > bonferroni(10) && c <= bonferroni(9) }},
		{"calibrated in the background", 0.3, 40 * time.Second, "background", func(c float64) bool { return c < bonferroni(10) }},
		{"calibration not ready: Bonferroni", 0.3, 50 * time.Second, "blocked", func(c float64) bool { return c == bonferroni(10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := experiment(&spec.AbortCondition{Metric: "latency", Deviation: &spec.Tolerance{Relative: &rel}, OnMissing: spec.MissingHold})
			sp.Hypothesis.Metrics[0].Source.Probe.Interval = durationpb.New(time.Second)
			sp.Baseline = durationpb.New(tc.baseline)
			sp.Steps[0].Fault.Duration = durationpb.New(5 * time.Minute)
			m, err := New(sp)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mode == "inline" {
				m.CalibrateInline()
			}
			if tc.mode == "blocked" {
				// Never calibrated before in this process (-count reruns the test),
				// and another calibration holds the one slot.
				awaitCalibrations(t)
				levels.Lock()
				clear(levels.done)
				levels.Unlock()
				levels.busy <- struct{}{}
			}
			rng := rand.New(rand.NewPCG(191, 1))
			level := map[string]float64{}
			for i := range 6 {
				for _, id := range []string{fmt.Sprint("c", i), fmt.Sprint("e", i)} {
					level[id] = 0.003 * math.Exp(tc.hostSD*rng.NormFloat64())
				}
			}
			group := func(id string) Group {
				if id[0] == 'e' {
					return Experiment
				}
				return Control
			}
			feed := func(from, to int, active bool) {
				for s := from; s < to; s++ {
					for _, id := range slices.Sorted(maps.Keys(level)) {
						v := level[id] * math.Exp(0.3*rng.NormFloat64())
						m.Observe("latency", group(id), id, []fleet.Point{pt(t0.Add(time.Duration(s)*time.Second), v)}, active)
					}
				}
			}
			feed(-int(tc.baseline/time.Second), 0, false)
			m.Start(t0)
			if tc.mode == "background" {
				awaitCalibrations(t)
			}
			feed(0, 11, true)
			_, status := m.Evaluate(t0.Add(10 * time.Second))
			if len(status) != 1 || status[0].Threshold == 0 {
				t.Fatalf("status %v", status)
			}
			if c := status[0].Threshold; !tc.critical(c) {
				t.Errorf("first look's critical value %v (Bonferroni's: %v with 10 degrees of freedom, %v with 9)", c, bonferroni(10), bonferroni(9))
			}
			if tc.mode != "blocked" {
				return
			}
			<-levels.busy
			awaitCalibrations(t)
			feed(11, 21, true)
			if _, status := m.Evaluate(t0.Add(20 * time.Second)); status[0].Threshold != bonferroni(10) {
				t.Errorf("second look's critical value %v after the calibration came in, want Bonferroni's %v for the whole run", status[0].Threshold, bonferroni(10))
			}
			lo, ok := m.guards[0].dev.design(m.guards[0].dev.targets(t0.Add(20*time.Second), t0).Control, m.guards[0].dev.targets(t0.Add(20*time.Second), t0).Experiment, true)
			if _, ready := cachedLevels(lo.key(analysis.HaltChangeScores)); !ok || !ready {
				t.Error("the design's calibration is not ready for the next run")
			}
		})
	}
}

// awaitCalibrations waits until no calibration is under way.
func awaitCalibrations(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		levels.Lock()
		n := len(levels.inflight)
		levels.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calibrations still under way after 30 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
