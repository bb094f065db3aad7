package chaostoolkit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// exampleEnv is the environment the examples are converted with: the variables a
// user of each example would have set.
var exampleEnv = map[string]string{
	"STORAGE_URL":         "http://127.0.0.1:8081/",
	"RETRIEVAL_URL":       "http://127.0.0.1:8082/",
	"SUPERPOWER_URL":      "http://127.0.0.1:8083/",
	"WEBAPP_SERVICE_ADDR": "http://127.0.0.1:8084",
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestExamples records the outcome of every example in testdata (copied unchanged from
// the public repositories listed in testdata/SOURCES.md), without and with
// --skip-unsupported: what is refused, and what converts, as the kinds produced (each
// step's and rollback's fault kind, each metric's source and measure). A conversion
// that succeeds must also pass spec validation with the fault catalogue, which Convert
// does; wantErr lists what the error must name.
func TestExamples(t *testing.T) {
	type outcome struct {
		wantErr   []string // empty: converts
		notErr    []string // what the error must not name: what did convert
		steps     []string // fault kinds
		metrics   []string // "kubernetes success", "http status", "prometheus"
		rollbacks []string
		parallel  []int    // the steps that start with the one before
		notes     []string // among the notes
	}
	tests := []struct {
		file  string
		plain outcome
		skip  outcome
	}{
		{
			file: "bpbpublications__Chaos-Engineering-with-Python__Chapter-08__chaos-experiment.json",
			plain: outcome{wantErr: []string{
				`:12: steady-state-hypothesis.probes[0].provider: python activity "pod-is-running" (module chaosk8s.pod.probes, function read_pod_status) cannot run in Murphy: it has no Murphy equivalent; Murphy maps chaosk8s's terminate_pods`,
				`:22: steady-state-hypothesis.probes[0].tolerance.type: unknown tolerance type "equal"`,
				`:35: steady-state-hypothesis.probes[1].tolerance.type: unknown tolerance type "less_than"`,
				`:45: method[0].provider: python activity "inject-cpu-stress" (module chaosk8s.pod.actions, function exec_in_pod)`,
				`:62: rollbacks[0].provider: python activity "recover-pod" (module chaosk8s.pod.actions, function delete_pod)`,
			}},
			skip: outcome{wantErr: []string{`unknown tolerance type "equal"`, `unknown tolerance type "less_than"`}},
		},
		{
			file: "chaostoolkit-incubator__community-playground__from-local-to-automated-chaostoolkit__experiments__rollout-v1-service2.json",
			plain: outcome{wantErr: []string{
				`:84: method[0].provider: python activity "initiate-rollout-v1-of-service2" (module chaosk8s.deployment.actions, function set_deployment_image) cannot run in Murphy: it has no Murphy equivalent`,
				`:98: method[1].provider: python activity "pretend-users-in-background" (module load, function single) cannot run in Murphy: workers run no Python drivers`,
				`:140: rollbacks[0].provider: python activity "rollback-service3-update" (module chaosk8s.deployment.actions, function rollback_deployment)`,
			},
				// The Prometheus probe of the hypothesis and the one in the method map.
				notErr: []string{"no-http-errors-returned-from-service", "read-counter-for-the-past-30-seconds", "read-deployment-status"}},
			skip: outcome{wantErr: []string{`:80: method: no activity is left that Murphy can run`}},
		},
		{
			file: "chaostoolkit-incubator__community-playground__interactive-controls__samples__simple-interactive-experiment.json",
			plain: outcome{steps: []string{"exec"}, metrics: []string{"command exit_code"}, rollbacks: []string{"exec"}, notes: []string{
				"line 8: steady-state-hypothesis.probes: process probes run as command probes, which a worker runs only when its policy allows the exec kind",
				"line 18: steady-state-hypothesis.probes[0].controls: activity controls are ignored",
			}},
			skip: outcome{steps: []string{"exec"}, metrics: []string{"command exit_code"}, rollbacks: []string{"exec"}},
		},
		{
			file: "chaostoolkit-incubator__community-playground__superpower__experiments__kubernetes__lose-half-of-powersources.json",
			plain: outcome{wantErr: []string{
				`:31: steady-state-hypothesis.probes[0].provider: python activity "users-must-receive-superpower" (module chaospower.probes, function ask_for_superpower)`,
				`:44: steady-state-hypothesis.probes[1].provider: python activity "users-must-have-kept-their-superpower"`,
			},
				// terminate_pods maps.
				notErr: []string{"terminate-pods", "chaosk8s"}},
			// Both steady-state probes are chaospower's: nothing is left to judge.
			skip: outcome{steps: []string{"pod.delete", "http.call"}, metrics: []string{}, notes: []string{
				"targets: the worker labelled role=kubernetes",
				"line 26: steady-state-hypothesis.probes: every steady-state probe was dropped: no steady state to check",
				"line 53: method[0]: chaosk8s deletes the first matching pods in alphabetic order (rand is false); Murphy chooses them at random",
				`line 79: method[2]: left out: "fetch-superpower-logs" (chaosk8s.pod.probes.read_pod_logs) only records its result`,
			}},
		},
		{
			file: "chaostoolkit__chaostoolkit-samples__pod-should-be-restarted-when-service-is-unhealthy__experiment.json",
			plain: outcome{wantErr: []string{
				`:27: steady-state-hypothesis.probes[0].provider: python activity "all-services-are-healthy" (chaosk8s.probes.all_microservices_healthy) cannot run in Murphy: it checks every pod of a namespace`,
			},
				// The Deployment probe maps; the query_interval and log probes of the method are left out.
				notErr: []string{"webapp-is-available", "collect-how-many-times", "collect-status-code-from-our-webapp", "read-webapp-logs"}},
			skip: outcome{steps: []string{"exec", "http.call", "exec"}, metrics: []string{"kubernetes success"}, parallel: []int{1}, notes: []string{
				`line 36: steady-state-hypothesis.probes[1].tolerance: the kubernetes probe's success is 1 while every desired replica of deployment/webapp-app is a ready, live pod`,
				"line 40: steady-state-hypothesis.probes[1].provider.func: chaosk8s's alias returns nothing (None), which chaoslib never finds equal to true",
				`line 95: method[3]: left out: "read-webapp-logs-for-the-pod-that-was-killed" (chaosk8s.probes.read_microservices_logs)`,
			}},
		},
		{
			file: "chaostoolkit__chaostoolkit-samples__service-killed-not-visible-to-users__experiment.json",
			plain: outcome{wantErr: []string{
				`:33: steady-state-hypothesis.probes[0].provider: python activity "all-services-are-healthy" (chaosk8s.probes.all_microservices_healthy)`,
				`:58: method[0].provider: python activity "kill-provider-microservice" (module chaosgremlin.actions, function attack)`,
			}, notErr: []string{"provider-is-available", "provider-should-be-in-a-broken-state"}},
			skip: outcome{steps: []string{"http.call"}, metrics: []string{"kubernetes success"}, notes: []string{
				`line 77: method[1]: left out: "provider-should-be-in-a-broken-state" (chaosk8s.probes.deployment_is_not_fully_available)`,
			}},
		},
		{
			file: "chaostoolkit__chaostoolkit__tests__fixtures__override-rollbacks-runtime-strategy.json",
			plain: outcome{wantErr: []string{
				`:25: steady-state-hypothesis.probes[1].provider: python activity "check-file-exists" (module os.path, function exists)`,
			}},
			skip: outcome{steps: []string{"exec"}, metrics: []string{"command exit_code"}, rollbacks: []string{"exec"}, notes: []string{
				"line 6: runtime.rollbacks.strategy: ignored: Murphy runs the rollbacks whatever the outcome",
				`line 25: steady-state-hypothesis.probes[1].provider: dropped: python activity "check-file-exists" (module os.path, function exists)`,
			}},
		},
		{
			file: "chaostoolkit__walkthrough__lab3__experiment.json",
			plain: outcome{wantErr: []string{
				`:57: method[1].provider: python activity "deny-all-ingress-traffic" (module chaosk8s.networking.actions, function deny_all_ingress)`,
				`:96: rollbacks[0].provider: python activity "remove-deny-all-ingress-traffic"`,
			}},
			skip: outcome{steps: []string{"exec", "exec"}, metrics: []string{"http status", "http success"}, parallel: []int{1}, notes: []string{
				`line 26: steady-state-hypothesis.probes[1].tolerance: the jsonpath is evaluated on the body`,
				`line 43: method[0].background: "simulate-some-traffic" runs in the background: the next step, "plot-traffic", starts together with it (parallel: true)`,
				`line 68: method[2]: Chaos Toolkit starts "plot-traffic" after the dropped "deny-all-ingress-traffic"`,
				`line 77: method[3]: left out: "fetch-application-logs" (chaosk8s.pod.probes.read_pod_logs)`,
			}},
		},
		{
			file: "chaostoolkit__walkthrough__lab5__experiment.json",
			plain: outcome{wantErr: []string{
				`:62: steady-state-hypothesis.probes[1].tolerance.provider: python activity "error-count" (module tolerances, function error_count_should_not_grow)`,
			}, notErr: []string{"fetch-application-logs"}},
			skip: outcome{steps: []string{"exec", "exec"}, metrics: []string{"http status"}, parallel: []int{1}, notes: []string{
				`line 59: steady-state-hypothesis.probes[1].tolerance: the steady-state probe "fetch-number-of-failed-calls-from-front-to-middle" is dropped with its tolerance`,
				`line 106: method[2]: left out: "fetch-application-logs" (chaosk8s.pod.probes.read_pod_logs) only records its result in Chaos Toolkit's journal`,
				`line 90: method[0].background: "simulate-some-traffic" runs in the background: the next step, "plot-traffic", starts together with it (parallel: true)`,
			}},
		},
		{
			file: "chrisp777__chaostoolkit-example__experiment-quote-storage-process-kill.json",
			plain: outcome{steps: []string{"exec"}, metrics: []string{"http status", "http status"}, rollbacks: []string{"exec", "exec"}, notes: []string{
				"line 22: steady-state-hypothesis.probes: the probes run every second on every worker of both groups, instead of once before and once after the method",
			}},
			skip: outcome{steps: []string{"exec"}, metrics: []string{"http status", "http status"}, rollbacks: []string{"exec", "exec"}},
		},
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) != len(tests) {
		t.Fatalf("%d examples in testdata, %d in the table: record the outcome of every one", len(files), len(tests))
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			want := tt.plain
			name := tt.file + "/plain"
			if skip {
				want, name = tt.skip, tt.file+"/skip-unsupported"
			}
			t.Run(name, func(t *testing.T) {
				r, err := Convert(data, tt.file, Options{SkipUnsupported: skip, LookupEnv: lookup(exampleEnv), Spec: specOpts()})
				if len(want.wantErr) > 0 {
					if err == nil {
						t.Fatalf("converted; want an error naming %q", want.wantErr)
					}
					if !errors.Is(err, spec.ErrInvalid) {
						t.Errorf("error is not a spec error: %v", err)
					}
					for _, w := range want.wantErr {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error does not name %q:\n%v", w, err)
						}
					}
					for _, w := range want.notErr {
						if strings.Contains(err.Error(), w) {
							t.Errorf("error names %q:\n%v", w, err)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("Convert: %v", err)
				}
				e := r.Experiment
				steps, metrics, rollbacks := kindsOf(e)
				if !slices.Equal(steps, want.steps) || !slices.Equal(metrics, want.metrics) || !slices.Equal(rollbacks, want.rollbacks) {
					t.Errorf("got steps %q, metrics %q, rollbacks %q; want %q, %q, %q", steps, metrics, rollbacks, want.steps, want.metrics, want.rollbacks)
				}
				var parallel []int
				for i, s := range e.Steps {
					if s.Parallel {
						parallel = append(parallel, i)
					}
				}
				if !slices.Equal(parallel, want.parallel) {
					t.Errorf("parallel steps %v, want %v", parallel, want.parallel)
				}
				notes := notesOf(r)
				for _, w := range want.notes {
					if !strings.Contains(notes, w) {
						t.Errorf("notes lack %q:\n%s", w, notes)
					}
				}
				checkRenderings(t, r)
			})
		}
	}
}

// kindsOf lists what a conversion produced: each step's and rollback's fault kind and
// each metric's source ("kubernetes success", "prometheus").
func kindsOf(e *spec.Experiment) (steps, metrics, rollbacks []string) {
	for _, s := range e.Steps {
		steps = append(steps, s.Fault.GetKind())
	}
	for _, r := range e.Rollbacks {
		rollbacks = append(rollbacks, r.Fault.GetKind())
	}
	metrics = []string{}
	for _, m := range e.Hypothesis.Metrics {
		if m.Source.GetPrometheus() != nil {
			metrics = append(metrics, "prometheus")
			continue
		}
		p := m.Source.GetProbe()
		metrics = append(metrics, spec.ProbeKind(p)+" "+p.Measure)
	}
	return steps, metrics, rollbacks
}

func TestConvertMapping(t *testing.T) {
	doc := `{
  "title": "Checkout survives",
  "tags": ["payments"],
  "configuration": {"base": "http://127.0.0.1:8080", "prog": {"type": "env", "key": "PROG", "default": "true"}},
  "secrets": {"api": {"token": {"type": "env", "key": "TOKEN"}}},
  "extensions": [{"name": "murphy", "selector": {"service": "demo"}, "experiment": {"count": 2}, "baseline": "5s", "hold": "3s"}],
  "steady-state-hypothesis": {"title": "ok", "probes": [
    {"type": "probe", "name": "home", "tolerance": [200, 204], "provider": {"type": "http", "url": "${base}/", "method": "get", "timeout": [1, 2]}},
    {"type": "probe", "name": "body", "tolerance": {"type": "regex", "pattern": "ok", "target": "body"}, "provider": {"type": "http", "url": "${base}/"}},
    {"type": "probe", "name": "range", "tolerance": {"type": "range", "range": [0, 1], "target": "status"}, "provider": {"type": "process", "path": "true", "arguments": ["${prog}", "b"]}},
    {"type": "probe", "name": "out", "tolerance": {"type": "regex", "pattern": "^up", "target": "stdout"}, "provider": {"type": "process", "path": "echo", "arguments": {"--flag": "v", "up": ""}}}
  ]},
  "method": [
    {"type": "action", "name": "call", "provider": {"type": "http", "url": "${base}/admin", "method": "POST", "headers": {"Authorization": "Bearer ${token}"}, "arguments": {"a": 1}}, "pauses": {"before": 2, "after": 4}},
    {"type": "action", "name": "cmd", "background": true, "provider": {"type": "process", "path": "sleep", "arguments": "1 && echo done", "timeout": 30}},
    {"ref": "home"}
  ],
  "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "http", "url": "${base}/undo", "timeout": 3}}]
}`
	r, err := Convert([]byte(doc), "exp.json", Options{LookupEnv: lookup(map[string]string{"TOKEN": "s3cr3t"}), Spec: specOpts()})
	if err != nil {
		t.Fatal(err)
	}
	e := r.Experiment
	if e.Name != "checkout-survives" || e.Labels["tag.payments"] != "true" || e.Targets.Selector["service"] != "demo" || e.Targets.Experiment.Count != 2 {
		t.Errorf("header: %+v %+v", e.Labels, e.Targets)
	}
	if got := e.Baseline.AsDuration().String(); got != "7s" {
		t.Errorf("baseline %s, want 7s (5s and the first activity's pause before)", got)
	}
	m := e.Hypothesis.Metrics
	if p := m[0].Source.Probe; p.GetHttp().Url != "http://127.0.0.1:8080/" || p.GetHttp().Method != "GET" || p.Measure != "status" || p.Timeout.AsDuration().String() != "3s" ||
		len(m[0].CtkTolerance.Values) != 2 {
		t.Errorf("http probe %+v %+v %+v", p, p.GetHttp(), m[0].CtkTolerance)
	}
	if p := m[1].Source.Probe; p.GetHttp().BodyMatch != "ok" || p.Measure != "success" {
		t.Errorf("regex probe %+v", p.GetHttp())
	}
	if p := m[2].Source.Probe; strings.Join(p.GetCommand().Argv, " ") != "true true b" || p.Measure != "exit_code" || m[2].CtkTolerance.Range[1] != 1 {
		t.Errorf("range probe %+v %+v", p.GetCommand(), m[2].CtkTolerance)
	}
	if p := m[3].Source.Probe; strings.Join(p.GetCommand().Argv, "|") != "/bin/sh|-c|(echo --flag v up) | grep -qE -- '^up'" {
		t.Errorf("stdout regex probe %q", p.GetCommand().Argv)
	}
	s := e.Steps
	// Without Content-Type: application/json, Chaos Toolkit (the requests library) sends
	// a mapping as a form.
	if len(s) != 3 || s[0].Fault.GetKind() != "http.call" || s[0].Fault.GetParams()["method"] != "POST" || s[0].Fault.GetParams()["body"] != `a=1` ||
		s[0].Fault.GetParams()["headers"] != `{"Authorization":"Bearer s3cr3t","Content-Type":"application/x-www-form-urlencoded"}` || s[0].Fault.GetDuration().AsDuration().String() != "4s" {
		t.Fatalf("step 0 %+v", s[0])
	}
	if s[1].Fault.GetKind() != "exec" || s[1].Fault.GetParams()["shell"] != "true" || s[1].Fault.GetParams()["inject"] != "sleep 1 && echo done" || s[1].Fault.GetParams()["timeout"] != "9s" || s[1].Fault.GetDuration().AsDuration().String() != "3s" || s[1].Parallel {
		t.Errorf("step 1 %+v", s[1])
	}
	// The step after the background one starts with it.
	if s[2].Fault.GetKind() != "http.call" || s[2].Fault.GetParams()["url"] != "http://127.0.0.1:8080/" || !s[2].Parallel {
		t.Errorf("ref step %+v", s[2])
	}
	if rb := e.Rollbacks; len(rb) != 1 || rb[0].Fault.GetKind() != "http.call" || rb[0].Fault.GetParams()["timeout"] != "3s" {
		t.Errorf("rollbacks %+v", rb)
	}
	notes := ""
	for _, n := range r.Notes {
		notes += n.String() + "\n"
	}
	for _, want := range []string{
		"steady-state-hypothesis.probes[0].provider.timeout: a [connect, read] timeout becomes one timeout of 3s",
		`method[1].background: "cmd" runs in the background: the next step, "home", starts together with it (parallel: true)`,
		"method[1].provider.timeout: a timeout of 30s exceeds",
		"method[2].ref: the reference runs the activity at steady-state-hypothesis.probes[0]",
		"method[2]: a probe in the method runs as a step",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// TestBadFiles checks that each broken file names the problem and its path.
func TestBadFiles(t *testing.T) {
	const probe = `{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "http://h/"}}`
	const action = `{"type": "action", "name": "a", "provider": {"type": "process", "path": "true"}}`
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"not json", `{"title": "x",}`, []string{"x.json:1: not valid JSON: invalid character '}'"}},
		{"not yaml", "title: [x\nmethod: y\n", []string{"neither JSON nor valid YAML"}},
		{"empty", "  \n", []string{"file is empty"}},
		{"not a mapping", `[1, 2]`, []string{"a Chaos Toolkit experiment is a mapping"}},
		{"missing method", `{"title": "x", "steady-state-hypothesis": {"probes": [` + probe + `]}}`, []string{"x.json:1: method: required"}},
		{"empty method", `{"title": "x", "steady-state-hypothesis": {"probes": [` + probe + `]}, "method": []}`, []string{"method: must hold at least one activity"}},
		{"missing title", `{"steady-state-hypothesis": {"probes": [` + probe + `]}, "method": [` + action + `]}`, []string{"title: required"}},
		{"probes not a list", `{"title": "x", "steady-state-hypothesis": {"title": "h", "probes": {}}, "method": [` + action + `]}`,
			[]string{"steady-state-hypothesis.probes: must be a list of probes with tolerances, got a mapping"}},
		{"probe without tolerance", "{\"title\": \"x\",\n \"steady-state-hypothesis\": {\"probes\": [\n  {\"type\": \"probe\", \"name\": \"p\", \"provider\": {\"type\": \"http\", \"url\": \"http://h/\"}}]},\n \"method\": [" + action + "]}",
			[]string{"x.json:3: steady-state-hypothesis.probes[0].tolerance: required; a steady-state probe needs a tolerance"}},
		{"unknown tolerance type", `{"title": "x", "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": {"type": "lower"}, "provider": {"type": "http", "url": "http://h/"}}]}, "method": [` + action + `]}`,
			[]string{`steady-state-hypothesis.probes[0].tolerance.type: unknown tolerance type "lower"; Chaos Toolkit's tolerance types are probe, regex, jsonpath and range`}},
		{"unset env", `{"title": "x", "configuration": {"u": {"type": "env", "key": "NOPE_X"}}, "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "${u}"}}]}, "method": [` + action + `]}`,
			[]string{"configuration.u: environment variable NOPE_X is not set and has no default (needed by activity \"p\" at steady-state-hypothesis.probes[0].provider.url)"}},
		{"vault config", `{"title": "x", "configuration": {"u": {"type": "vault", "path": "a"}}, "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "${u}"}}]}, "method": [` + action + `]}`,
			[]string{`configuration.u: configuration entries of type the string "vault" are not supported`}},
		{"bad range", `{"title": "x", "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": {"type": "range", "range": [5, 1]}, "provider": {"type": "http", "url": "http://h/"}}]}, "method": [` + action + `]}`,
			[]string{`tolerance.range: low (5) is above high (1) (activity "p")`}},
		{"jsonpath without path", `{"title": "x", "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": {"type": "jsonpath"}, "provider": {"type": "http", "url": "http://h/"}}]}, "method": [` + action + `]}`,
			[]string{"tolerance.path: required; the JSONPath expression"}},
		{"unknown provider", `{"title": "x", "steady-state-hypothesis": {"probes": [` + probe + `]}, "method": [{"type": "action", "name": "a", "provider": {"type": "ruby"}}]}`,
			[]string{`method[0].provider.type: unknown provider type "ruby"; Chaos Toolkit has http, process and python (activity "a")`}},
		{"bad ref", `{"title": "x", "steady-state-hypothesis": {"probes": [` + probe + `]}, "method": [{"ref": "nope"}]}`,
			[]string{`method[0].ref: names no activity defined before it: "nope"`}},
		{"bad url", `{"title": "x", "steady-state-hypothesis": {"probes": [{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "localhost:80"}}]}, "method": [` + action + `]}`,
			[]string{`steady-state-hypothesis.probes[0].provider.url: invalid URL "localhost:80"`}},
		{"a variable in a process path", `{"title": "x", "configuration": {"bin": "true"}, "steady-state-hypothesis": {"probes": [` + probe + `]}, "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "${bin}"}}]}`,
			[]string{`method[0].provider.path: chaoslib does not substitute configuration or secrets in a process provider's path, so it uses ${bin} as written and the activity fails; write the value itself (activity "a")`}},
		{"a variable in an http method", `{"title": "x", "configuration": {"m": "POST"}, "steady-state-hypothesis": {"probes": [` + probe + `]}, "method": [{"type": "action", "name": "a", "provider": {"type": "http", "url": "http://h/", "method": "${m}"}}]}`,
			[]string{`method[0].provider.method: chaoslib does not substitute configuration or secrets in an http provider's method`}},
		{"action in hypothesis", `{"title": "x", "steady-state-hypothesis": {"probes": [{"type": "action", "name": "p", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]}, "method": [` + action + `]}`,
			[]string{"steady-state-hypothesis.probes[0].type: the steady-state hypothesis holds probes only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert([]byte(tt.doc), "x.json", Options{Spec: specOpts()})
			if err == nil {
				t.Fatal("converted")
			}
			if strings.Contains(err.Error(), `invalid URL "${`) {
				t.Errorf("a variable that could not be read is reported again as a URL:\n%v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestYAMLAndDetect(t *testing.T) {
	doc := `title: yaml experiment
steady-state-hypothesis:
  probes:
    - type: probe
      name: up
      tolerance: 0
      provider: {type: process, path: "true"}
method:
  - type: action
    name: poke
    provider: {type: http, url: "http://127.0.0.1:1/"}
`
	if !Detect([]byte(doc)) || Detect([]byte("apiVersion: murphy/v1\nname: x\n")) || Detect([]byte("{")) {
		t.Error("Detect")
	}
	r, err := Convert([]byte(doc), "x.yaml", Options{Spec: specOpts()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Experiment.Steps[0].Fault.GetKind() != "http.call" {
		t.Errorf("%+v", r.Experiment.Steps)
	}
}

// TestNoHypothesis checks that an experiment chaoslib accepts without a steady state to
// check (no steady-state-hypothesis, or one without probes) converts to a spec with no
// metrics, whose steps and rollbacks run and whose verdict judges nothing.
func TestNoHypothesis(t *testing.T) {
	for _, tt := range []struct{ name, hyp, where string }{
		{"no steady-state-hypothesis", "", "line 1: steady-state-hypothesis: no steady state to check: Murphy runs the method and the rollbacks, as Chaos Toolkit does, and the verdict says there was nothing to judge (hypothesis.metrics: [])"},
		{"no probes", `"steady-state-hypothesis": {"title": "h"},`, "line 1: steady-state-hypothesis.probes: no probes: no steady state to check"},
		{"an empty list of probes", `"steady-state-hypothesis": {"title": "h", "probes": []},`, "steady-state-hypothesis.probes: no probes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"title": "x", ` + tt.hyp + ` "method": [` + anAction + `], "rollbacks": [` + anAction + `]}`
			r := convertWant(t, doc, Options{Spec: specOpts()}, "")
			e := r.Experiment
			if len(e.Hypothesis.Metrics) != 0 || len(e.Steps) != 1 || len(e.Rollbacks) != 1 {
				t.Errorf("%d metrics, %d steps, %d rollbacks; want 0, 1, 1", len(e.Hypothesis.Metrics), len(e.Steps), len(e.Rollbacks))
			}
			if notes := notesOf(r); !strings.Contains(notes, tt.where) {
				t.Errorf("notes lack %q:\n%s", tt.where, notes)
			}
			checkRenderings(t, r)
		})
	}
}

// checkRenderings checks that both renderings of a conversion pass murphy validate.
func checkRenderings(t *testing.T, r *Result) {
	t.Helper()
	for _, format := range []string{"yaml", "json"} {
		out, err := r.Render(format)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spec.Parse(out, "converted."+format, specOpts()); err != nil {
			t.Errorf("%s rendering does not validate: %v\n%s", format, err, out)
		}
	}
}
