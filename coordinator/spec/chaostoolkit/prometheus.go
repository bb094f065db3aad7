package chaostoolkit

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// promModule is Chaos Toolkit's Prometheus driver (chaostoolkit-prometheus). Its query
// and query_interval probes GET /api/v1/query or /api/v1/query_range of the server at
// configuration.prometheus_base_url and return the API's response as it is:
// {status, data: {resultType, result: [{metric, value | values}]}}. The tolerance is
// checked on that mapping.
const promModule = "chaosprometheus.probes"

// promFunc returns query or query_interval when a is one of the driver's probes Murphy
// maps, else "".
func promFunc(a activity) string {
	if a.ptype != "python" {
		return ""
	}
	mod, fn := a.provider.get("module"), a.provider.get("func")
	if !mod.isScalar() || mod.n.Value != promModule || !fn.isScalar() {
		return ""
	}
	if f := fn.n.Value; f == "query" || f == "query_interval" {
		return f
	}
	return ""
}

// runnable reports whether Murphy runs the activity where it is: a chaosprometheus
// query is a steady-state metric; in the method or the rollbacks it only records a
// result in Chaos Toolkit's journal, so it is left out, with a note.
func (c *converter) runnable(a activity, hypothesis bool) bool {
	if f, name, ok := k8sLookup(a); ok {
		return c.k8sRunnable(a, f, name, hypothesis)
	}
	if fn := a.provider.get("func"); isK8s(a) && a.typ == "probe" && !hypothesis && fn.isScalar() {
		c.note(a.at, "left out: %q (%s.%s) is a chaosk8s probe, which only records its result in Chaos Toolkit's journal; Murphy measures a Deployment throughout the run with a kubernetes probe in the hypothesis instead", a.name, a.provider.get("module").n.Value, fn.n.Value)
		return false
	}
	if promFunc(a) == "" {
		return c.supported(a)
	}
	if hypothesis {
		return true
	}
	c.note(a.at, "left out: %q (%s.%s) only records a query's result in Chaos Toolkit's journal; Murphy records its steady-state metrics throughout the run instead", a.name, promModule, promFunc(a))
	return false
}

// promMetric maps a chaosprometheus probe and its tolerance to a metric with a
// Prometheus source. Only a jsonpath tolerance that counts result series (or, for
// query_interval, points) can be read from numbers; it becomes a count query whose
// value the Chaos Toolkit tolerance checks.
func (c *converter) promMetric(a activity, t tol, m *metric) bool {
	fn := promFunc(a)
	args := c.expand(a.provider.get("arguments"))
	q := args.get("query")
	if !q.present() {
		c.fail(q, "required; the PromQL query of %s.%s", promModule, fn)
		return false
	}
	query, ok := c.str(q)
	if !ok {
		return false
	}
	if strings.TrimSpace(query) == "" {
		c.fail(q, "must not be empty")
		return false
	}
	c.promServer(a)
	// Every second, as the imported probes run.
	src := &promSource{Interval: "1s"}
	if fn == "query_interval" {
		for _, k := range []string{"start", "end"} {
			if !args.get(k).present() {
				c.fail(args.get(k), "required by %s.query_interval; the range's %s, such as \"5 minutes ago\"", promModule, k)
				ok = false
			}
		}
		c.note(args, "Murphy evaluates the query at every interval over the baseline and the fault window, instead of once over start..end")
		if st := args.get("step"); st.present() {
			d, good := c.seconds(st)
			ok = ok && good
			src.Interval = d.String()
		}
	}
	if w := args.get("when"); w.present() {
		c.note(w, "ignored: Murphy evaluates the query at every interval of the run, not at one time")
	}
	if to := args.get("timeout"); to.present() {
		c.note(to, "ignored: the coordinators bound each query with their --prometheus-timeout")
	}
	if v := args.get("verify_tls"); v.present() {
		c.note(v, "ignored: the coordinators' Prometheus client verifies TLS as they are configured")
	}
	cq, good := c.promCount(fn, t)
	if !good || !ok {
		return false
	}
	src.Query = promTemplate(fmt.Sprintf(cq.query, "("+query+")"))
	m.Source.Prometheus = src
	m.Direction = cq.direction
	if cq.values != nil {
		m.CTKTolerance.Values = cq.values
	} else {
		m.CTKTolerance.Range = cq.rng
	}
	c.note(t.at, "the jsonpath becomes the query %s, which the leader evaluates every %s, the tolerance checking each value; %s", src.Query, src.Interval, cq.why)
	c.note(q, "the query measures the whole system, not each target: both groups read the same series, so the comparison between them says nothing and the Chaos Toolkit tolerance is what judges this metric")
	return true
}

// promServer notes where chaosprometheus would have sent the query.
func (c *converter) promServer(a activity) {
	v, set := c.vars["prometheus_base_url"]
	where := "its default http://localhost:9090"
	switch {
	case set && v.n.isScalar():
		where = v.n.n.Value
	case set && v.n.get("key").isScalar():
		where = "the address in the environment variable " + v.n.get("key").n.Value
	}
	c.note(a.provider, "Chaos Toolkit queries the Prometheus at configuration.prometheus_base_url (%s); Murphy's coordinators query the one they are configured with (--prometheus-url), so point that at the same server", where)
}

// promTemplate escapes a PromQL text for the spec's query template, in which {{ opens
// an action.
func promTemplate(q string) string {
	return strings.ReplaceAll(q, "{{", `{{"{{"}}`)
}

// countQuery is a jsonpath tolerance rewritten as a PromQL count.
type countQuery struct {
	query     string // with %s for the probe's query
	values    []float64
	rng       []float64
	direction string
	why       string
}

// promPath reads the jsonpath shapes that count what a query returned: the series
// ($.data.result[*]), optionally those whose value passes a filter
// ([?(@.value[1] != "0")]); for query_interval the points of every series
// ($.data.result[*].values[*], filter [?(@[1] > "5")]).
var promPath = regexp.MustCompile(`^\$\.data\.result(?:\.\*|\[\*\])?` +
	`(\.values(?:\.\*|\[\*\])?)?` +
	`(?:\[\?\(?\s*@(\.value\[1\]|\[1\])\s*(==|=|!=|>=|<=|>|<)\s*("[^"]*"|'[^']*'|[-+0-9.eE]+)\s*\)?\])?$`)

// promSeries says what each series of a function's response holds.
var promSeries = map[string]string{"query": `value: [time, "value"]`, "query_interval": `values: [[time, "value"], ...]`}

var promOps = map[string]string{"=": "==", "==": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}

// promCount maps a tolerance on a chaosprometheus result to a count query. Every other
// tolerance is refused: chaoslib checks it on the response mapping, where a number, a
// list, a string or a boolean never holds and a range or a regex fails.
func (c *converter) promCount(fn string, t tol) (countQuery, bool) {
	var cq countQuery
	if t.kind != "jsonpath" {
		c.fail(t.at, "chaoslib checks the tolerance %s on the response of %s.%s, a mapping {status, data}, where it never holds; Murphy's Prometheus source reads numbers: write a jsonpath that counts the series, such as {\"type\": \"jsonpath\", \"path\": \"$.data.result[?(@.value[1] != \\\"0\\\")]\", \"count\": 0}", t.text, promModule, fn)
		return cq, false
	}
	path := t.str
	switch t.target {
	case "":
	case "data":
		path = "$.data" + strings.TrimPrefix(path, "$")
	default:
		c.fail(t.at.get("target"), "a jsonpath on the %s of a Prometheus response is not supported; leave the target out (the path starts at the response)", t.target)
		return cq, false
	}
	sm := promPath.FindStringSubmatch(path)
	shape := "$.data.result[?(@.value[1] != \"0\")]"
	if fn == "query_interval" {
		shape = "$.data.result[*].values[?(@[1] != \"0\")]"
	}
	switch {
	case sm == nil:
		c.fail(t.at, "Murphy's Prometheus source reads numbers, so a jsonpath on a Prometheus response is mapped only when it counts the series or points, with or without a filter on their value, such as %s with a count; %q is not of that shape", shape, t.str)
		return cq, false
	case t.expect != nil:
		c.fail(t.at.get("expect"), "a jsonpath that expects values is not mapped for a Prometheus response; count the series or points instead (count, with a filter such as %s)", shape)
		return cq, false
	}
	points, accessor, op, konst := sm[1] != "", sm[2], sm[3], sm[4]
	fits := (!points && accessor == "") ||
		(fn == "query" && !points && accessor == ".value[1]") ||
		(fn == "query_interval" && points && accessor != ".value[1]")
	if !fits {
		c.fail(t.at, "the path does not fit the response of %s.%s (each series has %s); write it as %s", promModule, fn, promSeries[fn], shape)
		return cq, false
	}
	inner := "%s"
	if fn == "query_interval" {
		c.note(t.at, "Chaos Toolkit counts the points of every series between start and end; Murphy counts the series that match at each evaluation")
	}
	if op != "" {
		quoted := strings.HasPrefix(konst, `"`) || strings.HasPrefix(konst, `'`)
		k := strings.Trim(konst, `"'`)
		f, err := strconv.ParseFloat(k, 64)
		switch {
		case !quoted:
			c.fail(t.at, "Prometheus returns values as strings, so chaoslib compares %s with the number %s: == never holds, != always holds and an order fails; quote it (\"%s\")", sm[2], k, k)
			return cq, false
		case err != nil:
			c.fail(t.at, "the filter compares the value with %s, which is not a number; Murphy compares numbers", konst)
			return cq, false
		}
		inner = "%s " + promOps[op] + " " + strconv.FormatFloat(f, 'g', -1, 64)
		if op != "=" && op != "==" && op != "!=" {
			cq.why = "the filter compares numbers, where jsonpath2 compares the texts (which agree only for numbers written with as many digits)"
		} else {
			cq.why = "the filter compares numbers, where jsonpath2 compares the texts (which agree for Prometheus's own formatting)"
		}
	}
	cq.query = "count(" + inner + ") or vector(0)"
	switch {
	case t.count != nil:
		cq.values = []float64{float64(*t.count)}
		cq.direction = "either"
		if *t.count == 0 {
			cq.direction = "increase"
		}
	default:
		// Without a count, chaoslib accepts any match.
		cq.rng = []float64{1, math.MaxFloat64}
		cq.direction = "decrease"
	}
	if cq.why == "" {
		cq.why = "it counts the series the query returns"
	}
	return cq, true
}
