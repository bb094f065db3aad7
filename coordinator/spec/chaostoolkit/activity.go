package chaostoolkit

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
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
		if c.opts.SkipUnsupported {
			c.note(a.provider, "dropped: python activity %q (module %s, function %s) cannot run in Murphy", a.name, m, f)
			return false
		}
		c.fail(a.provider, "python activity %q (module %s, function %s) cannot run in Murphy: workers run no Python drivers; convert it to an http or process activity, or import with --skip-unsupported to drop it", a.name, m, f)
		return false
	}
	c.fail(a.provider.get("type"), "unknown provider type %q; Chaos Toolkit has http, process and python", a.ptype)
	return false
}

// method converts the method's activities into steps. Pauses become time: a pause
// after an activity holds its step longer; a pause before one lengthens the previous
// step (or the baseline, returned as extra, for the first).
func (c *converter) method(list node) (steps []step, extra time.Duration) {
	var durations []time.Duration
	wait := time.Duration(0) // pauses of dropped activities, waiting for the next step
	addBefore := func(d time.Duration) {
		if len(durations) == 0 {
			extra += d
		} else {
			durations[len(durations)-1] += d
		}
	}
	for _, x := range list.items() {
		a, ok := c.read(x)
		before, after := c.pauses(a.x.get("pauses"))
		if !ok || !c.supported(a) {
			addBefore(before + after + wait)
			wait = 0
			continue
		}
		if bg := a.x.get("background"); bg.isScalar() && bg.n.Value == "true" {
			c.note(bg, "Murphy runs steps one after another: %q runs before the next activity, not beside it", a.name)
		}
		if a.typ == "probe" {
			c.note(a.at, "a probe in the method runs as a step on the experimental group; its result is not judged (Chaos Toolkit only records it)")
		}
		s, ok := c.step(a, false)
		if !ok {
			continue
		}
		addBefore(before + wait)
		wait = 0
		hold := c.opts.Hold
		if after > 0 {
			hold = after
		}
		steps = append(steps, s)
		durations = append(durations, hold)
	}
	addBefore(wait)
	for i := range steps {
		steps[i].Duration = durations[i].String()
	}
	return steps, extra
}

func (c *converter) rollbacks(list node) []step {
	var out []step
	for _, x := range list.items() {
		a, ok := c.read(x)
		if !ok || !c.supported(a) {
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
	if b := x.get("before"); b.present() {
		before, _ = c.seconds(b)
	}
	if a := x.get("after"); a.present() {
		after, _ = c.seconds(a)
	}
	return before, after
}

// step converts an http or process activity into an http.call or exec step.
func (c *converter) step(a activity, rollback bool) (step, bool) {
	p := a.provider
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
	u := p.get("url")
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
		if s, good := c.str(m); good {
			h.method = strings.ToUpper(s)
			if !slices.Contains(httpMethods, h.method) {
				c.fail(m, "%q is not a method Murphy sends; use one of %s", s, strings.Join(httpMethods, ", "))
				ok = false
			}
		}
	}
	if hd := p.get("headers"); hd.present() {
		if !hd.isMap() {
			c.fail(hd, "must be a mapping of header names to values, got %s", hd.describe())
			ok = false
		}
		h.headers = map[string]string{}
		for _, k := range hd.keys() {
			if v, good := c.str(hd.get(k)); good {
				h.headers[k] = v
			}
		}
	}
	if args := p.get("arguments"); args.present() {
		switch {
		case args.isScalar():
			h.body, _ = c.str(args)
		default:
			b, err := json.Marshal(normalise(args.value()))
			if err != nil {
				c.fail(args, "cannot be sent as JSON: %v", err)
				ok = false
			}
			h.body, _ = c.subst(string(b), args)
			if h.headers == nil {
				h.headers = map[string]string{}
			}
			if _, set := h.headers["Content-Type"]; !set {
				h.headers["Content-Type"] = "application/json"
			}
		}
	}
	if t := p.get("timeout"); t.present() {
		h.timeout, _ = c.seconds(t)
	}
	return h, ok
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
	prog, ok := c.str(path)
	if !ok {
		return cmd, false
	}
	if prog == "" {
		c.fail(path, "must name a program")
		return cmd, false
	}
	cmd.argv = []string{prog}
	args := p.get("arguments")
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
