package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// JSON renders the defaulted spec for people to read, with the spec's own field names.
// It is a view, never stored or parsed back: the cluster keeps the typed message.
func JSON(e *Experiment) ([]byte, error) {
	b, err := protojson.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("spec: render %s: %w", e.GetName(), err)
	}
	// protojson varies its spacing on purpose; people and pages get one layout.
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, fmt.Errorf("spec: render %s: %w", e.GetName(), err)
	}
	return out.Bytes(), nil
}

// Digest is the hex SHA-256 of the spec's deterministic encoding without its origin:
// equal for two files that differ only in comments, layout or omitted defaults, unlike
// Origin.Digest.
func Digest(e *Experiment) (string, error) {
	c := proto.Clone(e).(*Experiment)
	c.Origin = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("spec: encode %s: %w", e.GetName(), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Summary is a one-line summary for logs and listings.
func Summary(e *Experiment) string {
	faults := make([]string, len(e.GetSteps()))
	for i, s := range e.GetSteps() {
		faults[i] = s.GetFault().GetKind()
	}
	return fmt.Sprintf("%s (%s vs %s control, %d metrics, steps: %s)",
		e.GetName(), GroupText(e.GetTargets().GetExperiment()), GroupText(e.GetTargets().GetControl()),
		len(e.GetHypothesis().GetMetrics()), strings.Join(faults, ", "))
}

// GroupText renders "4 workers" or "25%".
func GroupText(g *GroupSize) string {
	if g.GetCount() > 0 {
		if g.GetCount() == 1 {
			return "1 worker"
		}
		return strconv.Itoa(int(g.GetCount())) + " workers"
	}
	return strconv.FormatFloat(g.GetPercent(), 'g', -1, 64) + "%"
}

// ToleranceText renders "10%" for a relative tolerance and "±0.01" for an absolute one.
func ToleranceText(t *Tolerance) string {
	switch {
	case t != nil && t.Relative != nil:
		return strconv.FormatFloat(t.GetRelative()*100, 'g', -1, 64) + "%"
	case t != nil && t.Absolute != nil:
		return "±" + strconv.FormatFloat(t.GetAbsolute(), 'g', -1, 64)
	}
	return "none"
}

// SourceText renders the source as "probe GET http://... latency",
// "probe tcp 127.0.0.1:6379 success", "probe grpc 127.0.0.1:9090 checkout
// success", "probe command [redis-cli dbsize] number" or
// "prometheus <query>".
func SourceText(s *MetricSource) string {
	p := s.GetProbe()
	switch {
	case p.GetHttp() != nil:
		return fmt.Sprintf("probe %s %s %s", p.GetHttp().Method, p.GetHttp().Url, p.Measure)
	case p.GetTcp() != nil:
		return fmt.Sprintf("probe tcp %s %s", p.GetTcp().Address, p.Measure)
	case p.GetGrpc() != nil && p.GetGrpc().Service != "":
		return fmt.Sprintf("probe grpc %s %s %s", p.GetGrpc().Address, p.GetGrpc().Service, p.Measure)
	case p.GetGrpc() != nil:
		return fmt.Sprintf("probe grpc %s %s", p.GetGrpc().Address, p.Measure)
	case p.GetCommand() != nil:
		return fmt.Sprintf("probe command %q %s", p.GetCommand().Argv, p.Measure)
	case p.GetKubernetes() != nil:
		return fmt.Sprintf("probe kubernetes %s/%s %s", p.GetKubernetes().Namespace, p.GetKubernetes().Workload, p.Measure)
	case s.GetPrometheus() != nil:
		return "prometheus " + s.GetPrometheus().Query
	}
	return "none"
}

// GuardrailText renders the guardrail as a sentence fragment:
// "error_rate above 0.05 for 3s".
func GuardrailText(a *AbortCondition) string {
	var parts []string
	if a.Above != nil {
		parts = append(parts, "above "+strconv.FormatFloat(*a.Above, 'g', -1, 64))
	}
	if a.Below != nil {
		parts = append(parts, "below "+strconv.FormatFloat(*a.Below, 'g', -1, 64))
	}
	if a.Deviation != nil {
		parts = append(parts, "deviates by more than "+ToleranceText(a.Deviation))
	}
	s := a.Metric + " " + strings.Join(parts, " or ")
	if d := a.GetFor().AsDuration(); d > 0 {
		s += " for " + DurationText(d)
	}
	return s
}
