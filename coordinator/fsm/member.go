package fsm

import (
	"slices"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Member reports whether worker is in run's control or experimental group, now or in
// an earlier wave. The leader asks it for every message a worker sends about a run, so
// it reads in place instead of copying the run.
func (f *FSM) Member(run, worker string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.runs[run]
	if !ok {
		return false
	}
	in := func(g *murphyv1.Groups) bool {
		return slices.Contains(g.GetExperiment(), worker) || slices.Contains(g.GetControl(), worker)
	}
	if in(r.Groups) {
		return true
	}
	for _, w := range r.Waves {
		if in(w.Groups) {
			return true
		}
	}
	return false
}
