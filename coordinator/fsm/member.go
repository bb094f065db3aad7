package fsm

import (
	"fmt"
	"slices"
	"strings"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// WorkerOf names the worker that acts on unit in groups g: the one recorded at the
// start for a pod, the unit itself when the units are workers.
func WorkerOf(g *murphyv1.Groups, unit string) string {
	if w, ok := g.GetWorkers()[unit]; ok {
		return w
	}
	return unit
}

// GroupWorkers lists, once each and in unit order, the workers that act on the units of
// g's groups (experiment first): the units themselves when they are workers.
func GroupWorkers(g *murphyv1.Groups) []string {
	if len(g.GetWorkers()) == 0 {
		return append(slices.Clone(g.GetExperiment()), g.GetControl()...)
	}
	seen := map[string]bool{}
	var out []string
	for _, ids := range [][]string{g.GetExperiment(), g.GetControl()} {
		for _, u := range ids {
			if w := WorkerOf(g, u); !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// UnitOf returns the unit of g that worker acts on and that assignment is named after
// (every assignment ends in "/" and its unit), or false when there is none: a worker can
// only speak for its own units.
func UnitOf(g *murphyv1.Groups, worker, assignment string) (string, bool) {
	if len(g.GetWorkers()) == 0 {
		return worker, strings.HasSuffix(assignment, "/"+worker) && inGroups(g, worker)
	}
	for u, w := range g.GetWorkers() {
		if w == worker && strings.HasSuffix(assignment, "/"+u) {
			return u, true
		}
	}
	return "", false
}

// checkUnitWorkers refuses groups of pods where a unit has no worker: every message
// about it would go to a worker named after the pod.
func checkUnitWorkers(g *murphyv1.Groups) error {
	if len(g.GetWorkers()) == 0 {
		return nil
	}
	for _, ids := range [][]string{g.GetExperiment(), g.GetControl()} {
		for _, u := range ids {
			if g.GetWorkers()[u] == "" {
				return fmt.Errorf("unit %q has no worker recorded", u)
			}
		}
	}
	return nil
}

func inGroups(g *murphyv1.Groups, unit string) bool {
	return slices.Contains(g.GetExperiment(), unit) || slices.Contains(g.GetControl(), unit)
}

// Member reports whether worker acts on a unit of run's control or experimental group,
// now or in an earlier wave. The leader asks it for every message a worker sends about a
// run, so it reads in place instead of copying the run.
func (f *FSM) Member(run, worker string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.runs[run]
	if !ok {
		return false
	}
	if ActsIn(r.Groups, worker) {
		return true
	}
	for _, w := range r.Waves {
		if ActsIn(w.Groups, worker) {
			return true
		}
	}
	return false
}

// ActsIn reports whether worker acts on a unit of g's groups, without copying them:
// halt acknowledgements ask it of every recent run.
func ActsIn(g *murphyv1.Groups, worker string) bool {
	if len(g.GetWorkers()) == 0 {
		return inGroups(g, worker)
	}
	for _, w := range g.GetWorkers() {
		if w == worker {
			return true
		}
	}
	return false
}

// Unit reports whether worker acts on run's unit: with units that are pods, the unit's
// recorded worker is the worker; with units that are workers, the unit is the worker.
// When assignment is set, the unit is looked up from it (UnitOf) instead.
func (f *FSM) Unit(run, worker, unit, assignment string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.runs[run]
	if !ok {
		return "", false
	}
	groups := []*murphyv1.Groups{r.Groups}
	for _, w := range r.Waves {
		groups = append(groups, w.Groups)
	}
	for _, g := range groups {
		if assignment != "" {
			if u, ok := UnitOf(g, worker, assignment); ok {
				return u, true
			}
			continue
		}
		if unit == "" {
			unit = worker
		}
		if inGroups(g, unit) && WorkerOf(g, unit) == worker {
			return unit, true
		}
	}
	return "", false
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
		for _, w := range GroupWorkers(g) {
			if !seen[w] {
				seen[w] = true
				pending = append(pending, w)
			}
		}
	}
	add(r.Groups)
	for _, wv := range r.Waves {
		add(wv.Groups)
	}
	return r.Halt.Reason, pending, true
}
