package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault/httpfault"
)

type metrics struct {
	activeFaults prometheus.Gauge
	reverts      *prometheus.CounterVec
	assignments  *prometheus.CounterVec
	connected    prometheus.Gauge
	sessions     prometheus.Counter
	samples      prometheus.Counter
	dropped      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, proxies []*httpfault.Proxy) (*metrics, error) {
	m := &metrics{
		activeFaults: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "murphy_worker_active_faults", Help: "Faults currently applied by this worker."}),
		reverts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_reverts_total", Help: "Faults reverted, by cause."}, []string{"cause"}),
		assignments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murphy_worker_assignments_total", Help: "Fault assignments handled, by result."}, []string{"result"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "murphy_worker_connected", Help: "1 while a coordinator has welcomed this worker's stream."}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murphy_worker_sessions_total", Help: "Streams a coordinator welcomed."}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murphy_worker_probe_samples_total", Help: "Probe samples taken."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murphy_worker_probe_samples_dropped_total", Help: "Probe samples refused because a run's buffer was full."}),
	}
	cs := []prometheus.Collector{m.activeFaults, m.reverts, m.assignments, m.connected, m.sessions, m.samples, m.dropped}
	for _, p := range proxies {
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
