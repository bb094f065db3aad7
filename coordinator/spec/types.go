package spec

import murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"

// APIVersion is the only spec version this package reads. A new version gets
// a new constant and a conversion, never a silent change of meaning.
const APIVersion = "murphy/v1"

// The experiment model is the contract's (proto/murphy/v1/spec.proto): the decoder fills
// those messages, the cluster commits them as they are and workers receive their probes
// and faults unchanged. The names below are the spec's own words for them.
type (
	Experiment        = murphyv1.Experiment
	Origin            = murphyv1.SpecOrigin
	Targets           = murphyv1.Targets
	KubernetesTargets = murphyv1.KubernetesTargets
	GroupSize         = murphyv1.GroupSize
	BlastRadius       = murphyv1.BlastRadius
	Hypothesis        = murphyv1.Hypothesis
	Metric            = murphyv1.Metric
	MetricSource      = murphyv1.MetricSource
	ProbeSource       = murphyv1.Probe
	HTTPProbe         = murphyv1.HTTPProbe
	TCPProbe          = murphyv1.TCPProbe
	GRPCProbe         = murphyv1.GRPCHealthProbe
	CommandProbe      = murphyv1.CommandProbe
	KubernetesProbe   = murphyv1.KubernetesProbe
	JSONPathCheck     = murphyv1.JSONPathCheck
	PrometheusSource  = murphyv1.PrometheusSource
	Tolerance         = murphyv1.Tolerance
	CTKTolerance      = murphyv1.CTKTolerance
	AbortCondition    = murphyv1.AbortCondition
	Step              = murphyv1.Step
	Schedule          = murphyv1.ScheduleSpec
	Window            = murphyv1.Window
)

// Format is the syntax a spec was written in.
type Format = string

// Formats Parse recognises.
const (
	FormatYAML Format = "yaml"
	FormatJSON Format = "json"
)

// ProbeKind names the probe kind that is set: "http", "tcp", "grpc" or "command"; empty
// when none is.
func ProbeKind(p *ProbeSource) string {
	switch {
	case p.GetHttp() != nil:
		return ProbeHTTP
	case p.GetTcp() != nil:
		return ProbeTCP
	case p.GetGrpc() != nil:
		return ProbeGRPC
	case p.GetCommand() != nil:
		return ProbeCommand
	case p.GetKubernetes() != nil:
		return ProbeKubernetes
	}
	return ""
}

// Probe kinds, as the field names a spec uses for them.
const (
	ProbeHTTP       = "http"
	ProbeTCP        = "tcp"
	ProbeGRPC       = "grpc"
	ProbeCommand    = "command"
	ProbeKubernetes = "kubernetes"
)

// ProbeKinds lists the probe kinds in the order messages name them.
func ProbeKinds() []string {
	return []string{ProbeHTTP, ProbeTCP, ProbeGRPC, ProbeCommand, ProbeKubernetes}
}

// Measures returns the measures a probe kind reports, or nil for an unknown
// kind.
func Measures(kind string) []Measure {
	switch kind {
	case ProbeHTTP:
		return []Measure{MeasureLatency, MeasureStatus, MeasureStatusClass, MeasureSuccess}
	case ProbeTCP, ProbeGRPC:
		return []Measure{MeasureLatency, MeasureSuccess}
	case ProbeCommand:
		return []Measure{MeasureLatency, MeasureSuccess, MeasureExitCode, MeasureNumber}
	case ProbeKubernetes:
		return []Measure{MeasureReadyReplicas, MeasureReadyFraction, MeasureRestarts, MeasureTimeToRecover, MeasureSuccess, MeasureLatency}
	}
	return nil
}

// Measure is what a probe sample records.
type Measure = string

// Measures a probe can record. On failure the sample is marked not ok and
// carries the value given here.
const (
	// MeasureLatency is the seconds the check took; on failure, the seconds
	// until it failed (the timeout, when it timed out).
	MeasureLatency Measure = "latency"
	// MeasureSuccess is 1 when the check succeeded, else 0.
	MeasureSuccess Measure = "success"
	// MeasureStatus is the HTTP status code; 0 when no response arrived.
	MeasureStatus Measure = "status"
	// MeasureStatusClass is the HTTP status divided by 100 (2 for 2xx);
	// 0 when no response arrived.
	MeasureStatusClass Measure = "status_class"
	// MeasureExitCode is a command's exit code; -1 when it could not start,
	// timed out or died of a signal.
	MeasureExitCode Measure = "exit_code"
	// MeasureNumber is the last number a command printed on its standard
	// output; 0 when it exited non-zero, timed out or printed none.
	MeasureNumber Measure = "number"
	// MeasureReadyReplicas is a Deployment's ready, live pods (kubernetes probe).
	MeasureReadyReplicas Measure = "ready_replicas"
	// MeasureReadyFraction is ready_replicas over the desired replica count.
	MeasureReadyFraction Measure = "ready_fraction"
	// MeasureRestarts is the container restarts summed over a Deployment's live pods.
	MeasureRestarts Measure = "restarts"
	// MeasureTimeToRecover is the seconds a Deployment has been short of its desired
	// ready replicas (0 while whole); the first sample after it is whole again carries
	// the whole outage's length, so its largest sample is the time to recover.
	MeasureTimeToRecover Measure = "time_to_recover"
)

// Direction is the change of a metric that is bad.
type Direction = string

// Directions a metric may declare as bad.
const (
	DirectionIncrease Direction = "increase"
	DirectionDecrease Direction = "decrease"
	DirectionEither   Direction = "either"
)

// OverlapPolicy is a schedule's answer to a slot that finds its previous run active.
type OverlapPolicy = string

// Overlap policies.
const (
	OverlapSkip    OverlapPolicy = "skip"
	OverlapQueue   OverlapPolicy = "queue"
	OverlapReplace OverlapPolicy = "replace"
)

// OptInLabel is the label a worker carries to be eligible for scheduled runs.
const OptInLabel = murphyv1.OptInLabel

// MissingPolicy is a guardrail's answer to missing data.
type MissingPolicy = string

const (
	MissingHalt MissingPolicy = "halt"
	MissingHold MissingPolicy = "hold"
)

// ConflictPolicy is what a run does when its workers belong to another active run.
type ConflictPolicy = string

const (
	ConflictQueue  ConflictPolicy = "queue"
	ConflictRefuse ConflictPolicy = "refuse"
)
