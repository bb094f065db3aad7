package runner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// ensureCollectors starts, once per run and Prometheus metric, a goroutine that queries
// the metric for the run's members every interval until the run ends or leadership is
// lost.
func (r *Runner) ensureCollectors(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment) {
	if r.cfg.Prometheus == nil {
		return
	}
	rs := r.stateOf(run)
	for _, m := range sp.Hypothesis.Metrics {
		if m.Source.Prometheus == nil {
			continue
		}
		if rs.collecting[m.Name] {
			continue
		}
		if rs.collecting == nil {
			rs.collecting = map[string]bool{}
		}
		rs.collecting[m.Name] = true
		feed := &promFeed{query: m.Source.Prometheus.Query, groups: r.groupInstances(run)}
		go r.collect(ctx, run.Id, m, feed)
	}
}

// groupInstances maps each group's Prometheus instance names to its workers.
func (r *Runner) groupInstances(run *murphyv1.Run) map[murphyv1.Group]map[string]string {
	return memberInstances(run, func(id string) string { return instanceOf(r.cfg.FSM.Worker(id), id) })
}

// memberInstances maps each group's instance names to its workers. An instance that
// names two members maps to no worker (""): its series cannot be told apart, and giving
// them to one would judge that target on another's samples.
func memberInstances(run *murphyv1.Run, instance func(id string) string) map[murphyv1.Group]map[string]string {
	out := map[murphyv1.Group]map[string]string{}
	owner := map[string]string{}
	for g, ids := range map[murphyv1.Group][]string{
		murphyv1.Group_GROUP_CONTROL:    run.Groups.GetControl(),
		murphyv1.Group_GROUP_EXPERIMENT: run.Groups.GetExperiment(),
	} {
		out[g] = map[string]string{}
		for _, id := range ids {
			in := instance(id)
			out[g][in] = id
			if prev, ok := owner[in]; ok && prev != id {
				owner[in] = ""
			} else {
				owner[in] = id
			}
		}
	}
	for _, m := range out {
		for in := range m {
			m[in] = owner[in]
		}
	}
	return out
}

// instanceOf is how Prometheus names a worker's host: its `instance` label, else its
// `host` label, else its ID.
func instanceOf(w *murphyv1.Worker, id string) string {
	if w != nil {
		if v := w.Labels["instance"]; v != "" {
			return v
		}
		if v := w.Labels["host"]; v != "" {
			return v
		}
	}
	return id
}

func groupName(g murphyv1.Group) string {
	if g == murphyv1.Group_GROUP_CONTROL {
		return "control"
	}
	return "experiment"
}

func (r *Runner) collect(ctx context.Context, runID string, m *spec.Metric, feed *promFeed) {
	src := m.Source.Prometheus
	interval := max(src.Interval.AsDuration(), 100*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		run := r.cfg.FSM.Run(runID)
		if run == nil || run.Phase == murphyv1.RunPhase_RUN_PHASE_ANALYSING || isTerminal(run.Phase) {
			return
		}
		now := r.cfg.Now()
		wasGrouped := feed.grouped
		got, err := feed.fetch(func(q string) ([]promsrc.Series, error) { return r.cfg.Prometheus.Instant(ctx, q, now) })
		if feed.grouped && !wasGrouped {
			r.log.Warn("prometheus query keeps no instance label: its samples are per group, not per target; keep the label (sum by (instance) (...)) to judge targets",
				"run", runID, "metric", m.Name)
		}
		if err != nil {
			// No points is missing data, which the monitor turns into a decision.
			r.log.Warn("prometheus query failed", "run", runID, "metric", m.Name, "error", err)
		}
		for source, pts := range got {
			r.cfg.Fleet.Samples().AddPoints(runID, m.Name, source, pts)
		}
	}
}

// refreshFromRange replaces the live Prometheus series of the run's metrics with a range
// query over the baseline and the fault window, so the verdict sees every interval even if
// this leader took over halfway. The baseline is included because each target's change is
// taken against its own baseline.
func (r *Runner) refreshFromRange(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment, from, to time.Time) {
	if r.cfg.Prometheus == nil || from.IsZero() || !to.After(from) {
		return
	}
	start := from.Add(-sp.Baseline.AsDuration())
	groups := r.groupInstances(run)
	for _, m := range sp.Hypothesis.Metrics {
		src := m.Source.Prometheus
		if src == nil {
			continue
		}
		// Prometheus refuses a range query of more than 11,000 points per series; a long
		// run is read at a coarser step rather than not at all.
		step := max(src.Interval.AsDuration(), time.Second, (to.Sub(start)/maxRangePoints).Round(time.Second)+time.Second)
		feed := &promFeed{query: src.Query, groups: groups}
		got, err := feed.fetch(func(q string) ([]promsrc.Series, error) { return r.cfg.Prometheus.Range(ctx, q, start, to, step) })
		if err != nil {
			r.log.Warn("prometheus range query failed; using the live samples", "run", run.Id, "metric", m.Name, "error", err)
			continue
		}
		// A source the range query has nothing for keeps its live samples: a gap in
		// Prometheus is no reason to forget what was seen.
		for source, pts := range got {
			if len(pts) > 0 {
				r.cfg.Fleet.Samples().Replace(run.Id, m.Name, source, pts)
			}
		}
	}
}

// maxRangePoints keeps a range query under Prometheus's limit of 11,000 points per series.
const maxRangePoints = 10_000

// promFeed turns one Prometheus metric's query results into samples of the run's targets,
// read from each result series' instance label, so that a Prometheus metric is judged
// and guarded target by target like a probe metric. A query whose result keeps no
// instance label cannot be split so: the feed then queries each group on its own and
// files the results under the group's pseudo-source, as one series per group.
type promFeed struct {
	query  string
	groups map[murphyv1.Group]map[string]string // instance -> worker ID
	// grouped is set for good once a result had series but no instance label: a query
	// aggregates the same way every time, and a run's samples must not mix both shapes.
	grouped bool
}

// fetch runs the feed's queries through query and returns their points by source: a
// worker ID, or a group's pseudo-source once the feed is grouped. Series of instances
// that are no member's, or with no instance label beside labelled ones, are dropped.
// On an error it returns what it got before it.
func (f *promFeed) fetch(query func(string) ([]promsrc.Series, error)) (map[string][]fleet.Point, error) {
	out := map[string][]fleet.Point{}
	if !f.grouped {
		for _, q := range f.targetQueries() {
			text, err := promsrc.Render(f.query, q.group, q.instances)
			if err != nil {
				return out, err
			}
			series, err := query(text)
			if err != nil {
				return out, err
			}
			if len(series) > 0 && !anyLabelled(series) {
				f.grouped = true
				clear(out)
				break
			}
			for _, s := range series {
				if w := q.members[s.Labels[promsrc.InstanceLabel]]; w != "" {
					out[w] = append(out[w], toPoints(s)...)
				}
			}
		}
		if !f.grouped {
			return out, nil
		}
	}
	for _, g := range []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT} {
		text, err := promsrc.Render(f.query, groupName(g), slices.Sorted(maps.Keys(f.groups[g])))
		if err != nil {
			return out, err
		}
		series, err := query(text)
		if err != nil {
			return out, err
		}
		for _, s := range series {
			out[PseudoSource(g)] = append(out[PseudoSource(g)], toPoints(s)...)
		}
	}
	return out, nil
}

// memberQuery is one query of a per-target feed and the members it selects.
type memberQuery struct {
	group     string
	instances []string
	members   map[string]string
}

// targetQueries is one query for every member, or one per group when the template uses
// {{.Group}} (one query could not mean both groups).
func (f *promFeed) targetQueries() []memberQuery {
	gs := []murphyv1.Group{murphyv1.Group_GROUP_CONTROL, murphyv1.Group_GROUP_EXPERIMENT}
	if promsrc.DependsOnGroup(f.query) {
		var out []memberQuery
		for _, g := range gs {
			out = append(out, memberQuery{group: groupName(g), instances: slices.Sorted(maps.Keys(f.groups[g])), members: f.groups[g]})
		}
		return out
	}
	all := map[string]string{}
	for _, g := range gs {
		maps.Copy(all, f.groups[g])
	}
	return []memberQuery{{group: "control", instances: slices.Sorted(maps.Keys(all)), members: all}}
}

func anyLabelled(series []promsrc.Series) bool {
	for _, s := range series {
		if s.Labels[promsrc.InstanceLabel] != "" {
			return true
		}
	}
	return false
}

func toPoints(s promsrc.Series) []fleet.Point {
	out := make([]fleet.Point, 0, len(s.Points))
	for _, p := range s.Points {
		out = append(out, fleet.Point{At: p.At, Value: p.Value, OK: true})
	}
	return out
}

// QueryWarnings says which Prometheus metrics' queries visibly aggregate the instance
// label away: their samples cannot be told apart by target, so they will be judged as
// one series per group, every sample independent. Queries that do so in a way the text
// does not show are caught at their first evaluation (promFeed) and in the verdict.
func QueryWarnings(sp *spec.Experiment) []string {
	var out []string
	for _, m := range sp.GetHypothesis().GetMetrics() {
		src := m.GetSource().GetPrometheus()
		if src == nil {
			continue
		}
		q, err := promsrc.Render(src.Query, "control", []string{"target"})
		if err != nil {
			continue
		}
		if why := promsrc.DropsInstance(q); why != "" {
			out = append(out, fmt.Sprintf("metric %s: %s, so Murphy cannot tell the targets apart and will judge it on one series per group, "+
				"every sample independent (host-to-host differences can look like an effect); keep the instance label, e.g. sum by (instance) (...)", m.Name, why))
		}
	}
	return out
}
