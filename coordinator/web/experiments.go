package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TrendRun is one run of an experiment on its trend page.
type TrendRun struct {
	Run     *murphyv1.Run
	Badge   Badge
	Changes []string // per metric of the page, "+484% [479%, 489%]" or "–"
}

// Trend is an experiment followed over its runs: the verdicts, their streak, and each
// metric's change with its interval run by run against the tolerance.
type Trend struct {
	Name string
	Runs []TrendRun // newest first
	// Latest is the newest finished run, whose badge leads the page; nil before one.
	Latest  *murphyv1.Run
	Metrics []string
	Charts  []template.HTML
	Counts  string // "refuted 7, upheld 1 of 8 runs"
	Streak  string // "the last 3 refuted in a row"
	// Schedules are the IDs of the schedules that run this experiment.
	Schedules []string
}

// NewTrend follows the experiment name over runs (any order).
func NewTrend(name string, runs []*murphyv1.Run) *Trend {
	tr := &Trend{Name: name}
	var mine []*murphyv1.Run
	for _, r := range runs {
		if r.Experiment == name {
			mine = append(mine, r)
		}
	}
	slices.SortFunc(mine, func(a, b *murphyv1.Run) int {
		if c := a.CreatedAt.AsTime().Compare(b.CreatedAt.AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
	for _, r := range mine {
		for _, m := range specOf(r).GetHypothesis().GetMetrics() {
			if !slices.Contains(tr.Metrics, m.Name) {
				tr.Metrics = append(tr.Metrics, m.Name)
			}
		}
	}
	counts := map[string]int{}
	var order []string
	for _, r := range mine {
		b := RunBadge(r)
		if b.Class != "running" {
			if counts[b.Text] == 0 {
				order = append(order, b.Text)
			}
			counts[b.Text]++
		}
		tv := TrendRun{Run: r, Badge: b}
		for _, name := range tr.Metrics {
			c := "–"
			if m := metricOf(r, name); m != nil && hasEstimate(m) {
				est, lo, hi, format := trendValue(m)
				c = fmt.Sprintf("%s [%s, %s]", format(est), format(lo), format(hi))
			}
			tv.Changes = append(tv.Changes, c)
		}
		tr.Runs = append(tr.Runs, tv)
	}
	decided := 0
	var parts []string
	slices.SortStableFunc(order, func(a, b string) int { return counts[b] - counts[a] })
	for _, o := range order {
		parts = append(parts, fmt.Sprintf("%s %d", o, counts[o]))
		decided += counts[o]
	}
	if decided > 0 {
		tr.Counts = fmt.Sprintf("%s of %d finished runs", strings.Join(parts, ", "), decided)
	}
	// The streak: the newest finished runs that share one outcome.
	n, last := 0, ""
	for i := len(tr.Runs) - 1; i >= 0; i-- {
		b := tr.Runs[i].Badge
		if b.Class == "running" {
			continue
		}
		if last != "" && b.Text != last {
			break
		}
		if tr.Latest == nil {
			tr.Latest = tr.Runs[i].Run
		}
		last = b.Text
		n++
	}
	switch {
	case n == 1:
		tr.Streak = "the last run " + last
	case n > 1:
		tr.Streak = fmt.Sprintf("the last %d runs %s in a row", n, last)
	}
	for _, name := range tr.Metrics {
		tr.Charts = append(tr.Charts, trendChart(name, mine))
	}
	slices.Reverse(tr.Runs)
	return tr
}

func metricOf(r *murphyv1.Run, name string) *murphyv1.MetricVerdict {
	for _, m := range r.GetVerdict().GetMetrics() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// trendValue is a metric's change in the terms of its tolerance: relative for a
// relative tolerance, the shift for an absolute one.
func trendValue(m *murphyv1.MetricVerdict) (est, lo, hi float64, format func(float64) string) {
	if _, rel, ok := tolerance(m.Tolerance); ok && !rel {
		return m.Shift, m.ShiftLow, m.ShiftHigh, signedNum
	}
	return m.RelChange, m.RelLow, m.RelHigh, signedPercent
}

// trendChart draws metric's change and interval run by run, oldest on the left, with
// the tolerance dashed and its harmful side shaded.
func trendChart(metric string, runs []*murphyv1.Run) template.HTML {
	type point struct {
		i             int
		est, lo, hi   float64
		class, label  string
		tol           float64
		dir           string
		format        func(float64) string
		hasTol, isRel bool
	}
	var pts []point
	lo, hi := 0.0, 0.0
	for i, r := range runs {
		m := metricOf(r, metric)
		if m == nil || !hasEstimate(m) {
			continue
		}
		p := point{i: i, class: strings.ReplaceAll(metricOutcome(m.Outcome), " ", "-"), label: r.Id, dir: m.Direction}
		p.est, p.lo, p.hi, p.format = trendValue(m)
		p.tol, p.isRel, p.hasTol = tolerance(m.Tolerance)
		lo, hi = math.Min(lo, p.lo), math.Max(hi, p.hi)
		if p.hasTol && p.dir != "increase" {
			lo = math.Min(lo, -p.tol)
		}
		if p.hasTol && p.dir != "decrease" {
			hi = math.Max(hi, p.tol)
		}
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return template.HTML(`<p class="empty">No run of this experiment has a verdict on ` + html.EscapeString(metric) + ` yet.</p>`)
	}
	lo, hi, ticks := niceTicks(lo, hi, 4)
	format := pts[len(pts)-1].format
	var b strings.Builder
	svgOpen(&b, chartW, chartH, metric+": change run by run", "Each run's estimate of the change (dot) and its interval (bar), oldest on the left, against the tolerance (dashed; the harmful side shaded).")
	x := scale{-0.5, float64(len(runs)) - 0.5, padL, chartW - padR}
	y := scale{lo, hi, chartH - padB, padT}
	last := pts[len(pts)-1]
	if last.hasTol {
		if last.dir != "decrease" {
			fmt.Fprintf(&b, `<rect class="harm" x="%d" y="%.1f" width="%d" height="%.1f"/>`, padL, y.at(hi), chartW-padR-padL, y.at(last.tol)-y.at(hi))
			fmt.Fprintf(&b, `<line class="tolerance" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y.at(last.tol), y.at(last.tol))
			text(&b, chartW-padR-4, y.at(last.tol)-4, "end", "label tolerance-tick", "tolerance "+last.format(last.tol))
		}
		if last.dir != "increase" {
			fmt.Fprintf(&b, `<rect class="harm" x="%d" y="%.1f" width="%d" height="%.1f"/>`, padL, y.at(-last.tol), chartW-padR-padL, y.at(lo)-y.at(-last.tol))
			fmt.Fprintf(&b, `<line class="tolerance" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y.at(-last.tol), y.at(-last.tol))
			text(&b, chartW-padR-4, y.at(-last.tol)+12, "end", "label tolerance-tick", "tolerance "+last.format(-last.tol))
		}
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, padL, padT, chartH-padB)
	labels := make([]string, len(ticks))
	for i, v := range ticks {
		labels[i] = format(v)
	}
	if last.isRel || !last.hasTol {
		labels = tickLabels(UnitShare, ticks)
		for i, v := range ticks {
			if v > 0 {
				labels[i] = "+" + labels[i]
			}
		}
	}
	for i, v := range ticks {
		yy := y.at(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, yy, yy)
		text(&b, padL-4, yy+4, "end", "tick", labels[i])
	}
	fmt.Fprintf(&b, `<line class="zero" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y.at(0), y.at(0))
	for _, p := range pts {
		xx := x.at(float64(p.i))
		fmt.Fprintf(&b, `<line class="ci %s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, p.class, xx, xx, y.at(p.lo), y.at(p.hi))
		fmt.Fprintf(&b, `<circle class="est %s" cx="%.1f" cy="%.1f" r="5"><title>%s: %s [%s, %s], %s</title></circle>`, p.class, xx, y.at(p.est), html.EscapeString(p.label), p.format(p.est), p.format(p.lo), p.format(p.hi), html.EscapeString(strings.ReplaceAll(p.class, "-", " ")))
	}
	first, lastRun := runs[0].CreatedAt.AsTime().UTC(), runs[len(runs)-1].CreatedAt.AsTime().UTC()
	text(&b, x.at(0), chartH-padB+14, "middle", "tick", first.Format("Jan 2 15:04"))
	if len(runs) > 1 {
		text(&b, x.at(float64(len(runs)-1)), chartH-padB+14, "middle", "tick", lastRun.Format("Jan 2 15:04"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

type experimentPage struct {
	Page
	*Trend
}

func (h *Handler) experiment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	tr := NewTrend(name, h.cfg.FSM.Runs())
	if len(tr.Runs) == 0 {
		h.fail(w, r, http.StatusNotFound, "Experiment not found", "No run of an experiment named “"+name+"” on this coordinator.")
		return
	}
	if ss, _ := h.cfg.FSM.Schedules(); len(ss) > 0 {
		for _, s := range ss {
			if s.Name == name {
				tr.Schedules = append(tr.Schedules, s.Id)
			}
		}
	}
	h.render(w, "experiment.html", experimentPage{Page: h.chrome(r, "Experiment "+name, "runs"), Trend: tr})
}
