package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func interval(metric string, g murphyv1.Group, start int, count int64) *murphyv1.IntervalSummary {
	return &murphyv1.IntervalSummary{Metric: metric, Group: g, Start: at(start), End: at(start + 1), Count: count, P50: float64(start)}
}

func summaries(run string, final bool, s ...*murphyv1.IntervalSummary) *murphyv1.Command {
	return &murphyv1.Command{At: at(100), Cmd: &murphyv1.Command_RecordSummaries{RecordSummaries: &murphyv1.RecordSummaries{RunId: run, Summaries: s, Final: final}}}
}

func TestRecordSummaries(t *testing.T) {
	ctl, exp := murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT
	window := &murphyv1.IntervalSummary{Metric: "latency", Group: exp, Start: at(14), End: at(74), Window: true, Percentiles: make([]float64, Percentiles)}
	tests := []struct {
		name      string
		cmds      []*murphyv1.Command
		err       error
		intervals int
		windows   int
		final     bool
	}{
		{"appends per series", []*murphyv1.Command{summaries("r1", false, interval("latency", ctl, 10, 5), interval("latency", exp, 10, 5), interval("latency", ctl, 11, 4))}, nil, 3, 0, false},
		{"a resend is skipped", []*murphyv1.Command{
			summaries("r1", false, interval("latency", ctl, 10, 5), interval("latency", ctl, 11, 5)),
			summaries("r1", false, interval("latency", ctl, 11, 9), interval("latency", ctl, 12, 5)),
		}, nil, 3, 0, false},
		{"window replaces the previous one and final closes", []*murphyv1.Command{
			summaries("r1", false, window),
			summaries("r1", true, window, interval("latency", ctl, 20, 1)),
		}, nil, 1, 1, true},
		{"nothing after final", []*murphyv1.Command{summaries("r1", true), summaries("r1", false, interval("latency", ctl, 20, 1))}, ErrRunFinished, 0, 0, true},
		{"unknown run", []*murphyv1.Command{summaries("nope", false, interval("latency", ctl, 20, 1))}, ErrNotFound, 0, 0, false},
		{"interval without times", []*murphyv1.Command{summaries("r1", false, &murphyv1.IntervalSummary{Metric: "x"})}, ErrInvalid, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			applyAll(t, f, script())
			var err error
			for i, c := range tc.cmds {
				if err = f.ApplyCommand(uint64(100+i), c); err != nil {
					break
				}
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			got := f.Summaries("r1")
			if len(got.GetIntervals()) != tc.intervals || len(got.GetWindows()) != tc.windows || got.GetFinal() != tc.final {
				t.Fatalf("summaries %v", got)
			}
		})
	}
}

func TestSummariesBounded(t *testing.T) {
	f := New()
	applyAll(t, f, script())
	var batch []*murphyv1.IntervalSummary
	for i := range MaxIntervalsPerSeries + 10 {
		batch = append(batch, interval("latency", murphyv1.Group_GROUP_CONTROL, i, 1))
	}
	if err := f.ApplyCommand(100, summaries("r1", false, batch...)); err != nil {
		t.Fatal(err)
	}
	got := f.Summaries("r1")
	if len(got.Intervals) != MaxIntervalsPerSeries || got.Dropped != 10 {
		t.Fatalf("kept %d, dropped %d", len(got.Intervals), got.Dropped)
	}
}

func TestSummariesSnapshotRestore(t *testing.T) {
	f := New()
	applyAll(t, f, script())
	if err := f.ApplyCommand(100, summaries("r1", false, interval("latency", murphyv1.Group_GROUP_CONTROL, 10, 5), interval("ok", murphyv1.Group_GROUP_EXPERIMENT, 10, 5))); err != nil {
		t.Fatal(err)
	}
	data := persist(t, f)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(f.Summaries("r1"), g.Summaries("r1")) {
		t.Fatalf("restored %v, want %v", g.Summaries("r1"), f.Summaries("r1"))
	}
	if !bytes.Equal(persist(t, g), data) {
		t.Fatal("snapshot of the restored state differs")
	}
	// The derived index is rebuilt: a resend after the restore is still skipped.
	if err := g.ApplyCommand(101, summaries("r1", false, interval("latency", murphyv1.Group_GROUP_CONTROL, 10, 7))); err != nil {
		t.Fatal(err)
	}
	if n := len(g.Summaries("r1").Intervals); n != 2 {
		t.Fatalf("%d intervals after a resend", n)
	}
}
