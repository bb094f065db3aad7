package spec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// nodeBudget bounds the work of one walk. Aliases let a small document
// reference the same large node many times; counting every visit (weighted
// by its children) keeps a hostile spec from turning into billions of
// steps. Real specs use a few hundred.
const nodeBudget = 1 << 20

// walker reads a yaml.Node tree against the spec schema and collects
// problems instead of stopping at the first.
type walker struct {
	problems  []Problem
	budget    int
	exhausted bool
	// metricNames are the hypothesis metric names seen so far, for
	// checking abort conditions.
	metricNames []string
	// pods is set once targets.kubernetes is read: every step then acts on pods.
	pods bool
}

// loc is where a value sits: its field path, and the position of the key
// (or list item) that holds it, which is what the user looks for.
type loc struct {
	path      string
	line, col int
}

func (l loc) field(name string, key *yaml.Node) loc {
	p := name
	if l.path != "" {
		p = l.path + "." + name
	}
	return loc{path: p, line: key.Line, col: key.Column}
}

func (l loc) index(i int, item *yaml.Node) loc {
	return loc{path: l.path + "[" + strconv.Itoa(i) + "]", line: item.Line, col: item.Column}
}

func (w *walker) addf(at loc, format string, args ...any) {
	if w.exhausted {
		// Everything after the budget ran out reads as missing; reporting
		// that would bury the one problem that matters.
		return
	}
	w.problems = append(w.problems, Problem{Line: at.line, Column: at.col, Field: at.path, Message: fmt.Sprintf(format, args...)})
}

// resolve follows aliases and maps null to nil, so that "field:" with no
// value reads the same as a missing field.
func (w *walker) resolve(n *yaml.Node) *yaml.Node {
	if n == nil || w.exhausted {
		return nil
	}
	// An alias never points at another alias (anchors sit on real nodes);
	// the bound only guards against a hand-built tree.
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 8 {
			return nil
		}
		n = n.Alias
	}
	w.budget -= 1 + len(n.Content)
	if w.budget < 0 {
		w.exhausted = true
		w.problems = append(w.problems, Problem{Line: n.Line, Column: n.Column,
			Message: "spec is too large once aliases are expanded; write it without reusing big anchors"})
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	return n
}

// object is a mapping node checked against the fields it may hold.
type object struct {
	w    *walker
	at   loc
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
	// suggested holds known fields offered as "did you mean" for an
	// unknown one; their absence is that same typo, not a second problem.
	suggested map[string]bool
}

// required reports a missing field unless a typo of it was reported already.
func (o *object) required(at loc, format string, args ...any) {
	name := at.path[strings.LastIndexByte(at.path, '.')+1:]
	if !o.suggested[name] {
		o.w.addf(at, format, args...)
	}
}

// object returns nil, with a problem recorded, when n is not a mapping.
// Unknown and duplicate fields are reported and left out.
func (w *walker) object(n *yaml.Node, at loc, known ...string) *object {
	if n.Kind != yaml.MappingNode {
		w.addf(at, "must be a mapping, got %s", describe(n))
		return nil
	}
	o := &object{w: w, at: at, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, suggested: map[string]bool{}}
	for _, p := range w.pairs(n, 0) {
		k := p.key
		if k.Kind != yaml.ScalarNode {
			w.addf(loc{path: at.path, line: k.Line, col: k.Column}, "field names must be plain strings, got %s", describe(k))
			continue
		}
		if at.path == "" && strings.HasPrefix(k.Value, extensionPrefix) {
			continue
		}
		kl := at.field(k.Value, k)
		if prev, dup := o.keys[k.Value]; dup {
			w.addf(kl, "duplicate field; first set on line %d", prev.Line)
			continue
		}
		o.keys[k.Value] = k
		if !slices.Contains(known, k.Value) {
			if best := closest(k.Value, known); best != "" {
				o.suggested[best] = true
			}
			w.addf(kl, "unknown field; %s", suggest(k.Value, known, "valid fields are"))
			continue
		}
		o.vals[k.Value] = p.value
	}
	return o
}

// extensionPrefix marks top-level fields Parse ignores, as in Compose
// files: a home for YAML anchors that the spec then merges or aliases.
const extensionPrefix = "x-"

type pair struct{ key, value *yaml.Node }

// maxMergeDepth bounds merges of merges; an anchor may even merge itself.
const maxMergeDepth = 4

// pairs lists a mapping's entries with YAML merge keys ("<<: *base")
// expanded: explicit entries first, then merged ones whose key is not set
// yet, the first merged mapping winning, as the YAML merge spec says.
// Merged entries keep their own positions, so problems in them point at
// the anchor that holds them.
func (w *walker) pairs(n *yaml.Node, depth int) []pair {
	out := make([]pair, 0, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		for hops := 0; k.Kind == yaml.AliasNode && k.Alias != nil && hops < 8; hops++ {
			k = k.Alias
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		out = append(out, pair{k, n.Content[i+1]})
	}
	if len(merges) == 0 {
		return out
	}
	set := make(map[string]bool, len(out))
	for _, p := range out {
		set[p.key.Value] = true
	}
	for _, m := range merges {
		v := w.resolve(m)
		if v == nil {
			continue
		}
		maps := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			maps = maps[:0]
			for _, item := range v.Content {
				if r := w.resolve(item); r != nil {
					maps = append(maps, r)
				}
			}
		}
		for _, mm := range maps {
			if mm.Kind != yaml.MappingNode || depth >= maxMergeDepth {
				w.addf(loc{line: m.Line, col: m.Column, path: "<<"}, "merge keys take a mapping or a list of mappings, nested at most %d deep", maxMergeDepth)
				continue
			}
			for _, p := range w.pairs(mm, depth+1) {
				if !set[p.key.Value] {
					set[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// get returns the resolved value of a field (nil when missing or null) and
// where to report problems about it: the key's line when present, the
// mapping's otherwise.
func (o *object) get(name string) (*yaml.Node, loc) {
	k, ok := o.keys[name]
	if !ok {
		at := o.at
		if at.path != "" {
			at.path += "." + name
		} else {
			at.path = name
		}
		return nil, at
	}
	return o.w.resolve(o.vals[name]), o.at.field(name, k)
}

// describe names a node's kind and value for "got ..." messages, in the
// user's terms rather than YAML tags.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "number " + v
		case "!!bool":
			return "boolean " + v
		case "!!null":
			return "null"
		default:
			return "string " + strconv.Quote(v)
		}
	}
	return "an alias"
}

// text reads any scalar as the text the user wrote: a label value of 2 or
// true is the string "2" or "true", which is what label matching compares.
func (w *walker) text(n *yaml.Node, at loc) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		w.addf(at, "must be a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (w *walker) integer(n *yaml.Node, at loc) (int64, bool) {
	if n == nil {
		return 0, false
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			w.addf(at, "number %s is out of range", n.Value)
			return 0, false
		}
		return v, true
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float":
		w.addf(at, "must be a whole number, got %s", n.Value)
	default:
		w.addf(at, "must be a whole number, got %s", describe(n))
	}
	return 0, false
}

func (w *walker) number(n *yaml.Node, at loc) (float64, bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		w.addf(at, "must be a number, got %s", describe(n))
		return 0, false
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		w.addf(at, "must be a finite number, got %s", n.Value)
		return 0, false
	}
	return v, true
}

func (w *walker) boolean(n *yaml.Node, at loc) (bool, bool) {
	if n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		w.addf(at, "must be true or false, got %s", describe(n))
		return false, false
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		w.addf(at, "must be true or false, got %s", describe(n))
		return false, false
	}
	return v, true
}

// duration reads a Go duration string. positive forbids zero; negative
// durations are never meaningful in a spec.
func (w *walker) duration(n *yaml.Node, at loc, positive bool) (time.Duration, bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode {
		w.addf(at, "must be a duration such as \"30s\" or \"2m\", got %s", describe(n))
		return 0, false
	}
	if t := n.ShortTag(); t == "!!int" || t == "!!float" {
		w.addf(at, "must be a duration with a unit, such as \"%ss\", got %s", n.Value, describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		w.addf(at, "invalid duration %q; use a number with a unit, such as \"30s\", \"2m\" or \"1h30m\"", n.Value)
		return 0, false
	}
	switch {
	case d < 0:
		w.addf(at, "must not be negative, got %s", n.Value)
		return 0, false
	case d == 0 && positive:
		w.addf(at, "must be greater than zero")
		return 0, false
	}
	return d, true
}

// list returns the items of a sequence, unresolved so that callers can
// report an empty item at its own line.
func (w *walker) list(n *yaml.Node, at loc) ([]*yaml.Node, bool) {
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		w.addf(at, "must be a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

// stringList reads a list of scalars. A present but empty list is a
// non-nil empty slice, which callers may need to tell from "omitted".
func (w *walker) stringList(n *yaml.Node, at loc) ([]string, bool) {
	items, ok := w.list(n, at)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for i, raw := range items {
		il := at.index(i, raw)
		v := w.resolve(raw)
		if v == nil {
			w.addf(il, "must not be empty")
			continue
		}
		if s, ok := w.text(v, il); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// stringMap reads a mapping of scalars (labels, selectors). When lists is
// set, a list of scalars is accepted too and joined with commas, which is
// how fault params carry several values ("ports: [80, 443]").
func (w *walker) stringMap(n *yaml.Node, at loc, lists bool) (map[string]string, bool) {
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		w.addf(at, "must be a mapping, got %s", describe(n))
		return nil, false
	}
	out := make(map[string]string, len(n.Content)/2)
	first := map[string]int{}
	for _, p := range w.pairs(n, 0) {
		k := p.key
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" || k.Value == "" {
			w.addf(loc{path: at.path, line: k.Line, col: k.Column}, "keys must be non-empty strings")
			continue
		}
		kl := at.field(k.Value, k)
		if line, dup := first[k.Value]; dup {
			w.addf(kl, "duplicate key; first set on line %d", line)
			continue
		}
		first[k.Value] = k.Line
		v := w.resolve(p.value)
		switch {
		case v == nil:
			out[k.Value] = ""
		case v.Kind == yaml.ScalarNode:
			out[k.Value] = v.Value
		case v.Kind == yaml.SequenceNode && lists:
			parts := make([]string, 0, len(v.Content))
			good := true
			for j, raw := range v.Content {
				item := w.resolve(raw)
				if item == nil || item.Kind != yaml.ScalarNode {
					w.addf(kl.index(j, raw), "must be a plain value, not a list or mapping")
					good = false
					continue
				}
				parts = append(parts, item.Value)
			}
			if good {
				out[k.Value] = strings.Join(parts, ",")
			}
		case lists:
			w.addf(kl, "must be a value or a list of values, got %s", describe(v))
		default:
			w.addf(kl, "must be a string, got %s", describe(v))
		}
	}
	return out, true
}

// oneOf reads an enumerated string.
func (w *walker) oneOf(n *yaml.Node, at loc, allowed ...string) (string, bool) {
	s, ok := w.text(n, at)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		w.addf(at, "must be one of %s, got %q%s", strings.Join(allowed, ", "), s, didYouMean(s, allowed))
		return "", false
	}
	return s, true
}
