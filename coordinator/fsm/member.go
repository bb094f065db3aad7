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

// HaltPending reports, for a halted run, the halt's reason and which of its members have
// not had their reverts recorded. ok is false for a run that is unknown or not halted.
// Every node asks it when it applies a halt, to deliver it to its own workers, so it
// reads in place instead of copying the run.
func (f *FSM) HaltPending(run string) (reason string, pending []string, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, found := f.runs[run]
	if !found || r.Phase != murphyv1.RunPhase_RUN_PHASE_HALTED || r.Halt == nil {
		return "", nil, false
	}
	seen := make(map[string]bool, len(r.Halt.Reverts))
	for _, rv := range r.Halt.Reverts {
		seen[rv.WorkerId] = true
	}
	add := func(g *murphyv1.Groups) {
		for _, ws := range [][]string{g.GetExperiment(), g.GetControl()} {
			for _, w := range ws {
				if !seen[w] {
					seen[w] = true
					pending = append(pending, w)
				}
			}
		}
	}
	add(r.Groups)
	for _, wv := range r.Waves {
		add(wv.Groups)
	}
	return r.Halt.Reason, pending, true
}
