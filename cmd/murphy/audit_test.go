package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func auditEntries() []*murphyv1.AuditEntry {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	return []*murphyv1.AuditEntry{
		{Index: 7, At: timestamppb.New(t0), By: "operator:alice", From: "10.0.0.7:5123", Action: "run.submit", Target: "checkout-latency-a1b2c3", Experiment: "checkout-latency", SpecDigest: "sha256:abc"},
		{Index: 9, At: timestamppb.New(t0.Add(90 * time.Second)), By: "monitor", Action: "run.halt", Target: "checkout-latency-a1b2c3", Reason: "latency above 0.5", Detail: "guardrail latency above 0.5 for 3s"},
		{Index: 12, At: timestamppb.New(t0.Add(time.Hour)), By: "admin:bob\nforged", From: "10.0.0.9:1", Action: "cluster.resume"},
	}
}

func TestAuditText(t *testing.T) {
	var out bytes.Buffer
	if err := writeAuditText(&out, auditEntries()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header and 3 (a newline in an identity must not add one):\n%s", len(lines), out.String())
	}
	for i, want := range [][]string{
		{"TIME", "BY", "FROM", "ACTION", "TARGET", "DETAILS"},
		{"2026-11-22 09:00:00Z", "operator:alice", "10.0.0.7:5123", "run.submit", "checkout-latency-a1b2c3", "experiment checkout-latency, spec sha256:abc"},
		{"2026-11-22 09:01:30Z", "monitor", "-", "run.halt", `reason "latency above 0.5", guardrail latency above 0.5 for 3s`},
		{"2026-11-22 10:00:00Z", "admin:bob forged", "10.0.0.9:1", "cluster.resume"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	out.Reset()
	if err := writeAuditText(&out, nil); err != nil || out.String() != "no audit entries\n" {
		t.Errorf("empty trail: %q %v", out.String(), err)
	}
}

func TestAuditJSONL(t *testing.T) {
	var out bytes.Buffer
	if err := writeAuditJSONL(&out, auditEntries()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	if want := `{"index":7,"at":"2026-11-22T09:00:00Z","by":"operator:alice","from":"10.0.0.7:5123","action":"run.submit","target":"checkout-latency-a1b2c3","experiment":"checkout-latency","spec_digest":"sha256:abc"}`; lines[0] != want {
		t.Errorf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	for i, l := range lines {
		var e auditJSON
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		if e.Index != auditEntries()[i].Index || e.Action != auditEntries()[i].Action {
			t.Errorf("line %d = %+v", i, e)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{"", time.Time{}, ""},
		{"24h", now.Add(-24 * time.Hour), ""},
		{"90m", now.Add(-90 * time.Minute), ""},
		{"2026-11-01T00:00:00Z", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ""},
		{"-1h", time.Time{}, "positive duration"},
		{"yesterday", time.Time{}, "RFC 3339"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSince(tc.in, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestAuditBadFlags(t *testing.T) {
	if _, err := runCLI(t, "audit", "-o", "csv"); err == nil || !strings.Contains(err.Error(), `unknown output "csv": use text, json or jsonl`) {
		t.Errorf("-o csv: %v", err)
	}
	if _, err := runCLI(t, "audit", "--since", "last week"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Errorf("--since: %v", err)
	}
}
