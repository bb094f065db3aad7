package monitor

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func f64(v float64) *float64 { return &v }

func experiment(aborts ...spec.AbortCondition) *spec.Experiment {
	return &spec.Experiment{
		Hypothesis: spec.Hypothesis{Metrics: []spec.Metric{{
			Name:      "latency",
			Direction: spec.DirectionIncrease,
			Source:    spec.MetricSource{Probe: &spec.ProbeSource{HTTP: &spec.HTTPProbe{Interval: spec.Duration(100 * time.Millisecond)}}},
		}}},
		Abort: aborts,
	}
}

func pt(at time.Time, v float64) fleet.Point { return fleet.Point{At: at, Value: v, OK: true} }

// TestAbsoluteFor checks that an above guardrail halts exactly when the breach has lasted
// its for duration, measured from the first breaching sample.
func TestAbsoluteFor(t *testing.T) {
	m, err := New(experiment(spec.AbortCondition{Metric: "latency", Above: f64(0.5), For: spec.Duration(time.Second), OnMissing: spec.MissingHold}), 2, 2)
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
		m.Observe("latency", Experiment, []fleet.Point{pt(now, v)}, true)
		m.Observe("latency", Control, []fleet.Point{pt(now, 0.1)}, true)
		d, st := m.Evaluate(now)
		if len(st) != 1 {
			t.Fatalf("status %v", st)
		}
		if d != nil {
			halted = now
			if !d.FirstBreach.Equal(first) || d.Threshold != 0.5 || !strings.Contains(d.Reason, "above 0.5 for 1s") {
				t.Errorf("decision %+v", d)
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
	m, _ := New(experiment(spec.AbortCondition{Metric: "latency", Below: f64(0.9), OnMissing: spec.MissingHold}), 1, 1)
	m.Start(t0)
	m.Observe("latency", Experiment, []fleet.Point{pt(t0, 1), pt(t0.Add(time.Millisecond), 0.5)}, true)
	m.Observe("latency", Control, []fleet.Point{pt(t0, 1)}, true)
	if d, _ := m.Evaluate(t0.Add(2 * time.Millisecond)); d == nil {
		t.Fatal("below 0.9 with mean 0.75 did not halt")
	}
}

// simulate feeds ticks of per-group samples drawn from the given distributions and
// returns the tick at which the monitor halted, or -1.
func simulate(t *testing.T, seed uint64, ticks int, expFactor float64) int {
	t.Helper()
	m, err := New(experiment(spec.AbortCondition{Metric: "latency", Deviation: &spec.Tolerance{Relative: f64(0.5)}, OnMissing: spec.MissingHold}), 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	lat := func() float64 { return 0.003 * (1 + rng.ExpFloat64()*0.25) }
	// Baseline: 5 s of control samples build the reference.
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		for range 6 {
			m.Observe("latency", Control, []fleet.Point{pt(now, lat())}, false)
		}
	}
	start := t0.Add(5 * time.Second)
	m.Start(start)
	for i := range ticks {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond)
		for range 6 {
			m.Observe("latency", Experiment, []fleet.Point{pt(now, lat()*expFactor)}, true)
			m.Observe("latency", Control, []fleet.Point{pt(now, lat())}, true)
		}
		if d, _ := m.Evaluate(now); d != nil {
			return i
		}
	}
	return -1
}

// TestDeviationAA runs many A/A runs with an evaluation every tick: the anytime-valid test
// must keep false halts within its 1% budget.
func TestDeviationAA(t *testing.T) {
	runs, halts := 300, 0
	for s := range runs {
		if simulate(t, uint64(s), 600, 1) >= 0 {
			halts++
		}
	}
	t.Logf("A/A: %d false halts in %d runs of 600 evaluations", halts, runs)
	if float64(halts)/float64(runs) > 0.02 {
		t.Errorf("false halt rate %.3f, budget 0.01", float64(halts)/float64(runs))
	}
}

func TestDeviationDetects(t *testing.T) {
	tick := simulate(t, 1, 600, 1.8)
	if tick < 0 {
		t.Fatal("an 80% latency increase against a 50% guardrail never halted")
	}
	t.Logf("halted after %d ticks (%s)", tick, time.Duration(tick)*100*time.Millisecond)
	if tick > 50 {
		t.Errorf("took %d ticks", tick)
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
			m, _ := New(experiment(spec.AbortCondition{Metric: "latency", Above: f64(10), OnMissing: tc.policy}), 1, 1)
			m.Start(t0)
			var d *Decision
			for i := range 60 {
				now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
				if i < 5 {
					m.Observe("latency", Experiment, []fleet.Point{pt(now, 1)}, true)
				}
				if tc.ctlReports || i < 5 {
					m.Observe("latency", Control, []fleet.Point{pt(now, 1)}, true)
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
	m, _ := New(experiment(spec.AbortCondition{Metric: "latency", Above: f64(10), OnMissing: spec.MissingHalt}), 1, 1)
	m.Start(t0)
	takeover := t0.Add(8 * time.Second)
	if d, _ := m.Evaluate(takeover); d != nil {
		t.Fatalf("halted at its first look after a takeover: %s", d.Reason)
	}
	m.Observe("latency", Experiment, []fleet.Point{pt(t0.Add(7*time.Second), 1)}, true)
	m.Observe("latency", Control, []fleet.Point{pt(t0.Add(7*time.Second), 1)}, true)
	if d, _ := m.Evaluate(takeover.Add(time.Second)); d != nil {
		t.Fatalf("halted with replayed samples: %s", d.Reason)
	}
	if d, _ := m.Evaluate(takeover.Add(5 * time.Second)); d == nil {
		t.Fatal("no halt after 5 s of silence on this leader")
	}
}
