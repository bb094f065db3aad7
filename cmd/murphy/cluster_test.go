package main

import (
	"bytes"
	"strings"
	"testing"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func TestPrintTargets(t *testing.T) {
	var b bytes.Buffer
	if err := printTargets(&b, []*murphyv1.Worker{{Id: "host-1"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no targets") || !strings.Contains(b.String(), "murphy.io/chaos=enabled") {
		t.Errorf("no targets: %q, want the reason and how to opt in", b.String())
	}
	b.Reset()
	workers := []*murphyv1.Worker{
		{Id: "node-b", Targets: []*murphyv1.Target{{Id: "pod/shop/web-2", Labels: map[string]string{
			"namespace": "shop", "pod": "web-2", "workload": "deployment/web", "node": "node-b", "region": "eu", "datacenter": "eu-1b", "app": "web"}}}},
		{Id: "node-a", Targets: []*murphyv1.Target{{Id: "pod/shop/web-1", Labels: map[string]string{"namespace": "shop", "pod": "web-1", "node": "node-a"}}}},
	}
	if err := printTargets(&b, workers); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TARGET") {
		t.Fatalf("table:\n%s", b.String())
	}
	// Sorted by target; Murphy's own labels in their columns, the pod's in LABELS.
	if f := strings.Fields(lines[1]); len(f) != 7 || f[0] != "pod/shop/web-1" || f[1] != "node-a" || f[2] != "-" || f[4] != "-" || f[6] != "-" {
		t.Errorf("row 1 %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 7 || f[0] != "pod/shop/web-2" || f[2] != "deployment/web" || f[3] != "node-b" || f[4] != "eu" || f[5] != "eu-1b" || f[6] != "app=web" {
		t.Errorf("row 2 %q", lines[2])
	}
}

// TestUnitsText: a run of workers lists workers; a run of pods lists each pod with the
// worker that acts on it.
func TestUnitsText(t *testing.T) {
	for _, tc := range []struct {
		g    *murphyv1.Groups
		want string
	}{
		{&murphyv1.Groups{Experiment: []string{"w1", "w2"}}, "2 workers: w1, w2"},
		{&murphyv1.Groups{Experiment: []string{"pod/shop/a", "pod/shop/b"}, Workers: map[string]string{"pod/shop/a": "node-a", "pod/shop/b": "node-b"}},
			"2 pods: pod/shop/a (on node-a), pod/shop/b (on node-b)"},
	} {
		if got := unitsText(tc.g, tc.g.Experiment); got != tc.want {
			t.Errorf("unitsText = %q, want %q", got, tc.want)
		}
	}
}
