package runner

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestSummarize(t *testing.T) {
	sp := &spec.Experiment{Baseline: durationpb.New(10 * time.Second), Steps: []*spec.Step{{Fault: &murphyv1.FaultSpec{Duration: durationpb.New(50 * time.Second)}}}, Hypothesis: &spec.Hypothesis{}}
	sp.Hypothesis.Metrics = []*spec.Metric{{Name: "latency"}}
	if w := SummaryWidth(sp); w != time.Second {
		t.Fatalf("width %s for a minute", w)
	}
	sp.Steps[0].Fault.Duration = durationpb.New(2 * time.Hour)
	if w := SummaryWidth(sp); w != 30*time.Second {
		t.Fatalf("width %s for two hours", w)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := &murphyv1.Run{Id: "r", Groups: &murphyv1.Groups{Control: []string{"c"}, Experiment: []string{"e"}}}
	samples := fleet.NewSamples()
	var ctl, exp []*murphyv1.Sample
	for i := range 100 {
		at := timestamppb.New(t0.Add(time.Duration(i) * 10 * time.Millisecond)) // all in the first second
		ctl = append(ctl, &murphyv1.Sample{Seq: uint64(i), At: at, Value: float64(i + 1), Ok: true})
		exp = append(exp, &murphyv1.Sample{Seq: uint64(i), At: at, Value: 10 * float64(i+1), Ok: true})
	}
	samples.Add("c", &murphyv1.Samples{RunId: "r", Metric: "latency", Samples: ctl})
	samples.Add("e", &murphyv1.Samples{RunId: "r", Metric: "latency", Samples: exp})
	got := Summarize(run, sp, samples, t0, t0.Add(2*time.Second), time.Second)
	if len(got) != 4 {
		t.Fatalf("%d summaries, want 2 intervals x 2 groups", len(got))
	}
	c := got[0]
	if c.Group != murphyv1.Group_GROUP_CONTROL || c.Count != 100 || c.Min != 1 || c.Max != 100 || c.Mean != 50.5 ||
		math.Abs(c.P50-50.5) > 1e-9 || math.Abs(c.P90-90.1) > 1e-9 || math.Abs(c.P99-99.01) > 1e-9 {
		t.Errorf("control %v", c)
	}
	if e := got[1]; e.Group != murphyv1.Group_GROUP_EXPERIMENT || math.Abs(e.P50-505) > 1e-9 {
		t.Errorf("experiment %v", e)
	}
	if got[2].Count != 0 || got[3].Count != 0 {
		t.Errorf("the second interval has no samples: %v %v", got[2], got[3])
	}
}
