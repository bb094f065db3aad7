package worker

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// metrics are the worker's instruments. Counters are bumped where things happen; what can
// be read from the agent's own state (faults in force by kind, the journal, the lease,
// the capabilities) is read at scrape time by stateCollector, so it cannot drift from
// what the agent holds.
type metrics struct {
	activeFaults   prometheus.Gauge
	reverts        *prometheus.CounterVec
	revertFailures *prometheus.CounterVec
	injects        *prometheus.CounterVec
	assignments    *prometheus.CounterVec
	connected      *flagGauge
	sessions       prometheus.Counter
	samples        *prometheus.CounterVec
	probeErrors    *prometheus.CounterVec
	dropped        prometheus.Counter
}

// flagGauge is a 0/1 gauge whose value can also be read (by /readyz).
type flagGauge struct {
	prometheus.Gauge
	on atomic.Bool
}

func (g *flagGauge) Set(v float64) {
	g.on.Store(v != 0)
	g.Gauge.Set(v)
}

func newMetrics(reg prometheus.Registerer, a *Agent) (*metrics, error) {
	m := &metrics{
		activeFaults: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "murphy_worker_active_faults", Help: "Faults currently applied by this worker (murphy_worker_faults_active splits them by kind)."}),
		reverts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_reverts_total",
			Help: "Faults reverted, by cause: completed (the coordinator's revert at the step's end), halt, deadline, deadman, startup, reconcile, unspecified (shutdown)."},
			[]string{"cause"}),
		revertFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_revert_failures_total",
			Help: "Revert attempts that failed, by cause (failed_inject: the clean-up after an inject that failed). A failed revert is retried; the fault stays in the journal."},
			[]string{"cause"}),
		injects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_injects_total", Help: "Faults injected, by kind."}, []string{"kind"}),
		assignments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_assignments_total", Help: "Fault assignments handled, by result."}, []string{"result"}),
		connected: &flagGauge{Gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "murphy_worker_connected", Help: "1 while a coordinator has welcomed this worker's stream."})},
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murphy_worker_sessions_total", Help: "Streams a coordinator welcomed."}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_probe_samples_total", Help: "Probe samples taken, by probe kind (http, tcp, grpc, command)."}, []string{"kind"}),
		probeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_probe_errors_total", Help: "Probe samples whose check failed, by probe kind."}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murphy_worker_probe_samples_dropped_total", Help: "Probe samples refused because a run's buffer was full."}),
	}
	for _, k := range probeKindNames {
		// Present from the start, so a rate() over them is defined before the first probe.
		m.samples.WithLabelValues(k)
		m.probeErrors.WithLabelValues(k)
	}
	cs := []prometheus.Collector{m.activeFaults, m.reverts, m.revertFailures, m.injects, m.assignments,
		m.connected, m.sessions, m.samples, m.probeErrors, m.dropped, &stateCollector{a: a}}
	for _, p := range a.proxies {
		labels := prometheus.Labels{"proxy": p.ConfiguredAddr()}
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "murphy_worker_proxy_requests_total",
				Help: "Requests through the HTTP fault proxy.", ConstLabels: labels},
				func() float64 { return float64(p.Stats().Requests) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "murphy_worker_proxy_delayed_requests_total",
				Help: "Requests the proxy delayed.", ConstLabels: labels},
				func() float64 { return float64(p.Stats().Delayed) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "murphy_worker_proxy_aborted_requests_total",
				Help: "Requests the proxy answered with an injected error.", ConstLabels: labels},
				func() float64 { return float64(p.Stats().Aborted) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register worker metrics: %w", err)
		}
	}
	return m, nil
}

// probeKindNames are the probe kinds' label values.
var probeKindNames = []string{"http", "tcp", "grpc", "command", "kubernetes"}

// probeKinds maps each probe's metric to its kind's label value.
func probeKinds(probes []*murphyv1.Probe) map[string]string {
	out := make(map[string]string, len(probes))
	for _, p := range probes {
		k := "unknown"
		switch p.GetKind().(type) {
		case *murphyv1.Probe_Http:
			k = "http"
		case *murphyv1.Probe_Tcp:
			k = "tcp"
		case *murphyv1.Probe_Grpc:
			k = "grpc"
		case *murphyv1.Probe_Command:
			k = "command"
		case *murphyv1.Probe_Kubernetes:
			k = "kubernetes"
		}
		out[p.GetMetric()] = k
	}
	return out
}

// probeSample counts one sample of a probe of kind.
func (m *metrics) probeSample(kind string, s *murphyv1.Sample) {
	m.samples.WithLabelValues(kind).Inc()
	if !s.GetOk() {
		m.probeErrors.WithLabelValues(kind).Inc()
	}
}

// stateCollector reads the agent's state at scrape time.
type stateCollector struct{ a *Agent }

var (
	faultsActiveDesc = prometheus.NewDesc("murphy_worker_faults_active",
		"Faults in force on this worker (injected, not yet reverted), by kind.", []string{"kind"}, nil)
	faultsOverdueDesc = prometheus.NewDesc("murphy_worker_faults_past_deadline",
		"Faults still in force after their hard local deadline (their revert is failing or stuck).", nil, nil)
	journalDesc = prometheus.NewDesc("murphy_worker_journal_entries",
		"Faults recorded in the journal (intent written, revert not yet confirmed); -1 when the journal cannot be read.", nil, nil)
	leaseDesc = prometheus.NewDesc("murphy_worker_lease_remaining_seconds",
		"Seconds until the dead-man's switch reverts every fault unless the coordinator is heard from (negative once it has fired; it acts only while faults are active).", nil, nil)
	capabilityDesc = prometheus.NewDesc("murphy_worker_capability",
		"1 for each fault kind (and kind:mechanism) this worker detected and its policy allows.", []string{"capability"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- faultsActiveDesc
	ch <- faultsOverdueDesc
	ch <- journalDesc
	ch <- leaseDesc
	ch <- capabilityDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	now := time.Now()
	byKind := map[string]int{}
	overdue := 0
	a.faultMu.Lock()
	for _, act := range a.faults {
		if act.injecting || act.af == nil {
			continue
		}
		byKind[act.f.Kind]++
		if now.After(act.f.Deadline) {
			overdue++
		}
	}
	a.faultMu.Unlock()
	// Every kind the worker offers is reported, at 0 when idle, so an alert or a graph
	// sees the series fall to 0 rather than vanish.
	if a.reg != nil {
		for _, k := range a.reg.Kinds() {
			if _, ok := byKind[k]; !ok {
				byKind[k] = 0
			}
		}
	}
	for k, n := range byKind {
		ch <- prometheus.MustNewConstMetric(faultsActiveDesc, prometheus.GaugeValue, float64(n), k)
	}
	ch <- prometheus.MustNewConstMetric(faultsOverdueDesc, prometheus.GaugeValue, float64(overdue))

	entries := -1.0
	if a.journal != nil {
		if l, err := a.journal.List(); err == nil {
			entries = float64(len(l))
		}
	}
	ch <- prometheus.MustNewConstMetric(journalDesc, prometheus.GaugeValue, entries)

	a.mu.Lock()
	remaining := a.lease - now.Sub(a.lastContact)
	a.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(leaseDesc, prometheus.GaugeValue, remaining.Seconds())

	for _, cp := range a.caps {
		ch <- prometheus.MustNewConstMetric(capabilityDesc, prometheus.GaugeValue, 1, cp)
	}
}

// causeLabel is the short label value of a revert cause: "deadline", "halt", ...
func causeLabel(c murphyv1.RevertCause) string {
	switch c {
	case murphyv1.RevertCause_REVERT_CAUSE_COMPLETED:
		return "completed"
	case murphyv1.RevertCause_REVERT_CAUSE_HALT:
		return "halt"
	case murphyv1.RevertCause_REVERT_CAUSE_DEADLINE:
		return "deadline"
	case murphyv1.RevertCause_REVERT_CAUSE_DEADMAN:
		return "deadman"
	case murphyv1.RevertCause_REVERT_CAUSE_STARTUP:
		return "startup"
	case murphyv1.RevertCause_REVERT_CAUSE_RECONCILE:
		return "reconcile"
	}
	return "unspecified"
}
