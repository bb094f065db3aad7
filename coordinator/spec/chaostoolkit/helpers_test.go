package chaostoolkit

import (
	"strings"
	"testing"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func specOpts() spec.Options {
	return spec.Options{ValidateFault: catalogue.Validate, FaultIsInstant: catalogue.IsInstant}
}

// convertWant converts doc as x.json. With wantErr it checks that the conversion fails
// saying it and returns nil; without, that it succeeds.
func convertWant(t *testing.T, doc string, opts Options, wantErr string) *Result {
	t.Helper()
	r, err := Convert([]byte(doc), "x.json", opts)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v; want one saying %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}
