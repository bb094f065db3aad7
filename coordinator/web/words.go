package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Outcome is the verdict's outcome in one lower-case word ("refuted"), or "-".
func Outcome(o murphyv1.VerdictOutcome) string {
	if o == murphyv1.VerdictOutcome_VERDICT_OUTCOME_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(o.String(), "VERDICT_OUTCOME_"))
}

func metricOutcome(o murphyv1.MetricOutcome) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(o.String(), "METRIC_OUTCOME_")), "_", " ")
}

// tolerance parses "relative 0.1" / "absolute 5".
func tolerance(s string) (value float64, relative, ok bool) {
	kind, num, found := strings.Cut(s, " ")
	if !found {
		return 0, false, false
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false, false
	}
	return v, kind == "relative", true
}

// Num formats a measurement compactly (latencies are small numbers of seconds).
func Num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case v != 0 && math.Abs(v) < 0.01:
		return fmt.Sprintf("%.3g", v)
	default:
		return fmt.Sprintf("%.4g", v)
	}
}

func percent(v float64) string {
	p := 100 * v
	switch {
	case math.Abs(p) >= 100:
		return fmt.Sprintf("%.0f%%", p)
	case math.Abs(p) >= 10:
		return fmt.Sprintf("%.0f%%", p)
	default:
		return fmt.Sprintf("%.1f%%", p)
	}
}

// sharePoints writes a difference of shares of successes in percentage points.
func sharePoints(v float64) string {
	s := fmt.Sprintf("%.2g", 100*v)
	if s == "1" || s == "-1" {
		return s + " point"
	}
	return s + " points"
}

// interval writes "28–41%" or "-3% to 5%".
func interval(lo, hi float64, f func(float64) string) string {
	if lo >= 0 && hi >= 0 {
		a, b := f(lo), f(hi)
		for _, unit := range []string{"%", " points"} {
			if strings.HasSuffix(a, unit) && strings.HasSuffix(b, unit) {
				a = strings.TrimSuffix(a, unit)
			}
		}
		return a + "–" + b
	}
	return f(lo) + " to " + f(hi)
}

// MetricSentence says what happened to one metric in plain words: "latency rose 34%
// (95% CI 28–41%), beyond the 10% tolerance".
func MetricSentence(m *murphyv1.MetricVerdict, confidence float64) string {
	if !hasEstimate(m) {
		return fmt.Sprintf("%s: %s", m.Name, strings.TrimSpace(m.Reason))
	}
	tol, rel, ok := tolerance(m.Tolerance)
	change, lo, hi := m.Shift, m.ShiftLow, m.ShiftHigh
	format := Num
	if m.Kind == "proportion" {
		format = sharePoints
	}
	if rel || !ok {
		change, lo, hi = m.RelChange, m.RelLow, m.RelHigh
		format = percent
	}
	verb := "did not change"
	switch {
	case change > 0:
		verb = "rose"
	case change < 0:
		verb = "fell"
	}
	abs := func(v float64) string { return format(math.Abs(v)) }
	var b strings.Builder
	b.WriteString(m.Name + " " + verb)
	if change != 0 {
		if rel || !ok {
			b.WriteString(" " + abs(change))
		} else {
			b.WriteString(" by " + abs(change))
		}
	}
	if confidence == 0 {
		confidence = 0.95
	}
	hosts := ""
	if m.Unit == UnitTarget {
		hosts = fmt.Sprintf(", %d vs %d hosts", m.TargetsExperiment, m.TargetsControl)
	}
	fmt.Fprintf(&b, " (%.0f%% CI %s%s)", 100*confidence, interval(lo, hi, format), hosts)
	tolText := ""
	if ok {
		tolText = " the " + format(tol) + " tolerance"
		if !rel {
			tolText = " the tolerance of " + format(tol)
		}
	}
	switch m.Outcome {
	case murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED:
		b.WriteString(", beyond" + tolText)
	case murphyv1.MetricOutcome_METRIC_OUTCOME_WITHIN_TOLERANCE:
		b.WriteString(", within" + tolText)
	case murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE:
		b.WriteString(": not enough evidence either way against" + tolText)
	}
	return b.String()
}

// Headline is the verdict in one sentence: "Hypothesis refuted: latency rose 34% (95% CI
// 28–41%), beyond the 10% tolerance." It explains runs without a verdict too.
func Headline(r *murphyv1.Run) string {
	v := r.Verdict
	if v == nil {
		switch r.Phase {
		case murphyv1.RunPhase_RUN_PHASE_HALTED:
			return fmt.Sprintf("Halted by %s: %s. No verdict.", HaltActor(r.Halt), r.Halt.GetReason())
		case murphyv1.RunPhase_RUN_PHASE_FAILED:
			return fmt.Sprintf("Failed: %s. No verdict.", r.Error)
		}
		return fmt.Sprintf("The run is %s; no verdict yet.", fsm.PhaseName(r.Phase))
	}
	if v.BeforeFault {
		return "Hypothesis " + Outcome(v.Outcome) + ". " + BeforeFaultText(v)
	}
	var parts []string
	for _, m := range v.Metrics {
		if v.Outcome != murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED || m.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_DEVIATED {
			parts = append(parts, MetricSentence(m, v.Confidence))
		}
	}
	head := "Hypothesis " + Outcome(v.Outcome)
	if len(parts) == 0 {
		return head + ": " + v.Reason
	}
	return head + ": " + strings.Join(parts, "; ") + "."
}

func since(from, to time.Time) string {
	d := to.Sub(from)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func causeName(c murphyv1.RevertCause) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "REVERT_CAUSE_"))
}

// Badge is a run's lead signal: the verdict when there is one, otherwise how the run
// ended, otherwise that it is still running. The phase is shown beside it, secondary.
type Badge struct {
	Text  string // what the badge says
	Class string // upheld, refuted, inconclusive, halted, failed, running or none
}

// RunBadge is run's verdict-first badge.
func RunBadge(run *murphyv1.Run) Badge {
	switch run.GetPhase() {
	case murphyv1.RunPhase_RUN_PHASE_HALTED:
		return Badge{"halted", "halted"}
	case murphyv1.RunPhase_RUN_PHASE_FAILED:
		return Badge{"failed", "failed"}
	}
	switch o := Outcome(run.GetVerdict().GetOutcome()); o {
	case "upheld", "refuted", "inconclusive":
		return Badge{o, o}
	}
	if !fsm.Terminal(run.GetPhase()) {
		return Badge{"running", "running"}
	}
	return Badge{"no verdict", "none"}
}

// HumanDuration says d the way a person reads it: "850 µs", "25 ms", "1.2 s", "3m20s".
func HumanDuration(d time.Duration) string {
	switch a := d.Abs(); {
	case a < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case a < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case a < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	case a < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// PValue prints a p-value; one below the smallest normal float64 (or computed as 0) is
// "< 1e-300": a literal 0 would read as certainty.
func PValue(p float64) string {
	if p < 1e-300 {
		return "< 1e-300"
	}
	return fmt.Sprintf("%.3g", p)
}

// HaltActor is who halted: a guardrail by its name and metric, otherwise the caller.
func HaltActor(h *murphyv1.HaltRecord) string {
	if h.GetGuardrail() != "" {
		return "the guardrail “" + h.GetGuardrail() + "” on " + h.GetMetric()
	}
	return Who(h.GetBy())
}

// Who is a caller as a person reads it: "operator:olga", without the address and
// ephemeral port the call came from (the audit trail keeps them).
func Who(by string) string {
	if i := strings.LastIndex(by, "@"); i > 0 {
		return by[:i]
	}
	return by
}

// Capital starts s with a capital letter, for a reason that begins a sentence.
func Capital(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}
