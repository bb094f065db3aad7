package catalogue

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The container kinds act on Docker containers through the Docker Engine API. A step
// selects containers by name (or ID) or by a label selector, never both; the worker checks
// that pairing, the catalogue checks each value.

// containerSignals are the signal names container.kill accepts (with or without "SIG").
var containerSignals = []string{
	"ABRT", "ALRM", "BUS", "CHLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "KILL",
	"PIPE", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP",
	"TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
}

// checkContainerSignal accepts a signal name (KILL, SIGTERM, case-insensitive) or number
// (1-64).
func checkContainerSignal(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 64 {
			return fmt.Errorf("signal number %d is not between 1 and 64", n)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(v)), "SIG")
	if !slices.Contains(containerSignals, name) {
		return fmt.Errorf("%q is not a signal (e.g. KILL, TERM, HUP, or a number)", v)
	}
	return nil
}

// checkContainerLabels accepts "key" or "key=value" terms joined by commas; a container
// matches when it carries every term.
func checkContainerLabels(v string) error {
	for term := range strings.SplitSeq(v, ",") {
		k, _, _ := strings.Cut(strings.TrimSpace(term), "=")
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("%q: every comma-separated term needs a label key (key or key=value)", v)
		}
	}
	return nil
}

// engineSignal is a valid signal as the engine expects it: "SIGKILL", or a number.
func engineSignal(v string) string {
	s := strings.ToUpper(strings.TrimSpace(v))
	if _, err := strconv.Atoi(s); err == nil {
		return s
	}
	return "SIG" + strings.TrimPrefix(s, "SIG")
}

// Container is the parameters of every container kind.
type Container struct {
	Kind string
	// Name (a container name or ID) or Labels ("key" or "key=value" terms, all of which
	// must match): exactly one is set, trimmed.
	Name, Labels string
	// Count is how many matching containers to pick at random; 0 for all.
	Count int
	// Signal is container.kill's signal as the engine expects it ("SIGKILL", "9").
	Signal string
	// Timeout is the grace of a stop or restart before SIGKILL.
	Timeout time.Duration
}

func (p Container) String() string {
	what := fmt.Sprintf("container %q", p.Name)
	if p.Name == "" {
		what = fmt.Sprintf("containers with labels %q", p.Labels)
		if p.Count == 0 {
			what = "all running " + what
		} else {
			what = fmt.Sprintf("%d running %s, chosen at random", p.Count, what)
		}
	}
	switch p.Kind {
	case "container.kill":
		return fmt.Sprintf("send %s to %s; revert starts any it left stopped", p.Signal, what)
	case "container.stop":
		return fmt.Sprintf("stop %s (timeout %s); revert starts them", what, p.Timeout)
	case "container.pause":
		return fmt.Sprintf("pause %s; revert unpauses them", what)
	default:
		return fmt.Sprintf("restart %s (timeout %s)", what, p.Timeout)
	}
}

// maxContainerStopTimeout keeps a stop or restart inside the worker's 10 s bound on one
// executor call, so the engine never finishes a stop after the worker gave up on it.
const maxContainerStopTimeout = 8 * time.Second

// decodeContainer wants exactly one of name and labels.
func decodeContainer(kind string) func(v values) (Params, error) {
	return func(v values) (Params, error) {
		p := Container{Kind: kind, Name: strings.TrimSpace(v.str("name")), Labels: strings.TrimSpace(v.str("labels")),
			Count: value[int](v, "count"), Timeout: v.dur("timeout")}
		switch {
		case p.Name == "" && p.Labels == "":
			return nil, fmt.Errorf("no container selected: give params.name (a container name or ID) or params.labels (e.g. app=web)")
		case p.Name != "" && p.Labels != "":
			return nil, fmt.Errorf("give params.name or params.labels, not both")
		}
		if s := v.str("signal"); s != "" {
			p.Signal = engineSignal(s)
		}
		return p, nil
	}
}

func containerParams(extra ...Param) []Param {
	return append([]Param{
		{Name: "name", Type: TypeString,
			Help: "container name or ID; give name or labels"},
		{Name: "labels", Type: TypeString, Parse: check(checkContainerLabels),
			Help: "label selector: key or key=value terms, comma-separated, all must match; give name or labels"},
		{Name: "count", Type: TypeString, Default: "all", Parse: parseCount("integer"),
			Help: "how many of the matching running containers, chosen at random, or all"},
	}, extra...)
}

func stopTimeout(what string) Param {
	return Param{Name: "timeout", Type: TypeDuration, Default: "5s", Min: 0, Max: int64(maxContainerStopTimeout),
		Help: "grace after SIGTERM before the engine sends SIGKILL when it " + what + " (whole seconds, at most 8s)"}
}

const (
	containerNeeds   = "a Docker engine the worker can reach (--docker-host)"
	containerReverts = "the worker, through the engine, from the container IDs it recorded; at its start-up after a crash, or the guardian"
	containerInstant = "nothing: the engine started it again"
)

func init() {
	register(
		Kind{
			Name:    "container.kill",
			Needs:   containerNeeds,
			Reverts: containerReverts,
			decode:  decodeContainer("container.kill"),
			Summary: "send a signal to containers; revert starts the ones it left stopped",
			Params: containerParams(Param{Name: "signal", Type: TypeString, Default: "KILL", Parse: check(checkContainerSignal),
				Help: "signal name or number, e.g. KILL, TERM, HUP"}),
		},
		Kind{
			Name:    "container.stop",
			Needs:   containerNeeds,
			Reverts: containerReverts,
			decode:  decodeContainer("container.stop"),
			Summary: "stop containers; revert starts them again",
			Params:  containerParams(stopTimeout("stops")),
		},
		Kind{
			Name:    "container.pause",
			Needs:   containerNeeds,
			Reverts: containerReverts,
			decode:  decodeContainer("container.pause"),
			Summary: "freeze every process of containers (cgroup freezer); revert unpauses them",
			Params:  containerParams(),
		},
		Kind{
			Name:    "container.restart",
			Needs:   containerNeeds,
			Reverts: containerInstant,
			decode:  decodeContainer("container.restart"),
			Instant: true,
			Summary: "restart containers once; instantaneous, revert does nothing",
			Params:  containerParams(stopTimeout("restarts")),
		},
	)
}
