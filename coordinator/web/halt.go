package web

import (
	"fmt"
	"slices"
	"strings"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// HaltReverts is how a halted run's faults came off, as the workers confirmed them.
// Only workers that held a fault count: a control worker, or an experimental one whose
// injection never happened, had nothing to revert.
type HaltReverts struct {
	Rows []RevertRow
	// Held is how many workers held a fault when the run halted; Confirmed how many of
	// them have confirmed their revert; Pending names the others.
	Held, Confirmed int
	Pending         []string
	// Slowest is the longest time from the halt to a confirmed revert.
	Slowest time.Duration
}

// RevertRow is one worker's confirmed revert.
type RevertRow struct {
	Worker, At, After, Cause string
}

// NewHaltReverts summarises run's reverts; nil when the run was not halted.
func NewHaltReverts(run *murphyv1.Run) *HaltReverts {
	h := run.GetHalt()
	if h == nil {
		return nil
	}
	var held []string
	for _, st := range run.GetSteps() {
		for _, id := range st.GetInjected() {
			if !slices.Contains(held, id) {
				held = append(held, id)
			}
		}
		for _, w := range st.GetWindows() {
			if w.GetInjectedAt() != nil && !slices.Contains(held, w.GetWorkerId()) {
				held = append(held, w.GetWorkerId())
			}
		}
	}
	slices.Sort(held)
	out := &HaltReverts{Held: len(held)}
	done := map[string]bool{}
	for _, rv := range h.GetReverts() {
		if !slices.Contains(held, rv.GetWorkerId()) || done[rv.GetWorkerId()] {
			continue
		}
		done[rv.GetWorkerId()] = true
		after := rv.GetAt().AsTime().Sub(h.GetAt().AsTime())
		out.Slowest = max(out.Slowest, after)
		out.Rows = append(out.Rows, RevertRow{Worker: rv.GetWorkerId(), At: rv.GetAt().AsTime().UTC().Format("15:04:05.000Z"), After: HumanDuration(after), Cause: causeName(rv.GetCause())})
	}
	slices.SortFunc(out.Rows, func(a, b RevertRow) int { return strings.Compare(a.Worker, b.Worker) })
	out.Confirmed = len(done)
	for _, id := range held {
		if !done[id] {
			out.Pending = append(out.Pending, id)
		}
	}
	return out
}

// Waiting reports whether a worker that held a fault has not yet confirmed its revert.
func (h *HaltReverts) Waiting() bool { return h != nil && len(h.Pending) > 0 }

// Summary says how the reverts went in one line.
func (h *HaltReverts) Summary() string {
	workers := func(n int) string {
		if n == 1 {
			return "experimental worker"
		}
		return "experimental workers"
	}
	switch {
	case h.Held == 0:
		return "No worker held a fault when the run halted: nothing to revert."
	case h.Confirmed == h.Held:
		return fmt.Sprintf("%d of %d %s reverted, slowest %s.", h.Confirmed, h.Held, workers(h.Held), HumanDuration(h.Slowest))
	default:
		return fmt.Sprintf("%d of %d %s reverted so far; waiting for %s.", h.Confirmed, h.Held, workers(h.Held), strings.Join(h.Pending, ", "))
	}
}
