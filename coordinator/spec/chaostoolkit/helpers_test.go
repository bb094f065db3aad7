package chaostoolkit

import (
	"github.com/murphy-chaos/murphy/coordinator/spec"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

func specOpts() spec.Options {
	return spec.Options{ValidateFault: catalogue.Validate, FaultIsInstant: catalogue.IsInstant}
}
