package chaostoolkit

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestConvertPrometheus checks that chaosprometheus query and query_interval probes
// become metrics with a Prometheus source, a jsonpath that counts the result becoming a
// count query checked by the Chaos Toolkit tolerance, and that every other tolerance is
// refused with chaoslib's reason.
func TestConvertPrometheus(t *testing.T) {
	probe := func(fn, args, tol string) string {
		return `{"type": "probe", "name": "errors", "tolerance": ` + tol + `, "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "` + fn + `", "arguments": ` + args + `}}`
	}
	const q = `{"query": "rate(errors_total{code='500'}[1m])"}`
	const qi = `{"query": "up{job=\"api\"}", "start": "2 minutes ago", "end": "now", "step": 5}`
	tests := []struct {
		name, probe string
		query       string
		values, rng []float64
		direction   string
		interval    string
		notes       []string
		wantErr     string
	}{
		{"no series above zero (the rollout example)", probe("query", q, `{"type": "jsonpath", "path": "$.data.result.*[?(@.value[1]!=\"0\")]", "count": 0}`),
			"count((rate(errors_total{code='500'}[1m])) != 0) or vector(0)", []float64{0}, nil, "increase", "",
			[]string{
				`Chaos Toolkit queries the Prometheus at configuration.prometheus_base_url (the address in the environment variable PROM); Murphy's coordinators query the one they are configured with (--prometheus-url)`,
				"the filter compares numbers, where jsonpath2 compares the texts (which agree for Prometheus's own formatting)",
				"both groups read the same series, so the comparison between them says nothing",
			}, ""},
		{"series counted", probe("query", q, `{"type": "jsonpath", "path": "$.data.result[*]", "count": 3}`),
			"count((rate(errors_total{code='500'}[1m]))) or vector(0)", []float64{3}, nil, "either", "",
			[]string{"it counts the series the query returns"}, ""},
		{"any match", probe("query", q, `{"type": "jsonpath", "path": "$.data.result[?(@.value[1] > '0.5')]"}`),
			"count((rate(errors_total{code='500'}[1m])) > 0.5) or vector(0)", nil, []float64{1, math.MaxFloat64}, "decrease", "",
			[]string{"the filter compares numbers, where jsonpath2 compares the texts (which agree only for numbers written with as many digits)"}, ""},
		{"target data", probe("query", q, `{"type": "jsonpath", "target": "data", "path": "$.result[?(@.value[1] = \"1\")]", "count": 1}`),
			"count((rate(errors_total{code='500'}[1m])) == 1) or vector(0)", []float64{1}, nil, "either", "", nil, ""},
		{"a query from the configuration", probe("query", `{"query": "${q}", "when": "now", "timeout": 3}`, `{"type": "jsonpath", "path": "$.data.result[*]", "count": 0}`),
			"count((sum(up))) or vector(0)", []float64{0}, nil, "increase", "",
			[]string{"arguments.when: ignored: Murphy evaluates the query at every interval", "arguments.timeout: ignored: the coordinators bound each query with their --prometheus-timeout"}, ""},
		{"braces kept from the template", probe("query", `{"query": "count({{x}})"}`, `{"type": "jsonpath", "path": "$.data.result[*]", "count": 0}`),
			`count((count({{"{{"}}x}}))) or vector(0)`, []float64{0}, nil, "increase", "", nil, ""},
		{"query_interval points", probe("query_interval", qi, `{"type": "jsonpath", "path": "$.data.result[*].values[?(@[1] != \"1\")]", "count": 0}`),
			`count((up{job="api"}) != 1) or vector(0)`, []float64{0}, nil, "increase", "5s",
			[]string{"instead of once over start..end", "Chaos Toolkit counts the points of every series between start and end; Murphy counts the series that match at each evaluation"}, ""},

		{"a status code", probe("query", q, `200`), "", nil, nil, "", "", nil,
			`steady-state-hypothesis.probes[0].tolerance: chaoslib checks the tolerance 200 on the response of chaosprometheus.probes.query, a mapping {status, data}, where it never holds`},
		{"a boolean", probe("query", q, `true`), "", nil, nil, "", "", nil, "where it never holds"},
		{"a range", probe("query", q, `{"type": "range", "range": [0, 1], "target": "status"}`), "", nil, nil, "", "", nil, "where it never holds"},
		{"a regex", probe("query", q, `{"type": "regex", "pattern": "success", "target": "status"}`), "", nil, nil, "", "", nil, "where it never holds"},
		{"expect", probe("query", q, `{"type": "jsonpath", "path": "$.data.result[*].value[1]", "expect": "0"}`), "", nil, nil, "", "", nil,
			"tolerance: Murphy's Prometheus source reads numbers, so a jsonpath on a Prometheus response is mapped only when it counts the series or points"},
		{"an unquoted number", probe("query", q, `{"type": "jsonpath", "path": "$.data.result[?(@.value[1] != 0)]", "count": 0}`), "", nil, nil, "", "", nil,
			"Prometheus returns values as strings, so chaoslib compares .value[1] with the number 0"},
		{"points of an instant query", probe("query", q, `{"type": "jsonpath", "path": "$.data.result[*].values[?(@[1] != \"0\")]", "count": 0}`), "", nil, nil, "", "", nil,
			`the path does not fit the response of chaosprometheus.probes.query (each series has value: [time, "value"])`},
		{"query_interval without start", probe("query_interval", q, `{"type": "jsonpath", "path": "$.data.result[*]", "count": 0}`), "", nil, nil, "", "", nil,
			`steady-state-hypothesis.probes[0].provider.arguments.start: required by chaosprometheus.probes.query_interval; the range's start, such as "5 minutes ago" (activity "errors")`},
		{"no query", probe("query", `{}`, `{"type": "jsonpath", "path": "$.data.result[*]", "count": 0}`), "", nil, nil, "", "", nil,
			`provider.arguments.query: required; the PromQL query of chaosprometheus.probes.query (activity "errors")`},
		{"another function", `{"type": "probe", "name": "mean", "tolerance": 1, "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "compute_mean", "arguments": {"query": "up"}}}`, "", nil, nil, "", "", nil,
			`python activity "mean" (module chaosprometheus.probes, function compute_mean) cannot run in Murphy: of Chaos Toolkit's Prometheus driver Murphy maps query and query_interval, as steady-state probes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"title": "t", "configuration": {"q": "sum(up)", "prometheus_base_url": {"type": "env", "key": "PROM"}},
 "steady-state-hypothesis": {"title": "h", "probes": [` + tt.probe + `]}, "method": [` + anAction + `]}`
			r := convertWant(t, doc, Options{Spec: specOpts()}, tt.wantErr)
			if r == nil {
				return
			}
			m := r.Experiment.Hypothesis.Metrics[0]
			src := m.Source.Prometheus
			if src == nil || m.Source.Probe != nil {
				t.Fatalf("source %v, want prometheus only", m.Source)
			}
			if src.Query != tt.query {
				t.Errorf("query %s, want %s", src.Query, tt.query)
			}
			if !reflect.DeepEqual(m.CtkTolerance.Values, tt.values) || !reflect.DeepEqual(m.CtkTolerance.Range, tt.rng) {
				t.Errorf("tolerance values %v range %v, want %v %v", m.CtkTolerance.Values, m.CtkTolerance.Range, tt.values, tt.rng)
			}
			if m.Direction != tt.direction {
				t.Errorf("direction %s, want %s", m.Direction, tt.direction)
			}
			if tt.interval == "" {
				tt.interval = "1s"
			}
			if got := src.Interval.AsDuration().String(); got != tt.interval {
				t.Errorf("interval %s, want %s", got, tt.interval)
			}
			notes := notesOf(r)
			for _, w := range tt.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
		})
	}
}

// TestPrometheusInMethod checks that a chaosprometheus probe in the method or the
// rollbacks is left out with a note, without --skip-unsupported, and that its pauses
// still take their time.
func TestPrometheusInMethod(t *testing.T) {
	prom := `{"type": "probe", "name": "read-counter", "pauses": {"after": 5}, "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query_interval", "arguments": {"query": "up", "start": "1 minute ago", "end": "now"}}}`
	doc := `{"title": "t", "steady-state-hypothesis": {"title": "h", "probes": [` + aProbe + `]}, "method": [` + anAction + `, ` + prom + `], "rollbacks": [` + prom + `]}`
	r, err := Convert([]byte(doc), "x.json", Options{Spec: specOpts()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Experiment.Steps); n != 1 || len(r.Experiment.Rollbacks) != 0 {
		t.Fatalf("%d steps and %d rollbacks, want 1 and 0", n, len(r.Experiment.Rollbacks))
	}
	if got := r.Experiment.Steps[0].Fault.GetDuration().AsDuration().String(); got != "15s" {
		t.Errorf("step held %s, want 15s (its hold and the left-out probe's pause)", got)
	}
	notes := notesOf(r)
	for _, w := range []string{
		`method[1]: left out: "read-counter" (chaosprometheus.probes.query_interval) only records a query's result in Chaos Toolkit's journal`,
		`rollbacks[0]: left out: "read-counter"`,
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
}
