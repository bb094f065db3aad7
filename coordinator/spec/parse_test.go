package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

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

// mustCanonical is the spec's JSON view in a stable form (compact, keys sorted), for
// tests to compare and search.
func mustCanonical(t *testing.T, e *Experiment) []byte {
	t.Helper()
	e = proto.Clone(e).(*Experiment)
	e.Origin = nil
	js, err := JSON(e)
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("JSON view is not JSON: %v\n%s", err, js)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// committed is e as the cluster stores it and reads it back: it must be the same spec.
func committed(t *testing.T, e *Experiment) *Experiment {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	again := &Experiment{}
	if err := proto.Unmarshal(b, again); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(again, e) {
		t.Fatalf("the committed spec reads back different:\n got %v\nwant %v", again, e)
	}
	return again
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
		t.Errorf("YAML and JSON spellings give different specs:\n%s\n%s", cy, cj)
	}
	committed(t, fromYAML)
	cd1, _ := Digest(fromYAML)
	cd2, _ := Digest(fromJSON)
	if cd1 != cd2 || len(cd1) != 64 {
		t.Errorf("Digest = %q, %q; want equal sha256 hex", cd1, cd2)
	}

	// Runs committed before the spec was typed hold its canonical JSON (this file is what
	// that code wrote for example.yaml): it must read as the same spec.
	legacy := mustRead(t, "testdata/legacy-canonical.json")
	old, err := Of(&murphyv1.Run{Id: "old", SpecJson: string(legacy)})
	if err != nil {
		t.Fatal(err)
	}
	old.Origin = fromYAML.Origin
	if !proto.Equal(old, fromYAML) {
		t.Errorf("a legacy run's spec reads differently:\n got %v\nwant %v", old, fromYAML)
	}
	if sp, err := Of(&murphyv1.Run{Id: "new", Spec: fromYAML, SpecJson: "not read"}); err != nil || sp != fromYAML {
		t.Errorf("Of a typed run = %p, %v; want the committed message", sp, err)
	}
	if _, err := Of(&murphyv1.Run{Id: "none"}); err == nil {
		t.Error("Of a run without a spec did not fail")
	}
}

func TestExampleValues(t *testing.T) {
	e := mustParse(t, mustRead(t, "testdata/example.yaml"), Options{ValidateFault: demoFaults})
	if e.Name != "checkout-latency-one-dc" || e.Targets.Experiment.Count != 4 {
		t.Errorf("name/count = %q/%d", e.Name, e.Targets.Experiment.Count)
	}
	m := e.Hypothesis.Metrics[0]
	if m.Source.Probe.Measure != MeasureLatency || m.Source.Probe.Interval.AsDuration() != time.Second || m.Source.Probe.Metric != m.Name || !m.Critical {
		t.Errorf("probe metric = %+v", m)
	}
	if got := *e.Abort[0].Above; got != 0.05 || e.Abort[0].For.AsDuration() != 3*time.Second {
		t.Errorf("abort[0] = %v", e.Abort[0])
	}
	want := map[string]string{"delay": "200ms", "percent": "100"}
	if s := e.Steps[0]; s.Fault.Kind != "http.delay" || !reflect.DeepEqual(s.Fault.Params, want) || s.Fault.Duration.AsDuration() != 2*time.Minute {
		t.Errorf("step = %+v", s)
	}
	if e.Cooldown.AsDuration() != 15*time.Second || e.Schedule.Timezone != "Europe/Helsinki" {
		t.Errorf("cooldown/schedule = %v/%+v", e.Cooldown, e.Schedule)
	}
	const wantString = "checkout-latency-one-dc (4 workers vs 4 workers control, 2 metrics, steps: http.delay)"
	if got := Summary(e); got != wantString {
		t.Errorf("Summary = %q, want %q", got, wantString)
	}
	if got := GuardrailText(e.Abort[0]); got != "error_rate above 0.05 for 3s" {
		t.Errorf("abort String() = %q", got)
	}
	if got := GuardrailText(e.Abort[1]); got != "probe_latency deviates by more than 50%" {
		t.Errorf("abort String() = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	e := mustParse(t, mustRead(t, "testdata/minimal.yaml"), Options{})
	probe := e.Hypothesis.Metrics[0].Source.Probe
	checks := []struct {
		name      string
		got, want any
	}{
		{"control", proto.Equal(e.Targets.Control, &GroupSize{Percent: 25}), true},
		{"stratify", e.Targets.Stratify, []string{"region", "datacenter"}},
		{"maxWorkers", e.Targets.BlastRadius.MaxWorkers, int32(10)},
		{"maxPercentPerDatacenter", e.Targets.BlastRadius.MaxPercentPerDatacenter, 50.0},
		{"maxPercentPerRegion", e.Targets.BlastRadius.MaxPercentPerRegion, 100.0},
		{"seed", e.Targets.Seed, (*int64)(nil)},
		{"confidence", e.Hypothesis.Confidence, 0.95},
		{"method", probe.GetHttp().Method, "GET"},
		{"interval", probe.Interval.AsDuration(), time.Second},
		{"timeout", probe.Timeout.AsDuration(), 2 * time.Second},
		{"expectStatus", probe.GetHttp().ExpectStatus, []int32(nil)},
		{"baseline", e.Baseline.AsDuration(), 10 * time.Second},
		{"cooldown", e.Cooldown, (*durationpb.Duration)(nil)},
		{"schedule", e.Schedule, (*Schedule)(nil)},
		{"params", e.Steps[0].Fault.Params, map[string]string{"status": "503", "percent": "5"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// TestDefaultDeviationBaseline: a spec with a deviation guardrail and no baseline gets
// the longer baseline such a guardrail needs; an absolute guardrail does not change it.
func TestDefaultDeviationBaseline(t *testing.T) {
	minimal := string(mustRead(t, "testdata/minimal.yaml"))
	for _, tc := range []struct {
		abort string
		want  time.Duration
	}{
		{"abort:\n  - {metric: probe_latency, deviation: {relative: 0.5}}\n", DefaultDeviationBaseline},
		{"abort:\n  - {metric: probe_latency, above: 0.5}\n", DefaultBaseline},
		{"abort:\n  - {metric: probe_latency, deviation: {relative: 0.5}}\nbaseline: 30s\n", 30 * time.Second},
	} {
		e := mustParse(t, []byte(strings.Replace(minimal, "steps:", tc.abort+"steps:", 1)), Options{})
		if got := e.Baseline.AsDuration(); got != tc.want {
			t.Errorf("%q: baseline %v, want %v", tc.abort, got, tc.want)
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
	if e.Hypothesis.Confidence != 0.99 || e.Baseline.AsDuration() != 90*time.Second {
		t.Errorf("confidence/baseline = %v/%v", e.Hypothesis.Confidence, e.Baseline)
	}
	if p := e.Hypothesis.Metrics[0].Source.Prometheus; p.Interval.AsDuration() != 15*time.Second {
		t.Errorf("prometheus interval = %v", p.Interval)
	}
	if p := e.Hypothesis.Metrics[1].Source.Probe; p.GetHttp().Method != "HEAD" || p.Timeout.AsDuration() != 250*time.Millisecond || !slices.Equal(p.GetHttp().ExpectStatus, []int32{204}) {
		t.Errorf("http probe = %v", p)
	}
	if e.Schedule.Timezone != "UTC" || e.Steps[0].Fault.Duration != nil {
		t.Errorf("schedule/duration = %v/%v", e.Schedule, e.Steps[0].Fault.Duration)
	}
	c := mustCanonical(t, e)
	if !bytes.Contains(c, []byte(`"query":"up{job=\"checkout\"}"`)) {
		t.Errorf("canonical = %s", c)
	}
	// Stratification turned off stays off once committed (an empty list, not the default).
	if got := committed(t, e).Targets.Stratify; len(got) != 0 {
		t.Errorf("committed stratify = %v, want none", got)
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
	if got := e.Steps[0].Fault.Params; !reflect.DeepEqual(got, want) {
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
	if got := e.Hypothesis.Metrics[1].Source.Probe.GetHttp().Url; got != "http://127.0.0.1:8080/health" {
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
		if got := DurationText(d); got != want {
			t.Errorf("DurationText(%v) = %q, want %q", d, got, want)
		}
		back, err := time.ParseDuration(DurationText(d))
		if err != nil || back != d {
			t.Errorf("%q does not parse back to %v: %v, %v", DurationText(d), d, back, err)
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
	sec := func(d time.Duration) time.Duration { return d }
	want := []struct {
		kind, measure, str string
		interval, timeout  time.Duration
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
		interval, timeout := p.Interval.AsDuration(), p.Timeout.AsDuration()
		if ProbeKind(p) != w.kind || p.Measure != w.measure || interval != w.interval || timeout != w.timeout || p.Metric != m[i].Name {
			t.Errorf("metric %d: kind %q measure %q timing %v/%v metric %q; want %q %q %v/%v %q",
				i, ProbeKind(p), p.Measure, interval, timeout, p.Metric, w.kind, w.measure, w.interval, w.timeout, m[i].Name)
		}
		if got := SourceText(m[i].Source); got != w.str {
			t.Errorf("metric %d: SourceText = %q, want %q", i, got, w.str)
		}
	}
	if h := m[0].Source.Probe.GetHttp(); h.BodyMatch != `"status":\s*"ok"` || !slices.Equal(h.ExpectStatus, []int32{200}) {
		t.Errorf("http = %+v", h)
	}
	if c := m[3].Source.Probe.GetCommand(); !reflect.DeepEqual(c.Env, map[string]string{"REDISCLI_AUTH": "secret", "LANG": "C"}) {
		t.Errorf("env = %#v", c.Env)
	}
	if m[4].Source.Probe.GetCommand().Env != nil {
		t.Errorf("absent env = %#v, want nil", m[4].Source.Probe.GetCommand().Env)
	}
	if h := m[5].Source.Probe.GetHttp(); !reflect.DeepEqual(h.Headers, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer t0ken", "Host": "orders.internal"}) ||
		h.Body != `{"status": "ready"}` || !proto.Equal(h.JsonPath, &JSONPathCheck{Path: "$.items[*].id", Count: proto.Int32(2)}) {
		t.Errorf("http request = %v, jsonPath %v", h, h.JsonPath)
	}
	wantExpect := []any{"running", 3.0, 2.5, true, nil, map[string]any{"shard": "a"}}
	if j := m[6].Source.Probe.GetCommand().JsonPath; j.Path != "$.queues[*].state" || j.Count != nil || !reflect.DeepEqual(expectValues(j), wantExpect) {
		t.Errorf("command jsonPath = %v", j)
	}
	if m[0].Source.Probe.GetHttp().Headers != nil || m[0].Source.Probe.GetHttp().JsonPath != nil {
		t.Errorf("absent headers/jsonPath = %v", m[0].Source.Probe.GetHttp())
	}

	c := mustCanonical(t, e)
	for _, frag := range []string{
		`"probe":{"interval":"0.500s","measure":"latency","metric":"db_connect","tcp":{"address":"127.0.0.1:5432"},"timeout":"2s"}`,
		`"grpc":{"address":"{{proxy}}","service":"checkout.v1.Checkout"}`,
		`"command":{"argv":["redis-cli","-h","127.0.0.1","llen","orders"],"env":{"LANG":"C","REDISCLI_AUTH":"secret"}}`,
		`"bodyMatch":"\"status\":\\s*\"ok\""`,
		`"http":{"body":"{\"status\": \"ready\"}","headers":{"Authorization":"Bearer t0ken","Content-Type":"application/json","Host":"orders.internal"},"jsonPath":{"count":2,"path":"$.items[*].id"},"method":"POST","url":"http://{{proxy}}/orders/search"}`,
		`"jsonPath":{"expect":["running",3,2.5,true,null,{"shard":"a"}],"path":"$.queues[*].state"}`,
	} {
		if !bytes.Contains(c, []byte(frag)) {
			t.Errorf("the JSON view lacks %s:\n%s", frag, c)
		}
	}
	committed(t, e)
}

// expectValues is a check's expected values as encoding/json decodes them.
func expectValues(j *JSONPathCheck) []any {
	var out []any
	for _, v := range j.GetExpect() {
		out = append(out, v.AsInterface())
	}
	return out
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
	tests := []struct {
		name, check string
		want        *JSONPathCheck
		wantExpect  []any
	}{
		{"any match", `{path: "$..id"}`, &JSONPathCheck{Path: "$..id"}, nil},
		{"one value is a list of one", `{path: $.status, expect: ok}`, &JSONPathCheck{Path: "$.status"}, []any{"ok"}},
		{"numbers are JSON numbers", `{path: $.n, expect: [1, 2.5, -0x10]}`, &JSONPathCheck{Path: "$.n"}, []any{1.0, 2.5, -16.0}},
		{"quoted numbers are strings", `{path: $.n, expect: ["1", "true", "null"]}`, &JSONPathCheck{Path: "$.n"}, []any{"1", "true", "null"}},
		{"one match that is a list", `{path: $.a, expect: [[1, b]]}`, &JSONPathCheck{Path: "$.a"}, []any{[]any{1.0, "b"}}},
		{"null in a list", `{path: $.a, expect: [null, ~, false]}`, &JSONPathCheck{Path: "$.a"}, []any{nil, nil, false}},
		{"an object", `{path: $.a, expect: {k: [1, x], m: {}}}`, &JSONPathCheck{Path: "$.a"}, []any{map[string]any{"k": []any{1.0, "x"}, "m": map[string]any{}}}},
		{"count 0", `{path: $.error, count: 0}`, &JSONPathCheck{Path: "$.error", Count: proto.Int32(0)}, nil},
		{"filter", `{path: "$.deps[?@.up == false].name"}`, &JSONPathCheck{Path: "$.deps[?@.up == false].name"}, nil},
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
			for _, sp := range []*Experiment{e, committed(t, e)} {
				got := proto.Clone(sp.Hypothesis.Metrics[0].Source.Probe.GetHttp().JsonPath).(*JSONPathCheck)
				if expect := expectValues(got); !reflect.DeepEqual(expect, tt.wantExpect) {
					t.Errorf("expect = %#v, want %#v", expect, tt.wantExpect)
				}
				got.Expect = nil
				if !proto.Equal(got, tt.want) {
					t.Errorf("jsonPath = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
