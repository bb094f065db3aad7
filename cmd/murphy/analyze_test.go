package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
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
