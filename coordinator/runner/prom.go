package runner

import (
	"context"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/promsrc"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// ensureCollectors starts, once per run and Prometheus metric, a goroutine that queries
// the metric for both groups every interval until the run ends or leadership is lost.
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
		groups := r.groupInstances(run)
		go r.collect(ctx, run.Id, m, groups)
	}
}

// groupInstances maps each group to the Prometheus instance names of its workers.
func (r *Runner) groupInstances(run *murphyv1.Run) map[murphyv1.Group][]string {
	out := map[murphyv1.Group][]string{}
	for g, ids := range map[murphyv1.Group][]string{
		murphyv1.Group_GROUP_CONTROL:    run.Groups.GetControl(),
		murphyv1.Group_GROUP_EXPERIMENT: run.Groups.GetExperiment(),
	} {
		for _, id := range ids {
			out[g] = append(out[g], instanceOf(r.cfg.FSM.Worker(id), id))
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

func (r *Runner) collect(ctx context.Context, runID string, m *spec.Metric, groups map[murphyv1.Group][]string) {
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
		for g, instances := range groups {
			q, err := promsrc.Render(src.Query, groupName(g), instances)
			if err != nil {
				r.log.Error("prometheus query template", "run", runID, "metric", m.Name, "error", err)
				return
			}
			series, err := r.cfg.Prometheus.Instant(ctx, q, now)
			if err != nil {
				// No points is missing data, which the monitor turns into a decision.
				r.log.Warn("prometheus query failed", "run", runID, "metric", m.Name, "group", groupName(g), "error", err)
				continue
			}
			r.cfg.Fleet.Samples().AddPoints(runID, m.Name, PseudoSource(g), toPoints(series))
		}
	}
}

func toPoints(series []promsrc.Series) []fleet.Point {
	var out []fleet.Point
	for _, s := range series {
		for _, p := range s.Points {
			out = append(out, fleet.Point{At: p.At, Value: p.Value, OK: true})
		}
	}
	return out
}

// refreshFromRange replaces the live Prometheus series of the run's metrics with a range
// query over the fault window, so the verdict sees every interval even if this leader
// took over halfway.
func (r *Runner) refreshFromRange(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment, from, to time.Time) {
	if r.cfg.Prometheus == nil || from.IsZero() || !to.After(from) {
		return
	}
	groups := r.groupInstances(run)
	for _, m := range sp.Hypothesis.Metrics {
		src := m.Source.Prometheus
		if src == nil {
			continue
		}
		for g, instances := range groups {
			q, err := promsrc.Render(src.Query, groupName(g), instances)
			if err != nil {
				continue
			}
			series, err := r.cfg.Prometheus.Range(ctx, q, from, to, max(src.Interval.AsDuration(), time.Second))
			if err != nil {
				r.log.Warn("prometheus range query failed; using the live samples", "run", run.Id, "metric", m.Name, "error", err)
				continue
			}
			r.cfg.Fleet.Samples().Replace(run.Id, m.Name, PseudoSource(g), toPoints(series))
		}
	}
}
