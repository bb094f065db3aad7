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

// TestBenchRunJSON runs a whole experiment through the bench at a small size: 50 targets
// probing every second for a 5 s baseline and a 5 s fault, on one coordinator. The run
// must reach a verdict with the fault injected on the experimental half, and the
// samples must add up: the leader ingested exactly what the workers sent, about one per
// target per second of probing.
func TestBenchRunJSON(t *testing.T) {
	r := benchRunJSON(t, "--targets", "50", "--baseline", "5s", "--fault", "5s")
	num := func(k string) float64 {
		v, ok := r[k].(float64)
		if !ok {
			t.Fatalf("no number %s in %v", k, r)
		}
		return v
	}
	if r["phase"] != "completed" || r["verdict"] == "" {
		t.Errorf("phase %v, verdict %v; want a completed run with a verdict", r["phase"], r["verdict"])
	}
	if got := num("faults_injected"); got != 25 {
		t.Errorf("%v faults injected, want 25 (the experimental half)", got)
	}
	if v := num("verdict_after_fault_s"); v <= 0 || v > 60 {
		t.Errorf("verdict %v s after the fault, want within a minute", v)
	}
	sent, ingested, probing := num("samples_sent"), num("samples_ingested"), num("probing_s")
	if sent != ingested {
		t.Errorf("the workers sent %v samples and the leader ingested %v", sent, ingested)
	}
	// One sample per target per second of probing, give or take the first and last
	// second; a loaded machine may skip ticks, so the lower bound is generous.
	want := 50 * probing
	if ingested < 0.6*want || ingested > 50*(probing+3) {
		t.Errorf("%v samples over %.1f s of probing by 50 targets, want about %.0f", ingested, probing, want)
	}
	if rate := num("samples_per_s"); rate < 30 || rate > 55 {
		t.Errorf("%v samples/s while every target probed, want about 50", rate)
	}
	if num("leader_cpu_s") <= 0 || num("leader_peak_heap_bytes") <= 0 || num("leader_peak_rss_bytes") <= 0 {
		t.Errorf("leader CPU, heap or RSS missing: %v", r)
	}
}

// TestBenchRunDegradeHalts runs the bench's halt variant at a small size: the fault
// slows the experimental half's probes by 50 ms, so the deviation guardrail must halt the
// run at its first look (10 s into the fault), and every worker must acknowledge.
func TestBenchRunDegradeHalts(t *testing.T) {
	r := benchRunJSON(t, "--targets", "20", "--baseline", "5s", "--fault", "30s", "--degrade")
	if r["phase"] != "halted" {
		t.Fatalf("phase %v, want halted by the guardrail", r["phase"])
	}
	if r["halt_acknowledged"] != 20.0 {
		t.Errorf("%v workers acknowledged the halt, want all 20", r["halt_acknowledged"])
	}
	halt, acked := r["halt_after_fault_start_s"].(float64), r["halt_acked_after_fault_start_s"].(float64)
	// The first look is 10 s into the fault; the halt cannot come before it, and comes
	// well before the fault's end.
	if halt < 9.5 || halt > 25 || acked < halt {
		t.Errorf("halt committed %v s and acknowledged %v s after the fault started, want from the first look (10 s) on, in order", halt, acked)
	}
	if looks := r["guardrail_looks"].(float64); looks < 1 {
		t.Errorf("%v guardrail looks, want at least the one that halted", looks)
	}
}

// benchRunJSON runs murphy bench run with args and -o json, and returns its one result.
func benchRunJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a coordinator process")
	}
	t.Setenv(envActAsMurphy, "1")
	out, err := runCLI(t, append([]string{"bench", "run", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var results []map[string]any
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 {
		t.Fatalf("want a JSON array of one run (%v):\n%s", err, out)
	}
	t.Logf("%s", out)
	return results[0]
}
