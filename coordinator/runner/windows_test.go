package runner

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestJudgeUsesEachHostsRealWindow: a host whose fault ended early (its dead-man's
// switch fired a third of the way in) is judged on the time it was faulted only, and a
// host whose injection failed is no experimental target. Judged over the whole window,
// the early host would read as a small slowdown, and the failed one as none.
func TestJudgeUsesEachHostsRealWindow(t *testing.T) {
	const window = 15 * time.Second
	sp := &spec.Experiment{
		Baseline: durationpb.New(window),
		Hypothesis: &spec.Hypothesis{Confidence: 0.95, Metrics: []*spec.Metric{
			probeMetric("latency", spec.MeasureLatency, spec.DirectionIncrease, &spec.Tolerance{Relative: f64p(0.10)}),
		}},
	}
	run := simRun(6, window)
	step := run.Steps[0]
	cut := simT0.Add(window / 3)
	for _, w := range run.Groups.Experiment {
		switch w {
		case "e05": // never faulted
			step.Failed = append(step.Failed, w)
			continue
		case "e00":
			step.Windows = append(step.Windows, &murphyv1.FaultWindow{WorkerId: w, InjectedAt: timestamppb.New(simT0),
				RevertedAt: timestamppb.New(cut), Cause: murphyv1.RevertCause_REVERT_CAUSE_DEADMAN})
		default:
			step.Windows = append(step.Windows, &murphyv1.FaultWindow{WorkerId: w, InjectedAt: timestamppb.New(simT0),
				RevertedAt: timestamppb.New(simT0.Add(window)), Cause: murphyv1.RevertCause_REVERT_CAUSE_COMPLETED})
		}
		step.Injected = append(step.Injected, w)
	}
	// Experimental hosts are twice as slow exactly while their fault is in force.
	samples := fleet.NewSamples()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ids := range [][]string{run.Groups.Control, run.Groups.Experiment} {
		for _, id := range ids {
			var pts []fleet.Point
			for i := -150; i < 150; i++ {
				at := simT0.Add(time.Duration(i) * 100 * time.Millisecond)
				v := simMedian * math.Exp(0.2*rng.NormFloat64())
				faulted := i >= 0 && id[0] == 'e' && id != "e05" && (id != "e00" || at.Before(cut))
				if faulted {
					v *= 2
				}
				pts = append(pts, fleet.Point{At: at, Value: v, OK: true})
			}
			samples.AddPoints(run.Id, "latency", id, pts)
		}
	}
	v, err := Judge(sp, run, samples, simT0, simT0.Add(window))
	if err != nil {
		t.Fatal(err)
	}
	m := v.Metrics[0]
	if m.TargetsExperiment != 5 {
		t.Errorf("%d experimental targets, want 5: the host that was never faulted must be left out", m.TargetsExperiment)
	}
	for _, ts := range m.Targets {
		if ts.Id == "e00" {
			if ts.NWindow > 55 || ts.Change < 0.7 {
				t.Errorf("e00 judged on %d samples with change %+.0f%%: want its 50 faulted samples, about +100%%", ts.NWindow, 100*ts.Change)
			}
		}
	}
	joined := strings.Join(m.Warnings, "\n")
	if !strings.Contains(joined, "e00's fault ended 10s early") || !strings.Contains(joined, "dead-man") || !strings.Contains(joined, "e05 was never faulted") {
		t.Errorf("warnings do not say which hosts were judged on less than the window:\n%s", joined)
	}
}

// TestUnconfirmed: a fault with no confirmed revert counts as unconfirmed once its worker
// is gone or its step is over by more than the slack, and never once confirmed.
func TestUnconfirmed(t *testing.T) {
	now := simT0.Add(time.Minute)
	open := &murphyv1.FaultWindow{WorkerId: "gone", InjectedAt: timestamppb.New(simT0)}
	tests := []struct {
		name      string
		ended     time.Duration // since now; 0 = still running
		connected bool
		reverted  bool
		want      int
	}{
		{"running, worker attached", 0, true, false, 0},
		{"running, worker gone", 0, false, false, 1},
		{"just ended, worker attached", 2 * time.Second, true, false, 0},
		{"long ended, worker attached but silent about it", 30 * time.Second, true, false, 1},
		{"confirmed", 30 * time.Second, false, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &murphyv1.FaultWindow{WorkerId: open.WorkerId, InjectedAt: open.InjectedAt}
			if tc.reverted {
				w.RevertedAt = timestamppb.New(now)
			}
			st := &murphyv1.StepState{Windows: []*murphyv1.FaultWindow{w}}
			if tc.ended > 0 {
				st.EndedAt = timestamppb.New(now.Add(-tc.ended))
			}
			run := &murphyv1.Run{Steps: []*murphyv1.StepState{st}}
			got := Unconfirmed(run, now, 5*time.Second, func(string) bool { return tc.connected })
			if len(got) != tc.want {
				t.Errorf("%d unconfirmed, want %d", len(got), tc.want)
			}
		})
	}
}
