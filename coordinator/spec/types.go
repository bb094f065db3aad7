package spec

import "encoding/json"

// APIVersion is the only spec version this package reads. A new version gets
// a new constant and a conversion, never a silent change of meaning.
const APIVersion = "murphy/v1"

// Experiment is a validated experiment spec with every default filled in.
// Field names and JSON names match the YAML a user writes, so the canonical
// JSON parses back into the same value.
type Experiment struct {
	APIVersion  string            `json:"apiVersion"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Targets     Targets           `json:"targets"`
	Hypothesis  Hypothesis        `json:"hypothesis"`
	// Abort conditions are guardrails checked while faults are active;
	// breaching one halts the run and reverts every fault.
	Abort []AbortCondition `json:"abort,omitempty"`
	// Baseline is how long both groups are observed before any fault.
	// Default DefaultBaseline.
	Baseline Duration `json:"baseline"`
	// Cooldown is an optional observation after every fault is reverted,
	// to see whether the system recovers; zero means none.
	Cooldown Duration  `json:"cooldown,omitempty"`
	Steps    []Step    `json:"steps"`
	Schedule *Schedule `json:"schedule,omitempty"`
	// Rollbacks run on the experimental workers after Murphy's own reverts, whether the
	// run completed, failed or was halted.
	Rollbacks []Step `json:"rollbacks,omitempty"`
	// Escalate runs the steps in widening waves (host, then a data centre, then a region),
	// each with its own control group and verdict, stopping at the first wave that is not
	// upheld. The targets' group sizes do not apply: each wave's level sets them.
	Escalate []string `json:"escalate,omitempty"`

	// Origin describes the bytes this value was parsed from. It is not part
	// of the spec, so it never reaches the canonical JSON.
	Origin Origin `json:"-"`
}

// Origin describes the source document of a parsed Experiment.
type Origin struct {
	File   string
	Format Format
	// Digest is the hex SHA-256 of the source bytes, so a stored run can be
	// tied to the exact file that was submitted.
	Digest string
}

// Format is the syntax a spec was written in.
type Format string

// Formats Parse recognises.
const (
	FormatYAML Format = "yaml"
	FormatJSON Format = "json"
)

// Targets says which workers take part and how they are split.
type Targets struct {
	// Selector matches worker labels; every pair must match. It may not be
	// empty: an empty selector would select every worker in the fleet.
	Selector map[string]string `json:"-"`
	// Experiment is the group that receives the faults.
	Experiment GroupSize `json:"experiment"`
	// Control receives no faults. Default: the same size as Experiment, so
	// the comparison is balanced.
	Control GroupSize `json:"control"`
	// Stratify lists labels whose mix both groups must share. Default
	// DefaultStratify; an explicit empty list turns stratification off.
	Stratify    []string    `json:"stratify"`
	BlastRadius BlastRadius `json:"blastRadius"`
	// Seed makes group assignment reproducible. Nil lets the leader draw
	// one and record it in the log.
	Seed *int64 `json:"seed,omitempty"`
	// Match is the selector written as an expression (`region in (a,b), !canary`),
	// canonicalised; the spec's selector is either this or the Selector map.
	Match string `json:"-"`
	// OnConflict decides what a run whose workers are busy in another run does: queue
	// (the default: wait for them) or refuse (fail at once). Runs never overlap.
	OnConflict ConflictPolicy `json:"onConflict,omitempty"`
}

// GroupSize is either an absolute Count or a Percent of the selected
// workers; exactly one is set.
type GroupSize struct {
	Count   int     `json:"count,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// BlastRadius caps how much of the fleet the experiment group may cover.
// The caps apply to the experiment group only: the control group is never
// harmed. Defaults fill every field, so a zero never means "no limit".
type BlastRadius struct {
	// MaxWorkers defaults to DefaultMaxWorkers.
	MaxWorkers int `json:"maxWorkers"`
	// MaxPercentPerDatacenter defaults to DefaultMaxPercentPerDatacenter.
	MaxPercentPerDatacenter float64 `json:"maxPercentPerDatacenter"`
	// MaxPercentPerRegion defaults to DefaultMaxPercentPerRegion (no cap
	// beyond the others).
	MaxPercentPerRegion float64 `json:"maxPercentPerRegion"`
}

// Hypothesis is the steady state that should hold in both groups.
type Hypothesis struct {
	Metrics []Metric `json:"metrics"`
	// Confidence is the level of the confidence intervals used for the
	// verdict, in (0, 1). Default DefaultConfidence.
	Confidence float64 `json:"confidence"`
	// AllowUnderpowered lets a run inject its faults even when the variation seen in the
	// baseline shows its groups are too small to settle the question at the tolerance.
	// By default such a run ends inconclusive at the end of the baseline, before any
	// fault, and says how many targets it would need: an experiment that cannot answer
	// its question should not break anything.
	AllowUnderpowered bool `json:"allowUnderpowered,omitempty"`
}

// Metric is one steady-state measurement.
type Metric struct {
	Name      string       `json:"name"`
	Source    MetricSource `json:"source"`
	Direction Direction    `json:"direction"`
	Tolerance Tolerance    `json:"tolerance"`
	// Critical metrics refute the hypothesis on their own; the verdict
	// logic decides how the others weigh.
	Critical bool `json:"critical,omitempty"`
	// CTKTolerance, set on metrics imported from Chaos Toolkit, is judged next to the
	// statistics.
	CTKTolerance *CTKTolerance `json:"ctkTolerance,omitempty"`
}

// MetricSource is where samples come from; exactly one field is set.
type MetricSource struct {
	Probe      *ProbeSource      `json:"probe,omitempty"`
	Prometheus *PrometheusSource `json:"prometheus,omitempty"`
}

// ProbeSource is a probe run by each worker against its local service.
// Exactly one of HTTP, TCP, GRPC and Command is set, and Measure is one the
// kind reports (see Measures).
type ProbeSource struct {
	HTTP    *HTTPProbe    `json:"http,omitempty"`
	TCP     *TCPProbe     `json:"tcp,omitempty"`
	GRPC    *GRPCProbe    `json:"grpc,omitempty"`
	Command *CommandProbe `json:"command,omitempty"`
	Measure Measure       `json:"measure"`
}

// Kind names the probe kind that is set: "http", "tcp", "grpc" or
// "command"; empty when none is.
func (p *ProbeSource) Kind() string {
	switch {
	case p.HTTP != nil:
		return ProbeHTTP
	case p.TCP != nil:
		return ProbeTCP
	case p.GRPC != nil:
		return ProbeGRPC
	case p.Command != nil:
		return ProbeCommand
	}
	return ""
}

// Timing returns the interval and timeout of whichever kind is set.
func (p *ProbeSource) Timing() (interval, timeout Duration) {
	switch {
	case p.HTTP != nil:
		return p.HTTP.Interval, p.HTTP.Timeout
	case p.TCP != nil:
		return p.TCP.Interval, p.TCP.Timeout
	case p.GRPC != nil:
		return p.GRPC.Interval, p.GRPC.Timeout
	case p.Command != nil:
		return p.Command.Interval, p.Command.Timeout
	}
	return 0, 0
}

// Probe kinds, as the field names a spec uses for them.
const (
	ProbeHTTP    = "http"
	ProbeTCP     = "tcp"
	ProbeGRPC    = "grpc"
	ProbeCommand = "command"
)

// ProbeKinds lists the probe kinds in the order messages name them.
func ProbeKinds() []string { return []string{ProbeHTTP, ProbeTCP, ProbeGRPC, ProbeCommand} }

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
	}
	return nil
}

// HTTPProbe is an HTTP request a worker repeats every Interval.
type HTTPProbe struct {
	// URL may hold ProxyPlaceholder.
	URL string `json:"url"`
	// Method defaults to DefaultProbeMethod.
	Method string `json:"method"`
	// Headers are sent with every request. Host sets the request's host;
	// Content-Length, Transfer-Encoding and Trailer are refused: the body
	// decides them. At most MaxProbeHeaders, each value at most
	// MaxProbeHeaderValue bytes.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is sent as is with every request; at most MaxProbeBody bytes.
	Body string `json:"body,omitempty"`
	// Interval defaults to DefaultProbeInterval.
	Interval Duration `json:"interval"`
	// Timeout defaults to DefaultProbeTimeout.
	Timeout Duration `json:"timeout"`
	// ExpectStatus is the status that counts as success; zero means any
	// 2xx or 3xx status.
	ExpectStatus int `json:"expectStatus,omitempty"`
	// BodyMatch is an RE2 regular expression the first 64 KiB of the body
	// must match for the probe to succeed; empty accepts any body.
	BodyMatch string `json:"bodyMatch,omitempty"`
	// JSONPath, when set, must hold on the body (JSON of at most 64 KiB) for
	// the probe to succeed.
	JSONPath *JSONPathCheck `json:"jsonPath,omitempty"`
}

// JSONPathCheck is an RFC 9535 JSONPath query run on a JSON document: an HTTP
// probe's body or a command probe's standard output. A document that is not
// JSON fails it. With Count the query must select exactly Count values; with
// Expect the selected values must equal Expect, in order; with neither it
// must select at least one value. These are Chaos Toolkit's jsonpath
// tolerance semantics.
type JSONPathCheck struct {
	Path string `json:"path"`
	// Expect holds JSON values as encoding/json decodes them (float64,
	// string, bool, nil, []any, map[string]any). A spec may give one value
	// instead of a list of one.
	Expect []any `json:"expect,omitempty"`
	Count  *int  `json:"count,omitempty"`
}

// TCPProbe connects to Address every Interval and closes the connection at
// once; it succeeds when the connection is established.
type TCPProbe struct {
	// Address is host:port and may hold ProxyPlaceholder.
	Address string `json:"address"`
	// Interval defaults to DefaultProbeInterval.
	Interval Duration `json:"interval"`
	// Timeout defaults to DefaultProbeTimeout.
	Timeout Duration `json:"timeout"`
}

// GRPCProbe calls the standard grpc.health.v1 Check of Address (plaintext)
// every Interval; it succeeds when the answer is SERVING.
type GRPCProbe struct {
	// Address is host:port and may hold ProxyPlaceholder.
	Address string `json:"address"`
	// Service is the service to ask about; empty asks about the whole
	// server.
	Service string `json:"service,omitempty"`
	// Interval defaults to DefaultProbeInterval.
	Interval Duration `json:"interval"`
	// Timeout defaults to DefaultProbeTimeout.
	Timeout Duration `json:"timeout"`
}

// CommandProbe runs a program, without a shell, every Interval; it
// succeeds when the program exits 0. Workers run command probes only when
// their local policy allows the exec fault kind.
type CommandProbe struct {
	// Argv is the program, looked up in the worker's PATH, and its
	// arguments; ProxyPlaceholder is replaced in each.
	Argv []string `json:"argv"`
	// Env is added to the program's environment, which otherwise holds
	// only the worker's PATH and HOME, and LC_ALL=C.
	Env map[string]string `json:"env,omitempty"`
	// JSONPath, when set, must hold on the standard output (JSON of at most
	// 64 KiB) for the probe to succeed, besides the exit code 0.
	JSONPath *JSONPathCheck `json:"jsonPath,omitempty"`
	// Interval defaults to DefaultProbeInterval.
	Interval Duration `json:"interval"`
	// Timeout defaults to DefaultProbeTimeout.
	Timeout Duration `json:"timeout"`
}

// PrometheusSource is a PromQL query evaluated every Interval. The query is
// a text/template; {{.Instances}} expands to a regexp of the group's
// instances so the same query yields one series per group.
type PrometheusSource struct {
	Query string `json:"query"`
	// Interval defaults to DefaultPrometheusInterval.
	Interval Duration `json:"interval"`
}

// Measure is what a probe sample records.
type Measure string

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
)

// Direction is the change of a metric that is bad.
type Direction string

// Directions a metric may declare as bad.
const (
	DirectionIncrease Direction = "increase"
	DirectionDecrease Direction = "decrease"
	DirectionEither   Direction = "either"
)

// Tolerance is how far a metric may move in the bad direction and still
// count as steady. Exactly one field is set; both are non-negative.
type Tolerance struct {
	// Relative is a fraction of the control value: 0.10 is 10%.
	Relative *float64 `json:"relative,omitempty"`
	// Absolute is in the metric's own unit.
	Absolute *float64 `json:"absolute,omitempty"`
}

// AbortCondition is one guardrail. It trips when the experiment group's
// value goes above Above or below Below, or deviates from the control group
// by more than Deviation, continuously for For.
type AbortCondition struct {
	Metric    string     `json:"metric"`
	Above     *float64   `json:"above,omitempty"`
	Below     *float64   `json:"below,omitempty"`
	For       Duration   `json:"for,omitempty"`
	Deviation *Tolerance `json:"deviation,omitempty"`
	// OnMissing decides what happens while faults are active and the metric's source
	// stops answering for both groups: halt (the default: no data is no evidence of
	// safety) or hold (keep going and say so). The experimental group going silent while
	// the control group still reports always halts.
	OnMissing MissingPolicy `json:"onMissing,omitempty"`
}

// Step is one fault applied to the experiment group.
type Step struct {
	Fault string `json:"fault"`
	// Params are strings whatever their YAML type, because each fault kind
	// parses its own parameters and must see exactly what the user wrote.
	Params map[string]string `json:"params,omitempty"`
	// Duration is how long the fault stays before it is reverted. Zero only
	// for instantaneous faults (see Options.FaultIsInstant).
	Duration Duration `json:"duration,omitempty"`
	// Where narrows the step to experiment-group workers with these labels.
	Where map[string]string `json:"where,omitempty"`
	// Parallel starts the step together with the step before it instead of after it;
	// each ends at its own duration, and the next sequential step waits for all.
	Parallel bool `json:"parallel,omitempty"`
}

// Schedule runs the experiment repeatedly (continuous chaos). Exactly one of Cron and
// MTBF says when.
type Schedule struct {
	// Cron has the five classic fields (minute hour day-of-month month day-of-week), or
	// six with a leading seconds field.
	Cron string `json:"cron,omitempty"`
	// MTBF is the mean time between faults of the random mode: firing times are drawn
	// from an exponential distribution with this mean (Chaos Monkey style).
	MTBF Duration `json:"mtbf,omitempty"`
	// Timezone is an IANA zone name; default DefaultTimezone. Windows, blackout dates and
	// the daily cap are read in it.
	Timezone string `json:"timezone"`
	// Windows, when set, are the only times a firing may happen (e.g. weekdays 09:00 to
	// 15:00, so failures happen while engineers are at work).
	Windows []Window `json:"windows,omitempty"`
	// Blackout lists dates ("2026-12-24") or ranges ("2026-12-20..2027-01-02") with no
	// firing at all.
	Blackout []string `json:"blackout,omitempty"`
	// MaxPerDay caps firings per calendar day in Timezone; 0 means no cap.
	MaxPerDay int `json:"maxPerDay,omitempty"`
	// OptIn (default true) restricts scheduled runs to workers labelled
	// murphy.io/chaos=enabled, so continuous chaos only touches hosts that asked for it.
	OptIn *bool `json:"optIn,omitempty"`
	// Overlap says what a slot does when the schedule's previous run is still active:
	// skip it (the default), queue behind it, or replace it (halt the old run).
	Overlap OverlapPolicy `json:"overlap,omitempty"`
	// MaxQueued bounds the runs waiting behind an active one under overlap: queue
	// (default 1); a slot beyond it is skipped.
	MaxQueued int `json:"maxQueued,omitempty"`
	// MaxWait is how long after its slot a queued run may still start (overlap: queue);
	// 0 means as long as its window allows.
	MaxWait Duration `json:"maxWait,omitempty"`
}

// OverlapPolicy is a schedule's answer to a slot that finds its previous run active.
type OverlapPolicy string

// Overlap policies.
const (
	OverlapSkip    OverlapPolicy = "skip"
	OverlapQueue   OverlapPolicy = "queue"
	OverlapReplace OverlapPolicy = "replace"
)

// Window is a weekly time window.
type Window struct {
	// Days are MON..SUN; empty means every day.
	Days []string `json:"days,omitempty"`
	// Start and End are "HH:MM", Start before End, in the schedule's time zone.
	Start string `json:"start"`
	End   string `json:"end"`
}

// OptInLabel is the label a worker carries to be eligible for scheduled runs.
const OptInLabel = "murphy.io/chaos"

// OptedIn reports whether scheduled runs are restricted to opted-in workers.
func (s *Schedule) OptedIn() bool { return s.OptIn == nil || *s.OptIn }

// OverlapOrDefault is the overlap policy, skip when unset.
func (s *Schedule) OverlapOrDefault() OverlapPolicy {
	if s.Overlap == "" {
		return OverlapSkip
	}
	return s.Overlap
}

// QueueLimit is how many runs may wait behind an active one under overlap: queue.
func (s *Schedule) QueueLimit() int {
	if s.MaxQueued == 0 {
		return 1
	}
	return s.MaxQueued
}

// MissingPolicy is a guardrail's answer to missing data.
type MissingPolicy string

const (
	MissingHalt MissingPolicy = "halt"
	MissingHold MissingPolicy = "hold"
)

// ConflictPolicy is what a run does when its workers belong to another active run.
type ConflictPolicy string

const (
	ConflictQueue  ConflictPolicy = "queue"
	ConflictRefuse ConflictPolicy = "refuse"
)

// MarshalJSON writes the selector in the form it was given: a map of equalities or an
// expression string, so the canonical JSON parses back to the same spec.
func (t Targets) MarshalJSON() ([]byte, error) {
	type plain Targets
	out := struct {
		Selector any `json:"selector"`
		plain
	}{Selector: t.Selector, plain: plain(t)}
	if t.Match != "" {
		out.Selector = t.Match
	}
	return json.Marshal(out)
}
