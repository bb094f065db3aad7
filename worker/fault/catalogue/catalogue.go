package catalogue

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParamType is how a parameter's string value is read.
type ParamType int

const (
	// TypeDuration is a Go duration ("200ms"), at least Min and at most Max.
	TypeDuration ParamType = iota + 1
	// TypeInt is an integer between Min and Max inclusive.
	TypeInt
	// TypePercent is a number in (0,100].
	TypePercent
	// TypeAddr is a host:port.
	TypeAddr
	// TypeString is any non-empty text; Param.Parse refines it.
	TypeString
)

// String names the type in listings (murphy faults).
func (t ParamType) String() string {
	switch t {
	case TypeDuration:
		return "duration"
	case TypeInt:
		return "integer"
	case TypePercent:
		return "percent"
	case TypeAddr:
		return "host:port"
	}
	return "text"
}

// Param describes one parameter of a fault kind: how it is read, its default and the help
// that listings show.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	// Default is the value used when the parameter is absent ("" for none).
	Default string
	// Min and Max bound TypeInt values, and TypeDuration values in nanoseconds.
	Min, Max int64
	Help     string
	// Parse, when set, runs after the type check and returns the value the kind's decode
	// reads (an enum, a regexp, a CIDR list...). Its error is shown after
	// "kind: params.name: ".
	Parse func(string) (any, error)
}

// Params is one fault's parameters, decoded and validated: each kind has its own type
// (HTTPDelay, Network, ProcessKill...), and executors type-assert to it. String describes
// the fault to people.
type Params interface {
	String() string
}

// Kind declares one fault kind: everything Murphy knows about it apart from how a worker
// carries it out.
type Kind struct {
	Name    string
	Summary string
	Params  []Param
	// Instant marks kinds that act once when injected and have nothing to revert
	// (process.kill): a step of such a kind needs no duration.
	Instant bool
	// Needs is what a worker needs from its host to offer the kind; a worker without it
	// leaves the kind out of its capabilities.
	Needs string
	// Consent marks kinds a worker runs only where its policy lists them under allow
	// (exec: a coordinator must never gain remote command execution on a host that did
	// not opt in).
	Consent bool
	// Reverts says what ends the fault, whatever happens to the worker.
	Reverts string
	// decode builds the kind's Params from values that passed their own checks; rules
	// that span parameters live here. Its error is shown after "kind: ".
	decode func(v values) (Params, error)
}

const maxFaultDelay = time.Hour

// catalogue holds every fault kind Murphy knows. Each family declares its kinds in its own
// file of this package (in an init function), so adding a family touches no shared list.
var catalogue = map[string]Kind{}

// register adds kinds to the catalogue; a duplicate name is a programming error.
func register(kinds ...Kind) {
	for _, k := range kinds {
		if _, dup := catalogue[k.Name]; dup {
			panic("catalogue: kind registered twice: " + k.Name)
		}
		if k.decode == nil {
			panic("catalogue: kind without decode: " + k.Name)
		}
		catalogue[k.Name] = k
	}
}

// Kinds returns the name of every fault kind Murphy knows, sorted.
func Kinds() []string {
	return slices.Sorted(maps.Keys(catalogue))
}

// Lookup returns the declaration of kind.
func Lookup(kind string) (Kind, bool) {
	k, ok := catalogue[kind]
	if ok {
		k.Params = slices.Clone(k.Params)
	}
	return k, ok
}

// Validate checks kind and params against the catalogue without touching the host. Its
// errors are meant for the person who wrote the spec.
func Validate(kind string, params map[string]string) error {
	_, err := Decode(kind, params)
	return err
}

// Decode reads params, as they travel on the wire, into kind's Params. It is the only
// place a parameter's text is read: the coordinator calls it to validate a spec, the
// worker to turn an assignment or a journal entry into what its executor receives.
func Decode(kind string, params map[string]string) (Params, error) {
	k, ok := catalogue[kind]
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q (known: %s)", kind, strings.Join(Kinds(), ", "))
	}
	// Sorted, so the same first error is reported every time.
	for _, n := range slices.Sorted(maps.Keys(params)) {
		if !slices.ContainsFunc(k.Params, func(p Param) bool { return p.Name == n }) {
			known := make([]string, len(k.Params))
			for i, p := range k.Params {
				known[i] = p.Name
			}
			return nil, fmt.Errorf("%s: unknown param %q (known: %s)", kind, n, strings.Join(known, ", "))
		}
	}
	v := values{vals: make(map[string]any, len(k.Params)), text: params}
	for _, p := range k.Params {
		s, ok := params[p.Name]
		switch {
		case ok:
		case p.Required:
			return nil, fmt.Errorf("%s: params.%s is required (%s)", kind, p.Name, p.Help)
		case p.Default == "":
			continue
		default:
			s = p.Default
		}
		x, err := p.parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s: params.%s: %w", kind, p.Name, err)
		}
		v.vals[p.Name] = x
	}
	out, err := k.decode(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return out, nil
}

// NeedsConsent reports whether kind runs only where a worker's policy allows it by name
// (see Kind.Consent).
func NeedsConsent(kind string) bool { return catalogue[kind].Consent }

// IsInstant reports whether kind acts once and needs no duration (see Kind.Instant).
// Unknown kinds are not instant.
func IsInstant(kind string) bool { return catalogue[kind].Instant }

// parse reads v by the parameter's type: a time.Duration, an int64, a float64 percent in
// (0,100], or the text itself; then Parse, when set, refines it.
func (p Param) parse(v string) (any, error) {
	var x any = v
	switch p.Type {
	case TypeDuration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (e.g. 200ms, 1.5s)", v)
		}
		if int64(d) < p.Min || int64(d) > p.Max {
			return nil, fmt.Errorf("%s is out of range [%s, %s]", d, time.Duration(p.Min), time.Duration(p.Max))
		}
		x = d
	case TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		if n < p.Min || n > p.Max {
			return nil, fmt.Errorf("%d is not between %d and %d", n, p.Min, p.Max)
		}
		x = n
	case TypePercent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		if !(f > 0 && f <= 100) {
			return nil, fmt.Errorf("%s is out of range (0,100]", v)
		}
		x = f
	case TypeAddr:
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, fmt.Errorf("%q is not a host:port", v)
		}
	case TypeString:
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("must not be empty")
		}
	}
	if p.Parse != nil {
		return p.Parse(v)
	}
	return x, nil
}

// check turns a validating function into a Parse that keeps the text.
func check(f func(string) error) func(string) (any, error) {
	return func(v string) (any, error) {
		if err := f(v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// values are a kind's parameters after their own checks, defaults filled in; the getters
// return the zero value for an absent parameter without a default.
type values struct {
	vals map[string]any
	text map[string]string // as given, without defaults
}

func (v values) str(name string) string        { s, _ := v.vals[name].(string); return s }
func (v values) dur(name string) time.Duration { d, _ := v.vals[name].(time.Duration); return d }
func (v values) int(name string) int64         { n, _ := v.vals[name].(int64); return n }
func (v values) percent(name string) float64   { f, _ := v.vals[name].(float64); return f }
func (v values) raw(name string) string        { return v.text[name] }
func value[T any](v values, name string) (t T) { t, _ = v.vals[name].(T); return t }

// MustDecode is Decode for parameters known to be valid, such as a test's; it panics on
// an error.
func MustDecode(kind string, params map[string]string) Params {
	p, err := Decode(kind, params)
	if err != nil {
		panic(err)
	}
	return p
}
