package probe

import (
	"slices"
	"sync"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// DefaultLimit bounds one run's buffer: at a sample per second per metric it holds more
// than two days of one metric, and about 10 MiB.
const DefaultLimit = 200_000

// Buffer keeps every sample of one run until the run's probes are stopped, with a cursor
// per metric marking what has been sent on the current stream. A new stream Rewinds it and
// sends everything again; the coordinator drops what it already has by sequence number.
// It is safe for concurrent use.
type Buffer struct {
	run   string
	unit  string
	limit int

	mu      sync.Mutex
	metrics map[string]*series
	total   int
	dropped uint64
}

type series struct {
	samples []*murphyv1.Sample
	sent    int    // samples[:sent] went out on the current stream
	last    uint64 // the highest sequence number added, kept or dropped
}

// NewBuffer returns a buffer for run holding at most limit samples (DefaultLimit if 0).
func NewBuffer(run string, limit int) *Buffer { return NewUnitBuffer(run, "", limit) }

// NewUnitBuffer returns a buffer for the samples of one unit of run (a pod), which its
// messages name; "" is the worker itself, as with NewBuffer.
func NewUnitBuffer(run, unit string, limit int) *Buffer {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Buffer{run: run, unit: unit, limit: limit, metrics: map[string]*series{}}
}

// Add appends a sample. When the buffer is full it first forgets the oldest samples that
// were already sent; if nothing was sent yet the new sample is dropped, so what a
// coordinator receives is always a prefix without holes.
func (b *Buffer) Add(metric string, s *murphyv1.Sample) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	se := b.metrics[metric]
	if se == nil {
		se = &series{}
		b.metrics[metric] = se
	}
	se.last = max(se.last, s.GetSeq())
	if b.total >= b.limit && !b.evict() {
		b.dropped++
		return false
	}
	se.samples = append(se.samples, s)
	b.total++
	return true
}

// evict drops a sixteenth of the buffer's capacity from the series with the most sent
// samples, so the cost of eviction is amortised.
func (b *Buffer) evict() bool {
	var victim *series
	for _, se := range b.metrics {
		if se.sent > 0 && (victim == nil || se.sent > victim.sent) {
			victim = se
		}
	}
	if victim == nil {
		return false
	}
	n := min(victim.sent, max(1, b.limit/16))
	victim.samples = slices.Delete(victim.samples, 0, n)
	victim.sent -= n
	b.total -= n
	return true
}

// Next returns the unsent samples as messages of at most batch samples each, metrics in
// name order, and marks them sent.
func (b *Buffer) Next(batch int) []*murphyv1.Samples {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.metrics))
	for m := range b.metrics {
		names = append(names, m)
	}
	slices.Sort(names)
	var out []*murphyv1.Samples
	for _, m := range names {
		se := b.metrics[m]
		for se.sent < len(se.samples) {
			end := min(len(se.samples), se.sent+batch)
			out = append(out, &murphyv1.Samples{RunId: b.run, Unit: b.unit, Metric: m, Samples: slices.Clone(se.samples[se.sent:end])})
			se.sent = end
		}
	}
	return out
}

// LastSeqs returns the highest sequence number added per metric, so that probes started
// again into the buffer can number their samples after it: a coordinator drops a sample
// whose number it already has.
func (b *Buffer) LastSeqs() map[string]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]uint64, len(b.metrics))
	for m, se := range b.metrics {
		out[m] = se.last
	}
	return out
}

// Unsent reports how many samples have not been sent on the current stream.
func (b *Buffer) Unsent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, se := range b.metrics {
		n += len(se.samples) - se.sent
	}
	return n
}

// Rewind marks everything unsent, for replay on a new stream.
func (b *Buffer) Rewind() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, se := range b.metrics {
		se.sent = 0
	}
}

// Len is the number of samples held.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Dropped is the number of samples refused because the buffer was full.
func (b *Buffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
