package runner

import (
	"fmt"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// ServiceLabel is the label whose value names the service a schedule's runs target, for
// the budgets.
const ServiceLabel = "service"

// Budget caps what schedules may spend per UTC day on the runs that target one service:
// a team's chaos allowance, drawn from by every schedule aimed at it. A zero field does
// not cap.
type Budget struct {
	Service string
	// Runs is the most runs fired per day.
	Runs int
	// FaultMinutes is the most fault time per day: each step's duration times the
	// experimental workers it ran on, summed.
	FaultMinutes float64
}

// Limits are the cluster's limits on continuous chaos as a whole.
type Limits struct {
	// MaxActive is the most scheduled runs active at once across schedules; 0: none.
	MaxActive int
	Budgets   []Budget
}

// Usage is how much of the limits is in use at an instant.
type Usage struct {
	Active  int
	Budgets []BudgetUse
}

// BudgetUse is one budget's spending on a UTC day.
type BudgetUse struct {
	Budget
	Day         string
	RunsUsed    int
	MinutesUsed float64
}

// UsageOf measures the limits against the runs in f on now's UTC day. Runs that never
// formed their groups (the fleet could not run them, or they were cancelled) spend
// nothing.
func UsageOf(f *fsm.FSM, l Limits, now time.Time) Usage {
	u := Usage{}
	day := now.UTC().Format(time.DateOnly)
	for _, b := range l.Budgets {
		u.Budgets = append(u.Budgets, BudgetUse{Budget: b, Day: day})
	}
	for _, r := range f.Runs() {
		if r.ScheduleId == "" {
			continue
		}
		if !fsm.Terminal(r.Phase) {
			u.Active++
		}
		if len(u.Budgets) == 0 || r.Groups == nil || r.ScheduleSlot.AsTime().UTC().Format(time.DateOnly) != day {
			continue
		}
		svc := serviceOfRun(r)
		for i := range u.Budgets {
			if u.Budgets[i].Service == svc {
				u.Budgets[i].RunsUsed++
				u.Budgets[i].MinutesUsed += faultMinutes(r)
			}
		}
	}
	return u
}

// faultMinutes is the fault time a run has spent: started steps' durations (cut short
// where they ended early) times the experimental workers.
func faultMinutes(r *murphyv1.Run) float64 {
	n := float64(len(r.Groups.GetExperiment()))
	total := 0.0
	for _, st := range r.Steps {
		d := st.GetFault().GetDuration().AsDuration()
		if st.EndedAt != nil && st.StartedAt != nil {
			d = min(d, st.EndedAt.AsTime().Sub(st.StartedAt.AsTime()))
		}
		total += d.Minutes() * n
	}
	return total
}

// plannedMinutes is the fault time a spec asks for: every step's duration times the
// experimental count (one worker when the count is a share).
func plannedMinutes(sp *spec.Experiment) float64 {
	n := float64(max(1, sp.Targets.Experiment.Count))
	total := 0.0
	for _, st := range sp.Steps {
		total += st.Fault.GetDuration().AsDuration().Minutes() * n
	}
	return total
}

func serviceOf(t *spec.Targets) string { return t.GetSelector()[ServiceLabel] }

func serviceOfRun(r *murphyv1.Run) string {
	sp, err := spec.Of(r)
	if err != nil {
		return ""
	}
	return serviceOf(sp.Targets)
}

// overLimits says why a slot of the schedule compiled as c may not fire under the
// cluster's limits, or returns "". Runs of the schedule itself that overlap: replace
// would halt are not counted against the active limit.
func (r *Runner) overLimits(s *murphyv1.Schedule, c compiled) string {
	l := r.cfg.ScheduleLimits
	if l.MaxActive == 0 && len(l.Budgets) == 0 {
		return ""
	}
	u := UsageOf(r.cfg.FSM, l, r.cfg.Now())
	if l.MaxActive > 0 {
		active := u.Active
		if c.spec.Schedule.OverlapOrDefault() == spec.OverlapReplace {
			for _, run := range r.cfg.FSM.ActiveRuns() {
				if run.ScheduleId == s.Id {
					active--
				}
			}
		}
		if active >= l.MaxActive {
			return fmt.Sprintf("the cluster's limit of %d scheduled runs active at once is reached", l.MaxActive)
		}
	}
	svc := serviceOf(c.spec.Targets)
	for _, b := range u.Budgets {
		if b.Service != svc {
			continue
		}
		if b.Runs > 0 && b.RunsUsed >= b.Runs {
			return fmt.Sprintf("the daily budget of service %s is spent: %d of %d runs on %s (UTC)", svc, b.RunsUsed, b.Runs, b.Day)
		}
		if want := plannedMinutes(c.spec); b.FaultMinutes > 0 && b.MinutesUsed+want > b.FaultMinutes {
			return fmt.Sprintf("the daily budget of service %s cannot cover it: %.1f of %.1f fault-minutes spent on %s (UTC), the run needs %.1f", svc, b.MinutesUsed, b.FaultMinutes, b.Day, want)
		}
	}
	return ""
}
