package spec

import (
	"errors"
	"fmt"
	"github.com/murphy-chaos/murphy/coordinator/selector"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	// Names end up in DNS names, metric labels and file names; the DNS
	// label rules fit all three.
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	metricName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	faultKind  = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$`)

	templatePrefix = regexp.MustCompile(`^template: query:(\d+:)* *`)
)

var (
	directions = []string{string(DirectionIncrease), string(DirectionDecrease), string(DirectionEither)}
	methods    = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

func (w *walker) experiment(root *yaml.Node, opts Options) *Experiment {
	at := loc{line: root.Line, col: root.Column}
	if root.Kind != yaml.MappingNode {
		w.addf(at, "a spec is a mapping with apiVersion, name, targets, hypothesis and steps; got %s", describe(root))
		return nil
	}
	o := w.object(root, at, "apiVersion", "name", "description", "labels", "targets",
		"hypothesis", "abort", "baseline", "cooldown", "steps", "schedule", "rollbacks", "escalate")
	e := &Experiment{}

	if v, l := o.get("apiVersion"); v == nil {
		o.required(l, "required; set it to %q", APIVersion)
	} else if s, ok := w.text(v, l); ok {
		if s != APIVersion {
			w.addf(l, "unsupported version %q; this Murphy reads %q", s, APIVersion)
		}
		e.APIVersion = s
	}

	if v, l := o.get("name"); v == nil {
		o.required(l, "required; name the experiment, e.g. checkout-latency-one-dc")
	} else if s, ok := w.text(v, l); ok {
		if len(s) > 63 || !dnsLabel.MatchString(s) {
			w.addf(l, "%q is not a valid name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", s)
		}
		e.Name = s
	}

	v, l := o.get("description")
	e.Description, _ = w.text(v, l)
	v, l = o.get("labels")
	e.Labels, _ = w.stringMap(v, l, false)

	if v, l := o.get("targets"); v == nil {
		o.required(l, "required; say which workers take part (selector, experiment)")
	} else {
		e.Targets = w.targets(v, l)
	}

	if v, l := o.get("hypothesis"); v == nil {
		o.required(l, "required; the steady state is what the experiment tests")
	} else {
		e.Hypothesis = w.hypothesis(v, l)
	}

	if v, l := o.get("abort"); v != nil {
		e.Abort = w.aborts(v, l)
	}

	v, l = o.get("baseline")
	e.Baseline, _ = w.duration(v, l, true)
	v, l = o.get("cooldown")
	e.Cooldown, _ = w.duration(v, l, false)

	if v, l := o.get("steps"); v == nil {
		o.required(l, "required; list at least one fault to inject")
	} else {
		e.Steps = w.steps(v, l, opts)
	}

	if v, l := o.get("schedule"); v != nil {
		e.Schedule = w.schedule(v, l)
	}
	if v, l := o.get("rollbacks"); v != nil {
		e.Rollbacks = w.rollbacks(v, l, opts)
	}
	if v, l := o.get("escalate"); v != nil {
		if levels, ok := w.stringList(v, l); ok {
			rank := map[string]int{"host": 1, "datacenter": 2, "region": 3}
			last := 0
			for _, lv := range levels {
				r, known := rank[lv]
				switch {
				case !known:
					w.addf(l, "%q is not a level; use host, datacenter and region, narrowest first", lv)
				case r <= last:
					w.addf(l, "levels must widen (host, datacenter, region), each once; %q comes too late", lv)
				default:
					last = r
					e.Escalate = append(e.Escalate, lv)
				}
			}
			if len(levels) == 0 {
				w.addf(l, "name at least one level, e.g. [host, datacenter, region]")
			}
		}
	}
	return e
}

func (w *walker) targets(n *yaml.Node, at loc) Targets {
	var t Targets
	o := w.object(n, at, "selector", "experiment", "control", "stratify", "blastRadius", "seed", "onConflict")
	if o == nil {
		return t
	}
	before := len(w.problems)
	if v, l := o.get("selector"); v == nil {
		o.required(l, "required; match workers by label, e.g. {service: checkout}")
	} else if v.Kind == yaml.ScalarNode {
		// An expression: `region in (eu-west,us-east), tier=web, !canary`.
		if s, ok := w.text(v, l); ok {
			switch sel, err := selector.Parse(s); {
			case err != nil:
				w.addf(l, "%v", err)
			case len(sel) == 0:
				w.addf(l, "must match at least one label; an empty selector would select every worker")
			default:
				t.Match = sel.String()
			}
		}
	} else if sel, ok := w.stringMap(v, l, false); ok {
		if len(sel) == 0 && len(w.problems) == before {
			w.addf(l, "must match at least one label; an empty selector would select every worker")
		}
		t.Selector = sel
	}
	if v, l := o.get("onConflict"); v != nil {
		if s, ok := w.text(v, l); ok {
			switch ConflictPolicy(s) {
			case ConflictQueue, ConflictRefuse:
				t.OnConflict = ConflictPolicy(s)
			default:
				w.addf(l, "must be queue or refuse, got %q", s)
			}
		}
	}

	var countAt loc
	if v, l := o.get("experiment"); v == nil {
		o.required(l, "required; set count or percent, e.g. {count: 4}")
	} else {
		t.Experiment, countAt = w.groupSize(v, l)
	}
	if v, l := o.get("control"); v != nil {
		t.Control, _ = w.groupSize(v, l)
	}

	if v, l := o.get("stratify"); v != nil {
		if s, ok := w.stringList(v, l); ok {
			seen := map[string]bool{}
			for i, label := range s {
				// Indexes line up with the items only when every item read.
				if seen[label] && len(s) == len(v.Content) {
					w.addf(l.index(i, v.Content[i]), "label %q is listed twice", label)
				}
				seen[label] = true
			}
			t.Stratify = s
		}
	}

	maxAt := loc{}
	if v, l := o.get("blastRadius"); v != nil {
		t.BlastRadius, maxAt = w.blastRadius(v, l)
	}
	if v, l := o.get("seed"); v != nil {
		if s, ok := w.integer(v, l); ok {
			t.Seed = &s
		}
	}

	// A count beyond the cap can never be scheduled; say so now rather
	// than at run time.
	limit := t.BlastRadius.MaxWorkers
	why := fmt.Sprintf("targets.blastRadius.maxWorkers of %d (line %d)", limit, maxAt.line)
	if limit == 0 {
		limit = DefaultMaxWorkers
		why = fmt.Sprintf("the default targets.blastRadius.maxWorkers of %d", limit)
	}
	if t.Experiment.Count > limit {
		w.addf(countAt, "%d workers exceeds %s; lower the count or raise the cap", t.Experiment.Count, why)
	}
	return t
}

// groupSize also returns where the count sits, for the blast radius check.
func (w *walker) groupSize(n *yaml.Node, at loc) (GroupSize, loc) {
	var g GroupSize
	o := w.object(n, at, "count", "percent")
	if o == nil {
		return g, at
	}
	cv, cl := o.get("count")
	pv, pl := o.get("percent")
	switch {
	case cv != nil && pv != nil:
		w.addf(at, "set count or percent, not both")
		return g, cl
	case cv == nil && pv == nil:
		w.addf(at, "set count or percent, e.g. {count: 4} or {percent: 25}")
		return g, cl
	}
	if c, ok := w.integer(cv, cl); ok {
		if c < 1 {
			w.addf(cl, "must be at least 1")
		} else if c > 1<<20 {
			w.addf(cl, "must be at most %d", 1<<20)
		} else {
			g.Count = int(c)
		}
	}
	if p, ok := w.number(pv, pl); ok {
		if p <= 0 || p > 100 {
			w.addf(pl, "must be greater than 0 and at most 100, got %v", p)
		} else {
			g.Percent = p
		}
	}
	return g, cl
}

func (w *walker) blastRadius(n *yaml.Node, at loc) (BlastRadius, loc) {
	var b BlastRadius
	o := w.object(n, at, "maxWorkers", "maxPercentPerDatacenter", "maxPercentPerRegion")
	if o == nil {
		return b, at
	}
	v, maxAt := o.get("maxWorkers")
	if c, ok := w.integer(v, maxAt); ok {
		if c < 1 {
			w.addf(maxAt, "must be at least 1")
		} else {
			b.MaxWorkers = int(min(c, 1<<20))
		}
	}
	b.MaxPercentPerDatacenter = w.percent(o, "maxPercentPerDatacenter")
	b.MaxPercentPerRegion = w.percent(o, "maxPercentPerRegion")
	return b, maxAt
}

func (w *walker) percent(o *object, name string) float64 {
	v, l := o.get(name)
	p, ok := w.number(v, l)
	if !ok {
		return 0
	}
	if p <= 0 || p > 100 {
		w.addf(l, "must be greater than 0 and at most 100, got %v", p)
		return 0
	}
	return p
}

func (w *walker) hypothesis(n *yaml.Node, at loc) Hypothesis {
	var h Hypothesis
	o := w.object(n, at, "metrics", "confidence", "allowUnderpowered")
	if o == nil {
		return h
	}
	v, l := o.get("metrics")
	items, ok := w.list(v, l)
	if v == nil {
		o.required(l, "required; list at least one metric: the steady state is what the experiment tests")
	} else if ok && len(items) == 0 {
		w.addf(l, "at least one metric is required; the steady state is what the experiment tests")
	}
	firstLine := map[string]int{}
	for i, raw := range items {
		il := l.index(i, raw)
		item := w.resolve(raw)
		if item == nil {
			w.addf(il, "must not be empty")
			continue
		}
		m, nameAt := w.metric(item, il)
		if m.Name != "" {
			if line, dup := firstLine[m.Name]; dup {
				w.addf(nameAt, "duplicate metric name %q; first defined on line %d", m.Name, line)
			} else {
				firstLine[m.Name] = nameAt.line
			}
		}
		h.Metrics = append(h.Metrics, m)
	}

	v, l = o.get("confidence")
	if c, ok := w.number(v, l); ok {
		if c <= 0 || c >= 1 {
			w.addf(l, "must be between 0 and 1 (exclusive), e.g. 0.95; got %v", c)
		} else {
			h.Confidence = c
		}
	}
	v, l = o.get("allowUnderpowered")
	if b, ok := w.boolean(v, l); ok {
		h.AllowUnderpowered = b
	}
	return h
}

func (w *walker) metric(n *yaml.Node, at loc) (Metric, loc) {
	var m Metric
	o := w.object(n, at, "name", "source", "direction", "tolerance", "critical", "ctkTolerance")
	if o == nil {
		return m, at
	}
	v, nameAt := o.get("name")
	if v == nil {
		o.required(nameAt, "required; abort conditions and verdicts refer to metrics by name")
	} else if s, ok := w.text(v, nameAt); ok {
		// Even an invalid name is remembered, so an abort that refers to
		// it is not reported a second time as unknown.
		w.metricNames = append(w.metricNames, s)
		if len(s) > 63 || !metricName.MatchString(s) {
			w.addf(nameAt, "%q is not a valid metric name; use letters, digits, '_' and '-', starting with a letter or '_'", s)
		} else {
			m.Name = s
		}
	}

	if v, l := o.get("source"); v == nil {
		o.required(l, "required; set probe or prometheus")
	} else {
		m.Source = w.source(v, l)
	}

	if v, l := o.get("direction"); v == nil {
		o.required(l, "required; one of %s (the change that is bad)", strings.Join(directions, ", "))
	} else if d, ok := w.oneOf(v, l, directions...); ok {
		m.Direction = Direction(d)
	}

	if v, l := o.get("tolerance"); v == nil {
		o.required(l, "required; set relative (e.g. 0.10 for 10%%) or absolute")
	} else if tol, ok := w.tolerance(v, l, false); ok {
		m.Tolerance = tol
	}

	v, l := o.get("critical")
	m.Critical, _ = w.boolean(v, l)
	if v, l := o.get("ctkTolerance"); v != nil {
		m.CTKTolerance = w.ctkTolerance(v, l)
	}
	return m, nameAt
}

func (w *walker) source(n *yaml.Node, at loc) MetricSource {
	var s MetricSource
	o := w.object(n, at, "probe", "prometheus")
	if o == nil {
		return s
	}
	pv, pl := o.get("probe")
	qv, ql := o.get("prometheus")
	switch {
	case pv != nil && qv != nil:
		w.addf(at, "set probe or prometheus, not both; use two metrics to watch both")
		return s
	case pv == nil && qv == nil:
		w.addf(at, "set probe or prometheus")
		return s
	case pv != nil:
		s.Probe = w.probe(pv, pl)
	default:
		s.Prometheus = w.prometheus(qv, ql)
	}
	return s
}

func (w *walker) probe(n *yaml.Node, at loc) *ProbeSource {
	p := &ProbeSource{}
	kinds := ProbeKinds()
	o := w.object(n, at, append(kinds, "measure")...)
	if o == nil {
		return p
	}
	var set []string
	for _, k := range kinds {
		if v, _ := o.get(k); v != nil {
			set = append(set, k)
		}
	}
	switch {
	case len(set) > 1:
		w.addf(at, "set one probe kind, got %s; use one metric per probe", joinAnd(set))
	case len(set) == 0 && !slices.ContainsFunc(kinds, func(k string) bool { return o.suggested[k] }):
		w.addf(at, "set one probe kind: http, tcp, grpc or command")
	}
	for _, k := range set {
		v, l := o.get(k)
		switch k {
		case ProbeHTTP:
			p.HTTP = w.httpProbe(v, l)
		case ProbeTCP:
			p.TCP = w.tcpProbe(v, l)
		case ProbeGRPC:
			p.GRPC = w.grpcProbe(v, l)
		case ProbeCommand:
			p.Command = w.commandProbe(v, l)
		}
	}

	// With one kind the measure is checked against it; otherwise against
	// every measure, so a typo is still caught.
	kind := ""
	allowed := allMeasures
	if len(set) == 1 {
		kind = set[0]
		allowed = measureNames(Measures(kind))
	}
	v, l := o.get("measure")
	if v == nil {
		o.required(l, "required; one of %s", strings.Join(allowed, ", "))
		return p
	}
	m, ok := w.text(v, l)
	switch {
	case !ok:
	case kind != "" && slices.Contains(allMeasures, m) && !slices.Contains(allowed, m):
		w.addf(l, "%q does not apply to %s probe; use one of %s", m, article(kind), strings.Join(allowed, ", "))
	default:
		if m, ok := w.oneOf(v, l, allowed...); ok {
			p.Measure = Measure(m)
		}
	}
	return p
}

// allMeasures lists every measure, for messages about a probe whose kind
// is not known.
var allMeasures = []string{string(MeasureLatency), string(MeasureSuccess), string(MeasureStatus),
	string(MeasureStatusClass), string(MeasureExitCode), string(MeasureNumber)}

func measureNames(ms []Measure) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// article puts "a" or "an" before a probe kind.
func article(kind string) string {
	if kind == ProbeHTTP {
		return "an " + kind
	}
	return "a " + kind
}

// joinAnd renders "a and b" or "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// probeTiming reads the interval and timeout every probe kind has.
func (w *walker) probeTiming(o *object) (interval, timeout Duration) {
	v, l := o.get("interval")
	interval, _ = w.duration(v, l, true)
	v, l = o.get("timeout")
	timeout, _ = w.duration(v, l, true)
	return interval, timeout
}

func (w *walker) httpProbe(n *yaml.Node, at loc) *HTTPProbe {
	h := &HTTPProbe{}
	o := w.object(n, at, "url", "method", "headers", "body", "interval", "timeout", "expectStatus", "bodyMatch", "jsonPath")
	if o == nil {
		return h
	}
	if v, l := o.get("url"); v == nil {
		o.required(l, "required, e.g. http://127.0.0.1:8080/health")
	} else if s, ok := w.text(v, l); ok {
		if msg := checkURL(s); msg != "" {
			w.addf(l, "%s", msg)
		} else {
			h.URL = s
		}
	}
	if v, l := o.get("method"); v != nil {
		if m, ok := w.oneOf(v, l, methods...); ok {
			h.Method = m
		}
	}
	if v, l := o.get("headers"); v != nil {
		h.Headers = w.headers(v, l)
	}
	if v, l := o.get("body"); v != nil {
		if s, ok := w.text(v, l); ok {
			if len(s) > MaxProbeBody {
				w.addf(l, "is %d bytes; the limit is %d", len(s), MaxProbeBody)
			} else {
				h.Body = s
			}
		}
	}
	h.Interval, h.Timeout = w.probeTiming(o)
	v, l := o.get("expectStatus")
	if c, ok := w.integer(v, l); ok {
		if c < 100 || c > 599 {
			w.addf(l, "must be an HTTP status between 100 and 599, got %d", c)
		} else {
			h.ExpectStatus = int(c)
		}
	}
	v, l = o.get("bodyMatch")
	if s, ok := w.text(v, l); ok {
		if _, err := regexp.Compile(s); err != nil {
			w.addf(l, "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		} else {
			h.BodyMatch = s
		}
	}
	if v, l := o.get("jsonPath"); v != nil {
		h.JSONPath = w.jsonPath(v, l)
	}
	return h
}

func (w *walker) tcpProbe(n *yaml.Node, at loc) *TCPProbe {
	t := &TCPProbe{}
	o := w.object(n, at, "address", "interval", "timeout")
	if o == nil {
		return t
	}
	t.Address = w.address(o)
	t.Interval, t.Timeout = w.probeTiming(o)
	return t
}

func (w *walker) grpcProbe(n *yaml.Node, at loc) *GRPCProbe {
	g := &GRPCProbe{}
	o := w.object(n, at, "address", "service", "interval", "timeout")
	if o == nil {
		return g
	}
	g.Address = w.address(o)
	v, l := o.get("service")
	g.Service, _ = w.text(v, l)
	g.Interval, g.Timeout = w.probeTiming(o)
	return g
}

// address reads the required host:port of a tcp or grpc probe.
func (w *walker) address(o *object) string {
	v, l := o.get("address")
	if v == nil {
		o.required(l, "required, e.g. 127.0.0.1:8080")
		return ""
	}
	s, ok := w.text(v, l)
	if !ok {
		return ""
	}
	if msg := checkAddress(s); msg != "" {
		w.addf(l, "%s", msg)
		return ""
	}
	return s
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (w *walker) commandProbe(n *yaml.Node, at loc) *CommandProbe {
	c := &CommandProbe{}
	o := w.object(n, at, "argv", "env", "interval", "timeout", "jsonPath")
	if o == nil {
		return c
	}
	if v, l := o.get("argv"); v == nil {
		o.required(l, "required; the program and its arguments, e.g. [redis-cli, ping]")
	} else if items, ok := w.list(v, l); ok {
		if len(items) == 0 {
			w.addf(l, "must name the program to run, e.g. [redis-cli, ping]")
		}
		argv := make([]string, 0, len(items))
		for i, raw := range items {
			il := l.index(i, raw)
			item := w.resolve(raw)
			if item == nil {
				w.addf(il, "must not be empty")
				continue
			}
			a, ok := w.text(item, il)
			switch {
			case !ok:
				continue
			case i == 0 && a == "":
				w.addf(il, "the program name must not be empty")
				continue
			case strings.IndexByte(a, 0) >= 0:
				w.addf(il, "must not contain a NUL byte")
				continue
			}
			argv = append(argv, a)
		}
		if len(argv) == len(items) && len(argv) > 0 {
			c.Argv = argv
		}
	}
	if v, l := o.get("env"); v != nil {
		if env, ok := w.stringMap(v, l, false); ok {
			for _, k := range slices.Sorted(maps.Keys(env)) {
				switch {
				case !envName.MatchString(k):
					w.addf(keyLoc(v, l, k), "%q is not an environment variable name; use letters, digits and '_', not starting with a digit", k)
					delete(env, k)
				case strings.IndexByte(env[k], 0) >= 0:
					w.addf(keyLoc(v, l, k), "must not contain a NUL byte")
					delete(env, k)
				}
			}
			if len(env) > 0 {
				c.Env = env
			}
		}
	}
	if v, l := o.get("jsonPath"); v != nil {
		c.JSONPath = w.jsonPath(v, l)
	}
	c.Interval, c.Timeout = w.probeTiming(o)
	return c
}

// keyLoc is where key sits in mapping n (at when it comes from a merge).
func keyLoc(n *yaml.Node, at loc, key string) loc {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return at.field(key, k)
		}
	}
	return loc{path: at.path + "." + key, line: at.line, col: at.col}
}

// ProxyPlaceholder in a probe URL stands for the host:port of the worker's own
// fault-injecting proxy, so one spec can probe through each worker's proxy when several
// workers share a host. The worker substitutes it.
const ProxyPlaceholder = "{{proxy}}"

func checkURL(s string) string {
	u, err := url.Parse(strings.ReplaceAll(s, ProxyPlaceholder, "proxy.invalid:1"))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("invalid URL %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("invalid URL %q: must start with http:// or https://", s)
	}
	if u.Host == "" {
		return fmt.Sprintf("invalid URL %q: no host", s)
	}
	return ""
}

// checkAddress checks a tcp or grpc probe's host:port.
func checkAddress(s string) string {
	host, port, err := net.SplitHostPort(strings.ReplaceAll(s, ProxyPlaceholder, "proxy.invalid:1"))
	if err != nil {
		return fmt.Sprintf("invalid address %q: must be host:port, e.g. 127.0.0.1:8080 or %s", s, ProxyPlaceholder)
	}
	if host == "" {
		return fmt.Sprintf("invalid address %q: no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("invalid address %q: port must be a number between 1 and 65535", s)
	}
	return ""
}

func (w *walker) prometheus(n *yaml.Node, at loc) *PrometheusSource {
	p := &PrometheusSource{}
	o := w.object(n, at, "query", "interval")
	if o == nil {
		return p
	}
	if v, l := o.get("query"); v == nil {
		o.required(l, "required; a PromQL query")
	} else if s, ok := w.text(v, l); ok {
		if strings.TrimSpace(s) == "" {
			w.addf(l, "must not be empty")
		} else if _, err := template.New("query").Parse(s); err != nil {
			w.addf(l, "invalid template: %s", templatePrefix.ReplaceAllString(err.Error(), ""))
		} else {
			p.Query = s
		}
	}
	v, l := o.get("interval")
	p.Interval, _ = w.duration(v, l, true)
	return p
}

// tolerance reads {relative|absolute}. positive is for abort deviations,
// where zero would halt on the first sample.
func (w *walker) tolerance(n *yaml.Node, at loc, positive bool) (Tolerance, bool) {
	var t Tolerance
	o := w.object(n, at, "relative", "absolute")
	if o == nil {
		return t, false
	}
	rv, rl := o.get("relative")
	av, al := o.get("absolute")
	switch {
	case rv != nil && av != nil:
		w.addf(at, "set relative or absolute, not both")
		return t, false
	case rv == nil && av == nil:
		w.addf(at, "set relative (e.g. 0.10 for 10%%) or absolute")
		return t, false
	}
	read := func(v *yaml.Node, l loc) *float64 {
		x, ok := w.number(v, l)
		switch {
		case !ok:
			return nil
		case x < 0:
			w.addf(l, "must not be negative, got %v", x)
			return nil
		case x == 0 && positive:
			w.addf(l, "must be greater than zero")
			return nil
		}
		return &x
	}
	if rv != nil {
		t.Relative = read(rv, rl)
		return t, t.Relative != nil
	}
	t.Absolute = read(av, al)
	return t, t.Absolute != nil
}

func (w *walker) aborts(n *yaml.Node, at loc) []AbortCondition {
	items, ok := w.list(n, at)
	if !ok {
		return nil
	}
	names := w.metricNames
	out := make([]AbortCondition, 0, len(items))
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
		var a AbortCondition
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
		a.For, _ = w.duration(v, l, false)
		dv, dl := o.get("deviation")
		if dv != nil {
			if t, ok := w.tolerance(dv, dl, true); ok {
				a.Deviation = &t
			}
		}
		if mv, ml := o.get("onMissing"); mv != nil {
			if s, ok := w.text(mv, ml); ok {
				switch MissingPolicy(s) {
				case MissingHalt, MissingHold:
					a.OnMissing = MissingPolicy(s)
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

func (w *walker) steps(n *yaml.Node, at loc, opts Options) []Step {
	items, ok := w.list(n, at)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		w.addf(at, "at least one step is required; a step is the fault to inject")
		return nil
	}
	out := make([]Step, 0, len(items))
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
		var s Step
		before := len(w.problems)
		fv, fl := o.get("fault")
		if fv == nil {
			o.required(fl, "required; the fault kind, e.g. http.delay")
		} else if k, ok := w.text(fv, fl); ok {
			if !faultKind.MatchString(k) {
				w.addf(fl, "%q is not a fault kind; kinds look like http.delay", k)
			} else {
				s.Fault = k
			}
		}
		pv, pl := o.get("params")
		s.Params, _ = w.stringMap(pv, pl, true)
		dv, dl := o.get("duration")
		s.Duration, _ = w.duration(dv, dl, true)
		if dv == nil && s.Fault != "" && (opts.FaultIsInstant == nil || !opts.FaultIsInstant(s.Fault)) {
			o.required(dl, "required for fault %q; the worker reverts it when the duration ends", s.Fault)
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
		if opts.ValidateFault != nil && s.Fault != "" && len(w.problems) == before {
			// A copy, so a validator cannot edit the spec it is judging.
			params := maps.Clone(s.Params)
			if params == nil {
				params = map[string]string{}
			}
			if err := opts.ValidateFault(s.Fault, params); err != nil {
				w.faultProblem(err, o, fl, pl)
			}
		}
		// After the catalogue: a step that is too long is well formed, and its
		// params deserve their verdict in the same round trip.
		if max := opts.MaxFaultDuration; max > 0 && s.Duration.Std() > max {
			w.addf(dl, "%s is longer than this cluster lets a fault last (%s; coordinator flag --max-fault-duration)", s.Duration, Duration(max))
		}
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

func (w *walker) schedule(n *yaml.Node, at loc) *Schedule {
	s := &Schedule{}
	o := w.object(n, at, "cron", "mtbf", "timezone", "windows", "blackout", "maxPerDay", "optIn", "overlap", "maxQueued", "maxWait")
	if o == nil {
		return s
	}
	cv, cl := o.get("cron")
	mv, ml := o.get("mtbf")
	switch {
	case cv == nil && mv == nil:
		w.addf(at, "set cron (e.g. \"*/30 9-15 * * MON-FRI\") or mtbf (a mean time between faults, e.g. 4h)")
	case cv != nil && mv != nil:
		w.addf(ml, "set cron or mtbf, not both")
	case cv != nil:
		if c, ok := w.text(cv, cl); ok {
			if _, err := ParseCron(c); err != nil {
				w.addf(cl, "%v", err)
			} else {
				s.Cron = c
			}
		}
	default:
		if d, ok := w.duration(mv, ml, true); ok {
			if time.Duration(d) < time.Second {
				w.addf(ml, "must be at least 1s")
			} else {
				s.MTBF = d
			}
		}
	}
	if v, l := o.get("timezone"); v != nil {
		if tz, ok := w.text(v, l); ok {
			if msg := checkTimezone(tz); msg != "" {
				w.addf(l, "%s", msg)
			} else {
				s.Timezone = tz
			}
		}
	}
	if v, l := o.get("windows"); v != nil {
		if items, ok := w.list(v, l); ok {
			for i, raw := range items {
				il := l.index(i, raw)
				wo := w.object(w.resolve(raw), il, "days", "start", "end")
				if wo == nil {
					continue
				}
				var win Window
				if dv, dl := wo.get("days"); dv != nil {
					if days, ok := w.stringList(dv, dl); ok {
						for _, d := range days {
							if !slices.Contains(weekdays, strings.ToUpper(d)) {
								w.addf(dl, "%q is not a day; use MON, TUE, WED, THU, FRI, SAT, SUN", d)
								continue
							}
							win.Days = append(win.Days, strings.ToUpper(d))
						}
					}
				}
				var from, to int
				okFrom, okTo := false, false
				if tv, tl := wo.get("start"); tv == nil {
					wo.required(tl, "required, e.g. \"09:00\"")
				} else if t, ok := w.text(tv, tl); ok {
					if from, okFrom = clock(t); okFrom {
						win.Start = t
					} else {
						w.addf(tl, "%q is not a time of day HH:MM", t)
					}
				}
				if tv, tl := wo.get("end"); tv == nil {
					wo.required(tl, "required, e.g. \"15:00\"")
				} else if t, ok := w.text(tv, tl); ok {
					if to, okTo = clock(t); okTo {
						win.End = t
					} else {
						w.addf(tl, "%q is not a time of day HH:MM", t)
					}
					if okFrom && okTo && to <= from {
						w.addf(tl, "must be after start (%s); a window that crosses midnight is two windows", win.Start)
					}
				}
				s.Windows = append(s.Windows, win)
			}
		}
	}
	if v, l := o.get("blackout"); v != nil {
		if dates, ok := w.stringList(v, l); ok {
			for _, d := range dates {
				if _, _, err := ParseBlackout(d); err != nil {
					w.addf(l, "%v", err)
					continue
				}
				s.Blackout = append(s.Blackout, d)
			}
		}
	}
	if v, l := o.get("maxPerDay"); v != nil {
		if n, ok := w.integer(v, l); ok {
			if n < 0 {
				w.addf(l, "must not be negative (0 means no cap)")
			} else {
				s.MaxPerDay = int(n)
			}
		}
	}
	if v, l := o.get("optIn"); v != nil {
		if b, ok := w.boolean(v, l); ok {
			s.OptIn = &b
		}
	}
	if v, l := o.get("overlap"); v != nil {
		if p, ok := w.text(v, l); ok {
			switch OverlapPolicy(p) {
			case OverlapSkip, OverlapQueue, OverlapReplace:
				s.Overlap = OverlapPolicy(p)
			default:
				w.addf(l, "%q is not an overlap policy; use skip (the default), queue or replace", p)
			}
		}
	}
	if v, l := o.get("maxQueued"); v != nil {
		if n, ok := w.integer(v, l); ok {
			if n < 1 {
				w.addf(l, "must be at least 1")
			} else if s.Overlap != OverlapQueue {
				w.addf(l, "applies only with overlap: queue")
			} else {
				s.MaxQueued = int(n)
			}
		}
	}
	if v, l := o.get("maxWait"); v != nil {
		if d, ok := w.duration(v, l, true); ok {
			if s.Overlap != OverlapQueue {
				w.addf(l, "applies only with overlap: queue")
			} else {
				s.MaxWait = d
			}
		}
	}
	return s
}

var weekdays = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

// clock reads "HH:MM" into minutes after midnight ("24:00" is the end of the day).
func clock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

// ClockMinutes is clock for the scheduler: minutes after midnight of a valid "HH:MM".
func ClockMinutes(s string) int { m, _ := clock(s); return m }

// ParseBlackout reads "2026-12-24" or "2026-12-20..2027-01-02" into inclusive dates.
func ParseBlackout(s string) (from, to time.Time, err error) {
	a, b, isRange := strings.Cut(s, "..")
	if from, err = time.Parse(time.DateOnly, strings.TrimSpace(a)); err != nil {
		return from, to, fmt.Errorf("blackout %q: dates are YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", s)
	}
	to = from
	if isRange {
		if to, err = time.Parse(time.DateOnly, strings.TrimSpace(b)); err != nil {
			return from, to, fmt.Errorf("blackout %q: dates are YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", s)
		}
		if to.Before(from) {
			return from, to, fmt.Errorf("blackout %q: the range ends before it starts", s)
		}
	}
	return from, to, nil
}
