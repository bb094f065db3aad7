package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkipRecords: a skip appends one line naming the need, how to enable it, the package
// and the test, which is what the Makefile's summary reads.
func TestSkipRecords(t *testing.T) {
	file := filepath.Join(t.TempDir(), "skipped")
	t.Setenv(SkipFile, file)
	need := Need{Name: "gizmo", Require: "MURPHY_REQUIRE_GIZMO_TEST", Enable: "make deps"}
	t.Run("needs-gizmo", func(t *testing.T) {
		Skip(t, need, "gizmo is not installed")
		t.Error("Skip returned")
	})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "gizmo\tmake deps\t./internal/testenv\tTestSkipRecords/needs-gizmo\tgizmo is not installed\n"
	if string(b) != want {
		t.Errorf("recorded %q, want %q", b, want)
	}
}

func TestLookPathFindsFirst(t *testing.T) {
	if p := LookPath(t, Need{Name: "sh"}, "no-such-binary-murphy", "sh"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("LookPath = %q", p)
	}
}
