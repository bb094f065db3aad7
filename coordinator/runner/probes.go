package runner

import (
	"google.golang.org/protobuf/proto"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Probes are the spec's probe metrics as workers run them: the committed messages
// themselves (the decoder names each after its metric), cloned so a send never shares
// memory with the state machine. Metrics from other sources are left out.
func Probes(sp *spec.Experiment) []*murphyv1.Probe {
	var out []*murphyv1.Probe
	for _, m := range sp.GetHypothesis().GetMetrics() {
		if p := m.GetSource().GetProbe(); p != nil {
			out = append(out, proto.Clone(p).(*murphyv1.Probe))
		}
	}
	return out
}
