package spec

import (
	"strings"
	"testing"
)

const exprSpec = `apiVersion: murphy/v1
name: expr
targets:
  selector: "region in (us-east, eu-west), murphy.io/chaos=enabled, !canary"
  experiment: {count: 2}
  onConflict: refuse
hypothesis:
  metrics:
    - name: l
      source: {probe: {http: {url: "http://h/"}, measure: latency}}
      direction: increase
      tolerance: {relative: 0.1}
steps:
  - fault: http.delay
    params: {delay: 1ms}
    duration: 1s
`

func TestSelectorExpression(t *testing.T) {
	sp, err := Parse([]byte(exprSpec), "e.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "!canary,murphy.io/chaos=enabled,region in (eu-west,us-east)"
	if sp.Targets.Match != want || sp.Targets.OnConflict != ConflictRefuse {
		t.Fatalf("match %q on conflict %q", sp.Targets.Match, sp.Targets.OnConflict)
	}
	if again := committed(t, sp); again.Targets.Match != want {
		t.Errorf("round trip gave %q", again.Targets.Match)
	}
}

func TestSelectorExpressionErrors(t *testing.T) {
	tests := []struct{ sel, want string }{
		{`"region in eu-west"`, `e.yaml:4: targets.selector: selector "region in eu-west": at 11: expected '(' after in`},
		{`""`, `e.yaml:4: targets.selector: must match at least one label; an empty selector would select every worker`},
	}
	for _, tc := range tests {
		src := strings.Replace(exprSpec, `"region in (us-east, eu-west), murphy.io/chaos=enabled, !canary"`, tc.sel, 1)
		_, err := Parse([]byte(src), "e.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("selector %s: error %v\nwant %s", tc.sel, err, tc.want)
		}
	}
	src := strings.Replace(exprSpec, "onConflict: refuse", "onConflict: wait", 1)
	if _, err := Parse([]byte(src), "e.yaml", Options{}); err == nil || !strings.Contains(err.Error(), `e.yaml:6: targets.onConflict: must be queue or refuse, got "wait"`) {
		t.Errorf("onConflict: %v", err)
	}
}
