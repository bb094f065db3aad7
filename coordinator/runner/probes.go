package runner

import (
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

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
				Headers: maps.Clone(p.HTTP.Headers), Body: p.HTTP.Body, JsonPath: jsonPathCheck(p.HTTP.JSONPath),
			}}
		case p.TCP != nil:
			w.Kind = &murphyv1.Probe_Tcp{Tcp: &murphyv1.TCPProbe{Address: p.TCP.Address}}
		case p.GRPC != nil:
			w.Kind = &murphyv1.Probe_Grpc{Grpc: &murphyv1.GRPCHealthProbe{Address: p.GRPC.Address, Service: p.GRPC.Service}}
		case p.Command != nil:
			w.Kind = &murphyv1.Probe_Command{Command: &murphyv1.CommandProbe{
				Argv: append([]string(nil), p.Command.Argv...), Env: maps.Clone(p.Command.Env),
				JsonPath: jsonPathCheck(p.Command.JSONPath),
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

// jsonPathCheck is nil for a nil check.
func jsonPathCheck(c *spec.JSONPathCheck) *murphyv1.JSONPathCheck {
	if c == nil {
		return nil
	}
	out := &murphyv1.JSONPathCheck{Path: c.Path}
	if c.Count != nil {
		out.Count = proto.Int32(int32(*c.Count))
	}
	for _, e := range c.Expect {
		v, err := structpb.NewValue(e)
		if err != nil {
			// Parse fills Expect with JSON values only, which NewValue always takes.
			panic(fmt.Sprintf("runner: jsonPath expect value %#v: %v", e, err))
		}
		out.Expect = append(out.Expect, v)
	}
	return out
}
