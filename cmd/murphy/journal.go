package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/coordinator/web"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// printToleranceCheck adds a metric's Chaos Toolkit tolerance result to the text verdict.
func printToleranceCheck(w io.Writer, m *murphyv1.MetricVerdict) {
	c := m.GetCtkTolerance()
	if c == nil {
		return
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "    Chaos Toolkit tolerance %s: before %s (%d of %d baseline samples), after %s (experiment %d of %d, control %d of %d)\n",
		c.Tolerance, met(c.MetBefore), c.BaselineMet, c.BaselineTotal, met(c.MetAfter), c.ExperimentMet, c.ExperimentTotal, c.ControlMet, c.ControlTotal)
}

// The journal mirrors the shape of a Chaos Toolkit journal (chaostoolkit-lib's run
// output), so tooling built on journals can read Murphy runs: status, deviated, the
// steady states before and after, the activities run and the rollbacks.
type journal struct {
	ChaoslibVersion *string          `json:"chaoslib-version"`
	Platform        string           `json:"platform"`
	Node            string           `json:"node"`
	Experiment      map[string]any   `json:"experiment"`
	Start           string           `json:"start"`
	End             string           `json:"end,omitempty"`
	Duration        float64          `json:"duration"`
	Status          string           `json:"status"`
	Deviated        bool             `json:"deviated"`
	SteadyStates    journalStates    `json:"steady_states"`
	Run             []journalRun     `json:"run"`
	Rollbacks       []journalRun     `json:"rollbacks"`
	Extensions      []map[string]any `json:"extensions"`
}

type journalStates struct {
	Before *journalState `json:"before"`
	After  *journalState `json:"after"`
	During []any         `json:"during"`
}

type journalState struct {
	SteadyStateMet bool           `json:"steady_state_met"`
	Probes         []journalProbe `json:"probes"`
}

type journalProbe struct {
	Activity     map[string]any `json:"activity"`
	Output       map[string]any `json:"output"`
	Status       string         `json:"status"`
	Start        string         `json:"start"`
	End          string         `json:"end"`
	Duration     float64        `json:"duration"`
	ToleranceMet bool           `json:"tolerance_met"`
}

type journalRun struct {
	Activity  map[string]any `json:"activity"`
	Output    any            `json:"output"`
	Status    string         `json:"status"`
	Exception []string       `json:"exception,omitempty"`
	Start     string         `json:"start"`
	End       string         `json:"end,omitempty"`
	Duration  float64        `json:"duration"`
}

const journalTime = "2006-01-02T15:04:05.000000"

func jtime(t interface{ AsTime() time.Time }) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(journalTime)
}

// writeJournal writes the run as a Chaos Toolkit journal.
func writeJournal(w io.Writer, r *murphyv1.Run) error {
	sp, err := spec.Of(r)
	if err != nil {
		return err
	}
	j := journal{
		Platform:   "murphy",
		Node:       r.SubmittedBy,
		Experiment: map[string]any{"title": sp.Name, "description": sp.Description},
		Start:      jtime(r.CreatedAt),
		Run:        []journalRun{},
		Rollbacks:  []journalRun{},
		Extensions: []map[string]any{{"name": "murphy", "run_id": r.Id, "phase": r.Phase.String(), "verdict": web.Outcome(r.Verdict.GetOutcome())}},
	}
	if r.EndedAt != nil {
		j.End = jtime(r.EndedAt)
		j.Duration = r.EndedAt.AsTime().Sub(r.CreatedAt.AsTime()).Seconds()
	}
	switch r.Phase {
	case murphyv1.RunPhase_RUN_PHASE_COMPLETED:
		j.Status = "completed"
	case murphyv1.RunPhase_RUN_PHASE_HALTED:
		j.Status = "interrupted"
	case murphyv1.RunPhase_RUN_PHASE_FAILED:
		j.Status = "failed"
	default:
		j.Status = "running"
	}
	// A spec with no metrics (a Chaos Toolkit experiment without a steady-state
	// hypothesis) has no steady states, which chaoslib writes as null.
	if v := r.Verdict; v != nil && len(sp.Hypothesis.Metrics) > 0 {
		before := &journalState{SteadyStateMet: true, Probes: []journalProbe{}}
		after := &journalState{SteadyStateMet: true, Probes: []journalProbe{}}
		for i, m := range v.Metrics {
			act := map[string]any{"type": "probe", "name": m.Name}
			if i < len(sp.Hypothesis.Metrics) {
				act["provider"] = spec.SourceText(sp.Hypothesis.Metrics[i].Source)
			}
			metBefore, metAfter := true, m.Outcome != murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED
			out := map[string]any{"murphy_outcome": metricOutcomeName(m.Outcome), "reason": m.Reason,
				"control_median": m.ControlMedian, "experiment_median": m.ExperimentMedian, "n_control": m.NControl, "n_experiment": m.NExperiment}
			if c := m.CtkTolerance; c != nil {
				act["tolerance"] = json.RawMessage(c.Tolerance)
				metBefore, metAfter = c.MetBefore, metAfter && c.MetAfter
				out["baseline_met"], out["baseline_total"] = c.BaselineMet, c.BaselineTotal
				out["experiment_met"], out["experiment_total"] = c.ExperimentMet, c.ExperimentTotal
				out["control_met"], out["control_total"] = c.ControlMet, c.ControlTotal
			}
			probe := func(met bool, start, end interface{ AsTime() time.Time }) journalProbe {
				return journalProbe{Activity: act, Output: out, Status: "succeeded", Start: jtime(start), End: jtime(end),
					Duration: end.AsTime().Sub(start.AsTime()).Seconds(), ToleranceMet: met}
			}
			before.Probes = append(before.Probes, probe(metBefore, r.CreatedAt, v.WindowStart))
			after.Probes = append(after.Probes, probe(metAfter, v.WindowStart, v.WindowEnd))
			before.SteadyStateMet = before.SteadyStateMet && metBefore
			after.SteadyStateMet = after.SteadyStateMet && metAfter
		}
		j.SteadyStates.Before, j.SteadyStates.After = before, after
		j.Deviated = !after.SteadyStateMet || v.Outcome == murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED
		if j.Deviated {
			j.Status = "failed"
		}
	}
	j.SteadyStates.During = []any{}
	for i, st := range r.Steps {
		jr := journalRun{
			Activity: map[string]any{"type": "action", "name": fmt.Sprintf("step-%d-%s", i+1, st.Fault.GetKind()), "provider": map[string]any{"type": "murphy", "fault": st.Fault.GetKind(), "params": st.Fault.GetParams()}},
			Output:   map[string]any{"injected": st.Injected, "failed": st.Failed},
			Status:   "succeeded",
			Start:    jtime(st.StartedAt),
			End:      jtime(st.EndedAt),
		}
		if st.EndedAt != nil {
			jr.Duration = st.EndedAt.AsTime().Sub(st.StartedAt.AsTime()).Seconds()
		}
		if len(st.Failed) > 0 {
			jr.Status, jr.Exception = "failed", []string{st.Error}
		}
		j.Run = append(j.Run, jr)
	}
	for _, rb := range r.Rollbacks {
		jr := journalRun{
			Activity: map[string]any{"type": "action", "name": fmt.Sprintf("rollback-%d-%s", rb.Index+1, rb.Fault.GetKind()), "provider": map[string]any{"type": "murphy", "fault": rb.Fault.GetKind(), "params": rb.Fault.GetParams()}},
			Output:   map[string]any{"worker": rb.WorkerId},
			Status:   "succeeded",
			Start:    jtime(rb.At),
			End:      jtime(rb.At),
		}
		if !rb.Ok {
			jr.Status, jr.Exception = "failed", []string{rb.Error}
		}
		j.Rollbacks = append(j.Rollbacks, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

func journalCmd(cmd interface {
	OutOrStdout() io.Writer
	Context() context.Context
}, cf *clientFlags, id string) error {
	c, err := dial(cf)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := c.ctx(cmd.Context())
	defer cancel()
	resp, err := c.exp.GetRun(ctx, &murphyv1.GetRunRequest{RunId: id})
	if err != nil {
		return c.explain(err)
	}
	return writeJournal(cmd.OutOrStdout(), resp.Run)
}
