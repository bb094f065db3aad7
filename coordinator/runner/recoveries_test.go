package runner

import (
	"slices"
	"testing"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestRecoveries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		ended  []float64
		open   float64
	}{
		{"never short", []float64{0, 0, 0}, nil, 0},
		{"no samples", nil, nil, 0},
		{"one outage reported whole", []float64{0, 0.25, 0.5, 0.62, 0, 0}, []float64{0.62}, 0},
		{"two outages", []float64{0.1, 0.13, 0, 0, 0.2, 0.4, 0.41, 0}, []float64{0.13, 0.41}, 0},
		{"still short at the end", []float64{0, 0.3, 0, 0.5, 1.5, 2.5}, []float64{0.3}, 2.5},
		{"a new outage before the end of the last was sampled", []float64{0.5, 1.0, 0.2, 0.4, 0}, []float64{1.0, 0.4}, 0},
		{"short from the window's start", []float64{3, 3.2, 0}, []float64{3.2}, 0},
	} {
		ended, open := Recoveries(tc.values)
		if !slices.Equal(ended, tc.ended) || open != tc.open {
			t.Errorf("%s: ended %v, open %v; want %v, %v", tc.name, ended, open, tc.ended, tc.open)
		}
	}
}

// TestJudgeReportsRecoveries: a time_to_recover metric's verdict carries each target's
// outages in the window, read from the probe's samples, the one still open last.
func TestJudgeReportsRecoveries(t *testing.T) {
	m := probeMetric("recovery", spec.MeasureTimeToRecover, spec.DirectionIncrease, &spec.Tolerance{Absolute: f64p(30)})
	m.Source.Probe.Kind = &murphyv1.Probe_Kubernetes{Kubernetes: &spec.KubernetesProbe{Namespace: "shop", Workload: "deployment/checkout"}}
	sp := &spec.Experiment{Baseline: durationpb.New(5 * time.Second), Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{m}}}
	run := simRun(3, 10*time.Second)
	samples := fleet.NewSamples()
	// One sample every 250 ms; the experimental targets' series hold outages.
	outages := map[string][]float64{
		run.Groups.Experiment[0]: {0.25, 0.5, 0.61},       // ended
		run.Groups.Experiment[1]: {0.25, 0.3, 0, 0, 0.25}, // one ended, one still open
	}
	for _, ids := range [][]string{run.Groups.Control, run.Groups.Experiment} {
		for _, id := range ids {
			var pts []fleet.Point
			for i := -20; i < 40; i++ {
				v := 0.0
				if o := outages[id]; i >= 10 && i-10 < len(o) {
					v = o[i-10]
				}
				if id == run.Groups.Experiment[1] && i >= 10+len(outages[id]) {
					v = 0.25 + 0.25*float64(i-10-len(outages[id])+1)
				}
				pts = append(pts, fleet.Point{At: simT0.Add(time.Duration(i) * 250 * time.Millisecond), Value: v, OK: true})
			}
			samples.AddPoints(run.Id, "recovery", id, pts)
		}
	}
	v, err := Judge(sp, run, samples, simT0, simT0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*murphyv1.TargetSummary{}
	for _, ts := range v.Metrics[0].Targets {
		got[ts.Id] = ts
	}
	e0, e1, c0 := got[run.Groups.Experiment[0]], got[run.Groups.Experiment[1]], got[run.Groups.Control[0]]
	if e0 == nil || e1 == nil || c0 == nil {
		t.Fatalf("targets %v", v.Metrics[0].Targets)
	}
	if !slices.Equal(e0.Recoveries, []float64{0.61}) || e0.Unrecovered != 0 {
		t.Errorf("%s: recoveries %v, open %v; want [0.61], 0", e0.Id, e0.Recoveries, e0.Unrecovered)
	}
	if !slices.Equal(e1.Recoveries, []float64{0.3}) || e1.Unrecovered != 6.5 {
		t.Errorf("%s: recoveries %v, open %v; want [0.3], 6.5 (still short at the window's end)", e1.Id, e1.Recoveries, e1.Unrecovered)
	}
	if len(c0.Recoveries) != 0 || c0.Unrecovered != 0 {
		t.Errorf("control %s: recoveries %v, open %v; want none", c0.Id, c0.Recoveries, c0.Unrecovered)
	}
}
