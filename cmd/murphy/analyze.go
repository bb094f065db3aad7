package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/spf13/cobra"
)

type analyzeFlags struct {
	control, experiment string
	samples             string
	proportion          bool
	name                string
	direction           string
	tolRelative         float64
	tolAbsolute         float64
	confidence          float64
	output              string
}

func newAnalyzeCmd() *cobra.Command {
	f := &analyzeFlags{}
	cmd := &cobra.Command{
		Use:   "analyze (--samples FILE | --control FILE --experiment FILE)",
		Short: "Judge samples offline with the statistics Murphy's verdicts use",
		Long: `Analyze judges a metric offline, without a cluster, and says whether it deviated,
stayed within tolerance or is inconclusive. It has two modes.

--samples FILE: per-host samples, analysed exactly as a run is. The host is the unit
of analysis: each host is summarised in the baseline and in the fault window, its
change is taken against its own baseline, and the experimental hosts' mean change is
compared with the control hosts' (Welch's t on the host changes). Host-to-host
differences therefore cancel instead of passing for an effect, and the output says
how many hosts per group the question would need when the hosts at hand cannot
settle it. A pooled Mann-Whitney view (every sample treated as independent) is shown
beside it, labelled; it never decides.

The file is CSV with a header, or JSON lines (one object per line) when its first
non-blank character is '{'; "-" reads standard input. Each record has:

  group   control or experiment
  host    the target's name (a host or a pod); a host belongs to one group
  phase   baseline (before the fault) or fault (the window judged)
  value   a number: a latency, a CPU share, or 0/1 with --proportion
  ok      optional: false marks a failed sample (CSV: true, false, 1, 0; empty = true)

CSV columns may come in any order; unknown or missing columns are errors. Rows of a
host are read in time order. Lines starting with # are comments. For example:

  group,host,phase,value,ok
  control,web-1,baseline,0.112,true
  control,web-1,fault,0.109,true
  experiment,web-7,baseline,0.115,true
  experiment,web-7,fault,0.151,false

or, as JSON lines:

  {"group":"experiment","host":"web-7","phase":"fault","value":0.151,"ok":false}

A failed sample is not a fast sample: for a continuous metric, samples with ok=false
are dropped from the values and counted in the output; judge failures as a success
metric with --proportion, where each value is 0 or 1 (a probe's success), ok is
ignored and the hosts' shares are compared. When every value is 0 or 1 without
--proportion, a note suggests it; the mode never switches by itself.

--control FILE --experiment FILE: two samples, one number per line (blank lines and
lines starting with # are skipped), compared the way a sample-level verdict does:
Mann-Whitney U, the Hodges-Lehmann shift with its confidence interval, the change
relative to the control median, Welch's t, and the decision against the tolerance.
This mode treats every sample as independent evidence. That holds for per-request
samples from one target; samples from several hosts are not independent (host
differences look like effects), so give those to --samples instead. Lines are read in
time order: if consecutive samples are correlated the tests run on batch means and
the output says so. In JSON, method is "exact" for both exact distributions (with or
without ties) and "asymptotic" for the normal approximation; details.method tells
them apart.

In both modes --direction names the harmful direction and makes the test one-sided
in it (default either: two-sided). Without a tolerance any change counts, so the
metric can be deviated or inconclusive but never within tolerance.

JSON of --samples: verdict, reason, unit ("target"), kind, method, scale (log: ratios;
linear: differences), estimate with ci_low and ci_high (the experimental hosts' change
over the control hosts', as a relative change: 0.12 = +12%), shift and its interval in
metric units, hosts_control, hosts_experiment, hosts_needed (when known), confidence,
direction, tolerance, decision, details, samples_read, failed_samples_dropped, hosts
(per host: n_baseline, n_window, baseline, window, change, beyond), pooled (the
secondary every-sample-independent view) and warnings. A host's change is window over
baseline minus one on the log scale and window minus baseline on the linear scale.
Numbers that cannot be computed are null.`,
		Example: `  murphy analyze --samples samples.csv --direction increase --tolerance-relative 0.1
  murphy analyze --samples probes.jsonl --proportion --direction decrease --tolerance-absolute 0.02 -o json
  export-samples | murphy analyze --samples - --name p99 --direction increase --tolerance-relative 0.05
  murphy analyze --control before.txt --experiment after.txt
  murphy analyze --control c.txt --experiment e.txt --direction increase --tolerance-relative 0.1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAnalyze(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.samples, "samples", "", "CSV or JSON-lines file of per-host samples (group, host, phase, value, ok); - reads stdin")
	fl.BoolVar(&f.proportion, "proportion", false, "with --samples: values are 0/1 (a probe's success) and hosts' shares are compared")
	fl.StringVar(&f.control, "control", "", "file with the control group's samples, one per line (every sample independent)")
	fl.StringVar(&f.experiment, "experiment", "", "file with the experimental group's samples, one per line")
	fl.StringVar(&f.name, "name", "metric", "metric name used in the verdict's sentence")
	fl.StringVar(&f.direction, "direction", "either", "harmful direction: increase, decrease or either")
	fl.Float64Var(&f.tolRelative, "tolerance-relative", 0, "allowed change as a fraction of the control level (0.1 = 10%)")
	fl.Float64Var(&f.tolAbsolute, "tolerance-absolute", 0, "allowed change in the metric's own units")
	fl.Float64Var(&f.confidence, "confidence", 0.95, "confidence level of the interval, strictly between 0 and 1")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

func runAnalyze(cmd *cobra.Command, f *analyzeFlags) error {
	// Flags first, files second: a typo in a flag should not wait for a large read.
	samplesMode := cmd.Flags().Changed("samples")
	switch {
	case samplesMode && (f.control != "" || f.experiment != ""):
		return errors.New("--samples cannot be combined with --control or --experiment: give either one file of per-host samples or two files of samples")
	case samplesMode && f.samples == "":
		return errors.New("--samples needs a file name (- reads standard input)")
	case !samplesMode && f.proportion:
		return errors.New("--proportion works with --samples only")
	case !samplesMode && (f.control == "" || f.experiment == ""):
		return errors.New("both --control and --experiment are required, or --samples FILE")
	}
	dir, tol, err := analyzeSettings(cmd, f)
	if err != nil {
		return err
	}
	if samplesMode {
		return runAnalyzeSamples(cmd, f, dir, tol)
	}
	control, err := readSamples(f.control)
	if err != nil {
		return err
	}
	experiment, err := readSamples(f.experiment)
	if err != nil {
		return err
	}

	c, err := analysis.Compare(control, experiment, dir, f.confidence)
	if err != nil {
		return fmt.Errorf("cannot compare %s with %s: %s", f.control, f.experiment, strings.TrimPrefix(err.Error(), "analysis: "))
	}
	v, err := analysis.Judge([]analysis.Metric{{
		Name: f.name, Direction: dir, Tolerance: tol, Control: control, Experiment: experiment,
	}}, analysis.Options{Confidence: f.confidence, FamilyAlpha: familyAlpha(f.confidence)})
	if err != nil {
		return err
	}
	rep := newAnalyzeReport(c, v.Metrics[0], dir, tol, f)
	if f.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printAnalyze(cmd.OutOrStdout(), rep)
	return nil
}

// analyzeSettings checks the flags both modes share.
func analyzeSettings(cmd *cobra.Command, f *analyzeFlags) (analysis.Direction, analysis.Tolerance, error) {
	dir, err := analysis.ParseDirection(f.direction)
	if err != nil {
		return dir, analysis.Tolerance{}, fmt.Errorf("unknown direction %q: use increase, decrease or either", f.direction)
	}
	relSet, absSet := cmd.Flags().Changed("tolerance-relative"), cmd.Flags().Changed("tolerance-absolute")
	if relSet && absSet {
		return dir, analysis.Tolerance{}, errors.New("use either --tolerance-relative or --tolerance-absolute, not both")
	}
	tol := analysis.Tolerance{Absolute: f.tolAbsolute}
	if relSet {
		tol = analysis.Tolerance{Relative: f.tolRelative, IsRelative: true}
	}
	if v := max(f.tolRelative, f.tolAbsolute); math.IsNaN(v) || math.IsInf(v, 0) || f.tolRelative < 0 || f.tolAbsolute < 0 {
		return dir, tol, errors.New("a tolerance must be a finite, non-negative number")
	}
	if !(f.confidence > 0 && f.confidence < 1) {
		return dir, tol, fmt.Errorf("--confidence %v must lie strictly between 0 and 1 (e.g. 0.95)", f.confidence)
	}
	if f.output != "text" && f.output != "json" {
		return dir, tol, fmt.Errorf("unknown output %q: use text or json", f.output)
	}
	return dir, tol, nil
}

// familyAlpha is the family-wise level for one metric: it is its own family, so its
// level is 1 − confidence, and the decision and the printed interval then speak about
// the same error rate. Rounded so that 0.95 gives 0.05, not 0.050000000000000044.
func familyAlpha(confidence float64) float64 {
	return math.Round((1-confidence)*1e12) / 1e12
}

// readSamples reads one number per line. Errors name the file and line so a bad export
// can be fixed in an editor straight away.
func readSamples(path string) ([]float64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer fh.Close()
	var x []float64
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s:%d: %q is not a finite number; put one number per line (# starts a comment)", path, line, clip(s))
		}
		x = append(x, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read samples from %s: %w", path, err)
	}
	if len(x) == 0 {
		return nil, fmt.Errorf("%s has no samples: put one number per line", path)
	}
	return x, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// analyzeReport is the JSON document. The flat top-level keys are the stable contract
// for scripts; everything else is nested so it can grow without clashing.
type analyzeReport struct {
	NControl       int      `json:"n_control"`
	NExperiment    int      `json:"n_experiment"`
	U              float64  `json:"u"`
	PValue         float64  `json:"p_value"`
	Method         string   `json:"method"`
	HodgesLehmann  float64  `json:"hodges_lehmann"`
	CILow          float64  `json:"ci_low"`
	CIHigh         float64  `json:"ci_high"`
	RelativeChange *float64 `json:"relative_change"`
	WelchT         *float64 `json:"welch_t"`
	WelchDF        *float64 `json:"welch_df"`
	WelchPValue    *float64 `json:"welch_p_value"`
	Verdict        string   `json:"verdict"`

	Reason        string          `json:"reason"`
	Direction     string          `json:"direction"`
	Alternative   string          `json:"alternative"`
	Confidence    float64         `json:"confidence"`
	Tolerance     analyzeTol      `json:"tolerance"`
	Decision      analyzeDecision `json:"decision"`
	Details       analyzeDetails  `json:"details"`
	Warnings      []string        `json:"warnings"`
	SamplesNeeded int             `json:"samples_needed,omitempty"`
}

type analyzeTol struct {
	Kind  string  `json:"kind"` // relative or absolute
	Value float64 `json:"value"`
	// InMetricUnits is the tolerance the interval was compared with.
	InMetricUnits float64 `json:"in_metric_units"`
}

type analyzeDecision struct {
	// Alpha is the level the p-value against the tolerance boundary was compared with.
	Alpha float64 `json:"alpha"`
	// PTolerance tests "the shift stays within the tolerance" in the harmful direction.
	PTolerance  float64 `json:"p_tolerance"`
	Significant bool    `json:"significant"`
}

type analyzeDetails struct {
	Method           string   `json:"method"` // exact, exact-ties or asymptotic
	Ties             bool     `json:"ties"`
	Z                *float64 `json:"z,omitempty"`
	SigmaU           float64  `json:"sigma_u"`
	ControlMedian    float64  `json:"control_median"`
	ExperimentMedian float64  `json:"experiment_median"`
	RelativeCILow    *float64 `json:"relative_ci_low"`
	RelativeCIHigh   *float64 `json:"relative_ci_high"`
	RelativeBase     *float64 `json:"relative_base"`
	IntervalMethod   string   `json:"interval_method"`
	IntervalRank     int64    `json:"interval_rank"`
	IntervalCoverage float64  `json:"interval_coverage"`
	Lag1Control      float64  `json:"lag1_control"`
	Lag1Experiment   float64  `json:"lag1_experiment"`
	BatchSize        int      `json:"batch_size"`
	AnalysedControl  int      `json:"analysed_control"`
	AnalysedExp      int      `json:"analysed_experiment"`
}

func newAnalyzeReport(c analysis.Comparison, mv analysis.MetricVerdict, dir analysis.Direction, tol analysis.Tolerance, f *analyzeFlags) analyzeReport {
	ptr := func(v float64) *float64 { return &v }
	method := "asymptotic"
	if c.MannWhitney.Method != analysis.MethodAsymptotic {
		// The exact permutation distribution with mid-ranks is still an exact p-value;
		// scripts that only care about "exact or approximate" need no third value.
		method = "exact"
	}
	alt := map[analysis.Direction]string{
		analysis.DirectionIncrease: "greater", analysis.DirectionDecrease: "less", analysis.DirectionEither: "two-sided",
	}[dir]
	r := analyzeReport{
		NControl: c.NControl, NExperiment: c.NExperiment,
		U: c.MannWhitney.U, PValue: c.MannWhitney.P, Method: method,
		HodgesLehmann: c.HL.Shift, CILow: c.HL.Low, CIHigh: c.HL.High,
		Verdict: string(mv.Outcome), Reason: mv.Reason,
		Direction: dir.String(), Alternative: alt, Confidence: f.confidence,
		Decision: analyzeDecision{Alpha: mv.Alpha, PTolerance: mv.PTolerance, Significant: mv.Significant},
		Details: analyzeDetails{
			Method: string(c.MannWhitney.Method), Ties: c.MannWhitney.Ties, SigmaU: c.MannWhitney.Sigma,
			ControlMedian: c.ControlMedian, ExperimentMedian: c.ExperimentMedian,
			IntervalMethod: "hodges-lehmann " + string(c.HL.Method), IntervalRank: c.HL.Rank, IntervalCoverage: c.HL.Coverage,
			Lag1Control: c.Lag1Control, Lag1Experiment: c.Lag1Experiment, BatchSize: c.BatchSize,
			AnalysedControl: c.AnalysedControl, AnalysedExp: c.AnalysedExperiment,
		},
		Warnings:      c.Warnings,
		SamplesNeeded: mv.SamplesNeeded,
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	if c.MannWhitney.Method == analysis.MethodAsymptotic {
		r.Details.Z = ptr(c.MannWhitney.Z)
	}
	if c.RelDefined {
		r.RelativeChange = ptr(c.RelChange)
		r.Details.RelativeCILow, r.Details.RelativeCIHigh, r.Details.RelativeBase = ptr(c.RelLow), ptr(c.RelHigh), ptr(c.RelBase)
	}
	if c.Welch.DF > 0 {
		r.WelchT, r.WelchDF, r.WelchPValue = ptr(c.Welch.T), ptr(c.Welch.DF), ptr(c.Welch.P)
	}
	r.Tolerance = analyzeTol{Kind: "absolute", Value: tol.Absolute, InMetricUnits: mv.ToleranceValue}
	if tol.IsRelative {
		r.Tolerance.Kind, r.Tolerance.Value = "relative", tol.Relative
	}
	return r
}

func printAnalyze(w io.Writer, r analyzeReport) {
	conf := fmt.Sprintf("%g%% CI", 100*r.Confidence)
	side := map[string]string{"greater": "one-sided: is the experiment higher?", "less": "one-sided: is the experiment lower?",
		"two-sided": "two-sided"}[r.Alternative]
	fmt.Fprintf(w, "Verdict       %s\n", strings.ToUpper(strings.ReplaceAll(r.Verdict, "_", " ")))
	fmt.Fprintf(w, "              %s\n\n", r.Reason)
	fmt.Fprintf(w, "Samples       control n=%d median %s; experiment n=%d median %s\n",
		r.NControl, num(r.Details.ControlMedian), r.NExperiment, num(r.Details.ExperimentMedian))
	fmt.Fprintf(w, "Harmful       %s", r.Direction)
	switch {
	case r.Tolerance.InMetricUnits == 0:
		fmt.Fprintf(w, ", no tolerance: any significant change counts\n")
	case r.Tolerance.Kind == "relative":
		fmt.Fprintf(w, ", tolerance %g%% of the control median (%s)\n", 100*r.Tolerance.Value, num(r.Tolerance.InMetricUnits))
	default:
		fmt.Fprintf(w, ", tolerance %s\n", num(r.Tolerance.InMetricUnits))
	}
	fmt.Fprintf(w, "Shift         %s (Hodges-Lehmann: median of experiment − control), %s %s to %s\n",
		signed(r.HodgesLehmann), conf, num(r.CILow), num(r.CIHigh))
	if r.RelativeChange != nil {
		fmt.Fprintf(w, "Relative      %s of the control median, %s %s to %s\n",
			pct(*r.RelativeChange), conf, pct(*r.Details.RelativeCILow), pct(*r.Details.RelativeCIHigh))
	}
	fmt.Fprintf(w, "Mann-Whitney  U = %s, p = %.3g (%s, %s)\n", strconv.FormatFloat(r.U, 'f', -1, 64), r.PValue, r.Details.Method, side)
	if r.WelchT != nil {
		fmt.Fprintf(w, "Welch         t = %.3g, df = %.1f, p = %.3g (two-sided, compares means)\n", *r.WelchT, *r.WelchDF, *r.WelchPValue)
	}
	fmt.Fprintf(w, "Lag-1 autocorrelation  control %.2f, experiment %.2f", r.Details.Lag1Control, r.Details.Lag1Experiment)
	if r.Details.BatchSize > 1 {
		fmt.Fprintf(w, " (tests ran on means of %d consecutive samples: %d and %d batches)",
			r.Details.BatchSize, r.Details.AnalysedControl, r.Details.AnalysedExp)
	}
	fmt.Fprintln(w)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "Warning       %s\n", warn)
	}
}

func signed(v float64) string {
	if v > 0 {
		return "+" + num(v)
	}
	return num(v)
}
