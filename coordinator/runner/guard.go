package runner

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/coordinator/monitor"
	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Metrics are the runner's instruments. They outlive a leadership term, so the server
// creates them once and hands them to every runner it starts.
type Metrics struct {
	HaltDecision         prometheus.Histogram
	HaltFanout           prometheus.Histogram
	GuardrailEvaluations prometheus.Counter
	Halts                *prometheus.CounterVec
	// FaultsUnconfirmed is murphy_faults_unconfirmed (windows.go).
	FaultsUnconfirmed prometheus.Gauge
}

// NewMetrics registers the runner's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		HaltDecision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "murphy_halt_decision_seconds",
			Help:    "From the first breaching sample to the committed automatic halt.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		HaltFanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "murphy_halt_fanout_seconds",
			Help:    "From a committed halt to the last worker's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		GuardrailEvaluations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murphy_guardrail_evaluations_total",
			Help: "Guardrail evaluations made by the leader's monitor.",
		}),
		Halts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_halts_total",
			Help: "Runs halted, by what halted them (guardrail, operator, all).",
		}, []string{"cause"}),
	}
	m.FaultsUnconfirmed = newUnconfirmedGauge()
	reg.MustRegister(m.HaltDecision, m.HaltFanout, m.GuardrailEvaluations, m.Halts, m.FaultsUnconfirmed)
	return m
}

// guarded is the leader's monitoring state of one run.
type guarded struct {
	m       *monitor.Monitor
	cursors map[string]int // metric + "\x00" + source -> next point index
}

// guardStatus is shared with Watch streams, which read it from other goroutines.
type guardStatus struct {
	mu sync.Mutex
	by map[string][]*murphyv1.GuardrailStatus
}

// Guardrails returns the latest guardrail status of a run the leader is monitoring.
func (r *Runner) Guardrails(run string) []*murphyv1.GuardrailStatus {
	r.status.mu.Lock()
	defer r.status.mu.Unlock()
	return r.status.by[run]
}

// monitorRun feeds the run's new samples to its monitor and, while faults are active,
// evaluates the guardrails; a breach is committed as a halt with its evidence.
func (r *Runner) monitorRun(ctx context.Context, run *murphyv1.Run, sp *spec.Experiment) error {
	if len(sp.Abort) == 0 || run.Groups == nil {
		return nil
	}
	rs := r.stateOf(run)
	g := rs.guard
	if g == nil {
		m, err := monitor.New(sp)
		if err != nil {
			return err
		}
		g = &guarded{m: m, cursors: map[string]int{}}
		rs.guard = g
	}
	var faultStart time.Time
	if len(run.Steps) > 0 {
		faultStart = run.Steps[0].StartedAt.AsTime()
	}
	samples := r.cfg.Fleet.Samples()
	seen := map[string]bool{}
	for _, a := range sp.Abort {
		if seen[a.Metric] {
			continue
		}
		seen[a.Metric] = true
		for _, side := range []struct {
			group   monitor.Group
			sources []string
		}{
			{monitor.Control, append(run.Groups.Control, PseudoSource(murphyv1.Group_GROUP_CONTROL))},
			{monitor.Experiment, append(run.Groups.Experiment, PseudoSource(murphyv1.Group_GROUP_EXPERIMENT))},
		} {
			for _, src := range side.sources {
				key := a.Metric + "\x00" + src
				pts, next := samples.Since(run.Id, a.Metric, src, g.cursors[key])
				g.cursors[key] = next
				before, during := splitAt(pts, faultStart)
				g.m.Observe(a.Metric, side.group, src, before, false)
				g.m.Observe(a.Metric, side.group, src, during, true)
			}
		}
	}
	if run.Phase != murphyv1.RunPhase_RUN_PHASE_INJECTING {
		return nil
	}
	g.m.Start(faultStart)
	evals := g.m.Evaluations()
	d, status := g.m.Evaluate(r.cfg.Now())
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.GuardrailEvaluations.Add(float64(g.m.Evaluations() - evals))
	}
	r.status.mu.Lock()
	r.status.by[run.Id] = status
	r.status.mu.Unlock()
	if d == nil {
		return nil
	}
	r.log.Warn("guardrail breached: halting", "run", run.Id, "reason", d.Reason)
	err := r.apply(ctx, &murphyv1.Command{By: "monitor", Cmd: &murphyv1.Command_HaltRun{HaltRun: &murphyv1.HaltRun{
		RunId: run.Id, Reason: d.Reason, Metric: d.Metric, Values: d.Values,
		Guardrail: d.Guardrail, Threshold: d.Threshold, FirstBreach: timestamppb.New(d.FirstBreach),
		Targets: TargetSummaries(d.Targets), Scale: string(d.Scale), Samples: breachSamples(d.Samples),
	}}})
	if err != nil {
		return err
	}
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.HaltDecision.Observe(r.cfg.Now().Sub(d.FirstBreach).Seconds())
		r.cfg.Metrics.Halts.WithLabelValues("guardrail").Inc()
	}
	// Deliver at once rather than on the next tick: this is the halt path.
	if halted := r.cfg.FSM.Run(run.Id); halted != nil {
		r.deliverHalt(halted)
	}
	return nil
}

// PseudoSource names the series of a group's samples that come from the leader itself
// (Prometheus queries) rather than from one worker.
func PseudoSource(g murphyv1.Group) string {
	if g == murphyv1.Group_GROUP_CONTROL {
		return "@control"
	}
	return "@experiment"
}

func splitAt(pts []fleet.Point, at time.Time) (before, after []fleet.Point) {
	if at.IsZero() {
		return pts, nil
	}
	for i, p := range pts {
		if !p.At.Before(at) {
			return pts[:i], pts[i:]
		}
	}
	return pts, nil
}

func breachSamples(ss []monitor.Sample) []*murphyv1.BreachSample {
	out := make([]*murphyv1.BreachSample, len(ss))
	for i, s := range ss {
		out[i] = &murphyv1.BreachSample{WorkerId: s.Source, At: timestamppb.New(s.At), Value: s.Value}
	}
	return out
}
