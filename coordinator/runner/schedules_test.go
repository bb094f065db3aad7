package runner

import (
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

func TestRunSpecOptIn(t *testing.T) {
	f := false
	tests := []struct {
		name    string
		targets spec.Targets
		optIn   *bool
		want    string
	}{
		{"equality map gains the opt-in label", spec.Targets{Selector: map[string]string{"service": "web"}}, nil, `"selector":{"murphy.io/chaos":"enabled","service":"web"}`},
		{"expression gains the opt-in requirement", spec.Targets{Match: "region in (a,b)"}, nil, `"selector":"murphy.io/chaos=enabled,region in (a,b)"`},
		{"opt-out keeps the selector", spec.Targets{Selector: map[string]string{"service": "web"}}, &f, `"selector":{"service":"web"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spec.Experiment{Name: "x", Targets: tc.targets, Schedule: &spec.Schedule{Cron: "* * * * *", OptIn: tc.optIn}}
			js, err := RunSpec(sp)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(js), tc.want) || strings.Contains(string(js), `"schedule"`) {
				t.Errorf("run spec %s\nwant it to contain %s and no schedule", js, tc.want)
			}
			if sp.Targets.Selector != nil && sp.Targets.Selector["murphy.io/chaos"] != "" {
				t.Error("RunSpec changed the schedule's own spec")
			}
		})
	}
}
