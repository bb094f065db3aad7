package main

import (
	"encoding/json"
	"os"
	"testing"
)

// The bench starts coordinators and the floor as processes of its own binary; under go
// test that binary is the test binary, which acts as murphy when this is set.
const envActAsMurphy = "MURPHY_TEST_ACT_AS_MURPHY"

func TestMain(m *testing.M) {
	if os.Getenv(envActAsMurphy) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchHaltJSON runs the bench as users would, at a tiny size: three coordinators,
// mutual TLS, the floor beside them, and the figures a program reads from -o json.
func TestBenchHaltJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes")
	}
	t.Setenv(envActAsMurphy, "1")
	out, err := runCLI(t, "bench", "halt", "--workers", "20", "--nodes", "3", "--tls", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var results []map[string]any
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want one per size", len(results))
	}
	r := results[0]
	for _, k := range []string{"workers", "nodes", "tls", "p50_ms", "p99_ms", "max_ms", "floor_p99_ms", "ratio_to_floor", "heap_per_worker_bytes", "cpu_us_per_worker"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %s in %v", k, r)
		}
	}
	if r["workers"] != 20.0 || r["nodes"] != 3.0 || r["tls"] != true {
		t.Errorf("workers %v nodes %v tls %v, want 20, 3, true", r["workers"], r["nodes"], r["tls"])
	}
	for _, k := range []string{"p50_ms", "p99_ms", "max_ms", "floor_p99_ms", "ratio_to_floor"} {
		if v, _ := r[k].(float64); v <= 0 {
			t.Errorf("%s = %v, want > 0", k, r[k])
		}
	}
	if r["p50_ms"].(float64) > r["p99_ms"].(float64) || r["p99_ms"].(float64) > r["max_ms"].(float64) {
		t.Errorf("p50 %v, p99 %v, max %v out of order", r["p50_ms"], r["p99_ms"], r["max_ms"])
	}
	streams, _ := r["streams"].(map[string]any)
	total := 0.0
	for _, n := range streams {
		total += n.(float64)
	}
	if len(streams) != 3 || total != 20 {
		t.Errorf("streams per node %v, want 3 nodes holding 20", streams)
	}
}
