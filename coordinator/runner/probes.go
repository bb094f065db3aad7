package runner

import (
	"maps"

	"github.com/murphy-chaos/murphy/coordinator/spec"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Probes turns the spec's probe metrics into the wire form workers run. Metrics from
// other sources are left out; so is a probe of no known kind, which a parsed spec never
// holds.
func Probes(sp *spec.Experiment) []*murphyv1.Probe {
	var out []*murphyv1.Probe
	for _, m := range sp.Hypothesis.Metrics {
		p := m.Source.Probe
		if p == nil {
			continue
		}
		w := &murphyv1.Probe{Metric: m.Name, Measure: string(p.Measure)}
		switch {
		case p.HTTP != nil:
			var expect []int32
			if p.HTTP.ExpectStatus != 0 {
				expect = []int32{int32(p.HTTP.ExpectStatus)}
			}
			w.Kind = &murphyv1.Probe_Http{Http: &murphyv1.HTTPProbe{
				Url: p.HTTP.URL, Method: p.HTTP.Method, ExpectStatus: expect, BodyMatch: p.HTTP.BodyMatch,
			}}
		case p.TCP != nil:
			w.Kind = &murphyv1.Probe_Tcp{Tcp: &murphyv1.TCPProbe{Address: p.TCP.Address}}
		case p.GRPC != nil:
			w.Kind = &murphyv1.Probe_Grpc{Grpc: &murphyv1.GRPCHealthProbe{Address: p.GRPC.Address, Service: p.GRPC.Service}}
		case p.Command != nil:
			w.Kind = &murphyv1.Probe_Command{Command: &murphyv1.CommandProbe{
				Argv: append([]string(nil), p.Command.Argv...), Env: maps.Clone(p.Command.Env),
			}}
		default:
			continue
		}
		interval, timeout := p.Timing()
		w.Interval, w.Timeout = pbDuration(interval), pbDuration(timeout)
		out = append(out, w)
	}
	return out
}
