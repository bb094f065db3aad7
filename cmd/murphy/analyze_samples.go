package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/murphy-chaos/murphy/analysis"
	"github.com/spf13/cobra"
)

// `murphy analyze --samples FILE`: per-host samples judged at the target level, exactly
// as a run's verdict judges them.

// sampleFields are the fields of a sample record, required ones first.
var sampleFields = []string{"group", "host", "phase", "value", "ok"}

const requiredSampleFields = 4

// sampleFieldsText names the fields in error messages.
const sampleFieldsText = "group, host, phase, value and optionally ok"

// maxHostRows caps the text table; -o json lists every host.
const maxHostRows = 30

// noRealisticHosts mirrors the cap on the analysis package's targets-needed figure: at
// it, no number of hosts would settle the question at this tolerance.
const noRealisticHosts = 100_000

// hostSamples is one host's values in file order, which is taken as time order.
type hostSamples struct {
	host       string
	experiment bool
	line       int // where the host first appeared
	baseline   []float64
	window     []float64
	dropped    int // failed samples left out of a continuous metric
}

// sampleSet is a samples file, grouped by host.
type sampleSet struct {
	name       string // the file as the user named it, for messages
	proportion bool
	hosts      []*hostSamples // in order of first appearance
	byHost     map[string]*hostSamples
	records    int
	dropped    int  // ok=false samples dropped (continuous metrics)
	okIgnored  int  // ok=false samples kept because --proportion judges the value
	binary     bool // every value kept is 0 or 1
}

// rawSample is one record as read, before validation.
type rawSample struct {
	group, host, phase, value string
	ok                        string // "" means true
}

func (s *sampleSet) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s line %d: %s", s.name, line, fmt.Sprintf(format, args...))
}

// add validates one record and files it under its host.
func (s *sampleSet) add(line int, r rawSample) error {
	var experiment bool
	switch strings.ToLower(r.group) {
	case "control":
	case "experiment":
		experiment = true
	default:
		return s.errorf(line, "group %q must be control or experiment", clip(r.group))
	}
	if r.host == "" {
		return s.errorf(line, "host is empty")
	}
	var fault bool
	switch strings.ToLower(r.phase) {
	case "baseline":
	case "fault":
		fault = true
	default:
		return s.errorf(line, "phase %q must be baseline or fault", clip(r.phase))
	}
	v, err := strconv.ParseFloat(r.value, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return s.errorf(line, "value %q is not a number", clip(r.value))
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return s.errorf(line, "value %q is not a finite number", clip(r.value))
	}
	ok := true
	switch strings.ToLower(r.ok) {
	case "", "true", "1":
	case "false", "0":
		ok = false
	default:
		return s.errorf(line, "ok %q must be true, false, 1 or 0 (empty means true)", clip(r.ok))
	}
	if s.proportion && v != 0 && v != 1 {
		return s.errorf(line, "value %q must be 0 or 1 with --proportion (1 = success)", clip(r.value))
	}
	h := s.byHost[r.host]
	if h == nil {
		h = &hostSamples{host: r.host, experiment: experiment, line: line}
		s.byHost[r.host] = h
		s.hosts = append(s.hosts, h)
	} else if h.experiment != experiment {
		return s.errorf(line, "host %q is in the %s group, but line %d put it in the %s group; a host belongs to one group",
			clip(r.host), sampleGroupName(experiment), h.line, sampleGroupName(h.experiment))
	}
	s.records++
	if !ok {
		if s.proportion {
			s.okIgnored++
		} else {
			// A failed request is not a fast request: latency is measured on successes.
			s.dropped++
			h.dropped++
			return nil
		}
	}
	if v != 0 && v != 1 {
		s.binary = false
	}
	if fault {
		h.window = append(h.window, v)
	} else {
		h.baseline = append(h.baseline, v)
	}
	return nil
}

func sampleGroupName(experiment bool) string {
	if experiment {
		return "experiment"
	}
	return "control"
}

func (s *sampleSet) targetData() analysis.TargetData {
	td := analysis.TargetData{Proportion: s.proportion}
	for _, h := range s.hosts {
		t := analysis.Target{ID: h.host, Baseline: h.baseline, Window: h.window}
		if h.experiment {
			td.Experiment = append(td.Experiment, t)
		} else {
			td.Control = append(td.Control, t)
		}
	}
	return td
}

// loadSamples reads a samples file, or stdin for "-".
func loadSamples(stdin io.Reader, path string, proportion bool) (*sampleSet, error) {
	s := &sampleSet{name: path, proportion: proportion, byHost: map[string]*hostSamples{}, binary: true}
	r := stdin
	if path == "-" {
		s.name = "stdin"
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read samples: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3) // a byte-order mark, as spreadsheets write
	}
	var err error
	if looksLikeJSONLines(br) {
		err = s.readJSONLines(br)
	} else {
		err = s.readCSV(br)
	}
	if err != nil {
		return nil, err
	}
	if s.records == 0 {
		return nil, fmt.Errorf("%s has no samples: give a header and one record per line (%s)", s.name, sampleFieldsText)
	}
	return s, nil
}

// looksLikeJSONLines reports whether the first non-blank character outside comment lines
// is '{', without consuming the input.
func looksLikeJSONLines(br *bufio.Reader) bool {
	comment, lineStart := false, true
	for n := 1; ; n++ {
		b, _ := br.Peek(n)
		if len(b) < n {
			return false
		}
		c := b[n-1]
		switch {
		case c == '\n':
			comment, lineStart = false, true
		case comment || c == ' ' || c == '\t' || c == '\r':
		case c == '#' && lineStart:
			comment = true
		default:
			return c == '{'
		}
	}
}

func (s *sampleSet) readCSV(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1 // checked here, to say which line and how
	cr.ReuseRecord = true
	var col []int // record column → index into sampleFields
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return s.errorf(pe.Line, "%v", pe.Err)
			}
			return fmt.Errorf("read samples from %s: %w", s.name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a line of blanks
		}
		if col == nil {
			if col, err = s.header(line, rec); err != nil {
				return err
			}
			continue
		}
		if len(rec) != len(col) {
			return s.errorf(line, "%d fields, but the header names %d columns", len(rec), len(col))
		}
		var rs rawSample
		fields := [...]*string{&rs.group, &rs.host, &rs.phase, &rs.value, &rs.ok}
		for i, v := range rec {
			*fields[col[i]] = strings.TrimSpace(v)
		}
		if err := s.add(line, rs); err != nil {
			return err
		}
	}
	if col == nil {
		return fmt.Errorf("%s has no samples: give a header and one record per line (%s)", s.name, sampleFieldsText)
	}
	return nil
}

// header maps the CSV header's columns onto the fields.
func (s *sampleSet) header(line int, rec []string) ([]int, error) {
	col := make([]int, len(rec))
	seen := make([]bool, len(sampleFields))
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			return nil, s.errorf(line, "column %d of the header has no name; the columns are %s", i+1, sampleFieldsText)
		}
		j := sampleFieldIndex(name)
		if j < 0 {
			return nil, s.errorf(line, "unknown column %q; the columns are %s", clip(name), sampleFieldsText)
		}
		if seen[j] {
			return nil, s.errorf(line, "column %q appears twice", name)
		}
		seen[j], col[i] = true, j
	}
	for j := range requiredSampleFields {
		if !seen[j] {
			return nil, s.errorf(line, "missing column %q; the header needs %s", sampleFields[j], sampleFieldsText)
		}
	}
	return col, nil
}

func sampleFieldIndex(name string) int {
	for j, f := range sampleFields {
		if f == name {
			return j
		}
	}
	return -1
}

func (s *sampleSet) readJSONLines(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &obj); err != nil || obj == nil {
			return s.errorf(line, "not a JSON object with the fields %s", sampleFieldsText)
		}
		for k := range obj {
			if sampleFieldIndex(k) < 0 {
				return s.errorf(line, "unknown field %q; the fields are %s", clip(k), sampleFieldsText)
			}
		}
		var rs rawSample
		for j, dst := range [...]*string{&rs.group, &rs.host, &rs.phase} {
			raw, ok := obj[sampleFields[j]]
			if !ok || string(raw) == "null" {
				return s.errorf(line, "missing field %q", sampleFields[j])
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				return s.errorf(line, "%s %s is not a string", sampleFields[j], clip(string(raw)))
			}
			*dst = strings.TrimSpace(*dst)
		}
		raw, ok := obj["value"]
		if !ok || string(raw) == "null" {
			return s.errorf(line, "missing field %q", "value")
		}
		// A number, or a number in a string as some exporters write.
		if err := json.Unmarshal(raw, &rs.value); err != nil {
			rs.value = string(raw)
		}
		rs.value = strings.TrimSpace(rs.value)
		if raw, ok := obj["ok"]; ok && string(raw) != "null" {
			var b bool
			if err := json.Unmarshal(raw, &b); err != nil {
				return s.errorf(line, "ok %s must be true or false", clip(string(raw)))
			}
			rs.ok = strconv.FormatBool(b)
		}
		if err := s.add(line, rs); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read samples from %s: %w", s.name, err)
	}
	return nil
}

func runAnalyzeSamples(cmd *cobra.Command, f *analyzeFlags, dir analysis.Direction, tol analysis.Tolerance) error {
	set, err := loadSamples(cmd.InOrStdin(), f.samples, f.proportion)
	if err != nil {
		return err
	}
	td := set.targetData()
	v, err := analysis.Judge([]analysis.Metric{{Name: f.name, Direction: dir, Tolerance: tol, Targets: &td}},
		analysis.Options{Confidence: f.confidence, FamilyAlpha: familyAlpha(f.confidence)})
	if err != nil {
		return fmt.Errorf("cannot judge %s: %s", set.name, strings.TrimPrefix(err.Error(), "analysis: "))
	}
	rep := newSamplesReport(set, v.Metrics[0], dir, tol, f)
	hint := !f.proportion && set.binary && set.records > set.dropped
	if f.output == "json" {
		if hint {
			rep.Warnings = append(rep.Warnings, binaryHint)
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if hint {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", binaryHint)
	}
	printSamplesReport(cmd.OutOrStdout(), rep)
	return nil
}

const binaryHint = "every value is 0 or 1; if they are successes and failures, pass --proportion to compare the hosts' shares"

// jnum is a float that always encodes: NaN (not computed) as null, ±Inf as ±MaxFloat64,
// the analysis package's convention for an unbounded interval.
type jnum float64

func (v jnum) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte("null"), nil
	case math.IsInf(f, 1):
		f = analysis.Unbounded
	case math.IsInf(f, -1):
		f = -analysis.Unbounded
	}
	return json.Marshal(f)
}

var notComputed = jnum(math.NaN())

// samplesReport is the JSON document of --samples. The flat top-level keys are the
// contract for scripts; the rest is nested.
type samplesReport struct {
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Unit    string `json:"unit"`
	Kind    string `json:"kind"` // continuous or proportion
	Method  string `json:"method"`
	Scale   string `json:"scale"`
	// Estimate is the experimental hosts' mean change over the control hosts', as a
	// relative change (0.12 = +12%); CILow and CIHigh its interval.
	Estimate jnum `json:"estimate"`
	CILow    jnum `json:"ci_low"`
	CIHigh   jnum `json:"ci_high"`
	// Shift is the same effect in metric units (a share for proportions).
	Shift           jnum `json:"shift"`
	ShiftLow        jnum `json:"shift_ci_low"`
	ShiftHigh       jnum `json:"shift_ci_high"`
	HostsControl    int  `json:"hosts_control"`
	HostsExperiment int  `json:"hosts_experiment"`
	// HostsNeeded is the hosts per group that would likely settle the question.
	HostsNeeded int             `json:"hosts_needed,omitempty"`
	Confidence  float64         `json:"confidence"`
	Direction   string          `json:"direction"`
	Tolerance   samplesTol      `json:"tolerance"`
	Decision    analyzeDecision `json:"decision"`
	Details     samplesDetails  `json:"details"`
	// SamplesRead counts the records; FailedSamplesDropped the ok=false ones left out
	// of a continuous metric.
	SamplesRead          int            `json:"samples_read"`
	FailedSamplesDropped int            `json:"failed_samples_dropped"`
	Hosts                []samplesHost  `json:"hosts"`
	Pooled               *samplesPooled `json:"pooled,omitempty"`
	Warnings             []string       `json:"warnings"`

	computed bool // the target-level comparison ran
}

type samplesTol struct {
	Kind  string  `json:"kind"` // relative or absolute
	Value float64 `json:"value"`
}

type samplesDetails struct {
	PValue          jnum   `json:"p_value"` // "no change", in the harmful direction
	WelchT          jnum   `json:"welch_t"`
	WelchDF         jnum   `json:"welch_df"`
	IntervalMethod  string `json:"interval_method"`
	ControlBaseline jnum   `json:"control_baseline"`
	ControlLevel    jnum   `json:"control_level"`
	ExperimentLevel jnum   `json:"experiment_level"`
	// Between-host standard deviations of the changes, and the typical within-host
	// one from sampling alone, on the analysis scale.
	SDControl    jnum `json:"sd_between_control"`
	SDExperiment jnum `json:"sd_between_experiment"`
	SDWithin     jnum `json:"sd_within"`
}

type samplesHost struct {
	Host  string `json:"host"`
	Group string `json:"group"`
	// Included is false for a host the comparison left out (no samples in the window,
	// or no baseline while others have one; the warnings say which).
	Included      bool `json:"included"`
	NBaseline     int  `json:"n_baseline"`
	NWindow       int  `json:"n_window"`
	FailedDropped int  `json:"failed_dropped"`
	Baseline      jnum `json:"baseline"`
	Window        jnum `json:"window"`
	Change        jnum `json:"change"`
	Beyond        bool `json:"beyond"`
}

type samplesPooled struct {
	Label            string `json:"label"`
	Method           string `json:"method"`
	NControl         int    `json:"n_control"`
	NExperiment      int    `json:"n_experiment"`
	ControlMedian    jnum   `json:"control_median"`
	ExperimentMedian jnum   `json:"experiment_median"`
	U                jnum   `json:"u"`
	PValue           jnum   `json:"p_value"`
	Estimate         jnum   `json:"estimate"` // relative to the control median
	CILow            jnum   `json:"ci_low"`
	CIHigh           jnum   `json:"ci_high"`
	Shift            jnum   `json:"shift"` // Hodges-Lehmann, metric units
	ShiftLow         jnum   `json:"shift_ci_low"`
	ShiftHigh        jnum   `json:"shift_ci_high"`
	Coverage         jnum   `json:"coverage"`
	BatchSize        int    `json:"batch_size"`
}

const pooledLabel = "every sample independent; secondary view, does not decide"

func newSamplesReport(s *sampleSet, mv analysis.MetricVerdict, dir analysis.Direction, tol analysis.Tolerance, f *analyzeFlags) samplesReport {
	r := samplesReport{
		Verdict: string(mv.Outcome), Reason: mv.Reason, Unit: mv.Unit, Kind: mv.Kind, Method: mv.Method,
		Estimate: notComputed, CILow: notComputed, CIHigh: notComputed,
		Shift: notComputed, ShiftLow: notComputed, ShiftHigh: notComputed,
		HostsNeeded: mv.TargetsNeeded, Confidence: f.confidence, Direction: dir.String(),
		Tolerance: samplesTol{Kind: "absolute", Value: tol.Absolute},
		Decision:  analyzeDecision{Alpha: mv.Alpha, PTolerance: mv.PTolerance, Significant: mv.Significant},
		Details: samplesDetails{
			PValue: notComputed, WelchT: notComputed, WelchDF: notComputed, IntervalMethod: mv.IntervalMethod,
			ControlBaseline: notComputed, ControlLevel: notComputed, ExperimentLevel: notComputed,
			SDControl: notComputed, SDExperiment: notComputed, SDWithin: notComputed,
		},
		SamplesRead: s.records, FailedSamplesDropped: s.dropped,
		Hosts:    []samplesHost{},
		Warnings: append([]string{}, mv.Warnings...),
	}
	if tol.IsRelative {
		r.Tolerance = samplesTol{Kind: "relative", Value: tol.Relative}
	}
	if s.okIgnored > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"%d samples are marked ok=false; with --proportion the value alone counts, so ok is ignored", s.okIgnored))
	}
	summaries := map[string]analysis.TargetSummary{}
	if t := mv.Target; t != nil {
		r.Scale = string(t.Scale)
		r.HostsControl, r.HostsExperiment = t.NControl, t.NExperiment
		// SE is set only once both groups had hosts enough and some variation.
		r.computed = t.SE > 0
		for _, ts := range t.Targets {
			summaries[ts.ID] = ts
		}
	}
	if r.computed {
		t := mv.Target
		if t.RelDefined {
			r.Estimate, r.CILow, r.CIHigh = jnum(mv.RelChange), jnum(mv.RelLow), jnum(mv.RelHigh)
		}
		r.Shift, r.ShiftLow, r.ShiftHigh = jnum(mv.Shift), jnum(mv.ShiftLow), jnum(mv.ShiftHigh)
		r.Details.PValue, r.Details.WelchT, r.Details.WelchDF = jnum(t.P), jnum(t.T), jnum(t.DF)
		r.Details.ControlBaseline, r.Details.ControlLevel, r.Details.ExperimentLevel =
			jnum(t.ControlBase), jnum(t.ControlLevel), jnum(t.ExperimentLevel)
		r.Details.SDControl, r.Details.SDExperiment, r.Details.SDWithin =
			jnum(t.SDControl), jnum(t.SDExperiment), jnum(t.WithinSD)
	}
	// Control hosts first, then experimental ones, each in file order.
	for _, exp := range []bool{false, true} {
		for _, h := range s.hosts {
			if h.experiment != exp {
				continue
			}
			row := samplesHost{
				Host: h.host, Group: sampleGroupName(h.experiment),
				NBaseline: len(h.baseline), NWindow: len(h.window), FailedDropped: h.dropped,
				Baseline: notComputed, Window: notComputed, Change: notComputed,
			}
			if len(summaries) == 0 {
				// The comparison stopped before summarising hosts (too few with data):
				// say which hosts it would have used, as it chooses them.
				row.Included = len(h.window) > 0 && (len(h.baseline) > 0 || mv.Method == analysis.MethodTargetLevels)
			}
			if ts, ok := summaries[h.host]; ok {
				row.Included, row.Window, row.Change, row.Beyond = true, jnum(ts.Window), jnum(ts.Change), ts.Beyond
				if ts.NBaseline > 0 {
					row.Baseline = jnum(ts.Baseline)
				}
			}
			r.Hosts = append(r.Hosts, row)
		}
	}
	if p := mv.Pooled; p != nil {
		r.Pooled = &samplesPooled{
			Label: pooledLabel, Method: p.Method, NControl: p.NControl, NExperiment: p.NExperiment,
			ControlMedian: jnum(p.ControlMedian), ExperimentMedian: jnum(p.ExperimentMedian),
			U: jnum(p.U), PValue: jnum(p.P),
			Estimate: jnum(p.RelChange), CILow: jnum(p.RelLow), CIHigh: jnum(p.RelHigh),
			Shift: jnum(p.Shift), ShiftLow: jnum(p.ShiftLow), ShiftHigh: jnum(p.ShiftHigh),
			Coverage: jnum(p.Coverage), BatchSize: p.BatchSize,
		}
		if p.ControlMedian == 0 {
			r.Pooled.Estimate, r.Pooled.CILow, r.Pooled.CIHigh = notComputed, notComputed, notComputed
		}
	}
	return r
}

func printSamplesReport(w io.Writer, r samplesReport) {
	conf := fmt.Sprintf("%g%% CI", 100*r.Confidence)
	fmt.Fprintf(w, "Verdict       %s\n", strings.ToUpper(strings.ReplaceAll(r.Verdict, "_", " ")))
	fmt.Fprintf(w, "              %s\n\n", r.Reason)
	fmt.Fprintf(w, "Method        %s, %d vs %d hosts (experiment vs control)", r.Method, r.HostsExperiment, r.HostsControl)
	if r.Scale != "" {
		fmt.Fprintf(w, ", %s scale", r.Scale)
	}
	fmt.Fprintln(w)
	if r.computed {
		if r.Scale == string(analysis.ScaleLog) {
			fmt.Fprintf(w, "Estimate      %s, %s %s to %s (the experimental hosts' change over the control hosts')\n",
				pct(float64(r.Estimate)), conf, pctBound(r.CILow), pctBound(r.CIHigh))
		} else {
			est := fmt.Sprintf("%s in metric units, %s %s to %s", signed(float64(r.Shift)), conf, signed(float64(r.ShiftLow)), signed(float64(r.ShiftHigh)))
			if r.Kind == analysis.KindProportion {
				est = fmt.Sprintf("%s of the share, %s %+.1f to %+.1f points", sharePoints(r.Shift), conf, 100*r.ShiftLow, 100*r.ShiftHigh)
			}
			fmt.Fprintf(w, "Estimate      %s (the experimental hosts' change over the control hosts')\n", est)
			if !math.IsNaN(float64(r.Estimate)) {
				fmt.Fprintf(w, "              %s of the control baseline, %s %s to %s\n",
					pct(float64(r.Estimate)), conf, pctBound(r.CILow), pctBound(r.CIHigh))
			}
		}
	}
	fmt.Fprintf(w, "Harmful       %s", r.Direction)
	switch {
	case r.Tolerance.Value == 0:
		fmt.Fprintf(w, ", no tolerance: any significant change counts\n")
	case r.Tolerance.Kind == "relative":
		fmt.Fprintf(w, ", tolerance %g%% of the control level\n", 100*r.Tolerance.Value)
	case r.Kind == analysis.KindProportion:
		fmt.Fprintf(w, ", tolerance %s (%.1f points of the share)\n", num(r.Tolerance.Value), 100*r.Tolerance.Value)
	default:
		fmt.Fprintf(w, ", tolerance %s\n", num(r.Tolerance.Value))
	}
	switch {
	case r.HostsNeeded >= noRealisticHosts:
		fmt.Fprintf(w, "Hosts needed  no realistic number would settle it at this tolerance\n")
	case r.HostsNeeded > 0 && !r.computed:
		fmt.Fprintf(w, "Hosts needed  at least %d per group with data (it has %d and %d)\n", r.HostsNeeded, r.HostsControl, r.HostsExperiment)
	case r.HostsNeeded > 0:
		fmt.Fprintf(w, "Hosts needed  about %d per group would likely settle it (it has %d and %d)\n", r.HostsNeeded, r.HostsControl, r.HostsExperiment)
	}
	fmt.Fprintf(w, "Samples       %d read", r.SamplesRead)
	if r.FailedSamplesDropped > 0 {
		fmt.Fprintf(w, "; %s (ok=false) dropped: a failed request is not a fast one (judge failures as a success metric with --proportion)", samplesPlural(r.FailedSamplesDropped, "failed sample"))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w)
	printHostTable(w, r)

	if p := r.Pooled; p != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Pooled view (every sample treated as independent; does not decide)")
		fmt.Fprintf(w, "              Mann-Whitney p = %.3g (%s), %d vs %d samples; shift %s, %s %s to %s",
			float64(p.PValue), p.Method, p.NExperiment, p.NControl,
			signed(float64(p.Shift)), conf, num(float64(p.ShiftLow)), num(float64(p.ShiftHigh)))
		if !math.IsNaN(float64(p.Estimate)) {
			fmt.Fprintf(w, " (%s of the control median)", pct(float64(p.Estimate)))
		}
		fmt.Fprintln(w)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "Warning       %s\n", warn)
	}
}

func printHostTable(w io.Writer, r samplesReport) {
	rows := r.Hosts
	if len(rows) > maxHostRows {
		// The hosts beyond the tolerance matter most; the rest are in -o json.
		var keep []samplesHost
		for _, h := range rows {
			if h.Beyond && len(keep) < maxHostRows {
				keep = append(keep, h)
			}
		}
		for _, h := range rows {
			if !h.Beyond && len(keep) < maxHostRows {
				keep = append(keep, h)
			}
		}
		rows = keep
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Host\tGroup\tBaseline\tWindow\tChange\tSamples")
	anyBeyond := false
	for _, h := range rows {
		base, win, change := "-", "-", "-"
		level, diff := num, signed
		switch {
		case r.Kind == analysis.KindProportion:
			level = func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
			diff = func(v float64) string { return sharePoints(jnum(v)) }
		case r.Scale == string(analysis.ScaleLog):
			diff = pct
		}
		if !math.IsNaN(float64(h.Baseline)) {
			base = level(float64(h.Baseline))
		}
		if !math.IsNaN(float64(h.Window)) {
			win = level(float64(h.Window))
		}
		if !math.IsNaN(float64(h.Change)) {
			change = diff(float64(h.Change))
		}
		n := fmt.Sprintf("%d+%d", h.NBaseline, h.NWindow)
		if h.FailedDropped > 0 {
			n += fmt.Sprintf(" (%d failed)", h.FailedDropped)
		}
		mark := ""
		switch {
		case h.Beyond:
			mark, anyBeyond = "beyond", true
		case !h.Included:
			mark = "left out"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clip(h.Host), h.Group, base, win, change, n, mark)
	}
	_ = tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if len(rows) < len(r.Hosts) {
		fmt.Fprintf(w, "... and %d more hosts (-o json lists every host)\n", len(r.Hosts)-len(rows))
	}
	if anyBeyond {
		fmt.Fprintln(w, "beyond: the host's change, net of the control hosts' mean change, lies beyond the tolerance in the harmful direction")
	}
	fmt.Fprintln(w, "Samples are baseline+window; change is the host's window against its own baseline.")
}

func samplesPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// sharePoints renders a difference of shares in percentage points.
func sharePoints(v jnum) string {
	return fmt.Sprintf("%+.1f points", 100*float64(v))
}

// pctBound renders an interval bound, which may be unbounded.
func pctBound(v jnum) string {
	if float64(v) >= analysis.Unbounded || math.IsInf(float64(v), 1) {
		return "unbounded"
	}
	return pct(float64(v))
}
