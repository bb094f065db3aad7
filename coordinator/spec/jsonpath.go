package spec

import (
	"fmt"
	"math"
	"strings"

	"github.com/theory/jsonpath"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxExpectDepth bounds the nesting of a jsonPath's expect values; a real one is a
// scalar or a small object.
const maxExpectDepth = 32

// CheckJSONPath returns why path is not an RFC 9535 JSONPath query, or "" when it is.
// Probes run only RFC 9535 queries; Chaos Toolkit's jsonpath2 dialect differs in its
// filters.
func CheckJSONPath(path string) string {
	switch {
	case strings.TrimSpace(path) == "":
		return "must not be empty; an RFC 9535 JSONPath query starts with $, e.g. $.status"
	case path[0] != '$':
		return fmt.Sprintf("%q does not start with $; an RFC 9535 JSONPath query starts at the document's root, e.g. $.status", path)
	}
	if _, err := jsonpath.Parse(path); err != nil {
		return "invalid JSONPath (RFC 9535): " + strings.TrimPrefix(err.Error(), "jsonpath: ")
	}
	return ""
}

func (w *walker) jsonPath(n *yaml.Node, at loc) *JSONPathCheck {
	o := w.object(n, at, "path", "expect", "count")
	if o == nil {
		return nil
	}
	j := &JSONPathCheck{}
	if v, l := o.get("path"); v == nil {
		o.required(l, "required; an RFC 9535 JSONPath query, e.g. $.status")
	} else if s, ok := w.text(v, l); ok {
		if msg := CheckJSONPath(s); msg != "" {
			w.addf(l, "%s", msg)
		}
		j.Path = s
	}
	cv, cl := o.get("count")
	if c, ok := w.integer(cv, cl); ok {
		switch {
		case c < 0:
			w.addf(cl, "must not be negative")
		case c > 1<<20:
			w.addf(cl, "must be at most %d", 1<<20)
		default:
			count := int32(c)
			j.Count = &count
		}
	}
	ev, el := o.get("expect")
	if ev != nil {
		v, ok := w.jsonValue(ev, el, 0)
		list, isList := v.([]any)
		if !isList {
			// One value is a list of one: the query selected exactly that value.
			list = []any{v}
		}
		switch {
		case !ok:
		case len(list) == 0:
			w.addf(el, "must list at least one value; to require that nothing matches, use count: 0")
		default:
			for _, x := range list {
				pv, err := structpb.NewValue(x)
				if err != nil {
					// jsonValue yields JSON values only, which NewValue always takes.
					panic(fmt.Sprintf("spec: jsonPath expect value %#v: %v", x, err))
				}
				j.Expect = append(j.Expect, pv)
			}
		}
	}
	if cv != nil && ev != nil {
		w.addf(at, "set count or expect, not both")
	}
	return j
}

// jsonValue reads a YAML value as the JSON value encoding/json would decode: numbers are
// float64 (as the worker decodes the document it checks), any other scalar is its text.
func (w *walker) jsonValue(raw *yaml.Node, at loc, depth int) (any, bool) {
	n := w.resolve(raw)
	if n == nil {
		return nil, !w.exhausted
	}
	if depth > maxExpectDepth {
		w.addf(at, "nested more than %d deep", maxExpectDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		good := true
		for i, item := range n.Content {
			v, ok := w.jsonValue(item, at.index(i, item), depth+1)
			good = good && ok
			out = append(out, v)
		}
		return out, good
	case yaml.MappingNode:
		out := map[string]any{}
		good := true
		for _, p := range w.pairs(n, 0) {
			k := p.key
			if k.Kind != yaml.ScalarNode {
				w.addf(loc{path: at.path, line: k.Line, col: k.Column}, "keys must be strings, got %s", describe(k))
				good = false
				continue
			}
			kl := at.field(k.Value, k)
			if _, dup := out[k.Value]; dup {
				w.addf(kl, "duplicate key")
				good = false
				continue
			}
			v, ok := w.jsonValue(p.value, kl, depth+1)
			good = good && ok
			out[k.Value] = v
		}
		return out, good
	}
	switch n.ShortTag() {
	case "!!bool":
		return w.boolean(n, at)
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			w.addf(at, "must be a finite number, got %s", n.Value)
			return nil, false
		}
		return f, true
	}
	return n.Value, true
}
