package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Charts are inline SVG built as text: no script, no external resources, so a page and a
// saved report draw the same. Colours come from CSS classes (see style.css).

const (
	chartW = 720
	chartH = 220
	padL   = 64
	padR   = 16
	padT   = 16
	padB   = 36
)

type scale struct{ d0, d1, r0, r1 float64 }

func (s scale) at(v float64) float64 {
	if s.d1 == s.d0 {
		return (s.r0 + s.r1) / 2
	}
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

func svgOpen(b *strings.Builder, w, h int, title, desc string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, w, h, html.EscapeString(title))
	fmt.Fprintf(b, `<title>%s</title><desc>%s</desc>`, html.EscapeString(title), html.EscapeString(desc))
}

func text(b *strings.Builder, x, y float64, anchor, class, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, html.EscapeString(s))
}

func niceRange(lo, hi float64) (float64, float64) {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi) {
		return 0, 1
	}
	if lo == hi {
		if lo == 0 {
			return 0, 1
		}
		return lo - math.Abs(lo)*0.1, hi + math.Abs(hi)*0.1
	}
	pad := (hi - lo) * 0.05
	if lo >= 0 && lo-pad < 0 {
		return 0, hi + pad
	}
	return lo - pad, hi + pad
}

// Window is a shaded span of a time chart: a fault step, or the baseline (Class
// "baseline").
type Window struct {
	From, To time.Time
	Label    string
	Class    string // "fault" when empty
}

// TimeChart draws one metric's control and experiment medians (solid) and 90th
// percentiles (dashed) per interval, the fault windows shaded and the halt marked. For a
// rate (a 0/1 metric such as a probe's success) it draws each group's share per interval
// instead: the median of 0/1 samples is 0 or 1 and would hide a 5% failure rate.
//
// breach, when a guardrail on this metric halted the run, adds the guardrail's threshold
// as a line and its recent samples as dots from the first breach to the halt, and the
// y-axis stretches to hold them: a chart that stops below the breaching values would
// hide why the run stopped.
//
// The y-axis reads in unit (a rate is a share whatever unit says), on round ticks.
func TimeChart(metric string, intervals []*murphyv1.IntervalSummary, windows []Window, halt time.Time, rate bool, breach *Breach, unit Unit) template.HTML {
	if rate {
		unit = UnitShare
	}
	var ctl, exp []*murphyv1.IntervalSummary
	t0, t1 := time.Time{}, time.Time{}
	lo, hi := math.Inf(1), math.Inf(-1)
	// The warm-up's intervals (a probe's first requests open connections) stay out of the
	// y-range when steadier ones exist: one slow first request would squash the rest of
	// the run into the bottom of the chart. What they hold beyond the axis is marked.
	var warmEnd time.Time
	for _, w := range windows {
		if w.Class == "warmup" {
			warmEnd = w.To
		}
	}
	wlo, whi := math.Inf(1), math.Inf(-1)
	for _, s := range intervals {
		if s.Metric != metric || s.Window {
			continue
		}
		st, en := s.Start.AsTime(), s.End.AsTime()
		if t0.IsZero() || st.Before(t0) {
			t0 = st
		}
		if en.After(t1) {
			t1 = en
		}
		if s.Count == 0 {
			continue
		}
		vlo, vhi := s.P50, math.Max(s.P90, s.P50)
		if rate {
			vlo, vhi = s.Mean, s.Mean
		}
		if st.Before(warmEnd) {
			wlo, whi = math.Min(wlo, vlo), math.Max(whi, vhi)
		} else {
			lo, hi = math.Min(lo, vlo), math.Max(hi, vhi)
		}
		if s.Group == murphyv1.Group_GROUP_CONTROL {
			ctl = append(ctl, s)
		} else {
			exp = append(exp, s)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = wlo, whi
	}
	var b strings.Builder
	title := metric + ": control and experiment over time"
	if t0.IsZero() {
		return template.HTML(`<p class="empty">No summaries recorded for ` + html.EscapeString(metric) + ` yet.</p>`)
	}
	desc := "Median (solid) and 90th percentile (dashed) per interval for each group; shaded spans are the baseline, its warm-up and the fault windows."
	if rate {
		desc = "Share per interval for each group (the rate of a 0/1 metric); shaded spans are the baseline, its warm-up and the fault windows."
	}
	if breach != nil {
		if breach.HasThreshold {
			desc += fmt.Sprintf(" The guardrail %s's threshold %s is the red line; its recent samples before the halt are red dots.", breach.Guardrail, formatValue(unit, breach.Threshold))
			lo, hi = math.Min(lo, breach.Threshold), math.Max(hi, breach.Threshold)
		}
		for _, v := range breach.Values {
			if !breach.HasLevels() {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		for _, hb := range breach.Hosts {
			if hb.HasLevel {
				lo, hi = math.Min(lo, hb.Level), math.Max(hi, hb.Level)
			}
		}
		if len(breach.Hosts) > 0 {
			desc += " Each experimental host that held the fault is named at the breach."
		}
		if !halt.IsZero() && halt.After(t1) {
			t1 = halt
		}
	}
	svgOpen(&b, chartW, chartH, title, desc)
	lo, hi = niceRange(lo, hi)
	lo, hi, ticks := niceTicks(lo, hi, 4)
	x := scale{float64(t0.UnixNano()), float64(t1.UnixNano()), padL, chartW - padR}
	y := scale{lo, hi, chartH - padB, padT}
	// clip keeps a value beyond the axis on its edge; beyond collects those points to
	// mark them, so a clipped spike reads as "more than this", never as its edge value.
	type clipped struct{ x, y, v float64 }
	var beyond []clipped
	clip := func(px, v float64) float64 {
		if v > hi || v < lo {
			e := math.Max(lo, math.Min(hi, v))
			beyond = append(beyond, clipped{px, y.at(e), v})
			return y.at(e)
		}
		return y.at(v)
	}
	for _, w := range windows {
		from, to := w.From, w.To
		if to.IsZero() || to.After(t1) {
			to = t1
		}
		if from.Before(t0) {
			from = t0
		}
		if !to.After(from) {
			continue
		}
		x0, x1 := x.at(float64(from.UnixNano())), x.at(float64(to.UnixNano()))
		class := w.Class
		if class == "" {
			class = "fault"
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s</title></rect>`, class, x0, padT, x1-x0, chartH-padT-padB, html.EscapeString(w.Label))
		if class == "warmup" {
			// At the foot of the plot: the baseline's own label is at its head, same x.
			text(&b, x0+3, chartH-padB-4, "start", "label", w.Label)
			continue
		}
		lx := x0 + 3
		if class == "baseline" && warmEnd.After(from) && warmEnd.Before(to) {
			// Past the warm-up, whose clipped spike sits at the top of the axis.
			lx = x.at(float64(warmEnd.UnixNano())) + 3
		}
		text(&b, lx, padT+12, "start", "label", w.Label)
	}
	axes(&b, x, y, t0, t1, ticks, tickLabels(unit, ticks))
	series := func(list []*murphyv1.IntervalSummary, class string, val func(*murphyv1.IntervalSummary) float64) {
		if len(list) == 0 {
			return
		}
		var pts []string
		for _, s := range list {
			mid := s.Start.AsTime().Add(s.End.AsTime().Sub(s.Start.AsTime()) / 2)
			px := x.at(float64(mid.UnixNano()))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, clip(px, val(s))))
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, class, strings.Join(pts, " "))
	}
	if rate {
		series(ctl, "line control", func(s *murphyv1.IntervalSummary) float64 { return s.Mean })
		series(exp, "line experiment", func(s *murphyv1.IntervalSummary) float64 { return s.Mean })
	} else {
		series(ctl, "line control p90", func(s *murphyv1.IntervalSummary) float64 { return s.P90 })
		series(exp, "line experiment p90", func(s *murphyv1.IntervalSummary) float64 { return s.P90 })
		series(ctl, "line control", func(s *murphyv1.IntervalSummary) float64 { return s.P50 })
		series(exp, "line experiment", func(s *murphyv1.IntervalSummary) float64 { return s.P50 })
	}
	if !halt.IsZero() && !halt.Before(t0) {
		hx := x.at(float64(min(halt.UnixNano(), t1.UnixNano())))
		fmt.Fprintf(&b, `<line class="halt" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, hx, hx, padT, chartH-padB)
		text(&b, hx-3, padT+24, "end", "label halt-label", "halt")
	}
	for _, c := range beyond {
		// A chevron on the edge pointing the way the value lies.
		d := -6.0
		if c.v < lo {
			d = 6
		}
		fmt.Fprintf(&b, `<path class="clipped" d="M%.1f,%.1f l-4,%.1f h8 z"><title>%s, beyond the axis</title></path>`, c.x, c.y+d, -d, formatValue(unit, c.v))
	}
	if breach != nil {
		if breach.HasThreshold {
			ty := y.at(breach.Threshold)
			fmt.Fprintf(&b, `<line class="threshold" x1="%d" x2="%d" y1="%.1f" y2="%.1f"><title>%s</title></line>`, padL, chartW-padR, ty, ty, html.EscapeString("guardrail "+breach.Guardrail+" threshold "+formatValue(unit, breach.Threshold)))
			text(&b, padL+4, ty-4, "start", "label halt-label", "guardrail "+breach.Guardrail+" ("+formatValue(unit, breach.Threshold)+")")
		}
		from, to := breach.First, halt
		if from.IsZero() || from.Before(t0) {
			from = t0
		}
		if to.IsZero() || to.Before(from) {
			to = from
		}
		x0, x1 := x.at(float64(from.UnixNano())), x.at(float64(to.UnixNano()))
		n := len(breach.Values)
		for _, s := range breach.Samples {
			// Each sample at its own time, named by its host.
			class := "breach"
			if !breach.Beyond(s.Value) {
				class = "breach within"
			}
			at := s.At
			if at.Before(t0) {
				at = t0
			}
			fmt.Fprintf(&b, `<circle class="%s" data-host="%s" cx="%.1f" cy="%.1f" r="3"><title>%s</title></circle>`, class, html.EscapeString(s.Host),
				x.at(float64(at.UnixNano())), y.at(s.Value), html.EscapeString(fmt.Sprintf("%s: %s at %s", s.Host, formatValue(unit, s.Value), s.At.UTC().Format("15:04:05.000"))))
		}
		for i, v := range breach.Values {
			if breach.HasLevels() || len(breach.Samples) > 0 {
				break // a deviation's values are changes, not levels: the hosts show it
			}
			at := from
			if n > 1 {
				at = from.Add(to.Sub(from) * time.Duration(i) / time.Duration(n-1))
			}
			class := "breach"
			if !breach.Beyond(v) {
				class = "breach within"
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="3"><title>%s</title></circle>`, class, x.at(float64(at.UnixNano())), y.at(v), formatValue(unit, v))
		}
		breachHosts(&b, breach, x0, x1, y, unit)
	}
	legend(&b, chartW-padR-250, chartH-6, !rate)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Breach is the evidence of a guardrail halt drawn on its metric's time chart.
type Breach struct {
	Guardrail string
	// Threshold is in the metric's unit when HasThreshold; a deviation guardrail's is a
	// test statistic, which no axis of the chart reads.
	Threshold    float64
	HasThreshold bool
	// Values are the guardrail's recent samples, oldest first; First is when the first
	// of them breached.
	Values []float64
	First  time.Time
	// Hosts are the experimental hosts that held the fault at the breach.
	Hosts []BreachHost
	// Samples are Values with the host and time of each, when the halt record kept them
	// (absolute guardrails since it does).
	Samples []BreachSample
}

// BreachSample is one of an absolute guardrail's samples before its halt.
type BreachSample struct {
	Host  string // host label, or worker ID
	At    time.Time
	Value float64
}

// BreachHost is one experimental host at a guardrail's breach. A deviation guardrail
// records each host's level over its halting look (HasLevel); an absolute one pools the
// group's samples, so its hosts are named without a level of their own.
type BreachHost struct {
	ID, Name string // worker ID and host label
	Level    float64
	HasLevel bool
	Beyond   bool // beyond the tolerance on its own
}

// HasLevels reports whether the hosts carry levels (a deviation guardrail's breach).
func (b *Breach) HasLevels() bool {
	return len(b.Hosts) > 0 && b.Hosts[0].HasLevel
}

// NewBreach is the breach a halt record shows on metric's chart, or nil. The hosts are
// named by their host label in workers.
func NewBreach(run *murphyv1.Run, metric string, workers map[string]*murphyv1.Worker) *Breach {
	h := run.GetHalt()
	if h.GetGuardrail() == "" || h.GetMetric() != metric || h.GetGuardrail() == "missing data" {
		return nil
	}
	b := &Breach{Guardrail: h.GetGuardrail(), Values: h.GetValues()}
	if h.GetFirstBreach() != nil {
		b.First = h.GetFirstBreach().AsTime()
	}
	name := func(id string) string {
		if n := workers[id].GetLabels()["host"]; n != "" {
			return n
		}
		return id
	}
	if len(h.GetTargets()) > 0 {
		for _, t := range h.GetTargets() {
			if t.Group == murphyv1.Group_GROUP_EXPERIMENT {
				b.Hosts = append(b.Hosts, BreachHost{ID: t.Id, Name: name(t.Id), Level: t.Window, HasLevel: true, Beyond: t.Beyond})
			}
		}
		return b
	}
	b.Threshold, b.HasThreshold = h.GetThreshold(), true
	for _, s := range h.GetSamples() {
		b.Samples = append(b.Samples, BreachSample{Host: name(s.WorkerId), At: s.At.AsTime(), Value: s.Value})
	}
	for _, r := range HeldAt(run, b.First, h.GetAt().AsTime()) {
		b.Hosts = append(b.Hosts, BreachHost{ID: r.Worker, Name: name(r.Worker)})
	}
	return b
}

// HeldAt is the experimental workers that held a fault at some time in [from, to], in
// the order of the run's steps, with when each fault went on and came off: as the worker
// reported its window, or else as the step began and the halt's revert confirmed it.
func HeldAt(run *murphyv1.Run, from, to time.Time) []HeldRow {
	var out []HeldRow
	clock := func(t *timestamppb.Timestamp) string { return t.AsTime().UTC().Format("15:04:05.000Z") }
	for _, st := range run.GetSteps() {
		if st.StartedAt == nil || st.StartedAt.AsTime().After(to) || (st.EndedAt != nil && st.EndedAt.AsTime().Before(from)) {
			continue
		}
		for _, id := range st.Injected {
			if slices.ContainsFunc(out, func(r HeldRow) bool { return r.Worker == id }) {
				continue
			}
			// A step's end is when the revert was ordered, not confirmed: without the
			// worker's word the fault's end stays unconfirmed.
			on := st.StartedAt
			var off *timestamppb.Timestamp
			for _, rv := range run.GetHalt().GetReverts() {
				if rv.WorkerId == id && rv.At != nil {
					off = rv.At
				}
			}
			for _, w := range st.Windows {
				if w.WorkerId == id && w.InjectedAt != nil && !w.InjectedAt.AsTime().After(to) {
					on = w.InjectedAt
					if w.RevertedAt != nil {
						off = w.RevertedAt
					}
				}
			}
			r := HeldRow{Worker: id, Injected: clock(on), Reverted: "not confirmed"}
			if off != nil {
				r.Reverted = clock(off)
			}
			out = append(out, r)
		}
	}
	return out
}

// breachHosts names the hosts at the breach, between x0 and x1: a deviation's hosts as
// segments at their levels over the look, ringed red when beyond the tolerance alone;
// an absolute guardrail's hosts as one line above the plot, as its samples are pooled.
func breachHosts(b *strings.Builder, br *Breach, x0, x1 float64, y scale, unit Unit) {
	if len(br.Hosts) == 0 {
		return
	}
	// Names go right of the halt when they fit there (about 6 px a character), else
	// left of the breach; a host's full name is in its title.
	long := 0
	for _, h := range br.Hosts {
		long = max(long, len(shortHost(h.Name)))
	}
	lx, anchor := x1+4, "start"
	if x1+4+6*float64(long) > chartW-padR {
		lx, anchor = x0-4, "end"
	}
	if !br.HasLevels() {
		names := make([]string, len(br.Hosts))
		for i, h := range br.Hosts {
			names[i] = h.Name
			if n, beyond := br.samplesOf(h.Name); n > 0 {
				names[i] += fmt.Sprintf(" (%d of its %d recent samples beyond)", beyond, n)
			}
		}
		fmt.Fprintf(b, `<g class="breach-hosts"><title>%s</title>`, html.EscapeString("the guardrail pooled the samples of the experimental hosts holding the fault: "+strings.Join(names, ", ")))
		for i, h := range br.Hosts {
			text(b, lx, float64(padT+36+12*i), anchor, "label halt-label breach-host", shortHost(h.Name))
		}
		b.WriteString(`</g>`)
		return
	}
	if x1-x0 < 8 {
		x0 = x1 - 8
	}
	hosts := slices.Clone(br.Hosts)
	slices.SortStableFunc(hosts, func(a, c BreachHost) int { return cmpFloat(c.Level, a.Level) })
	labelY := math.Inf(-1)
	for _, h := range hosts {
		class := "host-level"
		if h.Beyond {
			class += " beyond"
		}
		yy := y.at(h.Level)
		fmt.Fprintf(b, `<g class="breach-host-level"><line class="%s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><title>%s</title></g>`, class, x0, x1, yy, yy, html.EscapeString(fmt.Sprintf("%s (%s): %s over the halting look", h.Name, h.ID, formatValue(unit, h.Level))))
		label := "label breach-host"
		if h.Beyond {
			label += " beyond-label"
		}
		// Highest level first, each name at least a line below the one before.
		labelY = math.Max(yy+4, labelY+12)
		text(b, lx, labelY, anchor, label, shortHost(h.Name))
	}
}

// shortHost is a host name up to its first dot: the chart has no room for a fully
// qualified name. An IP address stays whole.
func shortHost(name string) string {
	if net.ParseIP(name) != nil {
		return name
	}
	short, _, _ := strings.Cut(name, ".")
	return short
}

// samplesOf counts host's samples among the breach's, and those beyond the threshold.
func (b *Breach) samplesOf(host string) (n, beyond int) {
	for _, s := range b.Samples {
		if s.Host == host {
			n++
			if b.Beyond(s.Value) {
				beyond++
			}
		}
	}
	return n, beyond
}

// Beyond reports whether v is on the breaching side of the threshold: the side most
// of the recent samples are on (a halting guardrail's samples mostly breach).
func (b *Breach) Beyond(v float64) bool {
	above := 0
	for _, x := range b.Values {
		if x > b.Threshold {
			above++
		}
	}
	if 2*above >= len(b.Values) {
		return v > b.Threshold
	}
	return v < b.Threshold
}

func legend(b *strings.Builder, x, y float64, p90 bool) {
	fmt.Fprintf(b, `<line class="line control" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x, x+18, y-4, y-4)
	text(b, x+22, y, "start", "label", "control")
	fmt.Fprintf(b, `<line class="line experiment" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x+80, x+98, y-4, y-4)
	text(b, x+102, y, "start", "label", "experiment")
	if p90 {
		fmt.Fprintf(b, `<line class="line p90" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x+180, x+198, y-4, y-4)
		text(b, x+202, y, "start", "label", "p90")
	}
}

func axes(b *strings.Builder, x, y scale, t0, t1 time.Time, ticks []float64, labels []string) {
	fmt.Fprintf(b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, chartW-padR, chartH-padB, chartH-padB)
	fmt.Fprintf(b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, padL, padT, chartH-padB)
	for i, v := range ticks {
		yy := y.at(v)
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, yy, yy)
		text(b, padL-4, yy+4, "end", "tick", labels[i])
	}
	span := t1.Sub(t0)
	for i := 0; i <= 4; i++ {
		at := t0.Add(span * time.Duration(i) / 4)
		label := "+" + (at.Sub(t0)).Round(time.Second).String()
		if i == 0 {
			label = at.UTC().Format("15:04:05Z")
		}
		text(b, x.at(float64(at.UnixNano())), chartH-padB+14, "middle", "tick", label)
	}
}

// Distributions draws both groups' ECDFs over the verdict window from their recorded
// percentiles, and a box plot below (whiskers 1st–99th percentile, box 25th–75th).
//
// halted says the run stopped before its verdict window closed, so none was recorded.
func Distributions(metric string, windows []*murphyv1.IntervalSummary, unit Unit, halted bool) template.HTML {
	var ctl, exp *murphyv1.IntervalSummary
	for _, w := range windows {
		if w.Metric != metric || len(w.Percentiles) < 2 {
			continue
		}
		if w.Group == murphyv1.Group_GROUP_CONTROL {
			ctl = w
		} else {
			exp = w
		}
	}
	if ctl == nil && exp == nil && halted {
		return template.HTML(`<p class="empty">No distributions: the run was halted before its verdict window closed.</p>`)
	}
	if ctl == nil && exp == nil {
		return template.HTML(`<p class="empty">The distributions over the verdict window are recorded when the run ends.</p>`)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, w := range []*murphyv1.IntervalSummary{ctl, exp} {
		if w != nil {
			lo, hi = math.Min(lo, w.Percentiles[0]), math.Max(hi, w.Percentiles[len(w.Percentiles)-1])
		}
	}
	lo, hi = niceRange(lo, hi)
	lo, hi, xticks := niceTicks(lo, hi, 4)
	xlabels := tickLabels(unit, xticks)
	const h = 296
	var b strings.Builder
	svgOpen(&b, chartW, h, metric+": distributions over the verdict window", "Empirical cumulative distribution of each group, and a box plot of each group below it.")
	x := scale{lo, hi, padL, chartW - padR}
	y := scale{0, 1, 200, padT}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="200" y2="200"/><line class="axis" x1="%d" x2="%d" y1="%d" y2="200"/>`, padL, chartW-padR, padL, padL, padT)
	for i := 0; i <= 4; i++ {
		q := float64(i) / 4
		yy := y.at(q)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, yy, yy)
		text(&b, padL-4, yy+4, "end", "tick", fmt.Sprintf("%.0f%%", 100*q))
	}
	for i, v := range xticks {
		text(&b, x.at(v), 214, "middle", "tick", xlabels[i])
	}
	for _, g := range []struct {
		w     *murphyv1.IntervalSummary
		class string
		row   float64
	}{{ctl, "control", 242}, {exp, "experiment", 282}} {
		if g.w == nil {
			continue
		}
		p := g.w.Percentiles
		n := float64(len(p) - 1)
		var pts []string
		for i, v := range p {
			q := float64(i) / n
			if i > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.at(v), y.at(float64(i-1)/n)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.at(v), y.at(q)))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, g.class, strings.Join(pts, " "))
		at := func(q float64) float64 { return x.at(p[int(math.Round(q*n))]) }
		fmt.Fprintf(&b, `<line class="whisker %s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, g.class, at(0.01), at(0.99), g.row, g.row)
		fmt.Fprintf(&b, `<rect class="box %s" x="%.1f" y="%.1f" width="%.1f" height="16"><title>%s: 25th %s, median %s, 75th %s</title></rect>`,
			g.class, at(0.25), g.row-8, math.Max(at(0.75)-at(0.25), 1), g.class, Num(p[int(0.25*n)]), Num(p[int(0.5*n)]), Num(p[int(0.75*n)]))
		fmt.Fprintf(&b, `<line class="median" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, at(0.5), at(0.5), g.row-8, g.row+8)
		text(&b, padL+4, g.row-11, "start", "tick", fmt.Sprintf("%s (n=%d)", g.class, g.w.Count))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Forest draws each metric's interval against its tolerance: the estimate as a dot, the
// confidence interval as a bar, no change as a solid line and the tolerance as dashed
// lines with the harmful side beyond them shaded. Each row has its own scale (metrics
// may have different units).
func Forest(v *murphyv1.Verdict) template.HTML {
	if v == nil || len(v.Metrics) == 0 {
		return ""
	}
	const rowH = 44
	h := padT + rowH*len(v.Metrics) + 8
	left, right := 170.0, float64(chartW-padR-190)
	var b strings.Builder
	svgOpen(&b, chartW, h, "Intervals against tolerances", fmt.Sprintf("Each metric's %.0f%% confidence interval of the change, with its tolerance.", 100*v.Confidence))
	for i, m := range v.Metrics {
		tol, rel, ok := tolerance(m.Tolerance)
		est, lo, hi := m.Shift, m.ShiftLow, m.ShiftHigh
		format := Num
		if m.Kind == "proportion" {
			format = sharePoints
		}
		if rel || !ok {
			est, lo, hi = m.RelChange, m.RelLow, m.RelHigh
			format = percent
		}
		bounds := []float64{0, lo, hi, est}
		if ok {
			bounds = append(bounds, tol, -tol)
		}
		dmin, dmax := math.Inf(1), math.Inf(-1)
		for _, x := range bounds {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				dmin, dmax = math.Min(dmin, x), math.Max(dmax, x)
			}
		}
		dmin, dmax = niceRange(dmin, dmax)
		if dmin > 0 {
			dmin = -dmax * 0.05
		}
		x := scale{dmin, dmax, left, right}
		y := float64(padT + i*rowH + rowH/2)
		text(&b, left-8, y+4, "end", "label", m.Name)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, right, y, y)
		if ok {
			dir := m.Direction
			shade := func(from, to float64) {
				x0, x1 := x.at(math.Max(from, dmin)), x.at(math.Min(to, dmax))
				if x1 > x0 {
					fmt.Fprintf(&b, `<rect class="harm" x="%.1f" y="%.1f" width="%.1f" height="%d"/>`, x0, y-rowH/2+4, x1-x0, rowH-8)
				}
			}
			if dir != "decrease" {
				shade(tol, dmax)
				fmt.Fprintf(&b, `<line class="tolerance" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x.at(tol), x.at(tol), y-rowH/2+4, y+rowH/2-4)
				text(&b, x.at(tol), y-rowH/2+2, "middle", "tick tolerance-tick", "+"+format(tol))
			}
			if dir != "increase" {
				shade(dmin, -tol)
				fmt.Fprintf(&b, `<line class="tolerance" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x.at(-tol), x.at(-tol), y-rowH/2+4, y+rowH/2-4)
				text(&b, x.at(-tol), y-rowH/2+2, "middle", "tick tolerance-tick", format(-tol))
			}
		}
		fmt.Fprintf(&b, `<line class="zero" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x.at(0), x.at(0), y-rowH/2+4, y+rowH/2-4)
		class := strings.ReplaceAll(metricOutcome(m.Outcome), " ", "-")
		if hasEstimate(m) {
			fmt.Fprintf(&b, `<line class="ci %s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, class, x.at(lo), x.at(hi), y, y)
			fmt.Fprintf(&b, `<circle class="est %s" cx="%.1f" cy="%.1f" r="5"><title>%s</title></circle>`, class, x.at(est), y, html.EscapeString(MetricSentence(m, v.Confidence)))
		}
		text(&b, right+8, y+4, "start", "label", fmt.Sprintf("%s [%s, %s]", format(est), format(lo), format(hi)))
		text(&b, left, y+rowH/2-2, "start", "tick", format(dmin))
		text(&b, right, y+rowH/2-2, "end", "tick", format(dmax))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Timeline draws the run's phases and steps as bars on one time axis.
func Timeline(events []Event, start, end time.Time) template.HTML {
	if start.IsZero() || !end.After(start) {
		return ""
	}
	var spans []Event
	for _, e := range events {
		if !e.Until.IsZero() {
			spans = append(spans, e)
		}
	}
	const rowH = 22
	h := padT + rowH*len(spans) + 24
	var b strings.Builder
	svgOpen(&b, chartW, h, "Timeline", "Phases and steps of the run on one time axis.")
	x := scale{float64(start.UnixNano()), float64(end.UnixNano()), 170, chartW - padR}
	for i, e := range spans {
		y := float64(padT + i*rowH)
		x0, x1 := x.at(float64(e.At.UnixNano())), x.at(float64(e.Until.UnixNano()))
		text(&b, 162, y+14, "end", "label", e.What)
		fmt.Fprintf(&b, `<rect class="span %s" x="%.1f" y="%.1f" width="%.1f" height="16"><title>%s: %s</title></rect>`, e.Class, x0, y+2, math.Max(x1-x0, 2), html.EscapeString(e.What), since(e.At, e.Until))
	}
	text(&b, 170, float64(h-6), "start", "tick", start.UTC().Format("15:04:05Z"))
	text(&b, chartW-padR, float64(h-6), "end", "tick", "+"+since(start, end))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
