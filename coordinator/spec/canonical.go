package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Canonical renders the spec as compact JSON that depends only on its
// meaning: struct fields in declaration order, map keys sorted, durations
// in their shortest form, no HTML escaping (queries hold '<' and '&').
// This is what the coordinator stores and compares; Parse reads it back
// into an equal value.
func (e *Experiment) Canonical() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("spec: encode %s: %w", e.Name, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// JSON is Canonical indented for people to read.
func (e *Experiment) JSON() ([]byte, error) {
	c, err := e.Canonical()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, c, "", "  "); err != nil {
		return nil, fmt.Errorf("spec: indent %s: %w", e.Name, err)
	}
	return out.Bytes(), nil
}

// CanonicalDigest is the hex SHA-256 of Canonical: equal for two files that
// differ only in comments, layout or omitted defaults, unlike
// Origin.Digest.
func (e *Experiment) CanonicalDigest() (string, error) {
	c, err := e.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// String is a one-line summary for logs and listings.
func (e *Experiment) String() string {
	faults := make([]string, len(e.Steps))
	for i, s := range e.Steps {
		faults[i] = s.Fault
	}
	return fmt.Sprintf("%s (%s vs %s control, %d metrics, steps: %s)",
		e.Name, e.Targets.Experiment, e.Targets.Control, len(e.Hypothesis.Metrics), strings.Join(faults, ", "))
}

// String renders "4 workers" or "25%".
func (g GroupSize) String() string {
	if g.Count > 0 {
		if g.Count == 1 {
			return "1 worker"
		}
		return strconv.Itoa(g.Count) + " workers"
	}
	return strconv.FormatFloat(g.Percent, 'g', -1, 64) + "%"
}

// String renders "10%" for a relative tolerance and "±0.01" for an
// absolute one.
func (t Tolerance) String() string {
	switch {
	case t.Relative != nil:
		return strconv.FormatFloat(*t.Relative*100, 'g', -1, 64) + "%"
	case t.Absolute != nil:
		return "±" + strconv.FormatFloat(*t.Absolute, 'g', -1, 64)
	}
	return "none"
}

// String renders the source as "probe GET http://... latency",
// "probe tcp 127.0.0.1:6379 success", "probe grpc 127.0.0.1:9090 checkout
// success", "probe command [redis-cli dbsize] number" or
// "prometheus <query>".
func (s MetricSource) String() string {
	p := s.Probe
	switch {
	case p != nil && p.HTTP != nil:
		return fmt.Sprintf("probe %s %s %s", p.HTTP.Method, p.HTTP.URL, p.Measure)
	case p != nil && p.TCP != nil:
		return fmt.Sprintf("probe tcp %s %s", p.TCP.Address, p.Measure)
	case p != nil && p.GRPC != nil && p.GRPC.Service != "":
		return fmt.Sprintf("probe grpc %s %s %s", p.GRPC.Address, p.GRPC.Service, p.Measure)
	case p != nil && p.GRPC != nil:
		return fmt.Sprintf("probe grpc %s %s", p.GRPC.Address, p.Measure)
	case p != nil && p.Command != nil:
		return fmt.Sprintf("probe command %q %s", p.Command.Argv, p.Measure)
	case s.Prometheus != nil:
		return "prometheus " + s.Prometheus.Query
	}
	return "none"
}

// String renders the guardrail as a sentence fragment:
// "error_rate above 0.05 for 3s".
func (a AbortCondition) String() string {
	var parts []string
	if a.Above != nil {
		parts = append(parts, "above "+strconv.FormatFloat(*a.Above, 'g', -1, 64))
	}
	if a.Below != nil {
		parts = append(parts, "below "+strconv.FormatFloat(*a.Below, 'g', -1, 64))
	}
	if a.Deviation != nil {
		parts = append(parts, "deviates by more than "+a.Deviation.String())
	}
	s := a.Metric + " " + strings.Join(parts, " or ")
	if a.For > 0 {
		s += " for " + a.For.String()
	}
	return s
}
