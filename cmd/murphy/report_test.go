package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/internal/logging"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
	"github.com/murphy-chaos/murphy/worker/fault"
)

// TestReport writes the three report formats of a run from a one-node cluster.
func TestReport(t *testing.T) {
	srv, err := coordinator.New(coordinator.Config{
		NodeID: "n1", DataDir: filepath.Join(t.TempDir(), "n1"), GRPCAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Bootstrap: true, Insecure: true, Logger: logging.Discard(), ValidateFault: fault.Validate, WaitForWorkers: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := srv.FSM().Node("n1"); n == nil || n.HttpAddr == ""; n = srv.FSM().Node("n1") {
		if time.Now().After(deadline) {
			t.Fatal("the node never registered itself")
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := srv.GRPCAddr()
	c, err := dial(&clientFlags{addr: addr, timeout: 10 * time.Second, insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := c.ctx(context.Background())
	defer cancel()
	resp, err := c.exp.Submit(ctx, &murphyv1.SubmitRequest{Spec: demoSpec, Filename: "demo.yaml"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	id := resp.Run.Id

	html, err := runCLI(t, "report", id, "--addr", addr, "--insecure")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!doctype html>", "<style>", "Murphy run " + id, "no verdict yet"} {
		if !strings.Contains(html, want) {
			t.Errorf("html report lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "<link", `src="http`} {
		if strings.Contains(html, external) {
			t.Errorf("html report is not self-contained: it has %q", external)
		}
	}
	md, err := runCLI(t, "report", id, "--addr", addr, "--insecure", "-o", "markdown")
	if err != nil || !strings.Contains(md, "# Run `"+id+"`") {
		t.Errorf("markdown report (%v):\n%s", err, md)
	}
	js, err := runCLI(t, "report", id, "--addr", addr, "--insecure", "-o", "json")
	var doc struct {
		Headline string          `json:"headline"`
		Run      json.RawMessage `json:"run"`
	}
	if err != nil || json.Unmarshal([]byte(js), &doc) != nil || !strings.Contains(string(doc.Run), id) {
		t.Errorf("json report (%v):\n%s", err, js)
	}
	if _, err := runCLI(t, "report", "nope", "--addr", addr, "--insecure"); err == nil || !strings.Contains(err.Error(), `run "nope" not found`) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := runCLI(t, "report", id, "-o", "pdf"); err == nil || !strings.Contains(err.Error(), `unknown output "pdf"`) {
		t.Errorf("unknown output: %v", err)
	}
}
