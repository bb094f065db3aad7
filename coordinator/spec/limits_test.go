package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMaxFaultDuration is issue 14, defect 4: a step longer than the cluster allows was
// accepted and then cut short by the workers. It is refused on its duration's line,
// beside whatever the catalogue says about the same step, so one round trip shows both.
func TestMaxFaultDuration(t *testing.T) {
	src := `apiVersion: murphy/v1
name: long
targets: {selector: {app: web}, experiment: {count: 1}}
hypothesis: {metrics: [{name: lat, source: {probe: {http: {url: "http://127.0.0.1/"}, measure: latency}}, direction: increase, tolerance: {relative: 0.1}}]}
steps:
  - fault: http.delay
    params: {delay: 200ms}
    duration: 1h
  - fault: http.delay
    params: {delay: 200ms, colour: blue}
    duration: 1h0m1s
  - fault: http.abort
    parallel: true
`
	opts := Options{ValidateFault: demoFaults, MaxFaultDuration: time.Hour}
	_, err := Parse([]byte(src), "long.yaml", opts)
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want an *Error", err)
	}
	want := []string{
		`long.yaml:10: steps[1].params.colour: http.delay takes no parameter "colour"`,
		`long.yaml:11: steps[1].duration: 1h0m1s is longer than this cluster lets a fault last (1h; coordinator flag --max-fault-duration)`,
		`long.yaml:12: steps[2].duration: required for fault "http.abort"; the worker reverts it when the duration ends`,
	}
	if got := strings.Join(se.Lines(), "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// Without a limit, as tools that do not run experiments parse, any length passes.
	long := strings.Replace(strings.SplitN(src, "  - fault: http.delay\n    params: {delay: 200ms, colour", 2)[0], "duration: 1h", "duration: 720h", 1)
	if _, err := Parse([]byte(long), "long.yaml", Options{ValidateFault: demoFaults}); err != nil {
		t.Fatalf("no limit: %v", err)
	}
}
