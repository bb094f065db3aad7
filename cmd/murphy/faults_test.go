package main

import (
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// TestFaults: the listing names every kind of the catalogue, and a kind's description
// shows what its declaration says.
func TestFaults(t *testing.T) {
	out, err := runCLI(t, "faults")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range catalogue.Kinds() {
		if !strings.Contains(out, k+" ") {
			t.Errorf("listing lacks %s:\n%s", k, out)
		}
	}
	out, err = runCLI(t, "faults", "process.kill")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"instant:", "needs:", "reverts:", "signal", "default KILL", "count"} {
		if !strings.Contains(out, want) {
			t.Errorf("process.kill lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, "faults", "http.dealy"); err == nil || !strings.Contains(err.Error(), `unknown fault kind "http.dealy"`) {
		t.Errorf("unknown kind: %v", err)
	}
}
