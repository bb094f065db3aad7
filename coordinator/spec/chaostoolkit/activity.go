package chaostoolkit

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/murphy-chaos/murphy/coordinator/spec"
)

// maxCommand is the exec kind's and http.call's longest timeout.
const maxCommand = 9 * time.Second

// rollbackHold bounds a rollback step on the worker (its deadline); rollbacks get a
// duration even when their kind is instantaneous, so any coordinator accepts them.
const rollbackHold = 10 * time.Second

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// activity is one Chaos Toolkit activity after refs are followed.
type activity struct {
	x        node   // the activity itself
	at       node   // where it is used (the ref, when it came through one)
	name     string // "" when missing
	typ      string // action or probe
	provider node
	ptype    string // python, process or http
}

// read checks the parts every activity has and follows a ref. ok is false when the
// activity cannot be used (the problem is recorded).
func (c *converter) read(x node) (activity, bool) {
	a := activity{x: x, at: x}
	if !x.isMap() {
		c.fail(x, "an activity is a mapping with type, name and provider; got %s", x.describe())
		return a, false
	}
	if ref := x.get("ref"); ref.present() {
		if !ref.isScalar() {
			c.fail(ref, "must be the name of an activity, got %s", ref.describe())
			return a, false
		}
		target, ok := c.named[ref.n.Value]
		if !ok {
			c.fail(ref, "names no activity defined before it: %q", ref.n.Value)
			return a, false
		}
		c.note(ref, "the reference runs the activity at %s", target.path)
		a.x = target
		x = target
	}
	if n := x.get("name"); n.isScalar() {
		a.name = n.n.Value
		c.acts[x.path] = a.name
		c.acts[a.at.path] = a.name
	} else {
		c.fail(x.get("name"), "required; every activity has a name")
	}
	t := x.get("type")
	switch {
	case !t.present():
		c.fail(t, "required; action or probe")
	case !t.isScalar() || (t.n.Value != "action" && t.n.Value != "probe"):
		c.fail(t, "must be action or probe, got %s", t.describe())
	default:
		a.typ = t.n.Value
	}
	a.provider = x.get("provider")
	pt := a.provider.get("type")
	switch {
	case !a.provider.present():
		c.fail(a.provider, "required; say what the activity runs (type http, process or python)")
		return a, false
	case !a.provider.isMap():
		c.fail(a.provider, "must be a mapping, got %s", a.provider.describe())
		return a, false
	case !pt.isScalar():
		c.fail(pt, "required; http, process or python")
		return a, false
	}
	a.ptype = pt.n.Value
	if a.name != "" && a.at.path == x.path {
		c.named[a.name] = x
	}
	if ctl := x.get("controls"); ctl.present() {
		c.note(ctl, "activity controls are ignored")
	}
	return a, a.name != "" && a.typ != ""
}

// supported reports whether Murphy can run the activity's provider; a python provider
// is a problem, or with SkipUnsupported a note.
func (c *converter) supported(a activity) bool {
	switch a.ptype {
	case "http", "process":
		return true
	case "python":
		mod, fn := a.provider.get("module"), a.provider.get("func")
		m, f := "?", "?"
		if mod.isScalar() {
			m = mod.n.Value
		}
		if fn.isScalar() {
			f = fn.n.Value
		}
		why := "workers run no Python drivers; convert it to an http or process activity"
		switch {
		case isK8s(a):
			why = "it has no Murphy equivalent; " + k8sMapped
		case m == promModule:
			why = "of Chaos Toolkit's Prometheus driver Murphy maps query and query_interval, as steady-state probes"
		}
		if c.opts.SkipUnsupported {
			c.note(a.provider, "dropped: python activity %q (module %s, function %s) cannot run in Murphy: %s", a.name, m, f, why)
			return false
		}
		c.fail(a.provider, "python activity %q (module %s, function %s) cannot run in Murphy: %s; or import with --skip-unsupported to drop it", a.name, m, f, why)
		return false
	}
	c.fail(a.provider.get("type"), "unknown provider type %q; Chaos Toolkit has http, process and python", a.ptype)
	return false
}

// method converts the method's activities into steps. Pauses become time: a pause
// after an activity holds its step longer; a pause before one lengthens the previous
// step (or the baseline, returned as extra, for the first).
//
// A background activity runs in Chaos Toolkit beside the activities that follow it: the
// next one starts at once. Its step therefore runs with the next kept step, which gets
// parallel: true (and so on while the activities are background ones). Murphy starts
// a sequential step only when all the steps before it have ended, so a background step
// holds up the step after its group, which Chaos Toolkit would start as soon as the
// sequential activity before it ended; that is noted. The pauses of a background
// activity run in its own thread in Chaos Toolkit: they delay nothing else there, but a
// pause before it delays the steps started with it here, which is noted too.
func (c *converter) method(list node) (steps []step, extra time.Duration) {
	var durations []time.Duration
	// wait is time of dropped activities still to place: it lengthens the next step when
	// that step starts beside a background one, or else the step before.
	wait := time.Duration(0)
	addBefore := func(d time.Duration) {
		if len(durations) == 0 {
			extra += d
		} else {
			durations[len(durations)-1] += d
		}
	}
	// background is a kept background activity.
	type background struct {
		name string
		at   node // its background field
		// before is its pause before when it went to the step before it, so that it
		// delays the steps started together with this one too.
		before node
	}
	var (
		beside  *background // the background activity the next kept step starts beside
		dropped []string    // sequential activities dropped since beside
		group   []string    // background activities of the current group of steps
	)
	for _, x := range list.items() {
		a, ok := c.read(x)
		before, after := c.pauses(a.x.get("pauses"))
		// Chaos Toolkit reads background on the method's entry, not on the activity a
		// ref leads to.
		bg := x.get("background")
		isBackground := bg.isScalar() && bg.n.Value == "true"
		if !ok || !c.runnable(a, false) {
			switch {
			case isBackground:
				// Its pauses ran in its own thread; nothing waited for them.
			case beside != nil:
				wait += before + after
				dropped = append(dropped, fmt.Sprintf("%q", a.name))
			default:
				addBefore(before + after)
			}
			continue
		}
		if a.typ == "probe" {
			c.note(a.at, "a probe in the method runs as a step on the experimental group; its result is not judged (Chaos Toolkit only records it)")
		}
		s, ok := c.step(a, false)
		if !ok {
			continue
		}
		hold := c.opts.Hold
		if after > 0 {
			hold = after
		}
		var delayed node // a pause before this step that also delays the next
		if beside != nil {
			s.Parallel = true
			c.note(beside.at, "%q runs in the background: the next step, %q, starts together with it (parallel: true)", beside.name, a.name)
			if beside.before.present() {
				c.note(beside.before, "in Chaos Toolkit the pause before %q delays only %q, in its own thread; here it delays %q too, which starts together with it", beside.name, beside.name, a.name)
			}
			if len(dropped) > 0 {
				c.note(a.at, "Chaos Toolkit starts %q after the dropped %s, while %q may still run; Murphy cannot start a step partway through another, so it starts together with %q", a.name, strings.Join(dropped, ", "), beside.name, beside.name)
			}
			if before > 0 {
				c.note(a.x.get("pauses").get("before"), "%q starts together with %q, so its pause before lengthens its own step instead of delaying it", a.name, beside.name)
			}
			// The time that came before this activity in Chaos Toolkit lengthens its
			// step, so that it ends when it would have.
			hold += before + wait
		} else {
			if len(group) > 0 {
				c.note(a.at, "Murphy starts %q once every step before it has ended, including the background %s; Chaos Toolkit does not wait for background activities", a.name, strings.Join(group, ", "))
				group = nil
			}
			addBefore(before + wait)
			if before > 0 {
				delayed = a.x.get("pauses").get("before")
			}
		}
		wait, dropped = 0, nil
		if isBackground {
			group = append(group, fmt.Sprintf("%q", a.name))
			beside = &background{name: a.name, at: bg, before: delayed}
		} else {
			beside = nil
		}
		steps = append(steps, s)
		durations = append(durations, hold)
	}
	if beside != nil {
		c.note(beside.at, "no later activity runs beside %q; Murphy waits for it before the method ends, as Chaos Toolkit does", beside.name)
	}
	addBefore(wait)
	for i := range steps {
		steps[i].Duration = durations[i].String()
	}
	return steps, extra
}

func (c *converter) rollbacks(list node) []step {
	c.inRollbacks = true
	defer func() { c.inRollbacks = false }()
	var out []step
	for _, x := range list.items() {
		a, ok := c.read(x)
		if !ok || !c.runnable(a, false) {
			continue
		}
		if p := a.x.get("pauses"); p.present() {
			c.note(p, "pauses of rollbacks are ignored")
		}
		if bg := a.x.get("background"); bg.present() {
			c.note(bg, "rollbacks run one after another")
		}
		if s, ok := c.step(a, true); ok {
			out = append(out, s)
		}
	}
	return out
}

// pauses reads {before: s, after: s}.
func (c *converter) pauses(x node) (before, after time.Duration) {
	if !x.present() {
		return 0, 0
	}
	x = c.expand(x)
	if b := x.get("before"); b.present() {
		before, _ = c.seconds(b)
	}
	if a := x.get("after"); a.present() {
		after, _ = c.seconds(a)
	}
	return before, after
}

// step converts an http or process activity into an http.call or exec step, and a
// chaosk8s action into a Kubernetes step.
func (c *converter) step(a activity, rollback bool) (step, bool) {
	p := a.provider
	if a.ptype == "python" {
		return c.k8sStep(a, rollback)
	}
	if a.ptype == "http" {
		h, ok := c.httpRequest(p)
		if !ok {
			return step{}, false
		}
		params := map[string]string{"url": h.url, "method": h.method, "expectStatus": "100-599"}
		if len(h.headers) > 0 {
			b, _ := json.Marshal(h.headers)
			params["headers"] = string(b)
		}
		if h.body != "" {
			params["body"] = h.body
		}
		if h.timeout > 0 {
			params["timeout"] = c.clamp(p.get("timeout"), h.timeout).String()
		}
		s := step{Fault: "http.call", Params: params}
		if rollback {
			s.Duration = rollbackHold.String()
		}
		return s, true
	}
	cmd, ok := c.command(p)
	if !ok {
		return step{}, false
	}
	params := map[string]string{"revert": "true", "timeout": maxCommand.String()}
	if cmd.shell {
		params["inject"] = cmd.script
		params["shell"] = "true"
	} else {
		b, _ := json.Marshal(cmd.argv)
		params["inject"] = string(b)
	}
	if cmd.timeout > 0 {
		params["timeout"] = c.clamp(p.get("timeout"), cmd.timeout).String()
	}
	s := step{Fault: "exec", Params: params}
	if rollback {
		s.Duration = rollbackHold.String()
	}
	return s, true
}

func (c *converter) clamp(at node, d time.Duration) time.Duration {
	if d > maxCommand {
		c.note(at, "a timeout of %s exceeds what a worker allows one command or request (%s); it is cut to %s", d, maxCommand, maxCommand)
		return maxCommand
	}
	return max(d, time.Millisecond)
}

type httpRequest struct {
	url, method, body string
	headers           map[string]string
	timeout           time.Duration
}

func (c *converter) httpRequest(p node) (httpRequest, bool) {
	var h httpRequest
	ok := true
	u := c.expand(p.get("url"))
	if !u.present() {
		c.fail(u, "required; the URL to call")
		ok = false
	} else if s, good := c.str(u); good {
		if msg := checkURL(s); msg != "" {
			c.fail(u, "%s", msg)
			ok = false
		}
		h.url = s
	} else {
		ok = false
	}
	h.method = "GET"
	if m := p.get("method"); m.present() {
		if s, good := c.literal(m, "an http provider's method"); good {
			h.method = strings.ToUpper(s)
			if !slices.Contains(httpMethods, h.method) {
				c.fail(m, "%q is not a method Murphy sends; use one of %s", s, strings.Join(httpMethods, ", "))
				ok = false
			}
		}
	}
	if hd := c.expand(p.get("headers")); hd.present() {
		h.headers = c.headers(hd)
	}
	if args := c.expand(p.get("arguments")); args.present() {
		var good bool
		if h.method == "GET" {
			h.url, good = c.query(h.url, args)
		} else {
			good = c.body(&h, args)
		}
		ok = ok && good
	}
	if t := c.expand(p.get("timeout")); t.present() {
		h.timeout, _ = c.seconds(t)
	}
	return h, ok
}

// headers reads a provider's headers. Names are case-insensitive, as for the requests
// library Chaos Toolkit sends with: of two spellings of one name the last is sent.
func (c *converter) headers(hd node) map[string]string {
	if !hd.isMap() {
		c.fail(hd, "must be a mapping of header names to values, got %s", hd.describe())
		return nil
	}
	out := map[string]string{}
	first := map[string]string{}
	for _, k := range hd.keys() {
		at := hd.get(k)
		v, good := c.str(at)
		if !good {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Content-Length", "Transfer-Encoding", "Trailer":
			c.note(at, "dropped: Murphy sets %s from the body", ck)
			continue
		}
		if msg := spec.CheckHeader(k, v); msg != "" {
			c.fail(at, "%s", msg)
			continue
		}
		if prev, dup := first[ck]; dup {
			c.note(at, "%s is the header %s again (names are case-insensitive); this later value is sent, as Chaos Toolkit does", k, prev)
			delete(out, prev)
		}
		first[ck] = k
		out[k] = v
	}
	return out
}

// header looks a header up by its case-insensitive name.
func header(headers map[string]string, name string) (string, bool) {
	for k, v := range headers {
		if http.CanonicalHeaderKey(k) == name {
			return v, true
		}
	}
	return "", false
}

// isJSON reports whether the headers ask for a JSON body, the one case in which Chaos
// Toolkit sends a non-GET request's arguments as JSON (it compares the value with
// application/json exactly; a charset parameter is accepted here too).
func isJSON(headers map[string]string) bool {
	v, _ := header(headers, "Content-Type")
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && mt == "application/json"
}

// query appends GET arguments to the URL as query parameters, as the requests library
// does with Chaos Toolkit's arguments: a string as it is, a mapping encoded in document
// order, a list value as the name repeated, a null value left out.
func (c *converter) query(u string, args node) (string, bool) {
	var enc string
	switch {
	case args.isScalar():
		s, ok := c.str(args)
		if !ok {
			return u, false
		}
		enc = s
	case args.isMap():
		s, ok := c.form(args)
		if !ok {
			return u, false
		}
		enc = s
	default:
		c.fail(args, "the arguments of a GET become query parameters; give a mapping of names to values or a query string, not %s", args.describe())
		return u, false
	}
	if enc == "" {
		return u, true
	}
	base, frag, hasFrag := strings.Cut(u, "#")
	switch {
	case !strings.Contains(base, "?"):
		base += "?" + enc
	case strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&"):
		base += enc
	default:
		base += "&" + enc
	}
	if hasFrag {
		base += "#" + frag
	}
	return base, true
}

// body sets a non-GET request's body from Chaos Toolkit's arguments: JSON when the
// headers say Content-Type: application/json; otherwise a mapping is form-encoded (with
// that Content-Type unless one is given) and a string is sent as it is.
func (c *converter) body(h *httpRequest, args node) bool {
	if isJSON(h.headers) {
		v, ok := c.argValue(args)
		if !ok {
			return false
		}
		b, err := json.Marshal(v)
		if err != nil {
			c.fail(args, "cannot be sent as JSON: %v", err)
			return false
		}
		h.body = string(b)
		return true
	}
	switch {
	case args.isScalar():
		s, ok := c.str(args)
		h.body = s
		return ok
	case args.isMap():
		s, ok := c.form(args)
		if !ok {
			return false
		}
		h.body = s
		if _, set := header(h.headers, "Content-Type"); !set && s != "" {
			if h.headers == nil {
				h.headers = map[string]string{}
			}
			h.headers["Content-Type"] = "application/x-www-form-urlencoded"
		}
		return true
	}
	c.fail(args, "a list of arguments cannot be sent as a form; set the header Content-Type: application/json to send it as JSON")
	return false
}

// form encodes a mapping as application/x-www-form-urlencoded, in document order.
func (c *converter) form(args node) (string, bool) {
	var parts []string
	ok := true
	add := func(k string, v node) {
		s, good := c.formValue(v)
		ok = ok && good
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(s))
	}
	for _, k := range args.keys() {
		v := args.get(k)
		switch {
		case !v.present():
			// requests leaves a None value out.
		case v.isList():
			for _, it := range v.items() {
				add(k, it)
			}
		default:
			add(k, v)
		}
	}
	return strings.Join(parts, "&"), ok
}

// formValue renders a scalar the way Python's str() does for the requests library.
func (c *converter) formValue(v node) (string, bool) {
	switch {
	case !v.isScalar():
		c.fail(v, "cannot be sent as a form or query value: %s", v.describe())
		return "", false
	case v.tag() == "!!bool":
		if v.n.Value == "true" {
			return "True", true
		}
		return "False", true
	case v.tag() == "!!int" || v.tag() == "!!float":
		return v.n.Value, true
	}
	return c.str(v)
}

// argValue reads arguments as a JSON value, ${name} substituted in every string.
func (c *converter) argValue(x node) (any, bool) {
	switch {
	case !x.present():
		return nil, true
	case x.isMap():
		out := map[string]any{}
		ok := true
		for _, k := range x.keys() {
			v, good := c.argValue(x.get(k))
			ok = ok && good
			out[k] = v
		}
		return out, ok
	case x.isList():
		out := []any{}
		ok := true
		for _, it := range x.items() {
			v, good := c.argValue(it)
			ok = ok && good
			out = append(out, v)
		}
		return out, ok
	}
	switch x.tag() {
	case "!!str":
		return c.str(x)
	case "!!int", "!!float", "!!bool":
		return normalise(x.value()), true
	case "!!null":
		return nil, true
	}
	return x.n.Value, true
}

func checkURL(s string) string {
	u, err := url.Parse(strings.ReplaceAll(s, "{{proxy}}", "proxy.invalid:1"))
	switch {
	case err != nil:
		return fmt.Sprintf("invalid URL %q: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("invalid URL %q: must start with http:// or https://", s)
	case u.Host == "":
		return fmt.Sprintf("invalid URL %q: no host", s)
	}
	return ""
}

type command struct {
	argv    []string // without a shell
	script  string   // with /bin/sh -c
	shell   bool
	timeout time.Duration
}

// command reads a process provider: arguments as a string run through a shell, as a
// list they are the arguments, as a mapping they become flag/value pairs.
func (c *converter) command(p node) (command, bool) {
	var cmd command
	path := p.get("path")
	if !path.present() {
		c.fail(path, "required; the program to run")
		return cmd, false
	}
	prog, ok := c.literal(path, "a process provider's path")
	if !ok {
		return cmd, false
	}
	if prog == "" {
		c.fail(path, "must name a program")
		return cmd, false
	}
	cmd.argv = []string{prog}
	args := c.expand(p.get("arguments"))
	switch {
	case !args.present():
	case args.isScalar():
		s, good := c.str(args)
		ok = ok && good
		cmd.shell = true
		cmd.script = strings.TrimSpace(shellQuote(prog) + " " + s)
	case args.isList():
		for _, it := range args.items() {
			s, good := c.str(it)
			ok = ok && good
			cmd.argv = append(cmd.argv, s)
		}
	case args.isMap():
		for _, k := range args.keys() {
			cmd.argv = append(cmd.argv, k)
			v := args.get(k)
			if !v.present() {
				continue
			}
			s, good := c.str(v)
			ok = ok && good
			if s != "" {
				cmd.argv = append(cmd.argv, s)
			}
		}
	}
	if t := p.get("timeout"); t.present() {
		cmd.timeout, _ = c.seconds(t)
	}
	return cmd, ok
}

// literal reads a string chaoslib uses as written, without substituting configuration
// or secrets: a placeholder of a defined variable in it is refused, since chaoslib would
// run it as written and fail, where Murphy would otherwise run something else.
func (c *converter) literal(x node, what string) (string, bool) {
	if !x.isScalar() {
		c.fail(x, "must be a string, got %s", x.describe())
		return "", false
	}
	for _, m := range placeholder.FindAllStringSubmatch(x.n.Value, -1) {
		if name := m[2] + m[3]; name != "" {
			if _, ok := c.vars[name]; ok {
				c.fail(x, "chaoslib does not substitute configuration or secrets in %s, so it uses %s as written and the activity fails; write the value itself", what, m[0])
				return "", false
			}
		}
	}
	return x.n.Value, true
}

// shellQuote quotes a word for /bin/sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// script renders a command as one shell line.
func (cmd command) line() string {
	if cmd.shell {
		return cmd.script
	}
	q := make([]string, len(cmd.argv))
	for i, a := range cmd.argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'g', -1, 64) + "s"
}
