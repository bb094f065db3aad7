package main

import (
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/runner"
)

func TestParseBudget(t *testing.T) {
	tests := []struct {
		in   string
		want runner.Budget
		err  string
	}{
		{"service=checkout,runs=10,fault-minutes=60", runner.Budget{Service: "checkout", Runs: 10, FaultMinutes: 60}, ""},
		{"service=web, fault-minutes=2.5", runner.Budget{Service: "web", FaultMinutes: 2.5}, ""},
		{"service=web", runner.Budget{}, "name the service and a cap"},
		{"runs=3", runner.Budget{}, "name the service and a cap"},
		{"service=web,runs=0", runner.Budget{}, "runs must be"},
		{"service=web,minutes=3", runner.Budget{}, `unknown key "minutes"`},
	}
	for _, tc := range tests {
		got, err := parseBudget(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v", tc.in, got, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
	}
}
