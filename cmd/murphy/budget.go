package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/murphy-chaos/murphy/coordinator/runner"
)

// parseBudget reads one --schedule-budget: "service=checkout,runs=10,fault-minutes=60".
// A budget needs its service and at least one cap.
func parseBudget(s string) (runner.Budget, error) {
	var b runner.Budget
	for field := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return b, fmt.Errorf("--schedule-budget %q: %q is not key=value (keys: service, runs, fault-minutes)", s, field)
		}
		switch k {
		case "service":
			b.Service = v
		case "runs":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return b, fmt.Errorf("--schedule-budget %q: runs must be a whole number from 1", s)
			}
			b.Runs = n
		case "fault-minutes":
			m, err := strconv.ParseFloat(v, 64)
			if err != nil || m <= 0 {
				return b, fmt.Errorf("--schedule-budget %q: fault-minutes must be a positive number", s)
			}
			b.FaultMinutes = m
		default:
			return b, fmt.Errorf("--schedule-budget %q: unknown key %q (keys: service, runs, fault-minutes)", s, k)
		}
	}
	if b.Service == "" || (b.Runs == 0 && b.FaultMinutes == 0) {
		return b, fmt.Errorf("--schedule-budget %q: name the service and a cap, e.g. service=checkout,runs=10,fault-minutes=60", s)
	}
	return b, nil
}
