package spec

import (
	"go.yaml.in/yaml/v3"
)

// rollbacks reads the rollback steps: steps like any other, run after the run ends.
// An empty list means none.
func (w *walker) rollbacks(n *yaml.Node, at loc, opts Options) []*Step {
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		return nil
	}
	return w.steps(n, at, opts)
}

func (w *walker) ctkTolerance(n *yaml.Node, at loc) *CTKTolerance {
	t := &CTKTolerance{}
	o := w.object(n, at, "text", "values", "range")
	if o == nil {
		return nil
	}
	if v, l := o.get("text"); v == nil {
		o.required(l, "required; the tolerance as the Chaos Toolkit file wrote it")
	} else {
		t.Text, _ = w.text(v, l)
	}
	numbers := func(name string) ([]float64, loc, bool) {
		v, l := o.get(name)
		if v == nil {
			return nil, l, false
		}
		items, ok := w.list(v, l)
		if !ok {
			return nil, l, true
		}
		out := make([]float64, 0, len(items))
		for i, raw := range items {
			if x, ok := w.number(w.resolve(raw), l.index(i, raw)); ok {
				out = append(out, x)
			}
		}
		return out, l, true
	}
	vals, vl, vset := numbers("values")
	rng, rl, rset := numbers("range")
	switch {
	case vset && rset:
		w.addf(at, "set values or range, not both")
	case vset && len(vals) == 0:
		w.addf(vl, "must list at least one accepted value")
	case rset && (len(rng) != 2 || rng[0] > rng[1]):
		w.addf(rl, "must be [low, high] with low <= high")
	}
	t.Values, t.Range = vals, rng
	return t
}
