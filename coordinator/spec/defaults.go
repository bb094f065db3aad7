package spec

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Defaults filled in by Parse after validation. They lean towards safety:
// a small blast radius, a real control group, a baseline long enough to
// collect a few samples.
const (
	DefaultConfidence              = 0.95
	DefaultProbeInterval           = time.Second
	DefaultProbeTimeout            = 2 * time.Second
	DefaultProbeMethod             = "GET"
	DefaultPrometheusInterval      = 5 * time.Second
	DefaultMaxWorkers              = 10
	DefaultMaxPercentPerDatacenter = 50.0
	DefaultMaxPercentPerRegion     = 100.0
	DefaultBaseline                = 10 * time.Second
	// DefaultDeviationBaseline is the baseline of a spec with a deviation guardrail
	// that sets none: each target's change is measured against its own baseline, and
	// in the fleet simulation (6 hosts per group, host CV 20%, autocorrelated probes) a
	// 2x slowdown was halted within 120 s in 100% of runs with 2 minutes, 69% with 30 s.
	DefaultDeviationBaseline = 2 * time.Minute
	DefaultTimezone          = "UTC"
)

// DefaultStratify returns the labels both groups are balanced on when the
// spec does not say: a fresh slice, so callers cannot change the default.
func DefaultStratify() []string { return []string{"region", "datacenter"} }

// applyDefaults runs only on a spec that passed validation, so a zero value
// here always means "omitted": validation rejects explicit zeros wherever a
// default exists. Stratify is the exception and is told apart by nil versus
// empty.
func applyDefaults(e *Experiment) {
	for _, a := range e.Abort {
		if a.OnMissing == "" {
			a.OnMissing = MissingHalt
		}
	}
	t := e.Targets
	if t.Control == nil {
		t.Control = proto.Clone(t.Experiment).(*GroupSize)
	}
	if t.Stratify == nil {
		t.Stratify = DefaultStratify()
		// Pods of one node share its faults' side effects and its noise: each node's
		// pods are split between the groups, as each zone's are.
		if t.Kubernetes != nil {
			t.Stratify = append(t.Stratify, "node")
		}
	}
	if t.BlastRadius == nil {
		t.BlastRadius = &BlastRadius{}
	}
	if t.BlastRadius.MaxWorkers == 0 {
		t.BlastRadius.MaxWorkers = DefaultMaxWorkers
	}
	if t.BlastRadius.MaxPercentPerDatacenter == 0 {
		t.BlastRadius.MaxPercentPerDatacenter = DefaultMaxPercentPerDatacenter
	}
	if t.BlastRadius.MaxPercentPerRegion == 0 {
		t.BlastRadius.MaxPercentPerRegion = DefaultMaxPercentPerRegion
	}
	if e.Hypothesis.Confidence == 0 {
		e.Hypothesis.Confidence = DefaultConfidence
	}
	for _, m := range e.Hypothesis.Metrics {
		if p := m.Source.Probe; p != nil {
			// The probe goes to workers as it is; its samples come back under this name.
			p.Metric = m.Name
			if h := p.GetHttp(); h != nil && h.Method == "" {
				h.Method = DefaultProbeMethod
			}
			if p.Interval == nil {
				p.Interval = durationpb.New(DefaultProbeInterval)
			}
			if p.Timeout == nil {
				p.Timeout = durationpb.New(DefaultProbeTimeout)
			}
		}
		if p := m.Source.Prometheus; p != nil && p.Interval == nil {
			p.Interval = durationpb.New(DefaultPrometheusInterval)
		}
	}
	if e.Baseline == nil {
		e.Baseline = durationpb.New(DefaultBaseline)
		for _, a := range e.Abort {
			if a.Deviation != nil {
				e.Baseline = durationpb.New(DefaultDeviationBaseline)
			}
		}
	}
	if e.Schedule != nil && e.Schedule.Timezone == "" {
		e.Schedule.Timezone = DefaultTimezone
	}
}
