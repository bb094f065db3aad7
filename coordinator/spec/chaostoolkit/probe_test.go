package chaostoolkit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	anAction = `{"type": "action", "name": "a", "provider": {"type": "process", "path": "true"}}`
	aProbe   = `{"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http", "url": "http://h/"}}`
)

// experiment wraps steady-state probes and method activities (defaults when empty) in a
// Chaos Toolkit experiment.
func experiment(probes, method string) string {
	if probes == "" {
		probes = aProbe
	}
	if method == "" {
		method = anAction
	}
	return `{"title": "t", "steady-state-hypothesis": {"title": "h", "probes": [` + probes + `]}, "method": [` + method + `]}`
}

func notesOf(r *Result) string {
	var b strings.Builder
	for _, n := range r.Notes {
		b.WriteString(n.String() + "\n")
	}
	return b.String()
}

// TestConvertJSONPath checks that a jsonpath tolerance becomes a jsonPath check on the
// probe, with Chaos Toolkit's reading of expect and count.
func TestConvertJSONPath(t *testing.T) {
	httpProbe := func(tol string) string {
		return `{"type": "probe", "name": "j", "tolerance": ` + tol + `, "provider": {"type": "http", "url": "http://h/health"}}`
	}
	processProbe := func(tol string) string {
		return `{"type": "probe", "name": "j", "tolerance": ` + tol + `, "provider": {"type": "process", "path": "stat", "arguments": ["--json"]}}`
	}
	zero, two := int32(0), int32(2)
	tests := []struct {
		name, probe string
		want        *spec.JSONPathCheck // on the http or the command probe
		notes       []string
		wantErr     string
	}{
		{"any match", httpProbe(`{"type": "jsonpath", "path": "$.status", "target": "body"}`),
			jp("$.status", nil), []string{"the jsonpath is evaluated on the body"}, ""},
		{"expect a scalar", httpProbe(`{"type": "jsonpath", "path": "$.status", "expect": "ok", "target": "body"}`),
			jp("$.status", nil, "ok"), nil, ""},
		{"expect a list", httpProbe(`{"type": "jsonpath", "path": "$.deps[*].up", "expect": [true, 1, null], "target": "body"}`),
			jp("$.deps[*].up", nil, true, 1.0, nil), nil, ""},
		{"expect null", httpProbe(`{"type": "jsonpath", "path": "$.error", "expect": null, "target": "body"}`),
			jp("$.error", nil, nil), nil, ""},
		{"count", httpProbe(`{"type": "jsonpath", "path": "$.items[*]", "count": 2, "target": "body"}`),
			jp("$.items[*]", &two), nil, ""},
		{"count 0", httpProbe(`{"type": "jsonpath", "path": "$.error", "count": 0, "target": "body"}`),
			jp("$.error", &zero),
			[]string{"a body that is not JSON fails it, where Chaos Toolkit would find no match and accept it"}, ""},
		{"expect wins over count", httpProbe(`{"type": "jsonpath", "path": "$.a", "count": 3, "expect": 1, "target": "body"}`),
			jp("$.a", nil, 1.0),
			[]string{"tolerance.count: not checked: Chaos Toolkit ignores count when expect is given"}, ""},
		{"an empty expect is count 0", httpProbe(`{"type": "jsonpath", "path": "$.errors[*]", "expect": [], "target": "body"}`),
			jp("$.errors[*]", &zero), nil, ""},
		{"no target", httpProbe(`{"type": "jsonpath", "path": "$.status"}`),
			jp("$.status", nil),
			[]string{"without a target Chaos Toolkit matches the path against the whole result ({status, headers, body}); Murphy matches it against the body"}, ""},
		{"configuration in the path", `{"type": "probe", "name": "j", "tolerance": {"type": "jsonpath", "path": "$.${field}", "target": "body"}, "provider": {"type": "http", "url": "http://h/"}}`,
			jp("$.status", nil), nil, ""},
		{"stdout", processProbe(`{"type": "jsonpath", "path": "$.state", "expect": "running", "target": "stdout"}`),
			jp("$.state", nil, "running"),
			[]string{"the jsonpath is evaluated on the standard output (JSON of at most 64 KiB); the probe also needs the command to exit 0"}, ""},
		{"headers target", httpProbe(`{"type": "jsonpath", "path": "$.x", "target": "headers"}`), nil, nil,
			"x.json:1: steady-state-hypothesis.probes[0].tolerance.target: a jsonpath on the headers of an http probe is not supported; Murphy checks the body (target: body)"},
		{"stderr target", processProbe(`{"type": "jsonpath", "path": "$.x", "target": "stderr"}`), jp("$.x", nil),
			[]string{"the jsonpath is evaluated on the standard error"}, ""},
		{"another target", processProbe(`{"type": "jsonpath", "path": "$.x", "target": "status"}`), nil, nil,
			"x.json:1: steady-state-hypothesis.probes[0].tolerance.target: a jsonpath on the status of a process probe is not supported; Murphy checks the standard output or error (target: stdout or stderr)"},
		{"bad path", httpProbe(`{"type": "jsonpath", "path": "$.items[", "target": "body"}`), nil, nil,
			"x.json:1: steady-state-hypothesis.probes[0].tolerance.path: invalid JSONPath (RFC 9535): unexpected eof at position 9"},
		{"jsonpath2 filter", httpProbe(`{"type": "jsonpath", "path": "$.deps[?(@.up = true)]", "target": "body"}`), nil, nil,
			"(a jsonpath2 filter such as [?(@.up = true)] is written [?@.up == true] in RFC 9535)"},
		{"negative count", httpProbe(`{"type": "jsonpath", "path": "$.a", "count": -1}`), nil, nil,
			"tolerance.count: must be a whole number, not negative, got the number -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"title": "t", "configuration": {"field": "status"}, "steady-state-hypothesis": {"title": "h", "probes": [` + tt.probe + `]}, "method": [` + anAction + `]}`
			r := convertWant(t, doc, Options{Spec: specOpts()}, tt.wantErr)
			if r == nil {
				return
			}
			m := r.Experiment.Hypothesis.Metrics[0]
			p := m.Source.Probe
			var got *spec.JSONPathCheck
			if p.GetHttp() != nil {
				got = p.GetHttp().JsonPath
			} else {
				got = p.GetCommand().JsonPath
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("jsonPath = %#v, want %#v", got, tt.want)
			}
			// The probe reports success, which the Chaos Toolkit tolerance reads as met at 1.
			if p.Measure != spec.MeasureSuccess || !reflect.DeepEqual(m.CtkTolerance.Values, []float64{1}) {
				t.Errorf("measure %s, tolerance values %v", p.Measure, m.CtkTolerance.Values)
			}
			notes := notesOf(r)
			if strings.Contains(notes, "not evaluated") {
				t.Errorf("notes still say the jsonpath is not evaluated:\n%s", notes)
			}
			for _, w := range tt.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
		})
	}
}

// TestConvertHTTPRequest checks that an http provider's headers and arguments reach the
// probe and the http.call step the way Chaos Toolkit (the requests library) sends them.
func TestConvertHTTPRequest(t *testing.T) {
	provider := func(method, headers, args string) string {
		p := `{"type": "http", "url": "http://h/api?v=1#top", "method": "` + method + `"`
		if headers != "" {
			p += `, "headers": ` + headers
		}
		if args != "" {
			p += `, "arguments": ` + args
		}
		return p + `}`
	}
	tests := []struct {
		name                  string
		method, headers, args string
		url, body             string
		wantHeaders           map[string]string
		notes                 []string
		wantErr               string
	}{
		{name: "GET mapping becomes the query", method: "GET", headers: `{"Accept": "application/json"}`,
			args: `{"q": "a b&c", "page": 2, "all": true, "skip": null, "tag": ["x", "y"]}`,
			url:  "http://h/api?v=1&q=a+b%26c&page=2&all=True&tag=x&tag=y#top", wantHeaders: map[string]string{"Accept": "application/json"}},
		{name: "GET string is the query as written", method: "GET", args: `"since=${day}"`,
			url: "http://h/api?v=1&since=monday#top"},
		{name: "POST JSON", method: "POST", headers: `{"Content-Type": "application/json", "X-Token": "${token}"}`,
			args: `{"day": "${day}", "n": 1, "tags": ["a"], "nested": {"ok": true}}`,
			url:  "http://h/api?v=1#top", body: `{"day":"monday","n":1,"nested":{"ok":true},"tags":["a"]}`,
			wantHeaders: map[string]string{"Content-Type": "application/json", "X-Token": "s3cr3t"}},
		{name: "PUT form", method: "PUT", args: `{"a": 1, "b": "x y"}`,
			url: "http://h/api?v=1#top", body: "a=1&b=x+y", wantHeaders: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{name: "POST form keeps a given content type", method: "POST", headers: `{"content-type": "text/plain"}`, args: `{"a": 1}`,
			url: "http://h/api?v=1#top", body: "a=1", wantHeaders: map[string]string{"content-type": "text/plain"}},
		{name: "POST string body", method: "POST", args: `"raw ${day}"`, url: "http://h/api?v=1#top", body: "raw monday"},
		{name: "framing headers dropped", method: "POST", headers: `{"Content-Length": "3", "X-A": "1"}`, args: `"abc"`,
			url: "http://h/api?v=1#top", body: "abc", wantHeaders: map[string]string{"X-A": "1"},
			notes: []string{"provider.headers.Content-Length: dropped: Murphy sets Content-Length from the body"}},
		{name: "one header spelled twice", method: "GET", headers: `{"accept": "text/html", "Accept": "application/json"}`,
			url: "http://h/api?v=1#top", wantHeaders: map[string]string{"Accept": "application/json"},
			notes: []string{`provider.headers.Accept: Accept is the header accept again (names are case-insensitive); this later value is sent`}},
		{name: "bad header name", method: "GET", headers: `{"X Token": "a"}`,
			wantErr: `provider.headers.X Token: "X Token" is not a valid header name`},
		{name: "header with a line break", method: "GET", headers: `{"X-Token": "a\r\nX-Evil: 1"}`,
			wantErr: `provider.headers.X-Token: must not hold control characters such as line breaks`},
		{name: "GET list", method: "GET", args: `["a"]`,
			wantErr: `provider.arguments: the arguments of a GET become query parameters; give a mapping of names to values or a query string, not a list`},
		{name: "POST list without JSON", method: "POST", args: `["a"]`,
			wantErr: `provider.arguments: a list of arguments cannot be sent as a form; set the header Content-Type: application/json to send it as JSON`},
		{name: "nested form value", method: "POST", args: `{"a": {"b": 1}}`,
			wantErr: `provider.arguments.a: cannot be sent as a form or query value: a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider(tt.method, tt.headers, tt.args)
			probe := `{"type": "probe", "name": "p", "tolerance": 200, "provider": ` + p + `}`
			action := `{"type": "action", "name": "a", "provider": ` + p + `}`
			doc := `{"title": "t", "configuration": {"day": "monday"}, "secrets": {"s": {"token": "s3cr3t"}},
 "steady-state-hypothesis": {"title": "h", "probes": [` + probe + `]}, "method": [` + action + `]}`
			r, err := Convert([]byte(doc), "x.json", Options{Spec: specOpts()})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "steady-state-hypothesis.probes[0]."+tt.wantErr) || !strings.Contains(err.Error(), "method[0]."+tt.wantErr) {
					t.Fatalf("error %v; want one saying %q for the probe and the action", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := r.Experiment.Hypothesis.Metrics[0].Source.Probe.GetHttp()
			if h.Url != tt.url || h.Method != tt.method || h.Body != tt.body || !reflect.DeepEqual(h.Headers, tt.wantHeaders) {
				t.Errorf("probe %s %s body %q headers %v; want %s %s body %q headers %v", h.Method, h.Url, h.Body, h.Headers, tt.method, tt.url, tt.body, tt.wantHeaders)
			}
			s := r.Experiment.Steps[0]
			if s.Fault.GetParams()["url"] != tt.url || s.Fault.GetParams()["body"] != tt.body {
				t.Errorf("step url %q body %q", s.Fault.GetParams()["url"], s.Fault.GetParams()["body"])
			}
			if len(tt.wantHeaders) > 0 {
				for k, v := range tt.wantHeaders {
					if !strings.Contains(s.Fault.GetParams()["headers"], `"`+k+`":"`+v+`"`) {
						t.Errorf("step headers %s lack %s: %s", s.Fault.GetParams()["headers"], k, v)
					}
				}
			} else if s.Fault.GetParams()["headers"] != "" {
				t.Errorf("step headers %s", s.Fault.GetParams()["headers"])
			}
			notes := notesOf(r)
			if strings.Contains(notes, "send no headers") {
				t.Errorf("notes still say probes send no headers:\n%s", notes)
			}
			for _, w := range tt.notes {
				if !strings.Contains(notes, "steady-state-hypothesis.probes[0]."+w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
		})
	}
}

// jp is a jsonPath check with the expected values given as encoding/json decodes them.
func jp(path string, count *int32, expect ...any) *spec.JSONPathCheck {
	j := &spec.JSONPathCheck{Path: path, Count: count}
	for _, e := range expect {
		v, err := structpb.NewValue(e)
		if err != nil {
			panic(err)
		}
		j.Expect = append(j.Expect, v)
	}
	return j
}
