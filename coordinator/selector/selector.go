// Package selector parses and evaluates label selectors on workers: equality
// (`region=eu-west`, `tier!=db`) and set-based expressions (`region in (eu-west,us-east)`,
// `region notin (ap-south)`, `canary`, `!canary`), comma-separated and all required. It is
// shared by the spec (validation), the scheduler (targeting) and the CLI (`murphy workers
// -l`), so the three can never disagree on what an expression means.
package selector

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Op is a requirement's operator.
type Op string

const (
	Equals       Op = "="
	NotEquals    Op = "!="
	In           Op = "in"
	NotIn        Op = "notin"
	Exists       Op = "exists"
	DoesNotExist Op = "!exists"
)

// Requirement is one condition on one label.
type Requirement struct {
	Key    string
	Op     Op
	Values []string // sorted; one value for = and !=, none for exists
}

// Selector is a conjunction of requirements. The zero value matches everything.
type Selector []Requirement

// Matches reports whether labels satisfy every requirement. A missing label fails =,
// in and exists, and satisfies !=, notin and !exists (as in Kubernetes).
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.Key]
		switch r.Op {
		case Equals:
			if !ok || v != r.Values[0] {
				return false
			}
		case NotEquals:
			if ok && v == r.Values[0] {
				return false
			}
		case In:
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case NotIn:
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case Exists:
			if !ok {
				return false
			}
		case DoesNotExist:
			if ok {
				return false
			}
		}
	}
	return true
}

// String renders the selector canonically (requirements sorted by key then operator).
func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		switch r.Op {
		case Equals, NotEquals:
			parts[i] = r.Key + string(r.Op) + r.Values[0]
		case In, NotIn:
			parts[i] = r.Key + " " + string(r.Op) + " (" + strings.Join(r.Values, ",") + ")"
		case Exists:
			parts[i] = r.Key
		case DoesNotExist:
			parts[i] = "!" + r.Key
		}
	}
	return strings.Join(parts, ",")
}

// And returns the conjunction of s and o, canonically ordered.
func (s Selector) And(o Selector) Selector {
	out := append(append(Selector(nil), s...), o...)
	out.sort()
	return out
}

func (s Selector) sort() {
	slices.SortStableFunc(s, func(a, b Requirement) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(string(a.Op), string(b.Op))
	})
}

// FromMap turns an equality map into a selector.
func FromMap(m map[string]string) Selector {
	var s Selector
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s = append(s, Requirement{Key: k, Op: Equals, Values: []string{m[k]}})
	}
	return s
}

// Parse reads an expression such as `region in (eu-west,us-east),tier!=db,!canary`.
// Errors name the offending position.
func Parse(expr string) (Selector, error) {
	p := &parser{s: expr}
	var sel Selector
	p.space()
	if p.eof() {
		return nil, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, err
		}
		sel = append(sel, r)
		p.space()
		if p.eof() {
			break
		}
		if !p.consume(",") {
			return nil, p.errorf("expected ',' between requirements")
		}
	}
	sel.sort()
	return sel, nil
}

type parser struct {
	s   string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("selector %q: at %d: %s", p.s, p.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) space() {
	for !p.eof() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *parser) consume(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// isLabelChar accepts what Kubernetes-style label keys and values use, including the
// `murphy.io/chaos` prefix form.
func isLabelChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/'
}

func (p *parser) word(what string) (string, error) {
	p.space()
	start := p.pos
	for !p.eof() && isLabelChar(p.s[p.pos]) {
		p.pos++
	}
	if start == p.pos {
		return "", p.errorf("expected %s", what)
	}
	return p.s[start:p.pos], nil
}

func (p *parser) requirement() (Requirement, error) {
	if p.consume("!") {
		k, err := p.word("a label key after '!'")
		if err != nil {
			return Requirement{}, err
		}
		return Requirement{Key: k, Op: DoesNotExist}, nil
	}
	k, err := p.word("a label key")
	if err != nil {
		return Requirement{}, err
	}
	p.space()
	switch {
	case p.eof() || p.s[p.pos] == ',':
		return Requirement{Key: k, Op: Exists}, nil
	case p.consume("!="):
		v, err := p.value()
		return Requirement{Key: k, Op: NotEquals, Values: []string{v}}, err
	case p.consume("=="), p.consume("="):
		v, err := p.value()
		return Requirement{Key: k, Op: Equals, Values: []string{v}}, err
	}
	op, err := p.word("an operator (=, !=, in, notin)")
	if err != nil {
		return Requirement{}, err
	}
	var o Op
	switch op {
	case "in":
		o = In
	case "notin":
		o = NotIn
	default:
		p.pos -= len(op)
		return Requirement{}, p.errorf("unknown operator %q (use =, !=, in, notin, or key / !key for existence)", op)
	}
	if !p.consume("(") {
		return Requirement{}, p.errorf("expected '(' after %s", op)
	}
	var vals []string
	for {
		v, err := p.value()
		if err != nil {
			return Requirement{}, err
		}
		vals = append(vals, v)
		if p.consume(")") {
			break
		}
		if !p.consume(",") {
			return Requirement{}, p.errorf("expected ',' or ')' in the value set")
		}
	}
	slices.Sort(vals)
	return Requirement{Key: k, Op: o, Values: slices.Compact(vals)}, nil
}

func (p *parser) value() (string, error) {
	return p.word("a value")
}
