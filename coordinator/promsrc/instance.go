package promsrc

import (
	"slices"
	"strings"
)

// InstanceLabel is the label Murphy reads a result series' target from.
const InstanceLabel = "instance"

// DependsOnGroup reports whether a query template uses {{.Group}}: such a query must be
// sent once per group, since one query for both groups could not say which it meant.
func DependsOnGroup(query string) bool {
	c, errC := Render(query, "control", nil)
	e, errE := Render(query, "experiment", nil)
	return errC == nil && errE == nil && c != e
}

// aggregators drop every label not kept by their by clause (or dropped by without).
// topk, bottomk, limitk and limit_ratio are left out: they keep the series they pick.
var aggregators = []string{"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "quantile", "count_values"}

// DropsInstance says, when it can tell from the text, why a rendered query's result would
// have no instance label (an aggregation or a one-to-one vector match that removes it);
// empty when it cannot tell. It is a scan of the PromQL text, not a parse: it sees the
// common shapes (`sum(...)`, `avg by (job) (...)`, `a / on (job) b`), and the first
// evaluation catches the rest, since a result without instance labels is judged per
// group whatever this says.
func DropsInstance(query string) string {
	toks := promTokens(query)
	for i, tok := range toks {
		word := strings.ToLower(tok)
		switch {
		case slices.Contains(aggregators, word):
			clause, labels, j := grouping(toks, i+1)
			if j >= len(toks) || toks[j] != "(" {
				continue // a metric or label that happens to share the name
			}
			if clause == "" {
				clause, labels, _ = grouping(toks, closing(toks, j)+1)
			}
			keeps := slices.Contains(labels, InstanceLabel)
			switch {
			case clause == "":
				return word + "(...) without a by clause aggregates every instance into one series"
			case clause == "by" && !keeps:
				return word + " by (" + strings.Join(labels, ", ") + ") aggregates the instances away"
			case clause == "without" && keeps:
				return word + " without (" + strings.Join(labels, ", ") + ") aggregates the instances away"
			}
		case word == "on" || word == "ignoring":
			if i+1 >= len(toks) || toks[i+1] != "(" {
				continue
			}
			_, labels, j := grouping(toks, i)
			// group_left / group_right keep the labels of the many side.
			if j < len(toks) && (strings.EqualFold(toks[j], "group_left") || strings.EqualFold(toks[j], "group_right")) {
				continue
			}
			keeps := slices.Contains(labels, InstanceLabel)
			if (word == "on" && !keeps) || (word == "ignoring" && keeps) {
				return word + " (" + strings.Join(labels, ", ") + ") matches one to one and leaves no instance label"
			}
		}
	}
	return ""
}

// grouping reads `by (a, b)`, `without (a)`, `on (a)` or `ignoring (a)` at toks[i]; it
// returns the keyword, the labels and the index after the closing parenthesis, or "" and
// i when there is none.
func grouping(toks []string, i int) (string, []string, int) {
	if i >= len(toks) || i+1 >= len(toks) || toks[i+1] != "(" {
		return "", nil, i
	}
	kw := strings.ToLower(toks[i])
	if kw != "by" && kw != "without" && kw != "on" && kw != "ignoring" {
		return "", nil, i
	}
	var labels []string
	j := i + 2
	for ; j < len(toks) && toks[j] != ")"; j++ {
		if toks[j] != "," {
			labels = append(labels, toks[j])
		}
	}
	return kw, labels, j + 1
}

// closing is the index of the parenthesis that closes toks[open].
func closing(toks []string, open int) int {
	depth := 0
	for j := open; j < len(toks); j++ {
		switch toks[j] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(toks)
}

// promTokens splits PromQL into identifiers and punctuation. Strings, label matchers
// ({...}), ranges ([...]) and comments are skipped: no grouping keyword lives inside them,
// and the instance regexps a template expands to would otherwise look like words.
func promTokens(q string) []string {
	var out []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			i = skipString(q, i)
		case c == '{':
			i = skipUntil(q, i, '}')
		case c == '[':
			i = skipUntil(q, i, ']')
		case isIdentStart(c):
			j := i
			for j < len(q) && (isIdentStart(q[j]) || (q[j] >= '0' && q[j] <= '9')) {
				j++
			}
			out = append(out, q[i:j])
			i = j
		default:
			out = append(out, string(c))
			i++
		}
	}
	return out
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// skipString returns the index after the string literal starting at q[i].
func skipString(q string, i int) int {
	quote := q[i]
	for j := i + 1; j < len(q); j++ {
		switch {
		case q[j] == '\\' && quote != '`':
			j++
		case q[j] == quote:
			return j + 1
		}
	}
	return len(q)
}

// skipUntil returns the index after the first end outside a string from q[i] on.
func skipUntil(q string, i int, end byte) int {
	for j := i + 1; j < len(q); {
		switch {
		case q[j] == '"' || q[j] == '\'' || q[j] == '`':
			j = skipString(q, j)
		case q[j] == end:
			return j + 1
		default:
			j++
		}
	}
	return len(q)
}
