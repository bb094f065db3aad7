package deploy

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/murphy-chaos/murphy/internal/testenv"
)

// TestAlertRules checks the shipped alerts the way Prometheus loads them and runs their
// unit tests (prometheus/alerts_test.yaml). Without promtool it skips, and `make test`
// lists the skip; CI sets MURPHY_REQUIRE_PROMETHEUS so it cannot.
func TestAlertRules(t *testing.T) {
	bin := testenv.LookPath(t, testenv.Prometheus, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The compose lab's Prometheus loads the alerts from where compose mounts them; check
	// its configuration with that path pointing at the file here.
	cfg, err := os.ReadFile("compose/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := filepath.Abs("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const mounted = "/etc/prometheus/alerts.yaml"
	if !strings.Contains(string(cfg), mounted) {
		t.Fatalf("compose/prometheus.yml does not load %s", mounted)
	}
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(cfg), mounted, alerts)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "config", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check config compose/prometheus.yml: %v\n%s", err, out)
	}
}

// TestAlertsUseExportedMetrics: a renamed metric must not leave an alert that can never
// fire. Every murphy_* name in alerts.yaml is registered by coordinator or worker code.
func TestAlertsUseExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	var exprs strings.Builder
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs.WriteString(r.Expr + "\n")
		}
	}
	var code strings.Builder
	for _, dir := range []string{"../coordinator", "../worker"} {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				b, _ := os.ReadFile(path)
				code.Write(b)
			}
			return nil
		})
	}
	names := regexp.MustCompile(`murphy_[a-z_]+[a-z]`).FindAllString(exprs.String(), -1)
	if len(names) < 8 {
		t.Fatalf("only %d metric references in alerts.yaml", len(names))
	}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !strings.Contains(code.String(), `"`+base+`"`) {
			t.Errorf("alerts.yaml uses %s, which no coordinator or worker code registers", n)
		}
	}
}
