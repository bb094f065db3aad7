package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that every failure is
// an *Error with at least one problem, and that every accepted spec
// survives a trip through its canonical JSON unchanged.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"example.yaml", "example.json", "minimal.yaml", "probes.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	instant := func(kind string) bool { return kind == "process.kill" }
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{ValidateFault: demoFaults, FaultIsInstant: instant}
		e, err := Parse(data, "fuzz.yaml", opts)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || len(perr.Problems) == 0 {
				t.Fatalf("error %T %q is not an *Error with problems", err, err)
			}
			_ = err.Error()
			return
		}
		committed(t, e)
		if _, err := JSON(e); err != nil {
			t.Fatalf("JSON view: %v", err)
		}
		if _, err := Digest(e); err != nil {
			t.Fatalf("Digest: %v", err)
		}
	})
}
