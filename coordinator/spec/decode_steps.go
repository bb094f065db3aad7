package spec

import (
	"errors"
	"maps"
	"slices"

	"go.yaml.in/yaml/v3"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The abort conditions (guardrails) and the steps.

func (w *walker) aborts(n *yaml.Node, at loc) []*AbortCondition {
	items, ok := w.list(n, at)
	if !ok {
		return nil
	}
	names := w.metricNames
	out := make([]*AbortCondition, 0, len(items))
	for i, raw := range items {
		il := at.index(i, raw)
		item := w.resolve(raw)
		if item == nil {
			w.addf(il, "must not be empty")
			continue
		}
		o := w.object(item, il, "metric", "above", "below", "for", "deviation", "onMissing")
		if o == nil {
			continue
		}
		a := &AbortCondition{}
		if v, l := o.get("metric"); v == nil {
			o.required(l, "required; name a hypothesis metric")
		} else if s, ok := w.text(v, l); ok {
			if !slices.Contains(names, s) {
				if len(names) > 0 {
					w.addf(l, "unknown metric %q; %s", s, suggest(s, names, "hypothesis metrics are"))
				}
				// With no valid metric at all the hypothesis already
				// carries the problem; a second message would be noise.
			}
			a.Metric = s
		}
		av, al := o.get("above")
		if x, ok := w.number(av, al); ok {
			a.Above = &x
		}
		bv, bl := o.get("below")
		if x, ok := w.number(bv, bl); ok {
			a.Below = &x
		}
		v, l := o.get("for")
		forDur, _ := w.duration(v, l, false)
		a.For = pbDur(forDur)
		dv, dl := o.get("deviation")
		if dv != nil {
			if t, ok := w.tolerance(dv, dl, true); ok {
				a.Deviation = t
			}
		}
		if mv, ml := o.get("onMissing"); mv != nil {
			if s, ok := w.text(mv, ml); ok {
				switch s {
				case MissingHalt, MissingHold:
					a.OnMissing = s
				default:
					w.addf(ml, "must be halt or hold, got %q", s)
				}
			}
		}
		switch {
		case av == nil && bv == nil && dv == nil:
			w.addf(il, "set above, below or deviation; a guardrail needs a threshold")
		case a.Above != nil && a.Below != nil && *a.Above <= *a.Below:
			w.addf(al, "must be greater than below (%v); otherwise the guardrail always trips", *a.Below)
		}
		out = append(out, a)
	}
	return out
}

func (w *walker) steps(n *yaml.Node, at loc, opts Options) []*Step {
	items, ok := w.list(n, at)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		w.addf(at, "at least one step is required; a step is the fault to inject")
		return nil
	}
	out := make([]*Step, 0, len(items))
	for i, raw := range items {
		il := at.index(i, raw)
		item := w.resolve(raw)
		if item == nil {
			w.addf(il, "must not be empty")
			continue
		}
		o := w.object(item, il, "fault", "params", "duration", "where", "parallel")
		if o == nil {
			continue
		}
		s := &Step{}
		f := &murphyv1.FaultSpec{}
		before := len(w.problems)
		fv, fl := o.get("fault")
		if fv == nil {
			o.required(fl, "required; the fault kind, e.g. http.delay")
		} else if k, ok := w.text(fv, fl); ok {
			if !faultKind.MatchString(k) {
				w.addf(fl, "%q is not a fault kind; kinds look like http.delay", k)
			} else {
				f.Kind = k
			}
		}
		pv, pl := o.get("params")
		f.Params, _ = w.stringMap(pv, pl, true)
		dv, dl := o.get("duration")
		d, _ := w.duration(dv, dl, true)
		f.Duration = pbDur(d)
		if dv == nil && f.Kind != "" && (opts.FaultIsInstant == nil || !opts.FaultIsInstant(f.Kind)) {
			o.required(dl, "required for fault %q; the worker reverts it when the duration ends", f.Kind)
		}
		wv, wl := o.get("where")
		s.Where, _ = w.stringMap(wv, wl, false)
		if pv, pl := o.get("parallel"); pv != nil {
			if b, ok := w.boolean(pv, pl); ok {
				if b && i == 0 {
					w.addf(pl, "the first step has no step before it to run beside")
				}
				s.Parallel = b
			}
		}

		// The catalogue sees only well-formed steps, so its messages are
		// about the fault and not about YAML.
		if opts.ValidateFault != nil && f.Kind != "" && len(w.problems) == before {
			// A copy, so a validator cannot edit the spec it is judging.
			params := maps.Clone(f.Params)
			if params == nil {
				params = map[string]string{}
			}
			if _, set := params["pod"]; set && w.pods {
				w.addf(pl, "pod is set by Murphy, to each pod of targets.kubernetes in turn; leave it out")
			} else if w.pods {
				// Each pod's assignment carries its own pod (runner.unitFault): a kind that
				// cannot take one cannot act on a pod.
				params["pod"] = "namespace/pod"
				var pe *ParamError
				switch err := opts.ValidateFault(f.Kind, params); {
				case err == nil:
				case errors.As(err, &pe) && pe.Param != "pod":
					w.faultProblem(err, o, fl, pl) // about the step's own params
				default:
					w.addf(fl, "%s cannot act on a pod of targets.kubernetes: %v", f.Kind, err)
				}
			} else if err := opts.ValidateFault(f.Kind, params); err != nil {
				w.faultProblem(err, o, fl, pl)
			}
		}
		// After the catalogue: a step that is too long is well formed, and its
		// params deserve their verdict in the same round trip.
		if max := opts.MaxFaultDuration; max > 0 && d > max {
			w.addf(dl, "%s is longer than this cluster lets a fault last (%s; coordinator flag --max-fault-duration)", DurationText(d), DurationText(max))
		}
		s.Fault = f
		out = append(out, s)
	}
	return out
}

// faultProblem places a catalogue error: on the parameter it blames when it
// names one that is present, on the fault otherwise.
func (w *walker) faultProblem(err error, o *object, fl, pl loc) {
	var pe *ParamError
	if errors.As(err, &pe) && pe.Param != "" {
		if pv := o.vals["params"]; pv != nil {
			if pm := w.resolve(pv); pm != nil && pm.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(pm.Content); i += 2 {
					if k := pm.Content[i]; k.Value == pe.Param {
						w.addf(pl.field(pe.Param, k), "%v", err)
						return
					}
				}
			}
		}
		w.addf(loc{path: pl.path + "." + pe.Param, line: pl.line, col: pl.col}, "%v", err)
		return
	}
	w.addf(fl, "%v", err)
}
