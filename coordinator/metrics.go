package coordinator

import (
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/runner"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

type metrics struct {
	leader          prometheus.Gauge
	applyDuration   prometheus.Histogram
	samplesIngested prometheus.Counter
	runner          *runner.Metrics
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "murphy_cluster_leader", Help: "1 while this coordinator is the Raft leader.",
		}),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "murphy_raft_apply_duration_seconds", Help: "Time from proposing a command to its application.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	m.samplesIngested = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "murphy_samples_ingested_total", Help: "Probe samples received from workers by this node while leading.",
	})
	m.runner = runner.NewMetrics(reg)
	reg.MustRegister(m.leader, m.applyDuration, m.samplesIngested, &stateCollector{s: s},
		// go_gc_heap_live_bytes (the heap the last collection found live) on top of
		// the defaults: heap in use also counts garbage not yet collected, so only the
		// live heap says what each connected worker costs (murphy bench halt reads it).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "murphy_workers_connected", Help: "Workers whose own stream this coordinator holds (streams other nodes relay to the leader are not counted).",
		}, func() float64 { return float64(s.fleet.DirectCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "murphy_fsm_applied_index", Help: "Index of the last log entry applied to this node's state.",
		}, func() float64 { return float64(s.fsm.AppliedIndex()) }),
	)
	return m
}

// stateCollector reports counts read from the replicated state at scrape time, so every
// node reports the same numbers without keeping counters of its own.
type stateCollector struct{ s *Server }

var (
	runsDesc     = prometheus.NewDesc("murphy_runs", "Runs known to the cluster, by phase.", []string{"phase"}, nil)
	workersDesc  = prometheus.NewDesc("murphy_workers_registered", "Registered workers, by committed state.", []string{"state"}, nil)
	verdictsDesc = prometheus.NewDesc("murphy_run_verdicts_total",
		"Runs that ended with a verdict, by outcome (upheld, refuted, inconclusive), counted from the replicated state, so every node reports the same and a leader change resets nothing.",
		[]string{"verdict"}, nil)
	skippedDesc = prometheus.NewDesc("murphy_schedule_slots_skipped_total",
		"Slots a schedule did not fire (the reason is in murphy schedules), from the replicated state.", []string{"schedule", "name"}, nil)
	firedDesc = prometheus.NewDesc("murphy_schedule_slots_fired_total",
		"Slots a schedule fired a run for, from the replicated state.", []string{"schedule", "name"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- workersDesc
	ch <- verdictsDesc
	ch <- skippedDesc
	ch <- firedDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	phases := map[string]int{}
	verdicts := map[murphyv1.VerdictOutcome]int{}
	for _, r := range c.s.fsm.Runs() {
		phases[fsm.PhaseName(r.Phase)]++
		if r.Verdict != nil {
			verdicts[r.Verdict.Outcome]++
		}
	}
	for _, p := range []string{"pending", "baseline", "injecting", "cooldown", "analysing", "completed", "halted", "failed"} {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(phases[p]), p)
	}
	for _, o := range []murphyv1.VerdictOutcome{murphyv1.VerdictOutcome_VERDICT_OUTCOME_UPHELD,
		murphyv1.VerdictOutcome_VERDICT_OUTCOME_REFUTED, murphyv1.VerdictOutcome_VERDICT_OUTCOME_INCONCLUSIVE} {
		ch <- prometheus.MustNewConstMetric(verdictsDesc, prometheus.CounterValue, float64(verdicts[o]),
			strings.ToLower(strings.TrimPrefix(o.String(), "VERDICT_OUTCOME_")))
	}
	schedules, _ := c.s.fsm.Schedules()
	for _, sc := range schedules {
		ch <- prometheus.MustNewConstMetric(skippedDesc, prometheus.CounterValue, float64(sc.SkippedTotal), sc.Id, sc.Name)
		ch <- prometheus.MustNewConstMetric(firedDesc, prometheus.CounterValue, float64(sc.FiredTotal), sc.Id, sc.Name)
	}
	// Counted in place: a copy of every worker's record at each scrape would be garbage
	// in proportion to the fleet.
	live, lost := c.s.fsm.WorkerStates()
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(live), "active")
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(lost), "lost")
}
