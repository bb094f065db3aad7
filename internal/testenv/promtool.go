package testenv

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// CheckMetrics runs `promtool check metrics` on a /metrics text exposition (what names
// a Prometheus scrape accepts, counters ending _total, units, help) and fails t on any
// complaint. Without promtool it skips t as missing Prometheus.
func CheckMetrics(t testing.TB, what, text string) {
	t.Helper()
	bin := LookPath(t, Prometheus, "promtool")
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader([]byte(text))
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}
