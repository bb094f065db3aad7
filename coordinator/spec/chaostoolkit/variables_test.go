package chaostoolkit

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// TestTypedSubstitution checks that a ${name} that is a field's whole value takes the
// variable's declared type, as chaoslib substitutes it, in every field chaoslib
// substitutes; and that inside a longer string it is rendered as Python's str() does.
func TestTypedSubstitution(t *testing.T) {
	config := `{"t": 3, "p": 4, "code": 200, "codes": [200, 204], "n": 5, "flag": true,
  "payload": {"a": 1, "b": [true, null]}, "argv": ["-c", "1"], "want": true, "path": "$.up",
  "env_t": {"type": "env", "key": "T_SECONDS", "env_var_type": "int"},
  "env_json": {"type": "env", "key": "PAYLOAD", "env_var_type": "json"},
  "env_bool": {"type": "env", "key": "ON", "env_var_type": "bool"},
  "env_default": {"type": "env", "key": "UNSET", "default": 2}}`
	env := map[string]string{"T_SECONDS": "7", "PAYLOAD": `{"k": [1, "x"]}`, "ON": "no"}
	httpProvider := func(extra string) string {
		return `{"type": "http", "url": "http://h/"` + extra + `}`
	}
	probe := func(tol, provider string) string {
		return `{"type": "probe", "name": "p", "tolerance": ` + tol + `, "provider": ` + provider + `}`
	}
	action := func(provider, extra string) string {
		return `{"type": "action", "name": "a", "provider": ` + provider + extra + `}`
	}
	tests := []struct {
		name          string
		probe, action string
		check         func(t *testing.T, e *spec.Experiment)
	}{
		{"timeout as a number", probe("200", httpProvider(`, "timeout": "${t}"`)), "",
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Hypothesis.Metrics[0].Source.Probe.Timeout.AsDuration(); got != 3*time.Second {
					t.Errorf("probe timeout %s, want 3s", got)
				}
			}},
		{"timeout from an env int", probe("200", httpProvider(`, "timeout": "${env_t}"`)), "",
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Hypothesis.Metrics[0].Source.Probe.Timeout.AsDuration(); got != 7*time.Second {
					t.Errorf("probe timeout %s, want 7s", got)
				}
			}},
		{"an env default keeps its type", probe("200", httpProvider(`, "timeout": "${env_default}"`)), "",
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Hypothesis.Metrics[0].Source.Probe.Timeout.AsDuration(); got != 2*time.Second {
					t.Errorf("probe timeout %s, want 2s", got)
				}
			}},
		{"pauses", "", action(`{"type": "process", "path": "true"}`, `, "pauses": {"after": "${p}"}`),
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Steps[0].Fault.GetDuration().AsDuration(); got != 4*time.Second {
					t.Errorf("step held %s, want 4s (the pause after)", got)
				}
			}},
		{"a tolerance that is a number", probe(`"${code}"`, httpProvider("")), "",
			func(t *testing.T, e *spec.Experiment) {
				m := e.Hypothesis.Metrics[0]
				if m.Source.Probe.Measure != spec.MeasureStatus || len(m.CtkTolerance.Values) != 1 || m.CtkTolerance.Values[0] != 200 {
					t.Errorf("measure %s values %v, want status [200]", m.Source.Probe.Measure, m.CtkTolerance.Values)
				}
			}},
		{"a tolerance that is a list", probe(`"${codes}"`, httpProvider("")), "",
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Hypothesis.Metrics[0].CtkTolerance.Values; len(got) != 2 || got[1] != 204 {
					t.Errorf("values %v, want [200 204]", got)
				}
			}},
		{"expect keeps its type", probe(`{"type": "jsonpath", "path": "${path}", "expect": "${want}", "target": "body"}`, httpProvider("")), "",
			func(t *testing.T, e *spec.Experiment) {
				j := e.Hypothesis.Metrics[0].Source.Probe.GetHttp().JsonPath
				if j.Path != "$.up" || len(j.Expect) != 1 || !j.Expect[0].GetBoolValue() {
					t.Errorf("jsonPath %v, want $.up expecting [true]", j)
				}
			}},
		{"a JSON body from an object", "", action(httpProvider(`, "method": "POST", "headers": {"Content-Type": "application/json"}, "arguments": "${payload}"`), ""),
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Steps[0].Fault.GetParams()["body"]; got != `{"a":1,"b":[true,null]}` {
					t.Errorf("body %s", got)
				}
			}},
		{"numbers inside a JSON body", "", action(httpProvider(`, "method": "POST", "headers": {"Content-Type": "application/json"}, "arguments": {"n": "${n}", "on": "${env_bool}", "j": "${env_json}", "s": "n=${n}"}`), ""),
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Steps[0].Fault.GetParams()["body"]; got != `{"j":{"k":[1,"x"]},"n":5,"on":false,"s":"n=5"}` {
					t.Errorf("body %s", got)
				}
			}},
		{"a bool inside a longer string is Python's", "", action(httpProvider(`, "arguments": {"q": "${flag}", "r": "x-${flag}"}`), ""),
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Steps[0].Fault.GetParams()["url"]; got != "http://h/?q=True&r=x-True" {
					t.Errorf("url %s", got)
				}
			}},
		{"process arguments from a list", "", action(`{"type": "process", "path": "ping", "arguments": "${argv}"}`, ""),
			func(t *testing.T, e *spec.Experiment) {
				if got := e.Steps[0].Fault.GetParams()["inject"]; got != `["ping","-c","1"]` {
					t.Errorf("inject %s, want the list as arguments", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"title": "t", "configuration": ` + config + `, "steady-state-hypothesis": {"title": "h", "probes": [` +
				or(tt.probe, aProbe) + `]}, "method": [` + or(tt.action, anAction) + `]}`
			r, err := Convert([]byte(doc), "x.json", Options{LookupEnv: lookup(env), Spec: specOpts()})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r.Experiment)
		})
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestVariableErrors checks the problems of typed variables, each naming the activity
// that needed the variable.
func TestVariableErrors(t *testing.T) {
	tests := []struct {
		name, config, provider string
		env                    map[string]string
		want                   string
	}{
		{"an env int that is not one", `{"t": {"type": "env", "key": "T", "env_var_type": "int"}}`, `{"type": "http", "url": "http://h/", "timeout": "${t}"}`,
			map[string]string{"T": "soon"},
			`x.json:1: configuration.t.env_var_type: environment variable T: "soon" is not an integer (env_var_type int) (needed by activity "p" at steady-state-hypothesis.probes[0].provider.timeout)`},
		{"an unknown env type", `{"t": {"type": "env", "key": "T", "env_var_type": "yaml"}}`, `{"type": "http", "url": "http://h/", "timeout": "${t}"}`,
			map[string]string{"T": "1"},
			`env_var_type "yaml" is not one chaoslib knows`},
		{"a mapping where a URL goes", `{"u": {"a": 1}}`, `{"type": "http", "url": "${u}"}`, nil,
			`x.json:1: steady-state-hypothesis.probes[0].provider.url: must be a string, got a mapping (activity "p")`},
		{"a string where a timeout goes", `{"t": "3"}`, `{"type": "http", "url": "http://h/", "timeout": "${t}"}`, nil,
			`steady-state-hypothesis.probes[0].provider.timeout: must be a positive number of seconds or a [connect, read] pair, got the string "3" (activity "p")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"title": "t", "configuration": ` + tt.config + `, "steady-state-hypothesis": {"title": "h", "probes": [` +
				`{"type": "probe", "name": "p", "tolerance": 200, "provider": ` + tt.provider + `}]}, "method": [` + anAction + `]}`
			_, err := Convert([]byte(doc), "x.json", Options{LookupEnv: lookup(tt.env), Spec: specOpts()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one saying %q", err, tt.want)
			}
		})
	}
}

// TestTemplateSyntax checks the rest of Python's string.Template syntax chaoslib
// substitutes with: $$ is a $, $name is a variable too, and a placeholder of no variable
// is kept as written (noted), as is any other $. What a variable holds is not
// substituted again.
func TestTemplateSyntax(t *testing.T) {
	tests := []struct {
		arg, want string
		note      string
	}{
		{`${n} $n`, `5 5`, ""},
		{`$$n costs $$5`, `$n costs $5`, ""},
		{`kill ${pid}`, `kill ${pid}`, `method[0].provider.arguments[0]: ${pid} is not defined in configuration or secrets; it is kept as written, as chaoslib does`},
		{`echo $HOME`, `echo $HOME`, `$HOME is not defined in configuration or secrets`},
		{`${a-b} $5 $`, `${a-b} $5 $`, ""},
		{`${raw}`, `$$n`, ""},
		{`x${raw}`, `x$$n`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			action := `{"type": "action", "name": "a", "provider": {"type": "process", "path": "echo", "arguments": [` + strconv.Quote(tt.arg) + `]}}`
			doc := `{"title": "t", "configuration": {"n": 5, "raw": "$$n"}, "steady-state-hypothesis": {"title": "h", "probes": [` + aProbe + `]}, "method": [` + action + `]}`
			r := convertWant(t, doc, Options{Spec: specOpts()}, "")
			want, _ := json.Marshal([]string{"echo", tt.want})
			if got := r.Experiment.Steps[0].Fault.GetParams()["inject"]; got != string(want) {
				t.Errorf("inject %s, want %s", got, want)
			}
			notes := notesOf(r)
			if tt.note != "" && !strings.Contains(notes, tt.note) {
				t.Errorf("notes lack %q:\n%s", tt.note, notes)
			}
			if tt.note == "" && strings.Contains(notes, "not defined") {
				t.Errorf("notes say a variable is not defined:\n%s", notes)
			}
		})
	}
}

// TestTitleSubstitution checks that the title is substituted, as chaoslib does when the
// run starts, before it becomes the name.
func TestTitleSubstitution(t *testing.T) {
	doc := `{"title": "Checkout in ${region}", "configuration": {"region": "eu-west"}, "steady-state-hypothesis": {"probes": [` + aProbe + `]}, "method": [` + anAction + `]}`
	r := convertWant(t, doc, Options{Spec: specOpts()}, "")
	if r.Experiment.Name != "checkout-in-eu-west" || r.Experiment.Description != "Checkout in eu-west" {
		t.Errorf("name %q, description %q", r.Experiment.Name, r.Experiment.Description)
	}
}
