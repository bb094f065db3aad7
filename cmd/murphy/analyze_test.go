package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

func samplesFile(t *testing.T, name string, x []float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# exported samples\n\n")
	for _, v := range x {
		fmt.Fprintf(&b, "%v\n", v)
	}
	return writeFile(t, name, b.String())
}

// refCase is the part of analysis/testdata/mannwhitney-reference.json (SciPy values)
// the CLI must reproduce.
type refCase struct {
	Kind          string    `json:"kind"`
	Direction     string    `json:"direction"`
	Control       []float64 `json:"control"`
	Experiment    []float64 `json:"experiment"`
	U             float64   `json:"u"`
	PAsymptotic   float64   `json:"p_asymptotic"`
	PExact        *float64  `json:"p_exact"`
	PExactTiesAbs *float64  `json:"p_exact_ties_abs"`
	HL            float64   `json:"hl"`
	WelchT        float64   `json:"welch_t"`
	WelchDF       float64   `json:"welch_df"`
	WelchP        float64   `json:"welch_p"`
}

func loadRefCases(t *testing.T) []refCase {
	t.Helper()
	var all []refCase
	for _, name := range []string{"mannwhitney-reference.json", "mannwhitney-generated.json"} {
		raw, err := os.ReadFile("../../analysis/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Cases []refCase `json:"cases"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		all = append(all, doc.Cases...)
	}
	return all
}

func relClose(got, want, tol float64) bool {
	return got == want || math.Abs(got-want) <= tol*math.Abs(want)
}

// TestAnalyzeMatchesReference runs `murphy analyze -o json` on the SciPy reference cases
// and checks the flat keys scripts rely on.
func TestAnalyzeMatchesReference(t *testing.T) {
	checked := 0
	for i, c := range loadRefCases(t) {
		t.Run(fmt.Sprintf("%s/%s/%d", c.Kind, c.Direction, i), func(t *testing.T) {
			out, err := runCLI(t, "analyze", "-o", "json", "--direction", c.Direction,
				"--control", samplesFile(t, "c.txt", c.Control), "--experiment", samplesFile(t, "e.txt", c.Experiment))
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				NControl    int      `json:"n_control"`
				NExperiment int      `json:"n_experiment"`
				U           float64  `json:"u"`
				P           float64  `json:"p_value"`
				Method      string   `json:"method"`
				HL          float64  `json:"hodges_lehmann"`
				CILow       float64  `json:"ci_low"`
				CIHigh      float64  `json:"ci_high"`
				Rel         *float64 `json:"relative_change"`
				WelchT      float64  `json:"welch_t"`
				WelchDF     float64  `json:"welch_df"`
				WelchP      float64  `json:"welch_p_value"`
				Verdict     string   `json:"verdict"`
				Details     struct {
					Method    string `json:"method"`
					BatchSize int    `json:"batch_size"`
				} `json:"details"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if r.Details.BatchSize != 1 {
				t.Skipf("reference samples look autocorrelated; analysed as batch means of %d", r.Details.BatchSize)
			}
			checked++
			var wantP float64
			switch r.Details.Method {
			case "exact":
				wantP = *c.PExact
			case "exact-ties":
				wantP = *c.PExactTiesAbs
			case "asymptotic":
				wantP = c.PAsymptotic
			default:
				t.Fatalf("details.method %q", r.Details.Method)
			}
			wantMethod := map[string]string{"exact": "exact", "exact-ties": "exact", "asymptotic": "asymptotic"}[r.Details.Method]
			if r.Method != wantMethod {
				t.Errorf("method %q for %q", r.Method, r.Details.Method)
			}
			if r.NControl != len(c.Control) || r.NExperiment != len(c.Experiment) {
				t.Errorf("n = %d, %d", r.NControl, r.NExperiment)
			}
			if r.U != c.U {
				t.Errorf("u = %v, want %v", r.U, c.U)
			}
			for _, v := range []struct {
				name      string
				got, want float64
			}{
				{"p_value", r.P, wantP}, {"hodges_lehmann", r.HL, c.HL},
				{"welch_t", r.WelchT, c.WelchT}, {"welch_df", r.WelchDF, c.WelchDF}, {"welch_p_value", r.WelchP, c.WelchP},
			} {
				if !relClose(v.got, v.want, 1e-9) {
					t.Errorf("%s = %.17g, want %.17g", v.name, v.got, v.want)
				}
			}
			if !(r.CILow <= r.HL && r.HL <= r.CIHigh) || r.Rel == nil || r.Verdict == "" {
				t.Errorf("interval [%v, %v] around %v, relative %v, verdict %q", r.CILow, r.CIHigh, r.HL, r.Rel, r.Verdict)
			}
		})
	}
	if checked == 0 {
		t.Fatal("no reference case was checked")
	}
}

func TestAnalyzeText(t *testing.T) {
	control := make([]float64, 200)
	experiment := make([]float64, 200)
	for i := range control {
		// Deterministic, interleaved values: a clean 30% rise without autocorrelation.
		control[i] = 100 + float64((i*37)%41)
		experiment[i] = 1.3*control[i] + float64((i*53)%7)
	}
	cf, ef := samplesFile(t, "c.txt", control), samplesFile(t, "e.txt", experiment)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"deviated", []string{"--direction", "increase", "--tolerance-relative", "0.1"},
			[]string{"Verdict       DEVIATED", "beyond the 10% tolerance", "tolerance 10% of the control median", "one-sided: is the experiment higher?", "95% CI", "Welch"}},
		{"within a generous absolute tolerance", []string{"--direction", "increase", "--tolerance-absolute", "100", "--confidence", "0.99"},
			[]string{"Verdict       WITHIN TOLERANCE", "99% CI", "tolerance 100"}},
		{"no tolerance, two-sided", nil, []string{"Harmful       either, no tolerance", "two-sided"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"analyze", "--control", cf, "--experiment", ef}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	good := writeFile(t, "good.txt", "1\n2\n3\n4\n5\n")
	bad := writeFile(t, "bad.txt", "# latency ms\n1.5\n\n2.5\n3,5\n4\n")
	inf := writeFile(t, "inf.txt", "1\n+Inf\n")
	empty := writeFile(t, "empty.txt", "# nothing yet\n\n")
	constant := writeFile(t, "constant.txt", "7\n7\n7\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--control", "/nonexistent.txt", "--experiment", good}, "read samples: open /nonexistent.txt"},
		{"bad line names file and line", []string{"--control", good, "--experiment", bad}, bad + `:5: "3,5" is not a finite number`},
		{"infinite value", []string{"--control", inf, "--experiment", good}, inf + `:2: "+Inf" is not a finite number`},
		{"no samples", []string{"--control", good, "--experiment", empty}, "empty.txt has no samples"},
		{"both tolerances", []string{"--control", good, "--experiment", good, "--tolerance-relative", "0.1", "--tolerance-absolute", "3"}, "use either --tolerance-relative or --tolerance-absolute, not both"},
		{"unknown direction", []string{"--control", good, "--experiment", good, "--direction", "up"}, `unknown direction "up": use increase, decrease or either`},
		{"negative tolerance", []string{"--control", good, "--experiment", good, "--tolerance-absolute", "-1"}, "finite, non-negative"},
		{"confidence out of range", []string{"--control", good, "--experiment", good, "--confidence", "95"}, "--confidence 95 must lie strictly between 0 and 1"},
		{"unknown output", []string{"--control", good, "--experiment", good, "-o", "yaml"}, `unknown output "yaml": use text or json`},
		{"missing experiment", []string{"--control", good}, "both --control and --experiment are required"},
		{"no variation", []string{"--control", constant, "--experiment", constant}, "no variation in either group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"analyze"}, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// sampleRow is one record of a --samples file.
type sampleRow struct {
	group, host, phase string
	value              float64
	ok                 bool
}

// fleetSpec describes a generated fleet: nC control and nE experimental hosts with n
// samples per phase. Each host has its own level (host-to-host CV hostCV), its samples
// are lognormal around it (sigma), each host drifts between baseline and fault by a
// lognormal factor (drift), and the experimental hosts' fault samples are multiplied by
// effect.
type fleetSpec struct {
	seed                 uint64
	nC, nE, n            int
	hostCV, sigma, drift float64
	effect               float64
}

func (f fleetSpec) rows() []sampleRow {
	rng := rand.New(rand.NewPCG(f.seed, 7))
	var rows []sampleRow
	for g, hosts := range []int{f.nC, f.nE} {
		group := []string{"control", "experiment"}[g]
		for h := range hosts {
			host := fmt.Sprintf("%s-%d", group[:3], h+1)
			level := 100 * math.Exp(f.hostCV*rng.NormFloat64())
			for _, phase := range []string{"baseline", "fault"} {
				l := level
				if phase == "fault" {
					l *= math.Exp(f.drift * rng.NormFloat64())
					if g == 1 {
						l *= f.effect
					}
				}
				for range f.n {
					rows = append(rows, sampleRow{group, host, phase, l * math.Exp(f.sigma*rng.NormFloat64()), true})
				}
			}
		}
	}
	return rows
}

// csvSamples writes rows as CSV with the columns in the order given.
func csvSamples(t *testing.T, rows []sampleRow, columns ...string) string {
	t.Helper()
	if len(columns) == 0 {
		columns = []string{"group", "host", "phase", "value", "ok"}
	}
	var b strings.Builder
	b.WriteString(strings.Join(columns, ",") + "\n")
	for _, r := range rows {
		fields := make([]string, len(columns))
		for i, c := range columns {
			switch c {
			case "group":
				fields[i] = r.group
			case "host":
				fields[i] = r.host
			case "phase":
				fields[i] = r.phase
			case "value":
				fields[i] = strconv.FormatFloat(r.value, 'g', -1, 64)
			case "ok":
				fields[i] = strconv.FormatBool(r.ok)
			}
		}
		b.WriteString(strings.Join(fields, ",") + "\n")
	}
	return writeFile(t, "samples.csv", b.String())
}

// jsonlSamples writes rows as JSON lines, with a blank line first to check detection.
func jsonlSamples(t *testing.T, rows []sampleRow) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, `{"group":%q,"host":%q,"phase":%q,"value":%v,"ok":%v}`+"\n", r.group, r.host, r.phase, r.value, r.ok)
	}
	return writeFile(t, "samples.jsonl", b.String())
}

// samplesJSON is the part of the --samples JSON the tests read.
type samplesJSON struct {
	Verdict         string   `json:"verdict"`
	Reason          string   `json:"reason"`
	Unit            string   `json:"unit"`
	Kind            string   `json:"kind"`
	Method          string   `json:"method"`
	Scale           string   `json:"scale"`
	Estimate        *float64 `json:"estimate"`
	CILow           *float64 `json:"ci_low"`
	CIHigh          *float64 `json:"ci_high"`
	HostsControl    int      `json:"hosts_control"`
	HostsExperiment int      `json:"hosts_experiment"`
	HostsNeeded     int      `json:"hosts_needed"`
	Failed          int      `json:"failed_samples_dropped"`
	SamplesRead     int      `json:"samples_read"`
	Hosts           []struct {
		Host      string   `json:"host"`
		Group     string   `json:"group"`
		NBaseline int      `json:"n_baseline"`
		NWindow   int      `json:"n_window"`
		Change    *float64 `json:"change"`
		Beyond    bool     `json:"beyond"`
	} `json:"hosts"`
	Pooled *struct {
		Label  string  `json:"label"`
		Method string  `json:"method"`
		P      float64 `json:"p_value"`
	} `json:"pooled"`
	Warnings []string `json:"warnings"`
}

// failEvery marks every k-th sample of the experimental hosts' fault phase as failed
// (and fast, as a failed request often is) and returns how many it marked.
func failEvery(rows []sampleRow, k int) int {
	marked := 0
	for i := range rows {
		if rows[i].group == "experiment" && rows[i].phase == "fault" && i%k == 0 {
			rows[i].ok, rows[i].value = false, 0.5
			marked++
		}
	}
	return marked
}

// probeRows is a proportion fleet: 6 control and 6 experimental hosts with 150 probes
// per phase; every probe succeeds except one in twenty on the experimental hosts in the
// fault phase.
func probeRows() []sampleRow {
	var rows []sampleRow
	for g, group := range []string{"control", "experiment"} {
		for h := range 6 {
			for _, phase := range []string{"baseline", "fault"} {
				for i := range 150 {
					v := 1.0
					if g == 1 && phase == "fault" && (i+7*h)%20 == 0 {
						v = 0
					}
					rows = append(rows, sampleRow{group, fmt.Sprintf("%s-%d", group, h), phase, v, true})
				}
			}
		}
	}
	return rows
}

func TestAnalyzeSamples(t *testing.T) {
	slower := fleetSpec{seed: 1, nC: 6, nE: 6, n: 100, hostCV: 0.1, sigma: 0.2, drift: 0.02, effect: 1.3}
	same := slower
	same.seed, same.effect = 2, 1
	noisy := fleetSpec{seed: 3, nC: 2, nE: 2, n: 50, hostCV: 0.1, sigma: 0.2, drift: 0.15, effect: 1}
	withFailures := slower.rows()
	failed := failEvery(withFailures, 13)
	increase10 := []string{"--direction", "increase", "--tolerance-relative", "0.1"}

	tests := []struct {
		name  string
		file  func(t *testing.T) string
		args  []string
		check func(t *testing.T, r samplesJSON)
	}{
		{"csv: experiment hosts 30% slower", func(t *testing.T) string { return csvSamples(t, slower.rows()) }, increase10,
			func(t *testing.T, r samplesJSON) {
				wantDeviated(t, r)
				if r.Pooled == nil || r.Pooled.Label != "every sample independent; secondary view, does not decide" || r.Pooled.Method == "" {
					t.Errorf("pooled = %+v", r.Pooled)
				}
			}},
		{"json lines: experiment hosts 30% slower", func(t *testing.T) string { return jsonlSamples(t, slower.rows()) }, increase10, wantDeviated},
		{"csv with the columns in another order and no ok", func(t *testing.T) string {
			return csvSamples(t, slower.rows(), "value", "phase", "host", "group")
		}, increase10, wantDeviated},
		{"no change within a 10% tolerance", func(t *testing.T) string { return csvSamples(t, same.rows()) }, increase10,
			func(t *testing.T, r samplesJSON) {
				if r.Verdict != "within_tolerance" || r.HostsNeeded != 0 {
					t.Errorf("verdict %q, hosts_needed %d: %s", r.Verdict, r.HostsNeeded, r.Reason)
				}
				if r.Estimate == nil || math.Abs(*r.Estimate) > 0.05 {
					t.Errorf("estimate %v", r.Estimate)
				}
			}},
		{"2 vs 2 noisy hosts are inconclusive", func(t *testing.T) string { return csvSamples(t, noisy.rows()) }, increase10,
			func(t *testing.T, r samplesJSON) {
				if r.Verdict != "inconclusive" || r.HostsNeeded <= 2 {
					t.Errorf("verdict %q, hosts_needed %d: %s", r.Verdict, r.HostsNeeded, r.Reason)
				}
				if r.HostsControl != 2 || r.HostsExperiment != 2 || r.Estimate == nil || r.CILow == nil || r.CIHigh == nil {
					t.Errorf("hosts %d/%d, estimate %v [%v, %v]", r.HostsControl, r.HostsExperiment, r.Estimate, r.CILow, r.CIHigh)
				}
			}},
		{"one host per group: inconclusive, at least 2 needed", func(t *testing.T) string {
			one := noisy
			one.nC, one.nE = 1, 1
			return csvSamples(t, one.rows())
		}, increase10,
			func(t *testing.T, r samplesJSON) {
				if r.Verdict != "inconclusive" || r.HostsNeeded != 2 || r.Estimate != nil {
					t.Errorf("verdict %q, hosts_needed %d, estimate %v: %s", r.Verdict, r.HostsNeeded, r.Estimate, r.Reason)
				}
			}},
		{"failed samples are dropped and counted", func(t *testing.T) string { return csvSamples(t, withFailures) }, increase10,
			func(t *testing.T, r samplesJSON) {
				wantDeviated(t, r)
				if r.Failed != failed || r.SamplesRead != len(withFailures) {
					t.Errorf("failed_samples_dropped %d, want %d; samples_read %d, want %d", r.Failed, failed, r.SamplesRead, len(withFailures))
				}
				window := 0
				for _, h := range r.Hosts {
					window += h.NWindow
				}
				if want := 12*100 - failed; window != want {
					t.Errorf("n_window sums to %d, want %d", window, want)
				}
			}},
		{"proportion: 5% failures on the experimental hosts", func(t *testing.T) string { return csvSamples(t, probeRows()) },
			[]string{"--proportion", "--direction", "decrease", "--tolerance-absolute", "0.02"},
			func(t *testing.T, r samplesJSON) {
				if r.Verdict != "deviated" || r.Kind != "proportion" || r.Scale != "linear" || r.Pooled != nil {
					t.Errorf("verdict %q kind %q scale %q pooled %v: %s", r.Verdict, r.Kind, r.Scale, r.Pooled, r.Reason)
				}
				if r.Estimate == nil || math.Abs(*r.Estimate+0.05) > 0.01 {
					t.Errorf("estimate %v, want about -0.05", r.Estimate)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file(t)
			out, err := runCLI(t, append([]string{"analyze", "-o", "json", "--samples", file}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &keys); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			for _, k := range []string{"verdict", "method", "estimate", "ci_low", "ci_high", "hosts_control", "hosts_experiment",
				"unit", "scale", "confidence", "direction", "tolerance", "reason", "warnings", "failed_samples_dropped", "hosts"} {
				if _, ok := keys[k]; !ok {
					t.Errorf("JSON lacks %q", k)
				}
			}
			var r samplesJSON
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.Unit != "target" || r.Reason == "" {
				t.Errorf("unit %q, reason %q", r.Unit, r.Reason)
			}
			tc.check(t, r)
		})
	}
}

func wantDeviated(t *testing.T, r samplesJSON) {
	t.Helper()
	if r.Verdict != "deviated" || r.Method != "target-did-welch" || r.Scale != "log" {
		t.Errorf("verdict %q method %q scale %q: %s", r.Verdict, r.Method, r.Scale, r.Reason)
	}
	if r.Estimate == nil || math.Abs(*r.Estimate-0.30) > 0.05 {
		t.Errorf("estimate %v, want about 0.30", r.Estimate)
	}
	if r.CILow == nil || r.CIHigh == nil || !(*r.CILow > 0.1 && *r.CILow < *r.Estimate && *r.Estimate < *r.CIHigh) {
		t.Errorf("interval [%v, %v]", r.CILow, r.CIHigh)
	}
	if r.HostsControl != 6 || r.HostsExperiment != 6 || len(r.Hosts) != 12 {
		t.Errorf("hosts %d/%d, %d rows", r.HostsControl, r.HostsExperiment, len(r.Hosts))
	}
	for _, h := range r.Hosts {
		if h.Change == nil || h.NBaseline == 0 || (h.Group == "control" && h.Beyond) {
			t.Errorf("host %+v", h)
		}
	}
}

// runCLIStdin is runCLI with stdin.
func runCLIStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestAnalyzeSamplesText(t *testing.T) {
	slower := fleetSpec{seed: 1, nC: 6, nE: 6, n: 100, hostCV: 0.1, sigma: 0.2, drift: 0.02, effect: 1.3}
	rows := slower.rows()
	failed := failEvery(rows, 13)
	noisy := fleetSpec{seed: 3, nC: 2, nE: 2, n: 50, hostCV: 0.1, sigma: 0.2, drift: 0.15, effect: 1}
	var probes strings.Builder
	probes.WriteString("host,group,phase,value\n")
	for _, r := range probeRows() {
		fmt.Fprintf(&probes, "%s,%s,%s,%v\n", r.host, r.group, r.phase, r.value)
	}
	tests := []struct {
		name  string
		file  string
		stdin string
		args  []string
		want  []string
	}{
		{"deviated", csvSamples(t, rows), "", []string{"--direction", "increase", "--tolerance-relative", "0.1", "--name", "latency"}, []string{
			"Verdict       DEVIATED",
			"latency rose 3", "beyond the 10% tolerance",
			"Method        target-did-welch, 6 vs 6 hosts (experiment vs control), log scale",
			"Estimate      +3", "95% CI +",
			fmt.Sprintf("%d failed samples (ok=false) dropped", failed),
			"exp-1", "control", "beyond",
			"Pooled view (every sample treated as independent; does not decide)", "Mann-Whitney p =",
		}},
		{"inconclusive names the hosts needed", csvSamples(t, noisy.rows()), "", []string{"--direction", "increase", "--tolerance-relative", "0.1"}, []string{
			"Verdict       INCONCLUSIVE", "Hosts needed  about", "(it has 2 experimental and 2 control)",
		}},
		{"proportion from stdin", "-", probes.String(), []string{"--proportion", "--direction", "decrease", "--tolerance-absolute", "0.02"}, []string{
			"Verdict       DEVIATED", "Estimate      -5.0 points of the share", "linear scale", "94.7%   -5.3 points",
		}},
		{"0/1 values without --proportion get a note", "-", probes.String(), []string{"--direction", "decrease", "--tolerance-absolute", "0.02"}, []string{
			"note: every value is 0 or 1", "pass --proportion",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLIStdin(t, tc.stdin, append([]string{"analyze", "--samples", tc.file}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestAnalyzeSamplesBadInput(t *testing.T) {
	head := "group,host,phase,value,ok\n"
	good := "control,c1,baseline,1.5,true\n"
	tests := []struct {
		name string
		body string
		args []string
		want string
	}{
		{"unknown column", "group,host,phase,value,latency\n" + good, nil, `samples.csv line 1: unknown column "latency"`},
		{"missing column", "group,host,value\ncontrol,c1,1\n", nil, `samples.csv line 1: missing column "phase"`},
		{"duplicate column", "group,host,phase,value,host\n", nil, `samples.csv line 1: column "host" appears twice`},
		{"bad group", head + good + "treatment,t1,fault,2,true\n", nil, `samples.csv line 3: group "treatment" must be control or experiment`},
		{"bad phase", head + "# a comment\n" + good + "control,c1,during,2,true\n", nil, `samples.csv line 4: phase "during" must be baseline or fault`},
		{"not a number", head + good + "\n" + "control,c1,fault,abc,true\n", nil, `samples.csv line 4: value "abc" is not a number`},
		{"not finite", head + good + "control,c1,fault,NaN,true\n", nil, `samples.csv line 3: value "NaN" is not a finite number`},
		{"bad ok", head + good + "control,c1,fault,2,maybe\n", nil, `samples.csv line 3: ok "maybe" must be true, false, 1 or 0`},
		{"wrong field count", head + good + "control,c1,fault\n", nil, "samples.csv line 3: 3 fields, but the header names 5 columns"},
		{"empty host", head + good + "control,,fault,2,\n", nil, "samples.csv line 3: host is empty"},
		{"host in both groups", head + good + "experiment,c1,fault,2,true\n", nil, `samples.csv line 3: host "c1" is in the experiment group, but line 2 put it in the control group`},
		{"proportion value not 0 or 1", head + "control,c1,baseline,1,\ncontrol,c1,fault,0.5,\n", []string{"--proportion"}, `samples.csv line 3: value "0.5" must be 0 or 1 with --proportion`},
		{"no records", head, nil, "samples.csv has no samples"},
		{"json: unknown field", `{"group":"control","host":"c1","phase":"fault","value":1}` + "\n\n" + `{"group":"control","host":"c1","phase":"fault","value":1,"latency":2}` + "\n", nil,
			`samples.csv line 3: unknown field "latency"`},
		{"json: missing field", `{"group":"control","host":"c1","value":1}` + "\n", nil, `samples.csv line 1: missing field "phase"`},
		{"json: value not a number", `{"group":"control","host":"c1","phase":"fault","value":"fast"}` + "\n", nil, `samples.csv line 1: value "fast" is not a number`},
		{"json: not an object", `{"group":"control","host":"c1","phase":"fault","value":1}` + "\n[1, 2]\n", nil, "samples.csv line 2: not a JSON object"},
		{"json: bad ok", `{"group":"control","host":"c1","phase":"fault","value":1,"ok":"no"}` + "\n", nil, `samples.csv line 1: ok "no" must be true or false`},
		{"with --control", head + good, []string{"--control", "c.txt"}, "--samples cannot be combined with --control or --experiment"},
		{"--proportion without --samples", "", []string{"--proportion"}, "--proportion works with --samples only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"analyze", "--samples", writeFile(t, "samples.csv", tc.body)}
			if tc.name == "--proportion without --samples" {
				args = []string{"analyze", "--control", "c.txt", "--experiment", "e.txt"}
			}
			_, err := runCLI(t, append(args, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestAnalyzeSamplesJSONNumbers checks that numbers JSON cannot hold still encode: an
// uncomputed one as null, an unbounded one as analysis.Unbounded.
func TestAnalyzeSamplesJSONNumbers(t *testing.T) {
	tests := []struct {
		name string
		in   jnum
		want string
	}{
		{"finite", 0.125, "0.125"},
		{"not computed", notComputed, "null"},
		{"unbounded", jnum(math.Inf(1)), "1.7976931348623157e+308"},
		{"unbounded below", jnum(math.Inf(-1)), "-1.7976931348623157e+308"},
		{"analysis.Unbounded", jnum(math.MaxFloat64), "1.7976931348623157e+308"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(struct {
				V jnum `json:"v"`
			}{tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != `{"v":`+tc.want+`}` {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
