package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/murphy-chaos/murphy/coordinator/fsm"
	"github.com/murphy-chaos/murphy/coordinator/runner"
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
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "murphy_workers_connected", Help: "Workers with a stream attached to this coordinator.",
		}, func() float64 { return float64(len(s.fleet.ConnectedIDs())) }),
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
	runsDesc    = prometheus.NewDesc("murphy_runs", "Runs known to the cluster, by phase.", []string{"phase"}, nil)
	workersDesc = prometheus.NewDesc("murphy_workers_registered", "Registered workers, by committed state.", []string{"state"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- workersDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	phases := map[string]int{}
	for _, r := range c.s.fsm.Runs() {
		phases[fsm.PhaseName(r.Phase)]++
	}
	for _, p := range []string{"pending", "baseline", "injecting", "cooldown", "analysing", "completed", "halted", "failed"} {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(phases[p]), p)
	}
	states := map[string]int{"active": 0, "lost": 0}
	for _, w := range c.s.fsm.Workers() {
		if w.LostAt != nil {
			states["lost"]++
		} else {
			states["active"]++
		}
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(n), st)
	}
}
