package coordinator

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/scheduler"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// workerLimitProblems checks a spec against the policy limits the workers it selects
// advertised in their hellos: a step longer than a worker's maxDuration would be cut
// short on that host (and its window would lie to the analysis), and a stress.disk path
// outside a worker's diskPaths would be refused there. Both are refused at submission,
// naming the workers, rather than discovered mid-run. Lost workers are left out: they
// are not part of any run to come.
func workerLimitProblems(sp *spec.Experiment, f *fsm.FSM) []spec.Problem {
	sel, err := scheduler.TargetSelector(sp.Targets)
	if err != nil {
		return nil // the spec's own validation reports it
	}
	var selected []*murphyv1.Worker
	for _, w := range f.Workers() {
		if w.State != murphyv1.WorkerState_WORKER_STATE_LOST && sel.Matches(w.Labels) {
			selected = append(selected, w)
		}
	}
	var out []spec.Problem
	for i, st := range sp.Steps {
		d := st.Fault.GetDuration().AsDuration()
		var short, disk []string
		var cap time.Duration
		for _, w := range selected {
			lim := w.GetLimits()
			if m := lim.GetMaxDuration().AsDuration(); m > 0 && d > m {
				short = append(short, w.Id)
				if cap == 0 || m < cap {
					cap = m
				}
			}
			if st.Fault.GetKind() == "stress.disk" && len(lim.GetDiskPaths()) > 0 && !under(st.Fault.GetParams()["path"], lim.GetDiskPaths()) {
				disk = append(disk, w.Id)
			}
		}
		if len(short) > 0 {
			out = append(out, spec.Problem{
				Field: fmt.Sprintf("steps[%d].duration", i),
				Message: fmt.Sprintf("%s is longer than %s allow%s (their policy's maxDuration, as low as %s): they would revert it early; shorten the step or raise their maxDuration",
					d, workerList(short), plural(len(short)), cap),
			})
		}
		if len(disk) > 0 {
			out = append(out, spec.Problem{
				Field: fmt.Sprintf("steps[%d].params.path", i),
				Message: fmt.Sprintf("%q is outside the directories %s allow%s stress.disk to fill (their policy's diskPaths)",
					st.Fault.GetParams()["path"], workerList(disk), plural(len(disk))),
			})
		}
	}
	return out
}

func under(path string, roots []string) bool {
	p := filepath.Clean(path)
	return slices.ContainsFunc(roots, func(r string) bool {
		r = filepath.Clean(r)
		return p == r || strings.HasPrefix(p, r+string(filepath.Separator))
	})
}

// workerList names up to five workers and counts the rest.
func workerList(ids []string) string {
	slices.Sort(ids)
	if len(ids) == 1 {
		return "worker " + ids[0]
	}
	if len(ids) <= 5 {
		return "workers " + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("workers %s and %d more", strings.Join(ids[:5], ", "), len(ids)-5)
}

func plural(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}
