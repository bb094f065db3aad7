package spec

import "time"

// Defaults filled in by Parse after validation. They lean towards safety:
// a small blast radius, a real control group, a baseline long enough to
// collect a few samples.
const (
	DefaultConfidence              = 0.95
	DefaultProbeInterval           = Duration(time.Second)
	DefaultProbeTimeout            = Duration(2 * time.Second)
	DefaultProbeMethod             = "GET"
	DefaultPrometheusInterval      = Duration(5 * time.Second)
	DefaultMaxWorkers              = 10
	DefaultMaxPercentPerDatacenter = 50.0
	DefaultMaxPercentPerRegion     = 100.0
	DefaultBaseline                = Duration(10 * time.Second)
	DefaultTimezone                = "UTC"
)

// DefaultStratify returns the labels both groups are balanced on when the
// spec does not say: a fresh slice, so callers cannot change the default.
func DefaultStratify() []string { return []string{"region", "datacenter"} }

// applyDefaults runs only on a spec that passed validation, so a zero value
// here always means "omitted": validation rejects explicit zeros wherever a
// default exists. Stratify is the exception and is told apart by nil versus
// empty.
func applyDefaults(e *Experiment) {
	for i := range e.Abort {
		if e.Abort[i].OnMissing == "" {
			e.Abort[i].OnMissing = MissingHalt
		}
	}
	t := &e.Targets
	if t.Control == (GroupSize{}) {
		t.Control = t.Experiment
	}
	if t.Stratify == nil {
		t.Stratify = DefaultStratify()
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
	for i := range e.Hypothesis.Metrics {
		src := &e.Hypothesis.Metrics[i].Source
		if p := src.Probe; p != nil {
			var interval, timeout *Duration
			switch {
			case p.HTTP != nil:
				if p.HTTP.Method == "" {
					p.HTTP.Method = DefaultProbeMethod
				}
				interval, timeout = &p.HTTP.Interval, &p.HTTP.Timeout
			case p.TCP != nil:
				interval, timeout = &p.TCP.Interval, &p.TCP.Timeout
			case p.GRPC != nil:
				interval, timeout = &p.GRPC.Interval, &p.GRPC.Timeout
			case p.Command != nil:
				interval, timeout = &p.Command.Interval, &p.Command.Timeout
			}
			if interval != nil && *interval == 0 {
				*interval = DefaultProbeInterval
			}
			if timeout != nil && *timeout == 0 {
				*timeout = DefaultProbeTimeout
			}
		}
		if p := src.Prometheus; p != nil && p.Interval == 0 {
			p.Interval = DefaultPrometheusInterval
		}
	}
	if e.Baseline == 0 {
		e.Baseline = DefaultBaseline
	}
	if e.Schedule != nil && e.Schedule.Timezone == "" {
		e.Schedule.Timezone = DefaultTimezone
	}
}
