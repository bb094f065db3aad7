package fsm

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Bounds on what a run keeps, so summaries stay compact whatever the leader sends: the
// leader sizes its intervals to stay well below them (see runner/summary.go).
const (
	// MaxIntervalsPerSeries bounds the intervals of one (metric, group) of a run.
	MaxIntervalsPerSeries = 600
	// MaxSummaryMetrics bounds the distinct metrics summarised per run.
	MaxSummaryMetrics = 32
	// Percentiles is the length of a window summary's percentile list (0..100).
	Percentiles = 101
)

// summaryState holds every run's summaries; its zero value is empty and usable. The
// series index is derived from the messages and rebuilt on restore.
type summaryState struct {
	runs map[string]*runSummaries
}

type runSummaries struct {
	msg    *murphyv1.RunSummaries
	last   map[string]int64 // metric+group -> start (unix nanos) of the newest interval
	counts map[string]int
}

func seriesKey(s *murphyv1.IntervalSummary) string {
	return s.Metric + "\x00" + s.Group.String()
}

func newRunSummaries(msg *murphyv1.RunSummaries) *runSummaries {
	rs := &runSummaries{msg: msg, last: map[string]int64{}, counts: map[string]int{}}
	for _, s := range msg.Intervals {
		k := seriesKey(s)
		rs.counts[k]++
		if n := s.Start.AsTime().UnixNano(); n > rs.last[k] || rs.counts[k] == 1 {
			rs.last[k] = n
		}
	}
	return rs
}

// applyRecordSummaries appends intervals in time order per series: an interval that does
// not start after the series' newest one is a resend and is skipped, one past the bound
// is counted as dropped. Window summaries replace the previous window of their series.
func (f *FSM) applyRecordSummaries(c *murphyv1.RecordSummaries) (Change, error) {
	ch := Change{RunID: c.RunId}
	if _, ok := f.runs[c.RunId]; !ok {
		return ch, fmt.Errorf("%w: run %q", ErrNotFound, c.RunId)
	}
	for _, s := range c.Summaries {
		if s.GetStart() == nil || s.GetEnd() == nil || s.Metric == "" {
			return ch, fmt.Errorf("%w: summary without metric or interval", ErrInvalid)
		}
		if s.Window && len(s.Percentiles) != Percentiles && len(s.Percentiles) != 0 {
			return ch, fmt.Errorf("%w: window summary with %d percentiles, want %d", ErrInvalid, len(s.Percentiles), Percentiles)
		}
	}
	if f.sums.runs == nil {
		f.sums.runs = map[string]*runSummaries{}
	}
	rs := f.sums.runs[c.RunId]
	if rs == nil {
		rs = newRunSummaries(&murphyv1.RunSummaries{RunId: c.RunId})
		f.sums.runs[c.RunId] = rs
	}
	if rs.msg.Final {
		return ch, fmt.Errorf("%w: run %q has its final summaries", ErrRunFinished, c.RunId)
	}
	metrics := map[string]bool{}
	for _, s := range rs.msg.Intervals {
		metrics[s.Metric] = true
	}
	for _, s := range c.Summaries {
		if !metrics[s.Metric] && len(metrics) >= MaxSummaryMetrics {
			rs.msg.Dropped++
			continue
		}
		metrics[s.Metric] = true
		k := seriesKey(s)
		if s.Window {
			i := slices.IndexFunc(rs.msg.Windows, func(w *murphyv1.IntervalSummary) bool { return seriesKey(w) == k })
			if i >= 0 {
				rs.msg.Windows[i] = proto.CloneOf(s)
			} else {
				rs.msg.Windows = append(rs.msg.Windows, proto.CloneOf(s))
			}
			continue
		}
		start := s.Start.AsTime().UnixNano()
		if n, ok := rs.counts[k]; ok && n > 0 && start <= rs.last[k] {
			continue
		}
		if rs.counts[k] >= MaxIntervalsPerSeries {
			rs.msg.Dropped++
			continue
		}
		rs.msg.Intervals = append(rs.msg.Intervals, proto.CloneOf(s))
		rs.counts[k]++
		rs.last[k] = start
	}
	slices.SortStableFunc(rs.msg.Windows, func(a, b *murphyv1.IntervalSummary) int { return strings.Compare(seriesKey(a), seriesKey(b)) })
	if c.Final {
		rs.msg.Final = true
	}
	return ch, nil
}

// Summaries returns a copy of the run's summaries, or nil when none were recorded.
func (f *FSM) Summaries(runID string) *murphyv1.RunSummaries {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if rs := f.sums.runs[runID]; rs != nil {
		return proto.CloneOf(rs.msg)
	}
	return nil
}

// SummaryProgress reports, for the leader's summariser, the start of the newest interval
// recorded per series key (metric + "\x00" + group name) and whether the run's summaries
// are final.
func (f *FSM) SummaryProgress(runID string) (map[string]int64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	rs := f.sums.runs[runID]
	if rs == nil {
		return nil, false
	}
	out := make(map[string]int64, len(rs.last))
	for k, v := range rs.last {
		out[k] = v
	}
	return out, rs.msg.Final
}

// snapshot copies every run's summaries, sorted by run ID. Called under the read lock.
func (s *summaryState) snapshot() []*murphyv1.RunSummaries {
	out := make([]*murphyv1.RunSummaries, 0, len(s.runs))
	for _, rs := range s.runs {
		out = append(out, proto.CloneOf(rs.msg))
	}
	slices.SortFunc(out, func(a, b *murphyv1.RunSummaries) int { return strings.Compare(a.RunId, b.RunId) })
	return out
}

func restoreSummaries(list []*murphyv1.RunSummaries) summaryState {
	s := summaryState{runs: make(map[string]*runSummaries, len(list))}
	for _, rs := range list {
		s.runs[rs.RunId] = newRunSummaries(rs)
	}
	return s
}
