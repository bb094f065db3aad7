package chaostoolkit

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// Options tunes a conversion.
type Options struct {
	// SkipUnsupported drops activities Murphy cannot run (Python providers) instead of
	// failing; every drop is reported.
	SkipUnsupported bool
	// LookupEnv resolves configuration and secrets of type env; nil finds nothing, so
	// only defaults apply.
	LookupEnv func(key string) (string, bool)
	// Selector picks the workers; it overrides the murphy extension's. Default
	// {service: <name>}.
	Selector map[string]string
	// Hold is how long each method step stays in force when the activity has no
	// pauses.after: the window in which both groups are compared. Default DefaultHold.
	Hold time.Duration
	// Spec validates the result (pass the fault catalogue, as murphy validate does).
	Spec spec.Options
}

// DefaultHold is Options.Hold's default.
const DefaultHold = 10 * time.Second

// Note is one element mapped approximately, ignored or dropped.
type Note struct {
	Line    int
	Field   string
	Message string
}

func (n Note) String() string {
	p := spec.Problem{Line: n.Line, Field: n.Field, Message: n.Message}
	return p.String()
}

// Result is a converted experiment.
type Result struct {
	// Experiment is the murphy/v1 spec, validated and with defaults.
	Experiment *spec.Experiment
	// Notes lists every approximation, in document order.
	Notes []Note
	doc   *document
	file  string
}

// Render writes the murphy/v1 spec as "yaml" (the notes as a comment at the top) or
// "json".
func (r *Result) Render(format string) ([]byte, error) {
	var header strings.Builder
	fmt.Fprintf(&header, "# Converted by murphy import chaostoolkit from %s.\n", r.file)
	if len(r.Notes) > 0 {
		header.WriteString("# Mapped approximately or ignored:\n")
		for _, n := range r.Notes {
			header.WriteString("#   " + n.String() + "\n")
		}
	}
	return r.doc.render(format, header.String())
}

// Detect reports whether data looks like a Chaos Toolkit experiment rather than a
// murphy/v1 spec: a mapping without apiVersion that has a method or a
// steady-state-hypothesis.
func Detect(data []byte) bool {
	root, p := parse(data)
	if p != nil || root == nil {
		return false
	}
	x := node{n: root}
	return x.isMap() && !x.get("apiVersion").present() &&
		(x.get("method").present() || x.get("steady-state-hypothesis").present())
}

// Convert reads a Chaos Toolkit experiment and returns the murphy/v1 spec. On failure
// the error is a *spec.Error listing every problem with its path in the Chaos Toolkit
// document.
func Convert(data []byte, filename string, opts Options) (*Result, error) {
	if opts.Hold <= 0 {
		opts.Hold = DefaultHold
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	c := &converter{opts: opts, vars: map[string]variable{}, resolved: map[string]*yaml.Node{},
		failed: map[string]bool{}, named: map[string]node{}, names: map[string]int{}, acts: map[string]string{}, done: map[*yaml.Node]bool{},
		cordoned: map[string]string{}, scaled: map[string]string{}}
	root, p := parse(data)
	if p != nil {
		return nil, &spec.Error{File: filename, Problems: []spec.Problem{*p}}
	}
	d := c.experiment(node{n: root})
	if len(c.problems) > 0 {
		c.nameActivities()
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, &spec.Error{File: filename, Problems: c.problems}
	}
	out, err := d.render("json", "")
	if err != nil {
		return nil, err
	}
	e, err := spec.Parse(out, filename+" (converted)", opts.Spec)
	if err != nil {
		return nil, fmt.Errorf("the converted spec is not valid: %w", err)
	}
	sort.SliceStable(c.notes, func(i, j int) bool { return c.notes[i].Line < c.notes[j].Line })
	return &Result{Experiment: e, Notes: c.notes, doc: d, file: filename}, nil
}

type variable struct {
	n    node
	kind string // "configuration" or "secrets"
}

type converter struct {
	opts     Options
	problems []spec.Problem
	notes    []Note
	vars     map[string]variable
	resolved map[string]*yaml.Node
	failed   map[string]bool
	// done holds the scalars expand substituted, which are not substituted again.
	done map[*yaml.Node]bool
	// named holds every activity seen so far by name, for refs.
	named map[string]node
	// names counts metric names, to keep them unique.
	names map[string]int
	// commandProbes is set once a process probe was converted.
	commandProbes bool
	// acts maps the path of every activity read (and of every ref to one) to its name,
	// so that problems inside it name it.
	acts map[string]string
	// kube is set once a Kubernetes step or probe was converted.
	kube bool
	// cordoned and scaled hold the nodes and namespace/deployment/NAME the method's
	// steps cordon, drain or scale, with the path of the activity: their reverts do
	// what an uncordon_node or scale_deployment rollback would.
	cordoned, scaled map[string]string
	// inRollbacks is set while the rollbacks are read.
	inRollbacks bool
}

// activityOf returns the name of the activity that holds path (the innermost: a
// tolerance probe inside a steady-state probe), or "".
func (c *converter) activityOf(path string) string {
	best, name := -1, ""
	for p, n := range c.acts {
		if len(p) <= best || !strings.HasPrefix(path, p) {
			continue
		}
		if rest := path[len(p):]; rest != "" && rest[0] != '.' && rest[0] != '[' {
			continue
		}
		best, name = len(p), n
	}
	return name
}

// usedBy names a use of a variable: the activity and the path.
func (c *converter) usedBy(use node) string {
	if name := c.activityOf(use.path); name != "" {
		return fmt.Sprintf("activity %q at %s", name, use.path)
	}
	return use.path
}

// nameActivities ends each problem found inside an activity with the activity's name,
// unless the message already quotes it.
func (c *converter) nameActivities() {
	for i, p := range c.problems {
		name := c.activityOf(p.Field)
		if name == "" || strings.Contains(p.Message, strconv.Quote(name)) {
			continue
		}
		c.problems[i].Message = fmt.Sprintf("%s (activity %q)", p.Message, name)
	}
}

// fail records a problem once (a ref can lead to the same activity twice).
func (c *converter) fail(at node, format string, args ...any) {
	p := spec.Problem{Line: at.line(), Field: at.path, Message: fmt.Sprintf(format, args...)}
	if !slices.Contains(c.problems, p) {
		c.problems = append(c.problems, p)
	}
}

func (c *converter) note(at node, format string, args ...any) {
	n := Note{Line: at.line(), Field: at.path, Message: fmt.Sprintf(format, args...)}
	if !slices.Contains(c.notes, n) {
		c.notes = append(c.notes, n)
	}
}

// topLevel lists the fields of a Chaos Toolkit experiment this converter knows.
var topLevel = []string{"version", "title", "description", "tags", "configuration", "secrets",
	"steady-state-hypothesis", "method", "rollbacks", "controls", "extensions", "runtime", "contributions"}

func (c *converter) experiment(root node) *document {
	d := &document{APIVersion: spec.APIVersion, Annotations: map[string]any{}}
	if !root.isMap() {
		c.fail(root, "a Chaos Toolkit experiment is a mapping with title, steady-state-hypothesis and method; got %s", root.describe())
		return d
	}
	for _, k := range root.keys() {
		if !slices.Contains(topLevel, k) {
			c.note(root.get(k), "unknown Chaos Toolkit field, ignored")
		}
	}
	c.variables(root)

	title := root.get("title")
	switch {
	case !title.present():
		c.fail(title, "required; Chaos Toolkit experiments have a title, which becomes the Murphy name")
	case !title.isScalar():
		c.fail(title, "must be a string, got %s", title.describe())
	default:
		// chaoslib substitutes configuration and secrets in the title when the run starts.
		text, _ := c.str(title)
		d.Name = slug(text)
		c.note(title, "the title becomes the name %q", d.Name)
		d.Annotations["title"] = text
	}
	if desc := root.get("description"); desc.isScalar() {
		d.Description = desc.n.Value
	} else if title.isScalar() {
		d.Description, _ = c.str(title)
	}
	if tags := root.get("tags"); tags.present() {
		if !tags.isList() {
			c.fail(tags, "must be a list of strings, got %s", tags.describe())
		}
		for _, t := range tags.items() {
			if !t.isScalar() {
				c.fail(t, "must be a string, got %s", t.describe())
				continue
			}
			if d.Labels == nil {
				d.Labels = map[string]string{}
			}
			d.Labels["tag."+t.n.Value] = "true"
		}
		if len(d.Labels) > 0 {
			c.note(tags, "each tag becomes a label tag.<tag>: \"true\"")
		}
	}
	for _, k := range []string{"controls", "runtime", "contributions", "version"} {
		if v := root.get(k); v.present() {
			d.Annotations[k] = v.value()
			if k == "runtime" && v.get("rollbacks").get("strategy").present() {
				c.note(v.get("rollbacks").get("strategy"), "ignored: Murphy runs the rollbacks whatever the outcome, also for failed and halted runs")
			} else if k != "version" {
				c.note(v, "kept as an annotation (x-chaostoolkit.%s); Murphy ignores it", k)
			}
		}
	}

	ext := c.extensions(root.get("extensions"), d)

	hyp := root.get("steady-state-hypothesis")
	if !hyp.present() {
		d.Hypothesis.Metrics = []metric{}
		c.note(hyp, "%s", noHypothesis)
	} else {
		d.Hypothesis.Metrics = c.hypothesis(hyp, d)
	}

	baseline := spec.DefaultBaseline
	if ext.baseline > 0 {
		baseline = ext.baseline
	}
	method := root.get("method")
	switch {
	case !method.present():
		c.fail(method, "required; the method lists the actions of the experiment")
	case !method.isList():
		c.fail(method, "must be a list of activities, got %s", method.describe())
	case len(method.items()) == 0:
		c.fail(method, "must hold at least one activity")
	default:
		var extra time.Duration
		d.Steps, extra = c.method(method)
		baseline += extra
		if len(d.Steps) == 0 && len(c.problems) == 0 {
			c.fail(method, "no activity is left that Murphy can run; a Murphy experiment needs at least one step")
		}
	}
	d.Baseline = baseline.String()

	if rb := root.get("rollbacks"); rb.present() {
		if !rb.isList() {
			c.fail(rb, "must be a list of activities, got %s", rb.describe())
		} else {
			d.Rollbacks = c.rollbacks(rb)
		}
	}
	c.targets(d, ext)
	if c.commandProbes {
		c.note(hyp.get("probes"), "process probes run as command probes, which a worker runs only when its policy allows the exec kind")
	}
	if len(d.Annotations) == 0 {
		d.Annotations = nil
	}
	return d
}

// targets sets the workers: the selector given, or by default every worker labelled
// service=<name>, half of them in the experimental group; with Kubernetes steps or
// probes, the worker deploy/kubernetes designates for them, one per group, so that
// each Kubernetes step runs once.
func (c *converter) targets(d *document, ext murphyExtension) {
	d.Targets = targets{Experiment: map[string]any{"percent": 50}}
	switch {
	case c.opts.Selector != nil:
		d.Targets.Selector = c.opts.Selector
	case ext.selector != nil:
		d.Targets.Selector = ext.selector
	case c.kube:
		d.Targets.Selector = k8sTargets
		d.Targets.Experiment = map[string]any{"count": 1}
		c.note(node{}, "targets: the worker labelled role=kubernetes that deploy/kubernetes runs with --kubernetes, one in each group, so that each Kubernetes step runs once (change with --selector or a murphy extension)")
	default:
		d.Targets.Selector = map[string]string{"service": d.Name}
		c.note(node{}, "targets: every worker labelled service=%s, half of them in the experimental group (change with --selector or a murphy extension)", d.Name)
	}
	if ext.experiment != nil {
		d.Targets.Experiment = ext.experiment
	}
	if ext.control != nil {
		d.Targets.Control = ext.control
	}
}

type murphyExtension struct {
	selector            map[string]string
	experiment, control map[string]any
	baseline            time.Duration
}

// extensions keeps every extension as an annotation and reads the one named murphy:
// {name: murphy, selector: {...}, experiment: {count: 2}, control: {...}, baseline: 5s,
// hold: 10s}.
func (c *converter) extensions(x node, d *document) murphyExtension {
	var m murphyExtension
	if !x.present() {
		return m
	}
	d.Annotations["extensions"] = x.value()
	for _, e := range x.items() {
		if name := e.get("name"); !name.isScalar() || name.n.Value != "murphy" {
			c.note(e, "extension kept as an annotation; Murphy ignores it")
			continue
		}
		if s := e.get("selector"); s.isMap() {
			m.selector = map[string]string{}
			for _, k := range s.keys() {
				m.selector[k] = fmt.Sprint(s.get(k).value())
			}
		}
		group := func(name string) map[string]any {
			g := e.get(name)
			if !g.present() {
				return nil
			}
			v, ok := g.value().(map[string]any)
			if !ok {
				c.fail(g, "must be {count: N} or {percent: P}, got %s", g.describe())
			}
			return v
		}
		m.experiment, m.control = group("experiment"), group("control")
		for _, k := range []string{"baseline", "hold"} {
			v := e.get(k)
			if !v.present() {
				continue
			}
			dur, err := time.ParseDuration(fmt.Sprint(v.value()))
			if err != nil || dur <= 0 {
				c.fail(v, "must be a positive duration such as 10s, got %s", v.describe())
				continue
			}
			if k == "baseline" {
				m.baseline = dur
			} else {
				c.opts.Hold = dur
			}
		}
	}
	return m
}

// variables indexes configuration and secrets; they are resolved when first used, so an
// unset environment variable matters only if something needs it.
func (c *converter) variables(root node) {
	if cfg := root.get("configuration"); cfg.present() {
		if !cfg.isMap() {
			c.fail(cfg, "must be a mapping of names to values, got %s", cfg.describe())
		}
		for _, k := range cfg.keys() {
			c.vars[k] = variable{n: cfg.get(k), kind: "configuration"}
		}
	}
	if sec := root.get("secrets"); sec.present() {
		if !sec.isMap() {
			c.fail(sec, "must be a mapping of scopes to secrets, got %s", sec.describe())
		}
		for _, scope := range sec.keys() {
			s := sec.get(scope)
			for _, k := range s.keys() {
				if _, dup := c.vars[k]; !dup {
					c.vars[k] = variable{n: s.get(k), kind: "secrets"}
				}
			}
		}
	}
}

// placeholder is Python's string.Template pattern, which chaoslib substitutes with: $$
// is a $, $name and ${name} a variable; any other $ stays as it is.
var placeholder = regexp.MustCompile(`\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\})`)

// whole matches a string that is one ${name} and nothing else, which chaoslib replaces
// by the variable's value in its declared type.
var whole = regexp.MustCompile(`^\$\{([_a-zA-Z][_a-zA-Z0-9]*)\}$`)

// defined reports whether name is a configuration or secret variable. chaoslib keeps a
// placeholder of no variable as it is written (a shell may expand it), which is noted.
func (c *converter) defined(name, written string, at node) bool {
	if _, ok := c.vars[name]; ok {
		return true
	}
	c.note(at, "%s is not defined in configuration or secrets; it is kept as written, as chaoslib does", written)
	return false
}

// resolveNode returns the value of one defined variable in its declared type, used at
// use: an inline value as written, an env value as a string or converted by its
// env_var_type.
func (c *converter) resolveNode(name string, use node) (*yaml.Node, bool) {
	if v, ok := c.resolved[name]; ok {
		return v, true
	}
	if c.failed[name] {
		return nil, false
	}
	v := c.vars[name]
	x := v.n
	if !x.isMap() || !x.get("type").present() {
		if !x.present() {
			c.resolved[name] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		} else {
			c.resolved[name] = x.n
		}
		return c.resolved[name], true
	}
	typ := x.get("type")
	if !typ.isScalar() || typ.n.Value != "env" {
		c.failed[name] = true
		c.fail(x, "%s entries of type %s are not supported; Murphy reads inline values and type env (needed by %s)", v.kind, typ.describe(), c.usedBy(use))
		return nil, false
	}
	key := x.get("key")
	if !key.isScalar() {
		c.failed[name] = true
		c.fail(key, "required; the environment variable to read")
		return nil, false
	}
	if val, ok := c.opts.LookupEnv(key.n.Value); ok {
		n, msg := envValue(val, x.get("env_var_type"))
		if msg != "" {
			c.failed[name] = true
			c.fail(x.get("env_var_type"), "environment variable %s: %s (needed by %s)", key.n.Value, msg, c.usedBy(use))
			return nil, false
		}
		c.resolved[name] = n
	} else if x.has("default") {
		def := x.get("default")
		if def.present() {
			c.resolved[name] = def.n
		} else {
			c.resolved[name] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
	} else {
		c.failed[name] = true
		c.fail(x, "environment variable %s is not set and has no default (needed by %s); set it before importing", key.n.Value, c.usedBy(use))
		return nil, false
	}
	return c.resolved[name], true
}

// envValue converts an environment variable's text as chaoslib's env_var_type does.
func envValue(val string, typ node) (*yaml.Node, string) {
	t := ""
	if typ.isScalar() {
		t = typ.n.Value
	}
	str := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	switch t {
	case "", "str", "string", "bytes":
		return str, ""
	case "int", "integer":
		if _, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err != nil {
			return nil, fmt.Sprintf("%q is not an integer (env_var_type %s)", val, t)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strings.TrimSpace(val)}, ""
	case "float", "number":
		if _, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err != nil {
			return nil, fmt.Sprintf("%q is not a number (env_var_type %s)", val, t)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strings.TrimSpace(val)}, ""
	case "bool":
		b := !slices.Contains([]string{"false", "0", "no"}, strings.ToLower(val))
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}, ""
	case "json":
		if val == "" {
			return str, ""
		}
		n, p := spec.JSONNode([]byte(val))
		if p != nil {
			return nil, fmt.Sprintf("not valid JSON (env_var_type json): %s", p.Message)
		}
		return n, ""
	}
	return nil, fmt.Sprintf("env_var_type %q is not one chaoslib knows (str, int, float, bool, json, bytes)", t)
}

// resolve returns the text of one variable, as Python's str() renders it when chaoslib
// substitutes it inside a longer string.
func (c *converter) resolve(name string, use node) (string, bool) {
	n, ok := c.resolveNode(name, use)
	if !ok {
		return "", false
	}
	x := node{n: n}
	switch {
	case x.isScalar() && x.tag() == "!!bool":
		if n.Value == "true" {
			return "True", true
		}
		return "False", true
	case x.isScalar() && x.tag() == "!!null":
		return "None", true
	case x.isScalar():
		return n.Value, true
	}
	return compact(x.value()), true
}

// expand substitutes configuration and secrets in a value the way chaoslib does before
// an activity runs: a string that is one ${name} becomes the variable's value in its
// declared type (a number stays a number, a mapping a mapping); ${name} inside a longer
// string is replaced by its text; mappings and lists are expanded item by item. The
// result keeps x's path and line, so problems are reported where the value is used.
func (c *converter) expand(x node) node {
	switch {
	case !x.present():
		return x
	case x.isScalar():
		if x.tag() != "!!str" || !strings.Contains(x.n.Value, "$") {
			c.done[x.n] = true
			return x
		}
		// On a failure x is returned as written and not marked done: reading it again
		// fails quietly (the variable is marked failed), so the problem is reported once.
		if m := whole.FindStringSubmatch(x.n.Value); m != nil && c.defined(m[1], m[0], x) {
			v, ok := c.resolveNode(m[1], x)
			if !ok {
				return x
			}
			cp := *v
			cp.Line = x.n.Line
			if cp.Kind == yaml.ScalarNode && cp.Tag == "!!null" {
				return node{path: x.path, ln: x.n.Line}
			}
			c.markDone(&cp)
			return node{n: &cp, path: x.path}
		}
		s, ok := c.subst(x.n.Value, x)
		if !ok {
			return x
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: x.n.Line}
		c.done[n] = true
		return node{n: n, path: x.path}
	}
	cp := *x.n
	cp.Content = make([]*yaml.Node, len(x.n.Content))
	for i, ch := range x.n.Content {
		cp.Content[i] = ch
		if x.isMap() && i%2 == 0 {
			continue
		}
		p := x.path + "[" + strconv.Itoa(i) + "]"
		if x.isMap() {
			p = x.path + "." + x.n.Content[i-1].Value
		}
		e := c.expand(node{n: ch, path: p})
		if e.n == nil {
			e.n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: ch.Line}
		}
		cp.Content[i] = e.n
	}
	return node{n: &cp, path: x.path}
}

// markDone records a variable's value, and everything in it, as substituted: chaoslib
// does not substitute what a variable holds.
func (c *converter) markDone(n *yaml.Node) {
	c.done[n] = true
	for _, ch := range n.Content {
		c.markDone(ch)
	}
}

// str reads a scalar with ${name} substituted, unless expand already did.
func (c *converter) str(x node) (string, bool) {
	if !x.isScalar() {
		c.fail(x, "must be a string, got %s", x.describe())
		return "", false
	}
	if c.done[x.n] {
		return x.n.Value, true
	}
	return c.subst(x.n.Value, x)
}

func (c *converter) subst(s string, at node) (string, bool) {
	ok := true
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sm := placeholder.FindStringSubmatch(m)
		name := sm[2] + sm[3]
		switch {
		case sm[1] != "":
			return "$"
		case !c.defined(name, m, at):
			return m
		}
		v, found := c.resolve(name, at)
		ok = ok && found
		return v
	})
	return out, ok
}

// seconds reads a Chaos Toolkit timeout: a number of seconds or a [connect, read] pair,
// which is summed.
func (c *converter) seconds(x node) (time.Duration, bool) {
	num := func(y node) (float64, bool) {
		if y.isScalar() && (y.tag() == "!!int" || y.tag() == "!!float") {
			f, err := strconv.ParseFloat(y.n.Value, 64)
			return f, err == nil && f > 0
		}
		return 0, false
	}
	if f, ok := num(x); ok {
		return time.Duration(f * float64(time.Second)), true
	}
	if x.isList() && len(x.items()) == 2 {
		a, ok1 := num(x.items()[0])
		b, ok2 := num(x.items()[1])
		if ok1 && ok2 {
			c.note(x, "a [connect, read] timeout becomes one timeout of %gs, their sum", a+b)
			return time.Duration((a + b) * float64(time.Second)), true
		}
	}
	c.fail(x, "must be a positive number of seconds or a [connect, read] pair, got %s", x.describe())
	return 0, false
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// slug turns a title into a DNS-label-like name.
func slug(title string) string {
	s := strings.Trim(nonName.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(s) > 63 {
		s = s[:63]
		if i := strings.LastIndexByte(s, '-'); i > 32 {
			s = s[:i]
		}
		s = strings.TrimRight(s, "-")
	}
	if s == "" {
		s = "chaostoolkit"
	}
	return s
}

var nonMetric = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// metricName turns a probe name into a unique Murphy metric name.
func (c *converter) metricName(name string) string {
	s := strings.Trim(nonMetric.ReplaceAllString(name, "-"), "-")
	if s == "" || !(s[0] == '_' || (s[0]|0x20 >= 'a' && s[0]|0x20 <= 'z')) {
		s = "probe-" + s
	}
	if len(s) > 56 {
		s = s[:56]
	}
	c.names[s]++
	if n := c.names[s]; n > 1 {
		s = fmt.Sprintf("%s-%d", s, n)
	}
	return s
}

// compact renders a value as one line of JSON, for tolerance texts.
func compact(v any) string {
	b, err := json.Marshal(normalise(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// normalise turns yaml's map[string]any and map[any]any trees into JSON-encodable ones.
func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out[k] = normalise(t[k])
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[fmt.Sprint(k)] = normalise(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = normalise(val)
		}
		return out
	}
	return v
}
