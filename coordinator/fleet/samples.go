package fleet

import (
	"maps"
	"slices"
	"sync"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// maxSeriesLen bounds one worker's series for one metric of one run (about 55 hours at one
// sample per second), so a misbehaving worker cannot exhaust the leader's memory.
const maxSeriesLen = 200_000

// Point is one accepted sample.
type Point struct {
	At    time.Time
	Value float64
	OK    bool
}

type series struct {
	next   uint64 // lowest sequence number not yet seen
	points []Point
}

// Samples stores probe samples per run, metric and worker. Workers resend everything they
// still buffer after reconnecting; sequence numbers make that idempotent.
type Samples struct {
	mu   sync.Mutex
	runs map[string]map[string]map[string]*series // run -> metric -> worker
}

// NewSamples returns an empty store.
func NewSamples() *Samples {
	return &Samples{runs: map[string]map[string]map[string]*series{}}
}

// Add appends the batch, skipping sequence numbers already seen.
func (s *Samples) Add(worker string, b *murphyv1.Samples) {
	s.mu.Lock()
	defer s.mu.Unlock()
	metrics := s.runs[b.RunId]
	if metrics == nil {
		metrics = map[string]map[string]*series{}
		s.runs[b.RunId] = metrics
	}
	workers := metrics[b.Metric]
	if workers == nil {
		workers = map[string]*series{}
		metrics[b.Metric] = workers
	}
	ser := workers[worker]
	if ser == nil {
		ser = &series{}
		workers[worker] = ser
	}
	for _, smp := range b.Samples {
		if smp.Seq < ser.next || len(ser.points) >= maxSeriesLen {
			continue
		}
		ser.next = smp.Seq + 1
		ser.points = append(ser.points, Point{At: smp.At.AsTime(), Value: smp.Value, OK: smp.Ok})
	}
}

// Values returns the values of the given workers' samples for run and metric taken in
// [from, to), in worker order then time order. A zero to means no upper bound. With
// okOnly, failed samples are left out: a failed probe's latency is the time until it
// failed, not a latency of the service.
func (s *Samples) Values(run, metric string, workers []string, from, to time.Time, okOnly bool) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []float64
	for _, w := range workers {
		for _, p := range s.window(run, metric, w, from, to) {
			if p.OK || !okOnly {
				out = append(out, p.Value)
			}
		}
	}
	return out
}

// Points returns one worker's points for run and metric taken in [from, to), in time
// order; a zero to means no upper bound.
func (s *Samples) Points(run, metric, worker string, from, to time.Time) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window(run, metric, worker, from, to)
}

// window returns the series' points inside [from, to). Workers stamp points with their
// own clocks, which may step, so the series is filtered rather than searched. Call with
// mu held; the result is a fresh slice.
func (s *Samples) window(run, metric, worker string, from, to time.Time) []Point {
	ser := s.runs[run][metric][worker]
	if ser == nil {
		return nil
	}
	var out []Point
	for _, p := range ser.points {
		if p.At.Before(from) || (!to.IsZero() && !p.At.Before(to)) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Count returns how many samples the given workers sent for run and metric.
func (s *Samples) Count(run, metric string, workers []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range workers {
		if ser := s.runs[run][metric][w]; ser != nil {
			n += len(ser.points)
		}
	}
	return n
}

// Drop forgets a finished run's samples.
func (s *Samples) Drop(run string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.runs, run)
}

// Median of a copy of xs; zero for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := slices.Clone(xs)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// Since returns the worker's points for run and metric from index from on, and the index
// to continue from next time. The monitor reads each series incrementally this way.
func (s *Samples) Since(run, metric, worker string, from int) ([]Point, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ser := s.runs[run][metric][worker]
	if ser == nil || from >= len(ser.points) {
		return nil, from
	}
	return slices.Clone(ser.points[from:]), len(ser.points)
}

// AddPoints appends points that do not come from a worker's stream (a Prometheus series
// queried by the leader), under the worker the series belongs to, or under a group's
// pseudo-worker name when it belongs to no one worker.
func (s *Samples) AddPoints(run, metric, source string, pts []Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	metrics := s.runs[run]
	if metrics == nil {
		metrics = map[string]map[string]*series{}
		s.runs[run] = metrics
	}
	if metrics[metric] == nil {
		metrics[metric] = map[string]*series{}
	}
	ser := metrics[metric][source]
	if ser == nil {
		ser = &series{}
		metrics[metric][source] = ser
	}
	if room := maxSeriesLen - len(ser.points); room < len(pts) {
		pts = pts[:max(room, 0)]
	}
	ser.points = append(ser.points, pts...)
}

// Replace sets a whole series added by AddPoints (a range query that supersedes the live
// instant queries).
func (s *Samples) Replace(run, metric, source string, pts []Point) {
	s.mu.Lock()
	if ser := s.runs[run][metric][source]; ser != nil {
		ser.points = nil
	}
	s.mu.Unlock()
	s.AddPoints(run, metric, source, pts)
}

// Runs lists the runs the store holds samples of.
func (s *Samples) Runs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.runs))
}
