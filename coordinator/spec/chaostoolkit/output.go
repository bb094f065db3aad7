package chaostoolkit

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// The output document mirrors the murphy/v1 YAML a person writes: only what the
// conversion decided, in the spec's field order, defaults left to spec.Parse.
type document struct {
	APIVersion  string            `json:"apiVersion" yaml:"apiVersion"`
	Name        string            `json:"name" yaml:"name"`
	Description string            `json:"description,omitempty" yaml:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Targets     targets           `json:"targets" yaml:"targets"`
	Hypothesis  hypothesis        `json:"hypothesis" yaml:"hypothesis"`
	Baseline    string            `json:"baseline,omitempty" yaml:"baseline,omitempty"`
	Cooldown    string            `json:"cooldown,omitempty" yaml:"cooldown,omitempty"`
	Steps       []step            `json:"steps" yaml:"steps"`
	Rollbacks   []step            `json:"rollbacks,omitempty" yaml:"rollbacks,omitempty"`
	// Annotations keeps what Murphy does not use (controls, extensions, runtime,
	// contributions...), under a key spec.Parse ignores.
	Annotations map[string]any `json:"x-chaostoolkit,omitempty" yaml:"x-chaostoolkit,omitempty"`
}

type targets struct {
	Selector   map[string]string `json:"selector" yaml:"selector"`
	Experiment map[string]any    `json:"experiment" yaml:"experiment"`
	Control    map[string]any    `json:"control,omitempty" yaml:"control,omitempty"`
}

type hypothesis struct {
	Metrics []metric `json:"metrics" yaml:"metrics"`
}

type metric struct {
	Name         string        `json:"name" yaml:"name"`
	Source       source        `json:"source" yaml:"source"`
	Direction    string        `json:"direction" yaml:"direction"`
	Tolerance    tolerance     `json:"tolerance" yaml:"tolerance"`
	CTKTolerance *ctkTolerance `json:"ctkTolerance,omitempty" yaml:"ctkTolerance,omitempty"`
}

type source struct {
	Probe      *probe      `json:"probe,omitempty" yaml:"probe,omitempty"`
	Prometheus *promSource `json:"prometheus,omitempty" yaml:"prometheus,omitempty"`
}

type promSource struct {
	Query    string `json:"query" yaml:"query"`
	Interval string `json:"interval,omitempty" yaml:"interval,omitempty"`
}

type probe struct {
	HTTP       *httpProbe    `json:"http,omitempty" yaml:"http,omitempty"`
	Command    *commandProbe `json:"command,omitempty" yaml:"command,omitempty"`
	Kubernetes *kubeProbe    `json:"kubernetes,omitempty" yaml:"kubernetes,omitempty"`
	Measure    string        `json:"measure" yaml:"measure"`
}

type kubeProbe struct {
	Namespace string `json:"namespace" yaml:"namespace"`
	Workload  string `json:"workload" yaml:"workload"`
}

type httpProbe struct {
	URL          string            `json:"url" yaml:"url"`
	Method       string            `json:"method,omitempty" yaml:"method,omitempty"`
	Headers      map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	Body         string            `json:"body,omitempty" yaml:"body,omitempty"`
	Timeout      string            `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	ExpectStatus int               `json:"expectStatus,omitempty" yaml:"expectStatus,omitempty"`
	BodyMatch    string            `json:"bodyMatch,omitempty" yaml:"bodyMatch,omitempty"`
	JSONPath     *jsonPath         `json:"jsonPath,omitempty" yaml:"jsonPath,omitempty"`
}

type commandProbe struct {
	Argv     []string  `json:"argv" yaml:"argv,flow"`
	Timeout  string    `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	JSONPath *jsonPath `json:"jsonPath,omitempty" yaml:"jsonPath,omitempty"`
}

type jsonPath struct {
	Path   string `json:"path" yaml:"path"`
	Expect []any  `json:"expect,omitempty" yaml:"expect,omitempty,flow"`
	Count  *int   `json:"count,omitempty" yaml:"count,omitempty"`
}

type tolerance struct {
	Absolute float64 `json:"absolute" yaml:"absolute"`
}

type ctkTolerance struct {
	Text   string    `json:"text" yaml:"text"`
	Values []float64 `json:"values,omitempty" yaml:"values,omitempty,flow"`
	Range  []float64 `json:"range,omitempty" yaml:"range,omitempty,flow"`
}

type step struct {
	Fault    string            `json:"fault" yaml:"fault"`
	Params   map[string]string `json:"params,omitempty" yaml:"params,omitempty"`
	Duration string            `json:"duration,omitempty" yaml:"duration,omitempty"`
	Parallel bool              `json:"parallel,omitempty" yaml:"parallel,omitempty"`
}

// render writes the document as YAML (with a header comment) or indented JSON.
func (d *document) render(format, header string) ([]byte, error) {
	switch format {
	case "json":
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("chaostoolkit: encode: %w", err)
		}
		return buf.Bytes(), nil
	case "yaml", "":
		var buf bytes.Buffer
		buf.WriteString(header)
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("chaostoolkit: encode: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("chaostoolkit: encode: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("chaostoolkit: unknown output format %q; use yaml or json", format)
}
