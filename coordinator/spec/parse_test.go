package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, data []byte, opts Options) *Experiment {
	t.Helper()
	e, err := Parse(data, "test.yaml", opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e
}

func mustCanonical(t *testing.T, e *Experiment) []byte {
	t.Helper()
	c, err := e.Canonical()
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	return c
}

// TestExamplesRoundTrip checks that the example specs parse, that YAML and
// JSON spellings of one experiment give the same canonical JSON, that the
// canonical JSON parses back to an equal value, and that it matches the
// golden file byte for byte (the stored form must not drift silently).
func TestExamplesRoundTrip(t *testing.T) {
	opts := Options{ValidateFault: demoFaults}
	yamlSrc := mustRead(t, "testdata/example.yaml")
	jsonSrc := mustRead(t, "testdata/example.json")

	fromYAML := mustParse(t, yamlSrc, opts)
	fromJSON := mustParse(t, jsonSrc, opts)
	if fromYAML.Origin.Format != FormatYAML || fromJSON.Origin.Format != FormatJSON {
		t.Errorf("formats = %q, %q; want yaml, json", fromYAML.Origin.Format, fromJSON.Origin.Format)
	}
	sum := sha256.Sum256(yamlSrc)
	if got, want := fromYAML.Origin.Digest, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Digest = %s, want %s", got, want)
	}

	cy, cj := mustCanonical(t, fromYAML), mustCanonical(t, fromJSON)
	if !bytes.Equal(cy, cj) {
		t.Errorf("YAML and JSON canonical forms differ:\n%s\n%s", cy, cj)
	}

	again := mustParse(t, cy, opts)
	if again.Origin.Format != FormatJSON {
		t.Errorf("canonical parsed as %q, want json", again.Origin.Format)
	}
	again.Origin = fromYAML.Origin
	if !reflect.DeepEqual(again, fromYAML) {
		t.Errorf("canonical JSON does not parse back to the same value:\n got %+v\nwant %+v", again, fromYAML)
	}
	if c := mustCanonical(t, again); !bytes.Equal(c, cy) {
		t.Errorf("canonical form is not a fixed point:\n%s\n%s", c, cy)
	}

	pretty, err := fromYAML.JSON()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/example.golden.json"
	if *update {
		if err := os.WriteFile(golden, append(pretty, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := mustRead(t, golden); !bytes.Equal(append(pretty, '\n'), want) {
		t.Errorf("JSON() differs from %s (run go test -update):\n%s", golden, pretty)
	}
	cd1, _ := fromYAML.CanonicalDigest()
	cd2, _ := fromJSON.CanonicalDigest()
	if cd1 != cd2 || len(cd1) != 64 {
		t.Errorf("CanonicalDigest = %q, %q; want equal sha256 hex", cd1, cd2)
	}
}

func TestExampleValues(t *testing.T) {
	e := mustParse(t, mustRead(t, "testdata/example.yaml"), Options{ValidateFault: demoFaults})
	if e.Name != "checkout-latency-one-dc" || e.Targets.Experiment.Count != 4 {
		t.Errorf("name/count = %q/%d", e.Name, e.Targets.Experiment.Count)
	}
	m := e.Hypothesis.Metrics[0]
	if m.Source.Probe.Measure != MeasureLatency || m.Source.Probe.HTTP.Interval.Std() != time.Second || !m.Critical {
		t.Errorf("probe metric = %+v", m)
	}
	if got := *e.Abort[0].Above; got != 0.05 || e.Abort[0].For.Std() != 3*time.Second {
		t.Errorf("abort[0] = %v", e.Abort[0])
	}
	want := map[string]string{"delay": "200ms", "percent": "100"}
	if s := e.Steps[0]; s.Fault != "http.delay" || !reflect.DeepEqual(s.Params, want) || s.Duration.Std() != 2*time.Minute {
		t.Errorf("step = %+v", s)
	}
	if e.Cooldown.Std() != 15*time.Second || e.Schedule.Timezone != "Europe/Helsinki" {
		t.Errorf("cooldown/schedule = %v/%+v", e.Cooldown, e.Schedule)
	}
	const wantString = "checkout-latency-one-dc (4 workers vs 4 workers control, 2 metrics, steps: http.delay)"
	if got := e.String(); got != wantString {
		t.Errorf("String() = %q, want %q", got, wantString)
	}
	if got := e.Abort[0].String(); got != "error_rate above 0.05 for 3s" {
		t.Errorf("abort String() = %q", got)
	}
	if got := e.Abort[1].String(); got != "probe_latency deviates by more than 50%" {
		t.Errorf("abort String() = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	e := mustParse(t, mustRead(t, "testdata/minimal.yaml"), Options{})
	probe := e.Hypothesis.Metrics[0].Source.Probe.HTTP
	checks := []struct {
		name      string
		got, want any
	}{
		{"control", e.Targets.Control, GroupSize{Percent: 25}},
		{"stratify", e.Targets.Stratify, []string{"region", "datacenter"}},
		{"maxWorkers", e.Targets.BlastRadius.MaxWorkers, 10},
		{"maxPercentPerDatacenter", e.Targets.BlastRadius.MaxPercentPerDatacenter, 50.0},
		{"maxPercentPerRegion", e.Targets.BlastRadius.MaxPercentPerRegion, 100.0},
		{"seed", e.Targets.Seed, (*int64)(nil)},
		{"confidence", e.Hypothesis.Confidence, 0.95},
		{"method", probe.Method, "GET"},
		{"interval", probe.Interval, Duration(time.Second)},
		{"timeout", probe.Timeout, Duration(2 * time.Second)},
		{"expectStatus", probe.ExpectStatus, 0},
		{"baseline", e.Baseline, Duration(10 * time.Second)},
		{"cooldown", e.Cooldown, Duration(0)},
		{"schedule", e.Schedule, (*Schedule)(nil)},
		{"params", e.Steps[0].Params, map[string]string{"status": "503", "percent": "5"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// TestDefaultsDoNotOverride checks the values that look like defaults'
// "unset" markers are kept when written out.
func TestDefaultsDoNotOverride(t *testing.T) {
	src := `apiVersion: murphy/v1
name: explicit
targets:
  selector: {service: checkout}
  experiment: {count: 2}
  control: {percent: 50}
  stratify: []
  blastRadius: {maxWorkers: 3, maxPercentPerDatacenter: 100, maxPercentPerRegion: 20}
  seed: -7
hypothesis:
  confidence: 0.99
  metrics:
    - name: up
      source:
        prometheus: {query: 'up{job="checkout"}', interval: 15s}
      direction: decrease
      tolerance: {absolute: 0}
    - name: ok
      source: {probe: {http: {url: "https://checkout.internal/health", method: HEAD, interval: 500ms, timeout: 250ms, expectStatus: 204}, measure: success}}
      direction: either
      tolerance: {relative: 0}
baseline: 1m30s
cooldown: 0s
steps:
  - fault: process.kill
    params: {name: checkout-api, signal: KILL}
schedule: {cron: "0 3 * JAN-MAR,OCT sun"}
`
	instant := func(kind string) bool { return kind == "process.kill" }
	e := mustParse(t, []byte(src), Options{FaultIsInstant: instant})
	if got := e.Targets.Stratify; got == nil || len(got) != 0 {
		t.Errorf("stratify = %#v, want empty non-nil", got)
	}
	if *e.Targets.Seed != -7 || e.Targets.Control.Percent != 50 || e.Targets.BlastRadius.MaxWorkers != 3 {
		t.Errorf("targets = %+v", e.Targets)
	}
	if e.Hypothesis.Confidence != 0.99 || e.Baseline.Std() != 90*time.Second {
		t.Errorf("confidence/baseline = %v/%v", e.Hypothesis.Confidence, e.Baseline)
	}
	if p := e.Hypothesis.Metrics[0].Source.Prometheus; p.Interval.Std() != 15*time.Second {
		t.Errorf("prometheus interval = %v", p.Interval)
	}
	if h := e.Hypothesis.Metrics[1].Source.Probe.HTTP; h.Method != "HEAD" || h.Timeout.Std() != 250*time.Millisecond || h.ExpectStatus != 204 {
		t.Errorf("http probe = %+v", h)
	}
	if e.Schedule.Timezone != "UTC" || e.Steps[0].Duration != 0 {
		t.Errorf("schedule/duration = %+v/%v", e.Schedule, e.Steps[0].Duration)
	}
	c := mustCanonical(t, e)
	if !bytes.Contains(c, []byte(`"stratify":[]`)) || !bytes.Contains(c, []byte(`"query":"up{job=\"checkout\"}"`)) {
		t.Errorf("canonical = %s", c)
	}
	// Without FaultIsInstant the kill step needs a duration.
	if _, err := Parse([]byte(src), "kill.yaml", Options{}); err == nil || !strings.Contains(err.Error(), `kill.yaml:25: steps[0].duration: required for fault "process.kill"`) {
		t.Errorf("without FaultIsInstant: %v", err)
	}
}

func TestParams(t *testing.T) {
	src := `apiVersion: murphy/v1
name: params
targets: {selector: {app: web, version: 2}, experiment: {count: 1}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps:
  - fault: custom.thing
    params: {delay: 200ms, percent: 100, ratio: 0.5, on: true, ports: [80, 443], empty: ~, quoted: "007"}
    duration: 30s
    where: {datacenter: dc1}
`
	e := mustParse(t, []byte(src), Options{})
	want := map[string]string{"delay": "200ms", "percent": "100", "ratio": "0.5", "on": "true", "ports": "80,443", "empty": "", "quoted": "007"}
	if got := e.Steps[0].Params; !reflect.DeepEqual(got, want) {
		t.Errorf("params = %#v, want %#v", got, want)
	}
	if got := e.Targets.Selector["version"]; got != "2" {
		t.Errorf("selector version = %q", got)
	}
	if got := e.Steps[0].Where; !reflect.DeepEqual(got, map[string]string{"datacenter": "dc1"}) {
		t.Errorf("where = %#v", got)
	}
}

func TestMergeKeys(t *testing.T) {
	src := `apiVersion: murphy/v1
name: merged
x-probe: &probe {http: {url: "http://127.0.0.1:8080/health"}}
x-two: &two {count: 2}
targets: {selector: {app: web}, experiment: {<<: *two}, control: {<<: *two, count: 3}}
hypothesis:
  metrics:
    - {name: lat, source: {probe: {<<: *probe, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}
    - {name: ok, source: {probe: {<<: *probe, measure: success}}, direction: decrease, tolerance: {relative: 0.1}}
steps: [{fault: http.delay, params: {delay: 200ms}, duration: 30s}]
`
	e := mustParse(t, []byte(src), Options{ValidateFault: demoFaults})
	if e.Targets.Experiment.Count != 2 || e.Targets.Control.Count != 3 {
		t.Errorf("sizes = %v / %v, want 2 / 3", e.Targets.Experiment, e.Targets.Control)
	}
	if got := e.Hypothesis.Metrics[1].Source.Probe.HTTP.URL; got != "http://127.0.0.1:8080/health" {
		t.Errorf("merged url = %q", got)
	}
}

func TestErrorRendering(t *testing.T) {
	one := &Error{File: "exp.yaml", Problems: []Problem{{Line: 12, Column: 3, Field: "targets.experiment.count", Message: "must be at least 1"}}}
	if got, want := one.Error(), "exp.yaml:12: targets.experiment.count: must be at least 1"; got != want {
		t.Errorf("one problem: %q, want %q", got, want)
	}
	two := &Error{File: "exp.yaml", Problems: []Problem{
		{Line: 12, Field: "targets.experiment.count", Message: "must be at least 1"},
		{Message: "file is too big"},
	}}
	want := "exp.yaml: experiment spec has 2 problems\n" +
		"exp.yaml:12: targets.experiment.count: must be at least 1\n" +
		"exp.yaml: file is too big"
	if got := two.Error(); got != want {
		t.Errorf("two problems:\n%s\nwant:\n%s", got, want)
	}
	if got := two.Summary(); got != "exp.yaml: experiment spec has 2 problems" {
		t.Errorf("Summary = %q", got)
	}
	anon := &Error{Problems: []Problem{{Line: 3, Field: "name", Message: "required"}}}
	if got := anon.Error(); got != "line 3: name: required" {
		t.Errorf("no file name: %q", got)
	}
	if got := (Problem{Line: 3, Field: "name", Message: "required"}).String(); got != "line 3: name: required" {
		t.Errorf("Problem.String = %q", got)
	}
	var err error = two
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(*Error, ErrInvalid) = false")
	}
}

func TestParseSizeLimit(t *testing.T) {
	big := append([]byte("apiVersion: murphy/v1\ndescription: "), bytes.Repeat([]byte("x"), MaxSize)...)
	_, err := Parse(big, "big.yaml", Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "big.yaml: file is ") {
		t.Errorf("err = %v", err)
	}
}

// TestAliasBomb checks that aliases cannot turn a small file into an
// enormous walk: here thousands of steps share one step with a large
// params mapping.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: murphy/v1\nname: bomb\nx-params: &p {")
	for i := range 15000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("k" + strconv.Itoa(i) + ": 1")
	}
	b.WriteString("}\nx-step: &s {fault: http.delay, params: *p, duration: 1s}\nsteps: [*s")
	for range 10000 {
		b.WriteString(", *s")
	}
	b.WriteString("]\n")
	if b.Len() > MaxSize {
		t.Fatalf("test input is %d bytes, over MaxSize", b.Len())
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yaml", Options{})
	if err == nil || !strings.Contains(err.Error(), "too large once aliases are expanded") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                "0s",
		200 * time.Millisecond:           "200ms",
		30 * time.Second:                 "30s",
		2 * time.Minute:                  "2m",
		90 * time.Second:                 "1m30s",
		time.Hour:                        "1h",
		time.Hour + 30*time.Minute:       "1h30m",
		time.Hour + time.Second:          "1h0m1s",
		1500 * time.Microsecond:          "1.5ms",
		2*time.Hour + 3*time.Millisecond: "2h0m0.003s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		back, err := time.ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Errorf("%q does not parse back to %v: %v, %v", Duration(d).String(), d, back, err)
		}
	}
}

// TestProbeKinds checks each probe kind's fields, its defaults, its
// one-line description and its canonical JSON round trip.
func TestProbeKinds(t *testing.T) {
	e := mustParse(t, mustRead(t, "testdata/probes.yaml"), Options{ValidateFault: demoFaults})
	m := e.Hypothesis.Metrics
	if len(m) != 7 {
		t.Fatalf("%d metrics, want 7", len(m))
	}
	sec := func(d time.Duration) Duration { return Duration(d) }
	want := []struct {
		kind, measure, str string
		interval, timeout  Duration
	}{
		{"http", "status_class", "probe GET http://{{proxy}}/health status_class", sec(time.Second), sec(2 * time.Second)},
		{"tcp", "latency", "probe tcp 127.0.0.1:5432 latency", sec(500 * time.Millisecond), sec(2 * time.Second)},
		{"grpc", "success", "probe grpc {{proxy}} checkout.v1.Checkout success", sec(time.Second), sec(time.Second)},
		{"command", "number", `probe command ["redis-cli" "-h" "127.0.0.1" "llen" "orders"] number`, sec(5 * time.Second), sec(3 * time.Second)},
		{"command", "exit_code", `probe command ["/usr/local/bin/check-orders" "--quiet"] exit_code`, sec(time.Second), sec(2 * time.Second)},
		{"http", "success", "probe POST http://{{proxy}}/orders/search success", sec(time.Second), sec(2 * time.Second)},
		{"command", "success", `probe command ["queue-stat" "--json"] success`, sec(time.Second), sec(2 * time.Second)},
	}
	for i, w := range want {
		p := m[i].Source.Probe
		interval, timeout := p.Timing()
		if p.Kind() != w.kind || string(p.Measure) != w.measure || interval != w.interval || timeout != w.timeout {
			t.Errorf("metric %d: kind %q measure %q timing %v/%v; want %q %q %v/%v",
				i, p.Kind(), p.Measure, interval, timeout, w.kind, w.measure, w.interval, w.timeout)
		}
		if got := m[i].Source.String(); got != w.str {
			t.Errorf("metric %d: String() = %q, want %q", i, got, w.str)
		}
	}
	if h := m[0].Source.Probe.HTTP; h.BodyMatch != `"status":\s*"ok"` || h.ExpectStatus != 200 {
		t.Errorf("http = %+v", h)
	}
	if c := m[3].Source.Probe.Command; !reflect.DeepEqual(c.Env, map[string]string{"REDISCLI_AUTH": "secret", "LANG": "C"}) {
		t.Errorf("env = %#v", c.Env)
	}
	if m[4].Source.Probe.Command.Env != nil {
		t.Errorf("absent env = %#v, want nil", m[4].Source.Probe.Command.Env)
	}
	two := 2
	if h := m[5].Source.Probe.HTTP; !reflect.DeepEqual(h.Headers, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer t0ken", "Host": "orders.internal"}) ||
		h.Body != `{"status": "ready"}` || !reflect.DeepEqual(h.JSONPath, &JSONPathCheck{Path: "$.items[*].id", Count: &two}) {
		t.Errorf("http request = %+v, jsonPath %+v", h, h.JSONPath)
	}
	wantExpect := []any{"running", 3.0, 2.5, true, nil, map[string]any{"shard": "a"}}
	if j := m[6].Source.Probe.Command.JSONPath; j.Path != "$.queues[*].state" || j.Count != nil || !reflect.DeepEqual(j.Expect, wantExpect) {
		t.Errorf("command jsonPath = %#v", j)
	}
	if m[0].Source.Probe.HTTP.Headers != nil || m[0].Source.Probe.HTTP.JSONPath != nil {
		t.Errorf("absent headers/jsonPath = %#v", m[0].Source.Probe.HTTP)
	}

	c := mustCanonical(t, e)
	for _, frag := range []string{
		`"probe":{"tcp":{"address":"127.0.0.1:5432","interval":"500ms","timeout":"2s"},"measure":"latency"}`,
		`"probe":{"grpc":{"address":"{{proxy}}","service":"checkout.v1.Checkout","interval":"1s","timeout":"1s"},"measure":"success"}`,
		`"command":{"argv":["redis-cli","-h","127.0.0.1","llen","orders"],"env":{"LANG":"C","REDISCLI_AUTH":"secret"},"interval":"5s","timeout":"3s"}`,
		`"bodyMatch":"\"status\":\\s*\"ok\""`,
		`"http":{"url":"http://{{proxy}}/orders/search","method":"POST","headers":{"Authorization":"Bearer t0ken","Content-Type":"application/json","Host":"orders.internal"},"body":"{\"status\": \"ready\"}","interval":"1s","timeout":"2s","jsonPath":{"path":"$.items[*].id","count":2}}`,
		`"jsonPath":{"path":"$.queues[*].state","expect":["running",3,2.5,true,null,{"shard":"a"}]}`,
	} {
		if !bytes.Contains(c, []byte(frag)) {
			t.Errorf("canonical JSON lacks %s:\n%s", frag, c)
		}
	}
	again := mustParse(t, c, Options{ValidateFault: demoFaults})
	again.Origin = e.Origin
	if !reflect.DeepEqual(again, e) {
		t.Errorf("canonical JSON does not parse back to the same value:\n got %+v\nwant %+v", again, e)
	}
	if c2 := mustCanonical(t, again); !bytes.Equal(c, c2) {
		t.Errorf("canonical form is not a fixed point:\n%s\n%s", c, c2)
	}
}

func TestProbeAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string
	}{
		{"127.0.0.1:8080", ""},
		{"[::1]:9090", ""},
		{"db.internal:5432", ""},
		{"{{proxy}}", ""},
		{"[::1]", `invalid address "[::1]": must be host:port, e.g. 127.0.0.1:8080 or {{proxy}}`},
		{"{{proxy}}:80", `invalid address "{{proxy}}:80": must be host:port, e.g. 127.0.0.1:8080 or {{proxy}}`},
		{"db:postgres", `invalid address "db:postgres": port must be a number between 1 and 65535`},
		{"db:0", `invalid address "db:0": port must be a number between 1 and 65535`},
	} {
		if got := checkAddress(tc.addr); got != tc.want {
			t.Errorf("checkAddress(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// TestJSONPathCheck checks how a jsonPath's expect and count read, and that each reads
// back the same from the canonical JSON.
func TestJSONPathCheck(t *testing.T) {
	zero := 0
	tests := []struct {
		name, check string
		want        *JSONPathCheck
	}{
		{"any match", `{path: "$..id"}`, &JSONPathCheck{Path: "$..id"}},
		{"one value is a list of one", `{path: $.status, expect: ok}`, &JSONPathCheck{Path: "$.status", Expect: []any{"ok"}}},
		{"numbers are JSON numbers", `{path: $.n, expect: [1, 2.5, -0x10]}`, &JSONPathCheck{Path: "$.n", Expect: []any{1.0, 2.5, -16.0}}},
		{"quoted numbers are strings", `{path: $.n, expect: ["1", "true", "null"]}`, &JSONPathCheck{Path: "$.n", Expect: []any{"1", "true", "null"}}},
		{"one match that is a list", `{path: $.a, expect: [[1, b]]}`, &JSONPathCheck{Path: "$.a", Expect: []any{[]any{1.0, "b"}}}},
		{"null in a list", `{path: $.a, expect: [null, ~, false]}`, &JSONPathCheck{Path: "$.a", Expect: []any{nil, nil, false}}},
		{"an object", `{path: $.a, expect: {k: [1, x], m: {}}}`, &JSONPathCheck{Path: "$.a", Expect: []any{map[string]any{"k": []any{1.0, "x"}, "m": map[string]any{}}}}},
		{"count 0", `{path: $.error, count: 0}`, &JSONPathCheck{Path: "$.error", Count: &zero}},
		{"filter", `{path: "$.deps[?@.up == false].name"}`, &JSONPathCheck{Path: "$.deps[?@.up == false].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := `apiVersion: murphy/v1
name: jp
targets: {selector: {app: web}, experiment: {count: 1}}
hypothesis:
  metrics:
    - name: m
      source: {probe: {http: {url: "http://127.0.0.1/", jsonPath: ` + tt.check + `}, measure: success}}
      direction: decrease
      tolerance: {absolute: 0}
steps: [{fault: http.delay, params: {delay: 1ms}, duration: 1s}]
`
			e := mustParse(t, []byte(src), Options{ValidateFault: demoFaults})
			if got := e.Hypothesis.Metrics[0].Source.Probe.HTTP.JSONPath; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("jsonPath = %#v, want %#v", got, tt.want)
			}
			again := mustParse(t, mustCanonical(t, e), Options{ValidateFault: demoFaults})
			if got := again.Hypothesis.Metrics[0].Source.Probe.HTTP.JSONPath; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("from the canonical JSON, jsonPath = %#v, want %#v", got, tt.want)
			}
		})
	}
}
