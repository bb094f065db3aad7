package chaostoolkit

import (
	"reflect"
	"strings"
	"testing"
)

// TestToleranceKinds records what becomes of every tolerance kind chaoslib accepts on
// the http and process providers (the Prometheus driver's are in TestConvertPrometheus):
// mapped onto a measure checked by the Chaos Toolkit tolerance, or refused with
// chaoslib's reason when chaoslib itself could never find it met.
func TestToleranceKinds(t *testing.T) {
	providers := map[string]string{
		"http":    `{"type": "http", "url": "http://h/health"}`,
		"process": `{"type": "process", "path": "check", "arguments": ["-v"]}`,
	}
	tests := []struct {
		provider, tol string
		measure       string
		values, rng   []float64
		argv          string // the command probe's argv, joined with |
		bodyMatch     string
		note          string
		wantErr       string
	}{
		{provider: "http", tol: `200`, measure: "status", values: []float64{200}},
		{provider: "http", tol: `[200, 204]`, measure: "status", values: []float64{200, 204}},
		{provider: "http", tol: `{"type": "range", "range": [200, 299], "target": "status"}`, measure: "status", rng: []float64{200, 299}},
		{provider: "http", tol: `{"type": "regex", "pattern": "ok", "target": "body"}`, measure: "success", values: []float64{1}, bodyMatch: "ok",
			note: "the regex is searched in the body's text"},
		{provider: "http", tol: `{"type": "jsonpath", "path": "$.up", "target": "body"}`, measure: "success", values: []float64{1}},
		{provider: "http", tol: `true`,
			wantErr: `tolerance: chaoslib compares the tolerance true with the http probe's whole result, a mapping {status, headers, body}, so it never holds and the experiment never gets past its steady state; write a status code or a list of them ([200]), or a regex or jsonpath with target: body (activity "p")`},
		{provider: "http", tol: `"ok"`, wantErr: `chaoslib compares the tolerance "ok" with the http probe's whole result`},
		{provider: "http", tol: `{"type": "range", "range": [200, 299]}`,
			wantErr: "tolerance: without a target chaoslib reads the http probe's whole result (a mapping) as a number and fails; add target: status"},
		{provider: "http", tol: `{"type": "range", "range": [0, 9], "target": "body"}`,
			wantErr: "tolerance.target: a range on the body of an http probe is not supported; use target: status"},
		{provider: "http", tol: `{"type": "regex", "pattern": "ok"}`,
			wantErr: "tolerance: without a target chaoslib searches the http probe's whole result (a mapping) and fails; add target: body"},
		{provider: "http", tol: `{"type": "regex", "pattern": "ok", "target": "headers"}`,
			wantErr: "tolerance.target: a regex on the headers of an http probe is not supported; use target: body"},
		{provider: "http", tol: `{"type": "probe", "name": "judge", "provider": {"type": "http", "url": "http://judge/"}}`,
			wantErr: `tolerance: chaoslib runs this http probe with the probe's result as its argument value and takes a true result as met; Murphy cannot hand one probe's result to another`},

		{provider: "process", tol: `0`, measure: "exit_code", values: []float64{0}, argv: "check|-v"},
		{provider: "process", tol: `[0, 1]`, measure: "exit_code", values: []float64{0, 1}, argv: "check|-v"},
		{provider: "process", tol: `{"type": "range", "range": [0, 1], "target": "status"}`, measure: "exit_code", rng: []float64{0, 1}, argv: "check|-v"},
		{provider: "process", tol: `{"type": "range", "range": [0, 100], "target": "stdout"}`, measure: "number", rng: []float64{0, 100}, argv: "check|-v",
			note: "the range is checked on the last number the command prints on its standard output (0 when it exits non-zero); Chaos Toolkit reads the whole standard output as one number"},
		{provider: "process", tol: `{"type": "range", "range": [0, 100], "target": "stderr"}`, measure: "number", rng: []float64{0, 100}, argv: "/bin/sh|-c|(check -v) 2>&1 >/dev/null",
			note: "the range is checked on the last number the command prints on its standard error"},
		{provider: "process", tol: `{"type": "jsonpath", "path": "$.up", "target": "stderr"}`, measure: "success", values: []float64{1}, argv: "/bin/sh|-c|(check -v) 2>&1 >/dev/null",
			note: "the jsonpath is evaluated on the standard error"},
		{provider: "process", tol: `{"type": "regex", "pattern": "^up", "target": "stdout"}`, measure: "success", values: []float64{1}, argv: "/bin/sh|-c|(check -v) | grep -qE -- '^up'"},
		{provider: "process", tol: `{"type": "regex", "pattern": "warn", "target": "stderr"}`, measure: "success", values: []float64{1}, argv: "/bin/sh|-c|(check -v) 2>&1 >/dev/null | grep -qE -- warn"},
		{provider: "process", tol: `{"type": "jsonpath", "path": "$.up", "target": "stdout"}`, measure: "success", values: []float64{1}, argv: "check|-v"},
		{provider: "process", tol: `false`, wantErr: `chaoslib compares the tolerance false with the process probe's whole result, a mapping {status, stdout, stderr}, so it never holds`},
		{provider: "process", tol: `"up"`, wantErr: `write an exit code or a list of them ([0]), or a regex with target: stdout`},
		{provider: "process", tol: `{"type": "range", "range": [0, 1]}`, wantErr: "add target: status, target: stdout or target: stderr"},
		{provider: "process", tol: `{"type": "range", "range": [0, 1], "target": "stdin"}`, wantErr: "a range on the stdin of a process probe is not supported; use target: status, target: stdout or target: stderr"},
		{provider: "process", tol: `{"type": "jsonpath", "path": "$.up", "target": "status"}`, wantErr: "a jsonpath on the status of a process probe is not supported"},
		{provider: "process", tol: `{"type": "regex", "pattern": "up"}`, wantErr: "without a target chaoslib searches the process probe's whole result (a mapping) and fails; add target: stdout or target: stderr"},
		{provider: "process", tol: `{"type": "probe", "name": "judge", "provider": {"type": "process", "path": "judge"}}`, wantErr: "chaoslib runs this process probe with the probe's result"},
		{provider: "process", tol: `{"type": "probe", "name": "judge", "provider": {"type": "python", "module": "tolerances", "func": "judge"}}`,
			wantErr: `tolerance.provider: python activity "judge" (module tolerances, function judge) cannot run in Murphy`},
	}
	for _, tt := range tests {
		t.Run(tt.provider+" "+tt.tol, func(t *testing.T) {
			probe := `{"type": "probe", "name": "p", "tolerance": ` + tt.tol + `, "provider": ` + providers[tt.provider] + `}`
			r := convertWant(t, experiment(probe, ""), Options{Spec: specOpts()}, tt.wantErr)
			if r == nil {
				return
			}
			m := r.Experiment.Hypothesis.Metrics[0]
			p := m.Source.Probe
			if p.Measure != tt.measure || !reflect.DeepEqual(m.CtkTolerance.Values, tt.values) || !reflect.DeepEqual(m.CtkTolerance.Range, tt.rng) {
				t.Errorf("measure %s values %v range %v; want %s %v %v", p.Measure, m.CtkTolerance.Values, m.CtkTolerance.Range, tt.measure, tt.values, tt.rng)
			}
			if tt.provider == "process" {
				if got := strings.Join(p.GetCommand().Argv, "|"); got != tt.argv {
					t.Errorf("argv %s, want %s", got, tt.argv)
				}
			} else if got := p.GetHttp().BodyMatch; got != tt.bodyMatch {
				t.Errorf("bodyMatch %q, want %q", got, tt.bodyMatch)
			}
			if notes := notesOf(r); tt.note != "" && !strings.Contains(notes, tt.note) {
				t.Errorf("notes lack %q:\n%s", tt.note, notes)
			}
		})
	}
}
