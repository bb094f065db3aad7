package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/web"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func metricOutcomeName(o murphyv1.MetricOutcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "METRIC_OUTCOME_"))
}

// num formats a measurement as the pages do.
func num(v float64) string { return web.Num(v) }

func pct(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) }

func ts(t interface{ AsTime() time.Time }) string {
	return t.AsTime().Local().Format(time.DateTime)
}

func printRun(w io.Writer, r *murphyv1.Run) {
	fmt.Fprintf(w, "Run         %s\n", r.Id)
	fmt.Fprintf(w, "Experiment  %s (spec digest %s)\n", r.Experiment, short(r.SpecDigest))
	fmt.Fprintf(w, "Phase       %s since %s\n", fsm.PhaseName(r.Phase), ts(r.PhaseSince))
	fmt.Fprintf(w, "Submitted   %s by %s\n", ts(r.CreatedAt), r.SubmittedBy)
	if g := r.Groups; g != nil {
		fmt.Fprintf(w, "Experiment  %s\n", unitsText(g, g.Experiment))
		fmt.Fprintf(w, "Control     %s\n", unitsText(g, g.Control))
		fmt.Fprintf(w, "Seed        %d\n", g.Seed)
	}
	for i, wv := range r.Waves {
		fmt.Fprintf(w, "Wave %d      %s, %d experimental vs %d control: %s: %s\n", i+1, wv.Level, len(wv.Groups.GetExperiment()), len(wv.Groups.GetControl()), web.Outcome(wv.Verdict.GetOutcome()), wv.Verdict.GetReason())
	}
	if r.WaveLevel != "" && r.Verdict == nil {
		fmt.Fprintf(w, "Wave %d      %s (current)\n", len(r.Waves)+1, r.WaveLevel)
	}
	for _, s := range r.Steps {
		end := "active"
		if s.EndedAt != nil {
			end = "ended " + ts(s.EndedAt)
		}
		fmt.Fprintf(w, "Step %d      %s %v for %s: started %s, %s, injected on %d", s.Index+1, s.Fault.GetKind(), s.Fault.GetParams(), s.Fault.GetDuration().AsDuration(), ts(s.StartedAt), end, len(s.Injected))
		if len(s.Failed) > 0 {
			fmt.Fprintf(w, ", failed on %d (%s)", len(s.Failed), s.Error)
		}
		fmt.Fprintln(w)
	}
	// Workers' states are not in the run; a lost worker shows as a step over with no
	// confirmed revert, which is what the CLI can tell from the run alone.
	rows, unconfirmed := web.FaultWindows(r, nil)
	web.FaultWindowsText(w, rows, unconfirmed, "  ")
	if h := r.Halt; h != nil {
		fmt.Fprintf(w, "Halted      %s by %s: %s\n", ts(h.At), h.By, h.Reason)
		if h.Guardrail != "" {
			fmt.Fprintf(w, "  evidence  metric %s, guardrail %s, threshold %s, first breach %s (%s before the halt), values %v\n",
				h.Metric, h.Guardrail, num(h.Threshold), ts(h.FirstBreach), h.At.AsTime().Sub(h.FirstBreach.AsTime()).Round(time.Millisecond), h.Values)
		}
		web.HaltHostsText(w, web.HaltHosts(r), "  ")
		for _, rv := range h.Reverts {
			fmt.Fprintf(w, "  reverted  %s after %s (%s)\n", rv.WorkerId, rv.At.AsTime().Sub(h.At.AsTime()).Round(time.Millisecond), strings.ToLower(strings.TrimPrefix(rv.Cause.String(), "REVERT_CAUSE_")))
		}
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Error       %s\n", r.Error)
	}
	if r.Verdict != nil {
		fmt.Fprintln(w)
		printVerdict(w, r)
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func printVerdict(w io.Writer, r *murphyv1.Run) {
	v := r.Verdict
	if v == nil {
		switch r.Phase {
		case murphyv1.RunPhase_RUN_PHASE_HALTED:
			printHalt(w, r)
		case murphyv1.RunPhase_RUN_PHASE_FAILED:
			fmt.Fprintf(w, "Run %s failed: %s (no verdict)\n", r.Id, r.Error)
		default:
			fmt.Fprintf(w, "Run %s is %s; no verdict yet\n", r.Id, fsm.PhaseName(r.Phase))
		}
		return
	}
	fmt.Fprintf(w, "Verdict: hypothesis %s\n  %s\n", strings.ToUpper(web.Outcome(v.Outcome)), v.Reason)
	if line := web.BeforeFaultText(v); line != "" {
		fmt.Fprintf(w, "  %s\n", line)
		fmt.Fprintf(w, "  baseline %s to %s, confidence %.0f%%\n", ts(v.WindowStart), ts(v.WindowEnd), 100*v.Confidence)
	} else {
		fmt.Fprintf(w, "  window %s to %s, confidence %.0f%%\n", ts(v.WindowStart), ts(v.WindowEnd), 100*v.Confidence)
	}
	for _, m := range v.Metrics {
		crit := ""
		if m.Critical {
			crit = ", critical"
		}
		fmt.Fprintf(w, "\n  %s (%s is harmful, tolerance %s%s): %s\n", m.Name, m.Direction, m.Tolerance, crit, metricOutcomeName(m.Outcome))
		fmt.Fprintf(w, "    %s\n", m.Reason)
		if m.Unit == web.UnitTarget {
			printTargetMetric(w, m, v)
			continue
		}
		fmt.Fprintf(w, "    control median %s (n=%d), experiment median %s (n=%d)\n", num(m.ControlMedian), m.NControl, num(m.ExperimentMedian), m.NExperiment)
		fmt.Fprintf(w, "    shift %s (CI %s to %s), relative %s (CI %s to %s)\n", num(m.Shift), num(m.ShiftLow), num(m.ShiftHigh), pct(m.RelChange), pct(m.RelLow), pct(m.RelHigh))
		if m.Method == "" {
			// No test ran (the reason above says why); zeros printed as statistics would
			// read as p=0, the strongest evidence there is.
			fmt.Fprintf(w, "    Mann-Whitney and Welch not computed; lag-1 autocorrelation %.2f / %.2f\n", m.Lag1Control, m.Lag1Experiment)
		} else {
			fmt.Fprintf(w, "    Mann-Whitney U=%s p=%.3g (%s); Welch t=%.3g df=%.1f p=%.3g; lag-1 autocorrelation %.2f / %.2f\n", num(m.U), m.P, m.Method, m.WelchT, m.WelchDf, m.WelchP, m.Lag1Control, m.Lag1Experiment)
		}
		if m.SamplesNeeded > 0 {
			fmt.Fprintf(w, "    about %d samples per group would likely settle it\n", m.SamplesNeeded)
		}
		for _, warn := range m.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
		printToleranceCheck(w, m)
	}
}

func printVerdictMarkdown(w io.Writer, r *murphyv1.Run) {
	fmt.Fprintf(w, "## Run `%s` (%s)\n\n", r.Id, r.Experiment)
	v := r.Verdict
	if v == nil {
		fmt.Fprintf(w, "No verdict: the run is %s.\n", fsm.PhaseName(r.Phase))
		if hosts := web.HaltHosts(r); hosts != nil {
			fmt.Fprintf(w, "\nHalted by %s: %s\n", r.Halt.GetBy(), r.Halt.GetReason())
			web.HaltHostsMarkdown(w, hosts)
		}
		return
	}
	fmt.Fprintf(w, "**Hypothesis %s.** %s\n\n", web.Outcome(v.Outcome), v.Reason)
	if line := web.BeforeFaultText(v); line != "" {
		fmt.Fprintf(w, "**%s**\n\n", line)
	}
	// A spec with no metrics (metrics: []) has no table: the reason says why.
	if len(v.Metrics) > 0 {
		web.VerdictTableMarkdown(w, web.VerdictRows(v))
		fmt.Fprintln(w)
	}
	for _, m := range v.Metrics {
		fmt.Fprintf(w, "- **%s**: %s\n", m.Name, m.Reason)
	}
	for _, m := range v.Metrics {
		web.HostsMarkdown(w, web.NewHosts(m, v.Confidence), "###")
	}
}

// printTargetMetric writes the numbers of a metric decided host by host: the groups'
// levels, the Welch test on the hosts, which hosts drove a deviation, how many would
// settle an open question, every host's change, and the pooled view as a secondary one.
func printTargetMetric(w io.Writer, m *murphyv1.MetricVerdict, v *murphyv1.Verdict) {
	if m.WelchDf > 0 {
		fmt.Fprintf(w, "    Welch t=%.3g df=%.1f p=%.3g on the hosts' changes (harmful-direction p %.3g)\n", m.WelchT, m.WelchDf, m.WelchP, m.P)
	} else if !v.BeforeFault {
		fmt.Fprintf(w, "    Welch's t on hosts not computed (%d control and %d experimental hosts)\n", m.TargetsControl, m.TargetsExperiment)
	}
	if hosts := web.NewHosts(m, v.Confidence); hosts != nil {
		web.HostsText(w, hosts, "    ")
	} else if m.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE && m.TargetsNeeded > 0 && !v.BeforeFault {
		fmt.Fprintf(w, "    about %d hosts per group would likely settle it\n", m.TargetsNeeded)
	}
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "    warning: %s\n", warn)
	}
	printToleranceCheck(w, m)
}

// printHalt explains a halted run: why, on what evidence, and how each worker reverted.
func printHalt(w io.Writer, r *murphyv1.Run) {
	h := r.Halt
	fmt.Fprintf(w, "Run %s was HALTED at %s by %s (no verdict)\n  %s\n", r.Id, ts(h.At), h.By, h.Reason)
	if h.Guardrail != "" {
		fmt.Fprintf(w, "  guardrail %s on %s: threshold %s, first breaching sample %s, halt committed %s later\n",
			h.Guardrail, h.Metric, num(h.Threshold), ts(h.FirstBreach), h.At.AsTime().Sub(h.FirstBreach.AsTime()).Round(time.Millisecond))
		if len(h.Values) > 0 {
			fmt.Fprintf(w, "  recent values %v\n", h.Values)
		}
	}
	web.HaltHostsText(w, web.HaltHosts(r), "  ")
	fmt.Fprintf(w, "  reverted on %d of %d workers\n", len(h.Reverts), len(fsm.GroupWorkers(r.Groups)))
	for _, rv := range h.Reverts {
		fmt.Fprintf(w, "    %s after %s (%s)\n", rv.WorkerId, rv.At.AsTime().Sub(h.At.AsTime()).Round(time.Millisecond), strings.ToLower(strings.TrimPrefix(rv.Cause.String(), "REVERT_CAUSE_")))
	}
}

// unitsText lists a group's units: workers, or pods with the worker of each.
func unitsText(g *murphyv1.Groups, units []string) string {
	if len(g.GetWorkers()) == 0 {
		return fmt.Sprintf("%d workers: %s", len(units), strings.Join(units, ", "))
	}
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = fmt.Sprintf("%s (on %s)", u, fsm.WorkerOf(g, u))
	}
	return fmt.Sprintf("%d pods: %s", len(units), strings.Join(out, ", "))
}
