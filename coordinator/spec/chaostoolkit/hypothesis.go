package chaostoolkit

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// tol is a Chaos Toolkit tolerance, read and checked.
type tol struct {
	at   node
	text string
	// kind: values, range, bool, string, regex, jsonpath
	kind    string
	values  []float64
	rng     []float64
	boolean bool
	str     string // string tolerance, regex pattern or jsonpath path
	target  string
	// jsonpath: expect is always a list (Chaos Toolkit compares a scalar as a list of
	// one); count is nil when not checked.
	expect []any
	count  *int
}

func (t tol) jsonPath() *jsonPath {
	return &jsonPath{Path: t.str, Expect: t.expect, Count: t.count}
}

// toleranceTypes are the dict tolerance types Chaos Toolkit knows.
const toleranceTypes = "probe, regex, jsonpath and range"

// tolerance reads a tolerance. ok is false when it is invalid or unsupported (the
// problem is recorded). A jsonpath is checked as RFC 9535, which Murphy's probes
// evaluate, unless rfc is false (a Prometheus probe's path is read by promCount).
func (c *converter) tolerance(x node, rfc bool) (tol, bool) {
	t := tol{at: x, text: compact(x.value())}
	if x.tag() == "!!str" {
		// chaoslib substitutes a string tolerance before it reads it, so "${code}" is
		// read as the variable's value in its declared type.
		x = c.expand(x)
		t.at = x
	}
	switch {
	case x.isScalar():
		switch x.tag() {
		case "!!int", "!!float":
			f, _ := strconv.ParseFloat(x.n.Value, 64)
			t.kind, t.values = "values", []float64{f}
		case "!!bool":
			t.kind, t.boolean = "bool", x.n.Value == "true"
		default:
			s, ok := c.str(x)
			if !ok {
				return t, false
			}
			t.kind, t.str = "string", s
		}
		return t, true
	case x.isList():
		if len(x.items()) == 0 {
			c.fail(x, "an empty list accepts nothing; list the accepted values")
			return t, false
		}
		for _, it := range x.items() {
			f, err := strconv.ParseFloat(it.n.Value, 64)
			if !it.isScalar() || (it.tag() != "!!int" && it.tag() != "!!float") || err != nil {
				c.fail(it, "a list tolerance of an http or process probe lists accepted status or exit codes; got %s", it.describe())
				return t, false
			}
			t.values = append(t.values, f)
		}
		t.kind = "values"
		return t, true
	case !x.isMap():
		c.fail(x, "unsupported tolerance %s", x.describe())
		return t, false
	}
	typ := x.get("type")
	if !typ.isScalar() {
		c.fail(typ, "required; a tolerance mapping has a type: %s", toleranceTypes)
		return t, false
	}
	if tg := x.get("target"); tg.present() {
		t.target, _ = c.str(tg)
	}
	switch typ.n.Value {
	case "regex":
		p := x.get("pattern")
		if !p.present() {
			c.fail(p, "required; the regular expression to search for")
			return t, false
		}
		s, ok := c.str(p)
		if !ok {
			return t, false
		}
		if _, err := regexp.Compile(s); err != nil {
			c.fail(p, "Murphy cannot read this regular expression (RE2 syntax): %v", err)
			return t, false
		}
		t.kind, t.str = "regex", s
	case "jsonpath":
		p := x.get("path")
		if !p.present() {
			c.fail(p, "required; the JSONPath expression")
			return t, false
		}
		s, ok := c.str(p)
		if !ok {
			return t, false
		}
		if msg := spec.CheckJSONPath(s); rfc && msg != "" {
			if strings.Contains(s, "?") {
				msg += " (a jsonpath2 filter such as [?(@.up = true)] is written [?@.up == true] in RFC 9535)"
			}
			c.fail(p, "%s", msg)
			return t, false
		}
		t.kind, t.str = "jsonpath", s
		if cnt := x.get("count"); cnt.present() {
			n, err := strconv.Atoi(cnt.n.Value)
			if cnt.tag() != "!!int" || err != nil || n < 0 {
				c.fail(cnt, "must be a whole number, not negative, got %s", cnt.describe())
				return t, false
			}
			t.count = &n
		}
		if x.has("expect") {
			// Chaos Toolkit compares the list of matched values with expect, or with
			// [expect] when expect is not a list; null too is a value to expect.
			e := c.expand(x.get("expect"))
			v := normalise(e.value())
			if list, isList := v.([]any); isList {
				t.expect = list
			} else {
				t.expect = []any{v}
			}
			if t.count != nil {
				c.note(x.get("count"), "not checked: Chaos Toolkit ignores count when expect is given, and so does the conversion")
				t.count = nil
			}
			if len(t.expect) == 0 {
				// An empty expect holds when nothing matches, which is what count: 0 says.
				zero := 0
				t.expect, t.count = nil, &zero
			}
		}
	case "range":
		r := x.get("range")
		items := r.items()
		if len(items) != 2 {
			c.fail(r, "required; [low, high]")
			return t, false
		}
		for _, it := range items {
			f, err := strconv.ParseFloat(it.n.Value, 64)
			if !it.isScalar() || (it.tag() != "!!int" && it.tag() != "!!float") || err != nil {
				c.fail(it, "must be a number, got %s", it.describe())
				return t, false
			}
			t.rng = append(t.rng, f)
		}
		if t.rng[0] > t.rng[1] {
			c.fail(r, "low (%g) is above high (%g)", t.rng[0], t.rng[1])
			return t, false
		}
		t.kind = "range"
	case "probe":
		a, ok := c.read(x)
		if ok && a.ptype == "python" && c.opts.SkipUnsupported {
			if outer := c.activityOf(strings.TrimSuffix(x.path, ".tolerance")); outer != "" {
				c.note(x, "the steady-state probe %q is dropped with its tolerance", outer)
			}
		}
		if ok && c.supported(a) {
			c.fail(x, "chaoslib runs this %s probe with the probe's result as its argument value and takes a true result as met; Murphy cannot hand one probe's result to another, so express the check as a status or exit code, a list, a range, a regex or a jsonpath", a.ptype)
		}
		return t, false
	default:
		c.fail(typ, "unknown tolerance type %q; Chaos Toolkit's tolerance types are %s", typ.n.Value, toleranceTypes)
		return t, false
	}
	return t, true
}

// noHypothesis says what becomes of an experiment with no steady state to check, which
// chaoslib accepts and runs (the method and the rollbacks, nothing judged).
const noHypothesis = "no steady state to check: Murphy runs the method and the rollbacks, as Chaos Toolkit does, and the verdict says there was nothing to judge (hypothesis.metrics: [])"

// hypothesis converts the steady-state probes into metrics measured on every worker of
// both groups, each with its Chaos Toolkit tolerance.
func (c *converter) hypothesis(h node, d *document) []metric {
	if !h.isMap() {
		c.fail(h, "must be a mapping with title and probes, got %s", h.describe())
		return nil
	}
	if t := h.get("title"); t.isScalar() {
		d.Annotations["hypothesis"] = t.n.Value
	}
	if ctl := h.get("controls"); ctl.present() {
		c.note(ctl, "hypothesis controls are ignored")
	}
	probes := h.get("probes")
	switch {
	case probes.present() && !probes.isList():
		c.fail(probes, "must be a list of probes with tolerances, got %s", probes.describe())
		return nil
	case len(probes.items()) == 0:
		// chaoslib finds a hypothesis without probes met without checking anything.
		c.note(probes, "no probes: %s", noHypothesis)
		return []metric{}
	}
	c.note(probes, "the probes run every second on every worker of both groups, instead of once before and once after the method; each tolerance is checked on every sample, and the groups are also compared statistically")
	var out []metric
	for _, x := range probes.items() {
		a, ok := c.read(x)
		if ok && a.typ != "probe" {
			c.fail(x.get("type"), "the steady-state hypothesis holds probes only, got an action")
			ok = false
		}
		ok = ok && c.runnable(a, true)
		tn := x.get("tolerance")
		var t tol
		if !tn.present() {
			c.fail(tn, "required; a steady-state probe needs a tolerance to judge its result")
			ok = false
		} else {
			var good bool
			t, good = c.tolerance(tn, promFunc(a) == "")
			ok = ok && good
		}
		if p := x.get("pauses"); p.present() {
			c.note(p, "pauses of steady-state probes are ignored: the probes run continuously")
		}
		if !ok {
			continue
		}
		m, good := c.metric(a, t)
		if good {
			out = append(out, m)
		}
	}
	switch {
	case len(out) > 0 || len(c.problems) > 0:
	case c.opts.SkipUnsupported:
		// The author asked for what can run: chaoslib runs a hypothesis without probes
		// too, and the verdict says so.
		c.note(probes, "every steady-state probe was dropped: %s", noHypothesis)
		return []metric{}
	default:
		c.fail(probes, "no probe is left that Murphy can run")
	}
	return out
}

// metric maps one probe and its tolerance to a Murphy metric.
func (c *converter) metric(a activity, t tol) (metric, bool) {
	m := metric{Name: c.metricName(a.name), CTKTolerance: &ctkTolerance{Text: t.text}}
	if _, _, ok := k8sLookup(a); ok {
		return m, c.k8sMetric(a, t, &m)
	}
	if a.ptype == "python" {
		return m, c.promMetric(a, t, &m)
	}
	m.Source.Probe = &probe{}
	ok := true
	success := func(why string) {
		m.Source.Probe.Measure = "success"
		m.CTKTolerance.Values = []float64{1}
		if why != "" {
			c.note(t.at, "%s", why)
		}
	}
	if a.ptype == "http" {
		h, good := c.httpRequest(a.provider)
		ok = good
		hp := &httpProbe{URL: h.url, Method: h.method}
		if h.timeout > 0 {
			hp.Timeout = formatSeconds(h.timeout)
		}
		hp.Headers, hp.Body = h.headers, h.body
		if len(h.body) > spec.MaxProbeBody {
			c.fail(a.provider.get("arguments"), "the body of a probe is at most %d bytes; this one is %d", spec.MaxProbeBody, len(h.body))
			ok = false
		}
		if len(h.headers) > spec.MaxProbeHeaders {
			c.fail(a.provider.get("headers"), "a probe sends at most %d headers; this one has %d", spec.MaxProbeHeaders, len(h.headers))
			ok = false
		}
		m.Source.Probe.HTTP = hp
		switch t.kind {
		case "values":
			m.Source.Probe.Measure = "status"
			m.CTKTolerance.Values = t.values
		case "range":
			if t.target != "status" {
				c.refuseRange(t, "http")
				ok = false
			}
			m.Source.Probe.Measure = "status"
			m.CTKTolerance.Range = t.rng
		case "bool", "string":
			c.never(t, "http", "{status, headers, body}", "a status code or a list of them ([200]), or a regex or jsonpath with target: body")
			ok = false
		case "regex":
			if t.target != "body" {
				c.refuseRegex(t, "http", "body")
				ok = false
			}
			hp.BodyMatch = t.str
			success("the regex is searched in the body's text; Chaos Toolkit searches a JSON body (Content-Type: application/json) only after decoding it, which fails")
		case "jsonpath":
			switch t.target {
			case "body":
			case "":
				c.note(t.at, "without a target Chaos Toolkit matches the path against the whole result ({status, headers, body}); Murphy matches it against the body, as with target: body")
			default:
				c.fail(t.at.get("target"), "a jsonpath on the %s of an http probe is not supported; Murphy checks the body (target: body)", t.target)
				ok = false
			}
			hp.JSONPath = t.jsonPath()
			success(jsonPathNote("body", "a 2xx or 3xx status", t))
		}
	} else {
		cmd, good := c.command(a.provider)
		ok = good
		cp := &commandProbe{Argv: cmd.argv}
		if cmd.shell {
			cp.Argv = []string{"/bin/sh", "-c", cmd.script}
		}
		if cmd.timeout > 0 {
			cp.Timeout = formatSeconds(cmd.timeout)
		}
		m.Source.Probe.Command = cp
		c.commandProbes = true
		switch t.kind {
		case "values":
			m.Source.Probe.Measure = "exit_code"
			m.CTKTolerance.Values = t.values
		case "range":
			switch t.target {
			case "status":
				m.Source.Probe.Measure = "exit_code"
			case "stdout", "stderr":
				m.Source.Probe.Measure = "number"
				if t.target == "stderr" {
					cp.Argv = stderrOnly(cmd)
				}
				c.note(t.at, "the range is checked on the last number the command prints on its %s (0 when it exits non-zero); Chaos Toolkit reads the whole %s as one number", stream(t.target), stream(t.target))
			default:
				c.refuseRange(t, "process")
				ok = false
			}
			m.CTKTolerance.Range = t.rng
		case "bool", "string":
			c.never(t, "process", "{status, stdout, stderr}", "an exit code or a list of them ([0]), or a regex with target: stdout")
			ok = false
		case "regex":
			if t.target != "stdout" && t.target != "stderr" {
				c.refuseRegex(t, "process", "stdout or target: stderr")
				ok = false
				break
			}
			stream := t.target
			grep := "grep -qE -- " + shellQuote(t.str)
			redirect := ""
			if stream == "stderr" {
				redirect = " 2>&1 >/dev/null"
			}
			cp.Argv = []string{"/bin/sh", "-c", "(" + cmd.line() + ")" + redirect + " | " + grep}
			success(fmt.Sprintf("the regex is checked by piping the command's %s into grep -E; the probe succeeds when it matches", stream))
		case "jsonpath":
			switch t.target {
			case "stdout":
			case "stderr":
				cp.Argv = stderrOnly(cmd)
			case "":
				c.note(t.at, "without a target Chaos Toolkit matches the path against the whole result ({status, stdout, stderr}); Murphy matches it against the standard output, as with target: stdout")
			default:
				c.fail(t.at.get("target"), "a jsonpath on the %s of a process probe is not supported; Murphy checks the standard output or error (target: stdout or stderr)", t.target)
				ok = false
			}
			cp.JSONPath = t.jsonPath()
			success(jsonPathNote(stream(t.target), "the command to exit 0", t))
		}
	}
	switch m.Source.Probe.Measure {
	case "status":
		m.Direction = "increase"
	case "exit_code":
		m.Direction = "either"
	default:
		m.Direction = "decrease"
	}
	return m, ok
}

// stderrOnly runs a command with its standard error in place of its standard output,
// which a command probe reads; the exit status stays the command's.
func stderrOnly(cmd command) []string {
	return []string{"/bin/sh", "-c", "(" + cmd.line() + ") 2>&1 >/dev/null"}
}

// stream names a process result's stream.
func stream(target string) string {
	if target == "stderr" {
		return "standard error"
	}
	return "standard output"
}

// never refuses a tolerance that chaoslib compares with the probe's whole result, a
// mapping, so that it never holds: the steady state could never be met and the method
// would never run.
func (c *converter) never(t tol, provider, result, instead string) {
	c.fail(t.at, "chaoslib compares the tolerance %s with the %s probe's whole result, a mapping %s, so it never holds and the experiment never gets past its steady state; write %s", t.text, provider, result, instead)
}

// refuseRange refuses a range tolerance whose target chaoslib cannot read as a number.
func (c *converter) refuseRange(t tol, provider string) {
	use := "status"
	if provider == "process" {
		use = "status, target: stdout or target: stderr"
	}
	if t.target == "" {
		c.fail(t.at, "without a target chaoslib reads the %s probe's whole result (a mapping) as a number and fails; add target: %s", provider, use)
		return
	}
	c.fail(t.at.get("target"), "a range on the %s of %s probe is not supported; use target: %s", t.target, article(provider), use)
}

// refuseRegex refuses a regex tolerance whose target chaoslib cannot search.
func (c *converter) refuseRegex(t tol, provider, targets string) {
	if t.target == "" {
		c.fail(t.at, "without a target chaoslib searches the %s probe's whole result (a mapping) and fails; add target: %s", provider, targets)
		return
	}
	c.fail(t.at.get("target"), "a regex on the %s of %s probe is not supported; use target: %s", t.target, article(provider), targets)
}

// article puts "a" or "an" before a provider type.
func article(provider string) string {
	if provider == "http" {
		return "an " + provider
	}
	return "a " + provider
}

// jsonPathNote says where Murphy's evaluation of a jsonpath tolerance differs from
// Chaos Toolkit's: the probe must also succeed, and a document that is not JSON fails
// (Chaos Toolkit finds no match in it, which count 0 accepts).
func jsonPathNote(doc, success string, t tol) string {
	why := fmt.Sprintf("the jsonpath is evaluated on the %s (JSON of at most 64 KiB); the probe also needs %s, which Chaos Toolkit does not require", doc, success)
	if t.count != nil && *t.count == 0 {
		why += fmt.Sprintf("; a %s that is not JSON fails it, where Chaos Toolkit would find no match and accept it", doc)
	}
	return why
}
