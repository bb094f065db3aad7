package chaostoolkit

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// node is a value of the Chaos Toolkit document with its path.
type node struct {
	n    *yaml.Node
	path string
	// ln is the line of the mapping that lacks this field, when n is nil.
	ln int
}

func (x node) line() int {
	if x.n == nil {
		return x.ln
	}
	return x.n.Line
}

// get returns the field of a mapping (a zero node when absent or when x is no mapping).
func (x node) get(key string) node {
	p := key
	if x.path != "" {
		p = x.path + "." + key
	}
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return node{path: p, ln: x.line()}
	}
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		if x.n.Content[i].Value == key {
			v := x.n.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				return node{path: p, ln: x.n.Content[i].Line}
			}
			return node{n: v, path: p}
		}
	}
	return node{path: p, ln: x.line()}
}

func (x node) present() bool { return x.n != nil }

// has reports whether a mapping holds key, even with a null value, which get reads as
// absent.
func (x node) has(key string) bool {
	return slices.Contains(x.keys(), key)
}

// keys lists a mapping's keys in document order.
func (x node) keys() []string {
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		out = append(out, x.n.Content[i].Value)
	}
	return out
}

func (x node) items() []node {
	if x.n == nil || x.n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]node, len(x.n.Content))
	for i, c := range x.n.Content {
		out[i] = node{n: c, path: x.path + "[" + strconv.Itoa(i) + "]"}
	}
	return out
}

func (x node) isMap() bool    { return x.n != nil && x.n.Kind == yaml.MappingNode }
func (x node) isList() bool   { return x.n != nil && x.n.Kind == yaml.SequenceNode }
func (x node) isScalar() bool { return x.n != nil && x.n.Kind == yaml.ScalarNode }
func (x node) tag() string {
	if x.n == nil {
		return ""
	}
	return x.n.ShortTag()
}

// value decodes the node into plain Go values (for annotations).
func (x node) value() any {
	if x.n == nil {
		return nil
	}
	var v any
	if err := x.n.Decode(&v); err != nil {
		return x.n.Value
	}
	return v
}

// describe names a node's kind for messages.
func (x node) describe() string {
	switch {
	case x.n == nil:
		return "nothing"
	case x.isMap():
		return "a mapping"
	case x.isList():
		return "a list"
	}
	switch x.tag() {
	case "!!str":
		return fmt.Sprintf("the string %q", x.n.Value)
	case "!!bool":
		return "the boolean " + x.n.Value
	case "!!int", "!!float":
		return "the number " + x.n.Value
	}
	return x.n.Value
}

// parse reads a JSON or YAML document into a node tree with lines. A document starting
// with '{' is read as strict JSON, so a broken JSON file is reported as JSON.
func parse(data []byte) (*yaml.Node, *spec.Problem) {
	body := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &spec.Problem{Message: "file is empty; a Chaos Toolkit experiment is a JSON or YAML mapping with title, steady-state-hypothesis and method"}
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		n, p := spec.JSONNode(body)
		if p != nil {
			return nil, p
		}
		return n, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if i := strings.IndexByte(rest, ':'); i > 0 {
				line, _ = strconv.Atoi(rest[:i])
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
		return nil, &spec.Problem{Line: line, Message: "neither JSON nor valid YAML: " + msg}
	}
	if len(doc.Content) == 0 {
		return nil, &spec.Problem{Message: "file is empty; a Chaos Toolkit experiment is a JSON or YAML mapping with title, steady-state-hypothesis and method"}
	}
	return doc.Content[0], nil
}
