package fault

import (
	"fmt"
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
	// TypeString is any non-empty text; Param.Check refines it.
	TypeString
)

// Param describes one parameter of a fault kind.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	// Default is the value used when the parameter is absent ("" for none).
	Default string
	// Min and Max bound TypeInt values, and TypeDuration values in nanoseconds.
	Min, Max int64
	Help     string
	// Check, when set, runs after the type check (for enums, regexes, CIDR lists...).
	// Its error is shown after "kind: params.name: ".
	Check func(string) error
}

// Kind describes one fault kind in the catalogue.
type Kind struct {
	Name    string
	Summary string
	Params  []Param
	// Instant marks kinds that act once when injected and have nothing to revert
	// (process.kill): a step of such a kind needs no duration.
	Instant bool
	// Check, when set, runs after every parameter passed its own check, for rules that
	// span parameters (at least one selector, mutually exclusive options...). Its error
	// is shown after "kind: ".
	Check func(params map[string]string) error
}

const maxFaultDelay = time.Hour

// catalogue holds every fault kind Murphy knows. Each family registers its kinds from its
// own catalogue_<family>.go file (in an init function), so adding a family touches no
// shared list; the coordinator picks every entry up through Validate.
var catalogue = map[string]Kind{}

// register adds kinds to the catalogue; a duplicate name is a programming error.
func register(kinds ...Kind) {
	for _, k := range kinds {
		if _, dup := catalogue[k.Name]; dup {
			panic("fault: kind registered twice: " + k.Name)
		}
		catalogue[k.Name] = k
	}
}

// Kinds returns the name of every fault kind Murphy knows, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(catalogue))
	for k := range catalogue {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Lookup returns the catalogue entry of kind.
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
	k, ok := catalogue[kind]
	if !ok {
		return fmt.Errorf("unknown fault kind %q (known: %s)", kind, strings.Join(Kinds(), ", "))
	}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	slices.Sort(names) // report the same first error every time
	for _, n := range names {
		if !slices.ContainsFunc(k.Params, func(p Param) bool { return p.Name == n }) {
			known := make([]string, len(k.Params))
			for i, p := range k.Params {
				known[i] = p.Name
			}
			return fmt.Errorf("%s: unknown param %q (known: %s)", kind, n, strings.Join(known, ", "))
		}
	}
	for _, p := range k.Params {
		v, ok := params[p.Name]
		if !ok {
			if p.Required {
				return fmt.Errorf("%s: params.%s is required (%s)", kind, p.Name, p.Help)
			}
			continue
		}
		if err := p.check(v); err != nil {
			return fmt.Errorf("%s: params.%s: %w", kind, p.Name, err)
		}
	}
	if k.Check != nil {
		if err := k.Check(params); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	return nil
}

// IsInstant reports whether kind acts once and needs no duration (see Kind.Instant).
// Unknown kinds are not instant.
func IsInstant(kind string) bool { return catalogue[kind].Instant }

func (p Param) check(v string) error {
	switch p.Type {
	case TypeDuration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 200ms, 1.5s)", v)
		}
		if int64(d) < p.Min || int64(d) > p.Max {
			return fmt.Errorf("%s is out of range [%s, %s]", d, time.Duration(p.Min), time.Duration(p.Max))
		}
	case TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < p.Min || n > p.Max {
			return fmt.Errorf("%d is not between %d and %d", n, p.Min, p.Max)
		}
	case TypePercent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		if !(f > 0 && f <= 100) {
			return fmt.Errorf("%s is out of range (0,100]", v)
		}
	case TypeAddr:
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q is not a host:port", v)
		}
	case TypeString:
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("must not be empty")
		}
	}
	if p.Check != nil {
		return p.Check(v)
	}
	return nil
}

// Duration returns params[name] as a duration, or the catalogue default. Call it only on
// params that passed Validate.
func Duration(params map[string]string, kind, name string) time.Duration {
	d, _ := time.ParseDuration(value(params, kind, name))
	return d
}

// Int returns params[name] as an integer, or the catalogue default.
func Int(params map[string]string, kind, name string) int64 {
	n, _ := strconv.ParseInt(value(params, kind, name), 10, 64)
	return n
}

// Percent returns params[name] as a fraction in (0,1], or the catalogue default.
func Percent(params map[string]string, kind, name string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSuffix(value(params, kind, name), "%"), 64)
	return f / 100
}

func value(params map[string]string, kind, name string) string {
	if v, ok := params[name]; ok {
		return v
	}
	for _, p := range catalogue[kind].Params {
		if p.Name == name {
			return p.Default
		}
	}
	return ""
}
