package web

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The per-host view. A target-level verdict is decided on hosts (a worker's host, later
// a pod), each compared with its own baseline: the pages, the reports and the CLI show
// every host's change, which hosts drove a deviation, how many hosts would settle an
// open question, and the every-sample-independent pooled view only as a labelled
// secondary view.

// UnitTarget is MetricVerdict.Unit for a metric decided host by host.
const UnitTarget = "target"

// maxHostsNeeded is the analysis's cap on the planning figure: no realistic number.
const maxHostsNeeded = 100_000

// PooledHeading labels the secondary view wherever it appears.
const PooledHeading = "Pooled view — every sample treated as independent; does not decide"

// HostRow is one host's line in a per-host table, formatted.
type HostRow struct {
	ID, Group            string
	NBaseline, NWindow   int64
	Baseline, Window     string
	Change               string
	Beyond, Experimental bool
	// Recoveries lists a time_to_recover metric's outages in the window ("0.06 s, 0.13 s;
	// still short after 2.5 s"); "none" when there was none.
	Recoveries string
}

// Hosts is the per-host view of one target-level metric of a verdict, or of a deviation
// guardrail's halting look.
type Hosts struct {
	Name string
	// Count reads "6 vs 6 hosts (experiment vs control)".
	Count string
	// Method and Scale say what decided and on which scale, in words.
	Method, Scale string
	// Estimate is the decided change with its interval ("+34.0% (95% CI +28.0% to
	// +41.0%)"); empty when no test ran.
	Estimate string
	// Levels are the groups' window levels in metric units (shares for proportions).
	Levels string
	// Tolerance in words: "+10% (an increase is harmful)".
	Tolerance string
	// Beyond lists the experimental hosts beyond the tolerance on their own.
	Beyond []string
	// Needed says how many hosts per group would likely settle an inconclusive metric.
	Needed string
	Rows   []HostRow
	Plot   template.HTML
	// Pooled is the secondary view in one sentence; empty when there is none.
	Pooled string
	// Proportion: levels are shares of successes, changes percentage points.
	Proportion bool
	// Recoveries: the rows list each host's recovery times (a time_to_recover metric).
	Recoveries bool
	// Noun names the units: "host", or "pod" for a run of pods.
	Noun string
}

// Heading is the units' column heading: "Host" or "Pod".
func (h *Hosts) Heading() string { return strings.ToUpper(h.Noun[:1]) + h.Noun[1:] }

// unitNoun is "pod" when every unit is a pod, "host" otherwise.
func unitNoun(ts []*murphyv1.TargetSummary) string {
	for _, t := range ts {
		if !strings.HasPrefix(t.Id, "pod/") {
			return "host"
		}
	}
	if len(ts) == 0 {
		return "host"
	}
	return "pod"
}

// BeyondText is "beyond the tolerance on their own: w3, w5", or empty.
func (h *Hosts) BeyondText() string {
	if h == nil || len(h.Beyond) == 0 {
		return ""
	}
	return "beyond the tolerance on their own: " + strings.Join(h.Beyond, ", ")
}

// hostGeometry is what placing one metric's hosts needs besides the hosts themselves.
type hostGeometry struct {
	// Log: levels are geometric and changes ratios (window/baseline − 1).
	Log bool
	// Levels: no host had a baseline, so hosts are compared on their window levels.
	Levels     bool
	Proportion bool
	Tol        float64
	Relative   bool
	HasTol     bool
	Direction  string
}

// at is a host's position on the analysis scale: a log ratio or a difference (levels
// without baselines).
func (g hostGeometry) at(t *murphyv1.TargetSummary) float64 {
	switch {
	case g.Levels && g.Log:
		return math.Log(t.Window)
	case g.Levels:
		return t.Window
	case g.Log:
		return math.Log1p(t.Change)
	}
	return t.Change
}

// shown maps a value on the analysis scale to what the plot's axis shows: a change
// (ratio − 1 on the log scale), or a level.
func (g hostGeometry) shown(d float64) float64 {
	switch {
	case g.Levels && g.Log:
		return math.Exp(d)
	case g.Log:
		return math.Expm1(d)
	}
	return d
}

// value is a host's position on the axis.
func (g hostGeometry) value(t *murphyv1.TargetSummary) float64 {
	if g.Levels {
		return t.Window
	}
	return t.Change
}

// format writes a value of the axis: a level, or a change (a percentage on the log
// scale, percentage points for proportions, metric units otherwise).
func (g hostGeometry) format(v float64) string {
	switch {
	case g.Levels:
		return level(v, g.Proportion)
	case g.Log:
		return signedPercent(v)
	case g.Proportion:
		return points(v)
	}
	return signedNum(v)
}

// bounds are the control group's mean change and the tolerance boundaries around it on
// the analysis scale: an experimental host beyond them is beyond the tolerance on its
// own, net of what happened to control. A boundary that does not apply is NaN.
func (g hostGeometry) bounds(ts []*murphyv1.TargetSummary) (mean, up, down float64) {
	var sum, base float64
	n := 0
	for _, t := range ts {
		if t.Group != murphyv1.Group_GROUP_CONTROL {
			continue
		}
		sum += g.at(t)
		if g.Levels {
			base += t.Window
		} else {
			base += t.Baseline
		}
		n++
	}
	if n > 0 {
		mean, base = sum/float64(n), base/float64(n)
	}
	up, down = math.NaN(), math.NaN()
	if !g.HasTol {
		return mean, up, down
	}
	var u, d float64
	switch {
	case g.Relative && g.Log:
		u, d = math.Log1p(g.Tol), math.Inf(-1)
		if g.Tol < 1 {
			d = math.Log1p(-g.Tol)
		}
	case g.Relative:
		u, d = g.Tol*math.Abs(base), -g.Tol*math.Abs(base)
	default:
		u, d = g.Tol, -g.Tol
	}
	if g.Direction != "decrease" {
		up = mean + u
	}
	if g.Direction != "increase" && !math.IsInf(d, -1) {
		down = mean + d
	}
	return mean, up, down
}

// HostPlot draws each host's change against its own baseline as a dot, control and
// experiment on two rows, with no change as a solid line, the control group's mean
// change dotted and the tolerance around it dashed (the harmful side shaded). Hosts
// beyond the tolerance on their own are ringed and named.
func HostPlot(name, what string, ts []*murphyv1.TargetSummary, g hostGeometry) template.HTML {
	if len(ts) == 0 {
		return ""
	}
	const (
		left = 140.0
		top  = 40.0
		rowH = 60.0
	)
	right := float64(chartW - padR - 28)
	h := int(top + 2*rowH + 36)
	mean, up, down := g.bounds(ts)
	lo, hi := math.Inf(1), math.Inf(-1)
	extend := func(v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, t := range ts {
		extend(g.value(t))
	}
	if !g.Levels {
		extend(0)
	}
	for _, b := range []float64{mean, up, down} {
		if !math.IsNaN(b) {
			extend(g.shown(b))
		}
	}
	lo, hi = niceRange(lo, hi)
	if !g.Levels && lo == 0 {
		// niceRange keeps non-negative data off negative values; a change may be either.
		lo = -(hi - lo) * 0.05
	}
	lo, hi, ticks := niceTicks(lo, hi, 5)
	x := scale{lo, hi, left, right}
	var ctl, exp []*murphyv1.TargetSummary
	for _, t := range ts {
		if t.Group == murphyv1.Group_GROUP_CONTROL {
			ctl = append(ctl, t)
		} else {
			exp = append(exp, t)
		}
	}
	var beyond []string
	for _, t := range exp {
		if t.Beyond {
			beyond = append(beyond, t.Id)
		}
	}
	desc := fmt.Sprintf("%d control and %d experimental hosts as dots on two rows; solid line: no change; dotted: the control group's mean; dashed: the tolerance around it.", len(ctl), len(exp))
	if len(beyond) > 0 {
		desc += " Beyond the tolerance on their own: " + strings.Join(beyond, ", ") + "."
	}
	var b strings.Builder
	svgOpen(&b, chartW, h, name+": "+what, desc)
	y0, y1 := top, top+2*rowH
	// The harmful side, shaded, and the boundaries.
	shade := func(from, to float64) {
		x0, x1 := x.at(math.Max(from, lo)), x.at(math.Min(to, hi))
		if x1 > x0 {
			fmt.Fprintf(&b, `<rect class="harm" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x0, y0, x1-x0, y1-y0)
		}
	}
	if !math.IsNaN(up) {
		shade(g.shown(up), hi)
	}
	if !math.IsNaN(down) {
		shade(lo, g.shown(down))
	}
	// Grid and axis.
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, right, y1, y1)
	for _, v := range ticks {
		xx := x.at(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, xx, xx, y0, y1)
		text(&b, xx, y1+14, "middle", "tick", g.format(v))
	}
	axisLabel := "change of each host against its own baseline"
	if g.Levels {
		axisLabel = "each host's level over the window (no baselines)"
	}
	text(&b, (left+right)/2, y1+30, "middle", "tick", axisLabel)
	// Labels above the lines: one close to an earlier one goes a line higher.
	var labelled []float64
	vline := func(class string, v float64, label, title string) {
		xx := x.at(v)
		fmt.Fprintf(&b, `<line class="%s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>%s</title></line>`, class, xx, xx, y0, y1, html.EscapeString(title))
		if label == "" {
			return
		}
		ly := y0 - 6
		for _, o := range labelled {
			if math.Abs(o-xx) < 60 {
				ly = y0 - 19
			}
		}
		labelled = append(labelled, xx)
		text(&b, xx, ly, "middle", "label", label)
	}
	if !g.Levels {
		vline("zero", 0, "no change", "no change")
	}
	vline("control-mean", g.shown(mean), "", "the control group's mean: "+g.format(g.shown(mean)))
	if !math.IsNaN(up) {
		vline("tolerance", g.shown(up), "tolerance", "tolerance boundary: "+g.format(g.shown(up))+" (the tolerance from the control group's mean)")
	}
	if !math.IsNaN(down) {
		vline("tolerance", g.shown(down), "tolerance", "tolerance boundary: "+g.format(g.shown(down))+" (the tolerance from the control group's mean)")
	}
	// The hosts: one dot each, staggered vertically so that neighbours stay visible.
	const maxNamedDots = 3
	jitter := []float64{0, -12, 12, -6, 6, -18, 18}
	row := func(list []*murphyv1.TargetSummary, class, label string, cy float64) {
		text(&b, left-10, cy+4, "end", "label", fmt.Sprintf("%s (%d)", label, len(list)))
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, right, cy, cy)
		sorted := slices.Clone(list)
		slices.SortStableFunc(sorted, func(a, b *murphyv1.TargetSummary) int {
			return cmpFloat(g.value(a), g.value(b))
		})
		// Names only where they fit: with more than a few hosts beyond, labels pile up on
		// each other, and the sentence above the plot lists them anyway.
		named := 0
		for _, t := range list {
			if t.Beyond {
				named++
			}
		}
		for i, t := range sorted {
			cx, yy := x.at(g.value(t)), cy+jitter[i%len(jitter)]
			cl := "host " + class
			title := fmt.Sprintf("%s (%s): %s", t.Id, label, g.format(g.value(t)))
			if !g.Levels {
				title += fmt.Sprintf(" (baseline %s, window %s)", level(t.Baseline, g.Proportion), level(t.Window, g.Proportion))
			}
			r := 5
			if t.Beyond {
				cl += " beyond"
				title += ", beyond the tolerance on its own"
				r = 6
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="%d"><title>%s</title></circle>`, cl, cx, yy, r, html.EscapeString(title))
			if t.Beyond && named <= maxNamedDots {
				text(&b, cx, yy-9, "middle", "label beyond-label", t.Id)
			}
		}
	}
	row(ctl, "control", "control", top+rowH/2)
	row(exp, "experiment", "experiment", top+rowH*1.5)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceTicks widens [lo, hi] to round steps (1, 2, 2.5 or 5 times a power of ten) and
// returns the ticks, about n of them.
func niceTicks(lo, hi float64, n int) (float64, float64, []float64) {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return lo, hi, []float64{lo, hi}
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start, end := math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	var ticks []float64
	for k := 0.0; start+k*step <= end+step/2; k++ {
		v := math.Round((start+k*step)/step) * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, v)
	}
	return start, end, ticks
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// level writes a level in metric units; a proportion's level is a share of successes.
func level(v float64, proportion bool) string {
	if proportion {
		return fmt.Sprintf("%.4g%%", 100*v)
	}
	return Num(v)
}

func signedPercent(v float64) string {
	if v == 0 {
		return "0%"
	}
	return fmt.Sprintf("%+.1f%%", 100*v)
}

// points writes a signed difference of shares in percentage points.
func points(v float64) string {
	if s := fmt.Sprintf("%.2g", 100*v); s == "0" || s == "-0" {
		return "0 pts"
	}
	return fmt.Sprintf("%+.2g pts", 100*v)
}

func signedNum(v float64) string {
	if v > 0 {
		return "+" + Num(v)
	}
	return Num(v)
}

// hostsNeeded says how many hosts per group would likely settle a question; empty
// when unknown.
func hostsNeeded(n, nControl, nExperiment int64) string {
	switch {
	case n >= maxHostsNeeded:
		return "no realistic number of hosts would settle it at this tolerance"
	case n <= 0:
		return ""
	}
	s := fmt.Sprintf("about %d hosts per group would likely settle it", n)
	if nControl > 0 || nExperiment > 0 {
		s += fmt.Sprintf(" (it has %d control and %d experimental)", nControl, nExperiment)
	}
	return s
}

var methodWords = map[string]string{
	"target-did-welch":    "Welch's t on each host's change against its own baseline",
	"target-levels-welch": "Welch's t on the hosts' window levels (no host had a baseline)",
	"baseline plan":       "planned from the baseline; nothing was measured under a fault",
}

func scaleWords(scale string, proportion bool) string {
	switch {
	case proportion:
		return "linear scale: changes are differences of success shares, in percentage points"
	case scale == "log":
		return "log scale: changes are ratios"
	case scale == "linear":
		return "linear scale: changes are differences in the metric's units"
	}
	return ""
}

func toleranceWords(tol string, relative, ok bool, direction string, proportion bool) string {
	if !ok {
		return tol
	}
	v, _, _ := tolerance(tol)
	var s string
	switch {
	case relative:
		s = fmt.Sprintf("%s of the control level", percent(v))
	case proportion:
		s = strings.Replace(sharePoints(v), "point", "percentage point", 1)
	default:
		s = Num(v)
	}
	switch direction {
	case "increase":
		return s + " (an increase is harmful)"
	case "decrease":
		return s + " (a decrease is harmful)"
	case "either":
		return s + " either way"
	}
	return s
}

// hasEstimate reports whether the metric's test ran, so its estimate and interval mean
// something (zeros from a test that did not run would read as "no change").
func hasEstimate(m *murphyv1.MetricVerdict) bool {
	if m.NControl == 0 || m.NExperiment == 0 {
		return false
	}
	if m.Unit == UnitTarget {
		return m.WelchDf > 0
	}
	return true
}

// NewHosts is the per-host view of a target-level metric of a verdict; nil for a metric
// judged on samples, or one with neither hosts nor a pooled view (a verdict taken before
// any fault).
func NewHosts(m *murphyv1.MetricVerdict, confidence float64) *Hosts {
	if m == nil || m.Unit != UnitTarget || (len(m.Targets) == 0 && m.Pooled == nil) {
		return nil
	}
	if confidence == 0 {
		confidence = 0.95
	}
	proportion := m.Kind == "proportion"
	tol, rel, ok := tolerance(m.Tolerance)
	levels := m.Method == "target-levels-welch"
	g := hostGeometry{Log: m.Scale == "log", Levels: levels, Proportion: proportion, Tol: tol, Relative: rel, HasTol: ok, Direction: m.Direction}
	noun := unitNoun(m.Targets)
	h := &Hosts{
		Name:       m.Name,
		Noun:       noun,
		Count:      fmt.Sprintf("%d vs %d %ss (experiment vs control)", m.TargetsExperiment, m.TargetsControl, noun),
		Method:     words(methodWords, m.Method),
		Scale:      scaleWords(m.Scale, proportion),
		Tolerance:  toleranceWords(m.Tolerance, rel, ok, m.Direction, proportion),
		Proportion: proportion,
	}
	if hasEstimate(m) {
		conf := fmt.Sprintf("%.0f%% CI", 100*confidence)
		h.Estimate = fmt.Sprintf("%s (%s %s to %s)", signedPercent(m.RelChange), conf, signedPercent(m.RelLow), signedPercent(m.RelHigh))
		if !g.Log {
			unit := signedNum
			if proportion {
				unit = points
			}
			h.Estimate = fmt.Sprintf("%s (%s %s to %s), %s relative to control", unit(m.Shift), conf, unit(m.ShiftLow), unit(m.ShiftHigh), signedPercent(m.RelChange))
		}
		h.Levels = fmt.Sprintf("control %s, experiment %s", level(m.ControlLevel, proportion), level(m.ExperimentLevel, proportion))
	}
	if m.Outcome == murphyv1.MetricOutcome_METRIC_OUTCOME_INCONCLUSIVE {
		h.Needed = hostsNeeded(m.TargetsNeeded, m.TargetsControl, m.TargetsExperiment)
	}
	h.Rows, h.Beyond = hostRows(m.Targets, g)
	h.Recoveries = hasRecoveries(m.Targets)
	h.Plot = HostPlot(m.Name, "each host's change against its own baseline", m.Targets, g)
	if levels {
		h.Plot = HostPlot(m.Name, "each host's level over the window", m.Targets, g)
	}
	if p := m.Pooled; p != nil {
		h.Pooled = fmt.Sprintf("control median %s (n=%d), experiment median %s (n=%d); Hodges-Lehmann shift %s (%.0f%% CI %s to %s), %s relative (%s to %s); Mann-Whitney U=%s p=%s (%s)",
			Num(p.ControlMedian), p.NControl, Num(p.ExperimentMedian), p.NExperiment, signedNum(p.Shift), 100*confidence, Num(p.ShiftLow), Num(p.ShiftHigh),
			signedPercent(p.RelChange), signedPercent(p.RelLow), signedPercent(p.RelHigh), Num(p.U), PValue(p.P), p.Method)
	}
	return h
}

func words(m map[string]string, k string) string {
	if w, ok := m[k]; ok {
		return w + " (" + k + ")"
	}
	return k
}

func hostRows(ts []*murphyv1.TargetSummary, g hostGeometry) ([]HostRow, []string) {
	var rows []HostRow
	var beyond []string
	for _, group := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
		for _, t := range ts {
			if t.Group != group {
				continue
			}
			r := HostRow{ID: t.Id, Group: groupName(t.Group), NBaseline: t.NBaseline, NWindow: t.NWindow,
				Window: level(t.Window, g.Proportion), Baseline: "–", Change: g.format(g.value(t)),
				Beyond: t.Beyond, Experimental: t.Group == murphyv1.Group_GROUP_EXPERIMENT}
			if t.NBaseline > 0 {
				r.Baseline = level(t.Baseline, g.Proportion)
			}
			if g.Levels {
				r.Change = "–"
			}
			r.Recoveries = recoveriesText(t)
			rows = append(rows, r)
			if t.Beyond {
				beyond = append(beyond, t.Id)
			}
		}
	}
	return rows, beyond
}

// hasRecoveries reports whether any target's outages were measured: a time_to_recover
// metric whose targets saw at least one.
func hasRecoveries(ts []*murphyv1.TargetSummary) bool {
	for _, t := range ts {
		if len(t.Recoveries) > 0 || t.Unrecovered > 0 {
			return true
		}
	}
	return false
}

// recoveriesText lists a target's outages, in seconds, the one still open last.
func recoveriesText(t *murphyv1.TargetSummary) string {
	var parts []string
	for _, r := range t.Recoveries {
		parts = append(parts, seconds(r))
	}
	s := strings.Join(parts, ", ")
	if t.Unrecovered > 0 {
		if s != "" {
			s += "; "
		}
		s += "still short after " + seconds(t.Unrecovered)
	}
	if s == "" {
		return "none"
	}
	return s
}

func seconds(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " s"
}

func groupName(g murphyv1.Group) string {
	return strings.ToLower(strings.TrimPrefix(g.String(), "GROUP_"))
}

// haltGuard is what the spec says about a deviation guardrail: its metric's direction
// and kind, and its tolerance.
type haltGuard struct {
	Direction  string
	Tolerance  string // "relative 0.5"
	Proportion bool
}

// HaltHosts is the per-host view of a run's halt by a deviation guardrail, at its
// halting look; nil when the halt carries no hosts.
func HaltHosts(run *murphyv1.Run) *Hosts {
	hr := run.GetHalt()
	if len(hr.GetTargets()) == 0 {
		return nil
	}
	return haltHosts(hr, guardOf(specOf(run), hr.Metric))
}

func haltHosts(hr *murphyv1.HaltRecord, guard haltGuard) *Hosts {
	tol, rel, ok := tolerance(guard.Tolerance)
	g := hostGeometry{Proportion: guard.Proportion, Tol: tol, Relative: rel, HasTol: ok, Direction: guard.Direction}
	g.Log, g.Levels = inferScale(hr.Targets)
	if hr.Scale != "" {
		// Records written since the scale was kept say it; inference is for older ones.
		g.Log = hr.Scale == "log"
	}
	var nc, ne int
	for _, t := range hr.Targets {
		if t.Group == murphyv1.Group_GROUP_CONTROL {
			nc++
		} else {
			ne++
		}
	}
	scale := "linear"
	if g.Log {
		scale = "log"
	}
	noun := unitNoun(hr.Targets)
	h := &Hosts{
		Name:       hr.Metric,
		Noun:       noun,
		Count:      fmt.Sprintf("%d vs %d %ss (experiment vs control)", ne, nc, noun),
		Scale:      scaleWords(scale, guard.Proportion),
		Tolerance:  toleranceWords(guard.Tolerance, rel, ok, guard.Direction, guard.Proportion),
		Proportion: guard.Proportion,
	}
	h.Rows, h.Beyond = hostRows(hr.Targets, g)
	h.Plot = HostPlot(hr.Metric, "each host's change at the halting look", hr.Targets, g)
	return h
}

// inferScale tells from the summaries themselves how a halt's changes were taken: on
// the log scale a change is window/baseline − 1, on the linear scale window − baseline;
// without baselines the change is the level itself (linear) or level − 1 (log).
func inferScale(ts []*murphyv1.TargetSummary) (log, levels bool) {
	var errLog, errLin float64
	levels = true
	for _, t := range ts {
		var asLog, asLin float64
		if t.NBaseline > 0 {
			levels = false
			if t.Baseline != 0 {
				asLog = t.Window/t.Baseline - 1
			} else {
				asLog = math.Inf(1)
			}
			asLin = t.Window - t.Baseline
		} else {
			asLog, asLin = t.Window-1, t.Window
		}
		errLog += math.Abs(t.Change - asLog)
		errLin += math.Abs(t.Change - asLin)
	}
	return errLog < errLin, levels
}

// BeforeFaultText is the prominent line of a verdict taken at the end of the baseline
// without injecting; empty for any other verdict.
func BeforeFaultText(v *murphyv1.Verdict) string {
	if v == nil || !v.BeforeFault {
		return ""
	}
	s := "Nothing was injected: the groups were too small to settle the question."
	for _, m := range v.Metrics {
		if m.TargetsNeeded <= 0 {
			continue
		}
		if m.TargetsNeeded >= maxHostsNeeded {
			s += fmt.Sprintf(" %s: no realistic number of hosts would settle it at this tolerance.", m.Name)
			continue
		}
		s += fmt.Sprintf(" %s: about %d hosts per group would be needed (it has %d control and %d experimental).", m.Name, m.TargetsNeeded, m.TargetsControl, m.TargetsExperiment)
	}
	return s
}

// HostsText writes the per-host view as indented plain text, for the CLI.
func HostsText(w io.Writer, h *Hosts, indent string) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "%sdecided on hosts: %s; %s", indent, h.Count, h.Method)
	if h.Scale != "" {
		fmt.Fprintf(w, "; %s", h.Scale)
	}
	fmt.Fprintln(w)
	if h.Estimate != "" {
		fmt.Fprintf(w, "%sestimate %s; levels %s\n", indent, h.Estimate, h.Levels)
	}
	if s := h.BeyondText(); s != "" {
		fmt.Fprintf(w, "%s%s\n", indent, s)
	}
	if h.Needed != "" {
		fmt.Fprintf(w, "%s%s\n", indent, h.Needed)
	}
	hostTableText(w, h, indent)
	if h.Pooled != "" {
		fmt.Fprintf(w, "%s%s (secondary):\n%s  %s\n", indent, PooledHeading, indent, h.Pooled)
	}
}

func hostTableText(w io.Writer, h *Hosts, indent string) {
	if len(h.Rows) == 0 {
		return
	}
	width := len("host")
	for _, r := range h.Rows {
		width = max(width, len(r.ID))
	}
	head := ""
	if h.Recoveries {
		head = "  recoveries"
	}
	fmt.Fprintf(w, "%s%-*s  %-10s  %12s  %12s  %10s%s\n", indent, width, "host", "group", "baseline", "window", "change", head)
	for _, r := range h.Rows {
		mark := ""
		if h.Recoveries {
			mark = "  " + r.Recoveries
		}
		if r.Beyond {
			mark += "  beyond the tolerance"
		}
		fmt.Fprintf(w, "%s%-*s  %-10s  %12s  %12s  %10s%s\n", indent, width, r.ID, r.Group, r.Baseline, r.Window, r.Change, mark)
	}
}

// HaltHostsText writes a halt's per-host view as indented plain text.
func HaltHostsText(w io.Writer, h *Hosts, indent string) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "%shosts at the halting look: %s; %s; tolerance %s\n", indent, h.Count, h.Scale, h.Tolerance)
	if s := h.BeyondText(); s != "" {
		fmt.Fprintf(w, "%s%s\n", indent, s)
	}
	hostTableText(w, h, indent)
}

// HostsMarkdown writes the per-host view as Markdown under a heading of the given level.
func HostsMarkdown(w io.Writer, h *Hosts, heading string) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "\n%s %s: host by host\n\n", heading, h.Name)
	fmt.Fprintf(w, "Decided on %s: %s", h.Count, h.Method)
	if h.Scale != "" {
		fmt.Fprintf(w, "; %s", h.Scale)
	}
	fmt.Fprintf(w, ". Tolerance %s.", h.Tolerance)
	if h.Estimate != "" {
		fmt.Fprintf(w, " Estimate %s; levels %s.", h.Estimate, h.Levels)
	}
	fmt.Fprintln(w)
	if s := h.BeyondText(); s != "" {
		fmt.Fprintf(w, "\n**Hosts %s.**\n", s)
	}
	if h.Needed != "" {
		fmt.Fprintf(w, "\nInconclusive: %s.\n", h.Needed)
	}
	hostTableMarkdown(w, h)
	if h.Pooled != "" {
		fmt.Fprintf(w, "\n_%s:_ %s.\n", PooledHeading, h.Pooled)
	}
}

// HaltHostsMarkdown writes a halt's per-host view as Markdown.
func HaltHostsMarkdown(w io.Writer, h *Hosts) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "\nHosts at the halting look: %s; %s; tolerance %s.\n", h.Count, h.Scale, h.Tolerance)
	if s := h.BeyondText(); s != "" {
		fmt.Fprintf(w, "\n**Hosts %s.**\n", s)
	}
	hostTableMarkdown(w, h)
}

func hostTableMarkdown(w io.Writer, h *Hosts) {
	if len(h.Rows) == 0 {
		return
	}
	if h.Recoveries {
		fmt.Fprintln(w, "\n| host | group | baseline (n) | window (n) | change | recoveries | |\n|---|---|---|---|---|---|---|")
	} else {
		fmt.Fprintln(w, "\n| host | group | baseline (n) | window (n) | change | |\n|---|---|---|---|---|---|")
	}
	for _, r := range h.Rows {
		mark := ""
		if r.Beyond {
			mark = "beyond the tolerance"
		}
		if h.Recoveries {
			mark = r.Recoveries + " | " + mark
		}
		fmt.Fprintf(w, "| %s | %s | %s (%d) | %s (%d) | %s | %s |\n", r.ID, r.Group, r.Baseline, r.NBaseline, r.Window, r.NWindow, r.Change, mark)
	}
}

// specToleranceText is a tolerance as verdicts write it: "relative 0.1", "absolute 5".
func specToleranceText(t *spec.Tolerance) string {
	switch {
	case t == nil:
		return ""
	case t.Relative != nil:
		return fmt.Sprintf("relative %g", *t.Relative)
	case t.Absolute != nil:
		return fmt.Sprintf("absolute %g", *t.Absolute)
	}
	return ""
}

// specOf is the run's committed spec, or an empty one when it cannot be read: a page
// shows what it can rather than nothing.
func specOf(run *murphyv1.Run) *spec.Experiment {
	sp, err := spec.Of(run)
	if err != nil {
		return &spec.Experiment{}
	}
	return sp
}

// guard is what the spec says about the deviation guardrail on metric.
func guardOf(sp *spec.Experiment, metric string) haltGuard {
	var g haltGuard
	for _, m := range sp.GetHypothesis().GetMetrics() {
		if m.Name == metric {
			g.Direction = m.Direction
			g.Proportion = spec.Proportion(m)
		}
	}
	for _, a := range sp.GetAbort() {
		if a.Metric == metric && a.Deviation != nil {
			g.Tolerance = specToleranceText(a.Deviation)
		}
	}
	return g
}

// VerdictRow is one metric's line in the table of numbers behind a verdict, formatted:
// a metric decided on hosts shows its hosts and the groups' levels, one judged on
// samples its medians.
type VerdictRow struct {
	Name, Outcome       string
	Critical            bool
	Unit                string // "6 vs 6 hosts" or "samples"
	Control, Experiment string // "0.1 (n=600)"
	Shift, Relative     string // with their intervals
	Tolerance           string
	P                   string // "0.003 (Welch's t on hosts)"
}

// VerdictRows formats every metric of a verdict for the table of numbers.
func VerdictRows(v *murphyv1.Verdict) []VerdictRow {
	var out []VerdictRow
	for _, m := range v.GetMetrics() {
		proportion := m.Kind == "proportion"
		r := VerdictRow{Name: m.Name, Outcome: metricOutcome(m.Outcome), Critical: m.Critical, Unit: "samples",
			Tolerance: m.Tolerance + ", " + m.Direction + " is harmful", Control: "–", Experiment: "–", Shift: "–", Relative: "–", P: "not computed"}
		switch {
		case m.Unit == UnitTarget:
			r.Unit = fmt.Sprintf("%d vs %d hosts", m.TargetsExperiment, m.TargetsControl)
		case m.Kind == "count":
			r.Unit = "counts"
		}
		if m.NControl > 0 || m.NExperiment > 0 {
			r.Control, r.Experiment = fmt.Sprintf("– (n=%d)", m.NControl), fmt.Sprintf("– (n=%d)", m.NExperiment)
		}
		if hasEstimate(m) {
			c, e := m.ControlMedian, m.ExperimentMedian
			if m.Unit == UnitTarget {
				c, e = m.ControlLevel, m.ExperimentLevel
			}
			r.Control = fmt.Sprintf("%s (n=%d)", level(c, proportion), m.NControl)
			r.Experiment = fmt.Sprintf("%s (n=%d)", level(e, proportion), m.NExperiment)
			unit := Num
			if proportion {
				unit = sharePoints
			}
			r.Shift = fmt.Sprintf("%s (%s to %s)", unit(m.Shift), unit(m.ShiftLow), unit(m.ShiftHigh))
			r.Relative = fmt.Sprintf("%s (%s to %s)", signedPercent(m.RelChange), signedPercent(m.RelLow), signedPercent(m.RelHigh))
		}
		switch {
		case m.Method == "" || !hasEstimate(m):
		case m.Unit == UnitTarget:
			r.P = PValue(m.P) + " (Welch's t on hosts)"
		case m.Kind == "count":
			r.P = fmt.Sprintf("%s (%s)", PValue(m.P), m.Method)
		default:
			r.P = fmt.Sprintf("%s (Mann-Whitney, %s)", PValue(m.P), m.Method)
		}
		out = append(out, r)
	}
	return out
}

// guardValue is a guardrail's current value: the t statistic against its critical value
// for a deviation guardrail, the experimental group's aggregate otherwise.
func guardValue(g *murphyv1.GuardrailStatus) string {
	if strings.HasPrefix(g.Guardrail, "deviation") {
		if g.Threshold == 0 {
			return "–"
		}
		return fmt.Sprintf("t = %.2f (halts above %.2f)", g.Value, g.Threshold)
	}
	return Num(g.Value)
}

// guardChange is a deviation guardrail's experimental change relative to control at its
// latest look; empty for other guardrails and before a look has measured one.
func guardChange(g *murphyv1.GuardrailStatus) string {
	if !strings.HasPrefix(g.Guardrail, "deviation") || (g.Threshold == 0 && g.RelChange == 0) {
		return ""
	}
	return signedPercent(g.RelChange)
}
