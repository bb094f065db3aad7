package chaostoolkit

import (
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/worker/fault"
)

func specOpts() spec.Options {
	return spec.Options{ValidateFault: fault.Validate, FaultIsInstant: fault.IsInstant}
}
