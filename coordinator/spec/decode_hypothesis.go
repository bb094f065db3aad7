package spec

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The hypothesis section: metrics, their sources (probes and Prometheus) and tolerances.

func (w *walker) hypothesis(n *yaml.Node, at loc) *Hypothesis {
	h := &Hypothesis{}
	o := w.object(n, at, "metrics", "confidence", "allowUnderpowered")
	if o == nil {
		return h
	}
	// An explicit empty list declares that there is no steady state to judge (a Chaos
	// Toolkit experiment without a steady-state-hypothesis): the steps and rollbacks
	// run, and the verdict says there was nothing to judge. Leaving metrics out is a
	// mistake, not that declaration.
	v, l := o.get("metrics")
	items, _ := w.list(v, l)
	if v == nil {
		o.required(l, "required; list at least one metric: the steady state is what the experiment tests (metrics: [] declares that there is none, and the run judges nothing)")
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

func (w *walker) metric(n *yaml.Node, at loc) (*Metric, loc) {
	m := &Metric{}
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
		m.Direction = d
	}

	if v, l := o.get("tolerance"); v == nil {
		o.required(l, "required; set relative (e.g. 0.10 for 10%%) or absolute")
	} else if tol, ok := w.tolerance(v, l, false); ok {
		m.Tolerance = tol
	}

	v, l := o.get("critical")
	m.Critical, _ = w.boolean(v, l)
	if v, l := o.get("ctkTolerance"); v != nil {
		m.CtkTolerance = w.ctkTolerance(v, l)
	}
	return m, nameAt
}

func (w *walker) source(n *yaml.Node, at loc) *MetricSource {
	s := &MetricSource{}
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
		w.addf(at, "set one probe kind: http, tcp, grpc, command or kubernetes")
	}
	for _, k := range set {
		v, l := o.get(k)
		switch k {
		case ProbeHTTP:
			p.Kind = &murphyv1.Probe_Http{Http: w.httpProbe(v, l, p)}
		case ProbeTCP:
			p.Kind = &murphyv1.Probe_Tcp{Tcp: w.tcpProbe(v, l, p)}
		case ProbeGRPC:
			p.Kind = &murphyv1.Probe_Grpc{Grpc: w.grpcProbe(v, l, p)}
		case ProbeCommand:
			p.Kind = &murphyv1.Probe_Command{Command: w.commandProbe(v, l, p)}
		case ProbeKubernetes:
			p.Kind = &murphyv1.Probe_Kubernetes{Kubernetes: w.kubernetesProbe(v, l, p)}
		}
	}

	// With one kind the measure is checked against it; otherwise against
	// every measure, so a typo is still caught.
	kind := ""
	allowed := allMeasures
	if len(set) == 1 {
		kind = set[0]
		allowed = Measures(kind)
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
			p.Measure = m
		}
	}
	return p
}

// allMeasures lists every measure, for messages about a probe whose kind
// is not known.
var allMeasures = []string{MeasureLatency, MeasureSuccess, MeasureStatus, MeasureStatusClass, MeasureExitCode, MeasureNumber,
	MeasureReadyReplicas, MeasureReadyFraction, MeasureRestarts, MeasureTimeToRecover}

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

// probeTiming reads the interval and timeout every probe kind has into the probe.
func (w *walker) probeTiming(o *object, p *ProbeSource) {
	v, l := o.get("interval")
	interval, _ := w.duration(v, l, true)
	v, l = o.get("timeout")
	timeout, _ := w.duration(v, l, true)
	p.Interval, p.Timeout = pbDur(interval), pbDur(timeout)
}

func (w *walker) httpProbe(n *yaml.Node, at loc, p *ProbeSource) *HTTPProbe {
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
			h.Url = s
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
	w.probeTiming(o, p)
	v, l := o.get("expectStatus")
	if c, ok := w.integer(v, l); ok {
		if c < 100 || c > 599 {
			w.addf(l, "must be an HTTP status between 100 and 599, got %d", c)
		} else {
			h.ExpectStatus = []int32{int32(c)}
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
		h.JsonPath = w.jsonPath(v, l)
	}
	return h
}

func (w *walker) tcpProbe(n *yaml.Node, at loc, p *ProbeSource) *TCPProbe {
	t := &TCPProbe{}
	o := w.object(n, at, "address", "interval", "timeout")
	if o == nil {
		return t
	}
	t.Address = w.address(o)
	w.probeTiming(o, p)
	return t
}

// probeWorkloadKinds are the controllers a kubernetes probe follows, in kubectl's forms.
var probeWorkloadKinds = []string{"deployment", "deployments", "deploy", "statefulset", "statefulsets", "sts", "daemonset", "daemonsets", "ds"}

// kubernetesProbe reads {namespace, workload: KIND/NAME}.
func (w *walker) kubernetesProbe(n *yaml.Node, at loc, p *ProbeSource) *KubernetesProbe {
	k := &KubernetesProbe{}
	o := w.object(n, at, "namespace", "workload", "interval", "timeout")
	if o == nil {
		return k
	}
	for _, f := range []struct {
		name, example string
		to            *string
	}{{"namespace", "shop", &k.Namespace}, {"workload", "deployment/checkout", &k.Workload}} {
		v, l := o.get(f.name)
		if v == nil {
			o.required(l, "required, e.g. %s", f.example)
			continue
		}
		*f.to, _ = w.text(v, l)
	}
	// The worker checks the names fully (as the Kubernetes fault kinds do); the kind is
	// caught here, where the author sees it.
	if kind, name, _ := strings.Cut(k.Workload, "/"); k.Workload != "" && (name == "" || !slices.Contains(probeWorkloadKinds, kind)) {
		w.addf(at, "workload %q: want deployment/NAME, statefulset/NAME or daemonset/NAME", k.Workload)
	}
	w.probeTiming(o, p)
	return k
}

func (w *walker) grpcProbe(n *yaml.Node, at loc, p *ProbeSource) *GRPCProbe {
	g := &GRPCProbe{}
	o := w.object(n, at, "address", "service", "interval", "timeout")
	if o == nil {
		return g
	}
	g.Address = w.address(o)
	v, l := o.get("service")
	g.Service, _ = w.text(v, l)
	w.probeTiming(o, p)
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

func (w *walker) commandProbe(n *yaml.Node, at loc, p *ProbeSource) *CommandProbe {
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
		c.JsonPath = w.jsonPath(v, l)
	}
	w.probeTiming(o, p)
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

// TargetPlaceholder in a probe's URL or address stands for the address (IP) of the unit
// being probed, when the units are pods: the node's worker probes each of its pods there.
const TargetPlaceholder = "{{target}}"

// UsesTarget reports whether p's URL or address holds TargetPlaceholder.
func UsesTarget(p *murphyv1.Probe) bool {
	return strings.Contains(p.GetHttp().GetUrl()+p.GetTcp().GetAddress()+p.GetGrpc().GetAddress(), TargetPlaceholder)
}

// placeholders stand in for what the worker substitutes, so the rest can be checked.
var placeholders = strings.NewReplacer(ProxyPlaceholder, "proxy.invalid:1", TargetPlaceholder, "target.invalid")

func checkURL(s string) string {
	u, err := url.Parse(placeholders.Replace(s))
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
	host, port, err := net.SplitHostPort(placeholders.Replace(s))
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
	interval, _ := w.duration(v, l, true)
	p.Interval = pbDur(interval)
	return p
}

// tolerance reads {relative|absolute}. positive is for abort deviations,
// where zero would halt on the first sample.
func (w *walker) tolerance(n *yaml.Node, at loc, positive bool) (*Tolerance, bool) {
	t := &Tolerance{}
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
