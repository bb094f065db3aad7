//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildBinary builds the murphy binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "murphy")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// freeBase finds a base port with the 23 ports murphy dev needs free.
func freeBase(t *testing.T) int {
	t.Helper()
	for base := 17400; base < 30000; base += 100 {
		ok := true
		for _, off := range []int{0, 1, 2, 10, 11, 12, 20, 21, 22} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// TestDevOnce runs `murphy dev --once` as a user would and checks that it prints a
// verdict computed from real samples, within a minute.
func TestDevOnce(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "dev", "--once", "--base-port", fmt.Sprint(freeBase(t)))
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	t.Logf("murphy dev --once took %s\n%s", took, out.String())
	if err != nil {
		t.Fatalf("murphy dev --once: %v", err)
	}
	text := out.String()
	for _, want := range []string{"12 workers connected", "Verdict: hypothesis", "control median", "Mann-Whitney"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if took > time.Minute {
		t.Errorf("took %s, more than a minute", took)
	}
}

// devCTK is a Chaos Toolkit experiment with an http and a process probe and a process
// action, as a user would bring it to murphy dev.
const devCTK = `{
  "title": "The demo service keeps answering while a command runs",
  "extensions": [{"name": "murphy", "selector": {"service": "demo"}, "experiment": {"count": 2}, "baseline": "2s", "hold": "3s"}],
  "steady-state-hypothesis": {"title": "answers", "probes": [
    {"type": "probe", "name": "demo-answers", "tolerance": 200, "provider": {"type": "http", "url": "http://{{proxy}}/"}},
    {"type": "probe", "name": "true-exits-0", "tolerance": 0, "provider": {"type": "process", "path": "true"}}
  ]},
  "method": [{"type": "action", "name": "run-true", "provider": {"type": "process", "path": "true"}, "pauses": {"after": 3}}],
  "rollbacks": [{"type": "action", "name": "true-again", "provider": {"type": "process", "path": "true"}}]
}`

// TestDevChaosToolkit runs a Chaos Toolkit file under `murphy dev --once --spec`: the
// verdict shows both the Chaos Toolkit tolerances and Murphy's statistics.
func TestDevChaosToolkit(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "experiment.json")
	if err := os.WriteFile(file, []byte(devCTK), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "dev", "--once", "--base-port", fmt.Sprint(freeBase(t)), "--spec", file).CombinedOutput()
	t.Logf("murphy dev --once --spec %s:\n%s", file, out)
	if err != nil {
		t.Fatalf("murphy dev: %v", err)
	}
	for _, want := range []string{"a Chaos Toolkit experiment; converting it", "Verdict: hypothesis", "Welch's t on hosts",
		"Chaos Toolkit tolerance 200: before met", "Chaos Toolkit tolerance 0: before met"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestQuickstart runs the README's quickstart as separate processes: three coordinators,
// four workers, and the CLI against a follower.
func TestQuickstart(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	base := freeBase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var procs []*exec.Cmd
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Signal(os.Interrupt)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	})
	start := func(name string, args ...string) {
		cmd := exec.CommandContext(ctx, bin, args...)
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	grpc := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", base+10*i) }
	// Mutual TLS, as the README's quickstart sets it up.
	pki := filepath.Join(dir, "pki")
	run := func(args ...string) {
		if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("murphy %v: %v\n%s", args, err, out)
		}
	}
	run("tls", "init", "--dir", pki)
	tlsFlags := func(name string) []string {
		return []string{"--tls-ca", filepath.Join(pki, "ca.crt"), "--tls-cert", filepath.Join(pki, name+".crt"), "--tls-key", filepath.Join(pki, name+".key")}
	}
	for i := range 3 {
		run("tls", "issue", "--dir", pki, "--role", "coordinator", "--name", fmt.Sprintf("n%d", i+1))
		args := []string{"coordinator", "--node-id", fmt.Sprintf("n%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			"--grpc-addr", grpc(i), "--raft-addr", fmt.Sprintf("127.0.0.1:%d", base+10*i+1), "--http-addr", fmt.Sprintf("127.0.0.1:%d", base+10*i+2)}
		args = append(args, tlsFlags(fmt.Sprintf("n%d", i+1))...)
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", grpc(0))
		}
		start(fmt.Sprintf("n%d", i+1), args...)
	}
	for i := range 4 {
		svc := fmt.Sprintf("127.0.0.1:%d", base+50+i)
		start(fmt.Sprintf("svc%d", i), "demo-service", "--listen", svc)
		wdir := filepath.Join(dir, fmt.Sprintf("w%d", i))
		if err := os.MkdirAll(wdir, 0o700); err != nil {
			t.Fatal(err)
		}
		run("tls", "issue", "--dir", pki, "--role", "worker", "--name", fmt.Sprintf("w%d", i))
		start(fmt.Sprintf("w%d", i), append([]string{"worker", "--coordinators", grpc(0) + "," + grpc(1) + "," + grpc(2), "--id", fmt.Sprintf("w%d", i),
			"--labels", fmt.Sprintf("region=r1,datacenter=dc%d,host=h%d,service=demo", i%2, i), "--data-dir", wdir,
			"--proxy", fmt.Sprintf("listen=127.0.0.1:%d,upstream=http://%s", base+60+i, svc),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", base+70+i)}, tlsFlags(fmt.Sprintf("w%d", i))...)...)
	}
	run("tls", "issue", "--dir", pki, "--role", "operator", "--name", "alice")
	cli := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append(args, "--addr", grpc(2), "--ca", filepath.Join(pki, "ca.crt"),
			"--cert", filepath.Join(pki, "alice.crt"), "--key", filepath.Join(pki, "alice.key"))...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := cli("workers")
		if err == nil && strings.Count(out, "connected") == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers did not connect: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A joining coordinator becomes a voter only once the leader has committed the
	// membership change, which can trail the workers' connections; wait for it.
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, err := cli("cluster", "status")
		if err == nil && strings.Contains(out, "leader: n") && strings.Contains(out, "n1 ") && strings.Contains(out, "n2 ") && strings.Contains(out, "n3 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	spec := filepath.Join(dir, "exp.yaml")
	body := strings.NewReplacer("count: 6", "count: 2", "maxWorkers: 6", "maxWorkers: 2", "maxPercentPerDatacenter: 50", "maxPercentPerDatacenter: 100", "duration: 15s", "duration: 5s", "baseline: 5s", "baseline: 2s", "stratify: [region, datacenter]", "stratify: [datacenter]",
		// Two hosts per group cannot settle a 10% tolerance: as the README says, the
		// quickstart lets the run inject anyway.
		"confidence: 0.95", "confidence: 0.95\n  allowUnderpowered: true").Replace(string(demoSpec))
	if err := os.WriteFile(spec, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cli("run", spec, "--watch")
	t.Logf("murphy run --watch:\n%s", out)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("run --watch: %v (want exit 2, refuted)", err)
	}
	if !strings.Contains(out, "Verdict: hypothesis REFUTED") {
		t.Error("no refuted verdict in the output")
	}
	out, err = cli("verdict", strings.Fields(out)[1], "-o", "markdown")
	if err != nil || !strings.Contains(out, "**Hypothesis refuted.**") {
		t.Errorf("verdict -o markdown: %v\n%s", err, out)
	}
	// Every worker process serves its own /metrics (--http-addr); the experimental
	// group's two injected the delay, and nothing is left in force.
	injects := 0
	for i := range 4 {
		url := fmt.Sprintf("http://127.0.0.1:%d", base+70+i)
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, body := httpGet(t, url+p); code != 200 {
				t.Errorf("worker w%d %s: %d %s", i, p, code, body)
			}
		}
		_, metrics := httpGet(t, url+"/metrics")
		if strings.Contains(metrics, `murphy_worker_injects_total{kind="http.delay"} 1`) {
			injects++
		}
		if !strings.Contains(metrics, `murphy_worker_faults_active{kind="http.delay"} 0`) {
			t.Errorf("worker w%d: a delay still in force after the run, or no murphy_worker_faults_active:\n%s", i, metrics)
		}
	}
	if injects != 2 {
		t.Errorf("%d workers report an inject, want the experimental group's 2", injects)
	}
}

// httpGet returns the status and body of a plain GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
