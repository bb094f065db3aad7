package runner

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/scheduler"
	"github.com/murphy-chaos/murphy/coordinator/selector"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// A run's units are what it splits into groups, probes, faults and judges: its workers'
// hosts, or, with targets.kubernetes, the pods its node workers offer. Pods are chosen at
// the start from the targets committed with each worker's registration, and the run
// records the worker that acts on each and its address (Groups.workers, .addresses):
// from then on every message about a pod goes to that worker, carrying the pod, and a
// pod that moves to another node is not followed (its recorded worker no longer finds
// it and fails the step, which is the honest outcome).

// nodePrefix marks, in a busy map, a worker whose pods another run holds: a fault on the
// worker's whole host would land under that run's pods.
const nodePrefix = "node:"

// busyOf maps what the active runs other than except hold to the run that holds it:
// their units, and the workers of their pods.
func busyOf(f *fsm.FSM, except string) map[string]string {
	busy := map[string]string{}
	for _, other := range f.ActiveRuns() {
		if other.Id == except {
			continue
		}
		for _, u := range members(other) {
			busy[u] = other.Id
		}
		if len(other.GetGroups().GetWorkers()) > 0 {
			for _, w := range fsm.GroupWorkers(other.Groups) {
				busy[nodePrefix+w] = other.Id
			}
		}
	}
	return busy
}

// Pool is what a run can be planned on: its free candidate units and, for pods, the
// worker and address of each.
type Pool struct {
	Candidates []scheduler.Candidate
	// workers and addresses are set for pods only (Groups.workers, .addresses).
	workers, addresses map[string]string
}

// poolOf lists sp's units that no other run holds (busy may be nil), on connected
// workers, or with registered on every registered worker not declared lost.
func poolOf(f *fsm.FSM, fl *fleet.Fleet, sp *spec.Experiment, busy map[string]string, registered bool) Pool {
	k := sp.GetTargets().GetKubernetes()
	var workerSel, podSel selector.Selector
	if k != nil {
		// Validated at submission; a selector that fails now selects nothing.
		var err error
		if workerSel, err = scheduler.TargetSelector(sp.Targets); err != nil {
			return Pool{}
		}
		if podSel, err = selector.Parse(k.Selector); err != nil {
			return Pool{}
		}
	}
	var p Pool
	for _, w := range f.Workers() {
		if w.State == murphyv1.WorkerState_WORKER_STATE_LOST || (!registered && !fl.Connected(w.Id)) {
			continue
		}
		if k == nil {
			if busy[w.Id] == "" && busy[nodePrefix+w.Id] == "" {
				p.Candidates = append(p.Candidates, scheduler.Candidate{ID: w.Id, Labels: w.Labels})
			}
			continue
		}
		if busy[w.Id] != "" || !workerSel.Matches(w.Labels) {
			continue
		}
		for _, t := range w.Targets {
			if busy[t.Id] != "" || !podMatches(k, podSel, t) {
				continue
			}
			if p.workers == nil {
				p.workers, p.addresses = map[string]string{}, map[string]string{}
			}
			if _, dup := p.workers[t.Id]; dup {
				continue // two workers claim a pod (a node renamed): the first by ID acts
			}
			p.Candidates = append(p.Candidates, scheduler.Candidate{ID: t.Id, Labels: t.Labels})
			p.workers[t.Id], p.addresses[t.Id] = w.Id, t.Address
		}
	}
	return p
}

// podMatches reports whether target t is one of k's pods.
func podMatches(k *murphyv1.KubernetesTargets, sel selector.Selector, t *murphyv1.Target) bool {
	if !strings.HasPrefix(t.Id, podPrefix) {
		return false
	}
	if len(k.Namespaces) > 0 && !slices.Contains(k.Namespaces, t.Labels["namespace"]) {
		return false
	}
	if k.Workload != "" && t.Labels["workload"] != k.Workload {
		return false
	}
	return sel.Matches(t.Labels)
}

// podPrefix starts every pod's unit ID (worker/targets).
const podPrefix = "pod/"

// PlanTargets is the spec's targets as the scheduler sees them: for pods the worker
// selector has already chosen the workers, and the candidates are pods.
func PlanTargets(t *spec.Targets) *spec.Targets {
	if t.GetKubernetes() == nil {
		return t
	}
	c := proto.CloneOf(t)
	c.Selector, c.Match = nil, ""
	return c
}

// Candidates lists the free units of sp on connected workers, as a run started now
// would be planned on (busy may be nil: every unit).
func Candidates(f *fsm.FSM, fl *fleet.Fleet, sp *spec.Experiment, busy map[string]string) []scheduler.Candidate {
	return poolOf(f, fl, sp, busy, false).Candidates
}

// Registered lists sp's units on every registered worker not declared lost, connected
// or not: what a schedule's runs can count on.
func Registered(f *fsm.FSM, sp *spec.Experiment) []scheduler.Candidate {
	return poolOf(f, nil, sp, nil, true).Candidates
}

// groupsOf records plan's groups with, for pods, the worker and address of each unit.
func (p Pool) groupsOf(plan scheduler.Plan) *murphyv1.Groups {
	g := &murphyv1.Groups{Control: plan.Control, Experiment: plan.Experiment, Seed: plan.Seed}
	if p.workers == nil {
		return g
	}
	g.Workers, g.Addresses = map[string]string{}, map[string]string{}
	for _, u := range append(slices.Clone(plan.Experiment), plan.Control...) {
		g.Workers[u] = p.workers[u]
		if a := p.addresses[u]; a != "" {
			g.Addresses[u] = a
		}
	}
	return g
}

// workerOf is the worker that acts on a unit of run.
func workerOf(run *murphyv1.Run, unit string) string { return fsm.WorkerOf(run.GetGroups(), unit) }

// unitFault is the fault a unit receives: for a pod, the step's fault aimed at the pod
// (every pod-level kind takes `pod: NS/NAME` and finds the pod by it at each inject and
// revert); for a worker, the step's fault as it is.
func unitFault(f *murphyv1.FaultSpec, unit string) *murphyv1.FaultSpec {
	pod, ok := strings.CutPrefix(unit, podPrefix)
	if !ok {
		return f
	}
	c := proto.CloneOf(f)
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	c.Params["pod"] = pod
	return c
}

// unitLabels are a unit's labels: a worker's, or the pod's as its worker reported them.
func (r *Runner) unitLabels(run *murphyv1.Run, unit string) map[string]string {
	w := r.cfg.FSM.Worker(workerOf(run, unit))
	if w == nil {
		return nil
	}
	if !strings.HasPrefix(unit, podPrefix) {
		return w.Labels
	}
	for _, t := range w.Targets {
		if t.Id == unit {
			return t.Labels
		}
	}
	return nil
}

// probeUnits groups a run's pods by the worker that probes them, with their addresses;
// nil when the units are workers.
func probeUnits(run *murphyv1.Run) map[string][]*murphyv1.Target {
	g := run.GetGroups()
	if len(g.GetWorkers()) == 0 {
		return nil
	}
	out := map[string][]*murphyv1.Target{}
	for _, u := range members(run) {
		w := fsm.WorkerOf(g, u)
		out[w] = append(out[w], &murphyv1.Target{Id: u, Address: g.GetAddresses()[u]})
	}
	return out
}

// experimentWorkers lists, once each, the workers that act on run's experimental units.
func experimentWorkers(run *murphyv1.Run) []string {
	return fsm.GroupWorkers(&murphyv1.Groups{Experiment: run.GetGroups().GetExperiment(), Workers: run.GetGroups().GetWorkers()})
}

// ownAssignment reports whether id is the assignment of step that worker holds for one
// of its units of run.
func ownAssignment(run *murphyv1.Run, step int32, worker, id string) bool {
	unit, ok := fsm.UnitOf(run.GetGroups(), worker, id)
	return ok && id == assignmentID(run, step, unit)
}
