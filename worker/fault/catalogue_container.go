package fault

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

// checkContainerCount accepts "all" or a positive integer.
func checkContainerCount(v string) error {
	if v == "all" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return fmt.Errorf("%q is neither a positive integer nor \"all\"", v)
	}
	return nil
}

// maxContainerStopTimeout keeps a stop or restart inside the worker's 10 s bound on one
// executor call, so the engine never finishes a stop after the worker gave up on it.
const maxContainerStopTimeout = 8 * time.Second

// checkContainerSelection wants exactly one of name and labels.
func checkContainerSelection(params map[string]string) error {
	name, labels := strings.TrimSpace(params["name"]), strings.TrimSpace(params["labels"])
	switch {
	case name == "" && labels == "":
		return fmt.Errorf("no container selected: give params.name (a container name or ID) or params.labels (e.g. app=web)")
	case name != "" && labels != "":
		return fmt.Errorf("give params.name or params.labels, not both")
	}
	return nil
}

func containerParams(extra ...Param) []Param {
	return append([]Param{
		{Name: "name", Type: TypeString,
			Help: "container name or ID; give name or labels"},
		{Name: "labels", Type: TypeString, Check: checkContainerLabels,
			Help: "label selector: key or key=value terms, comma-separated, all must match; give name or labels"},
		{Name: "count", Type: TypeString, Default: "all", Check: checkContainerCount,
			Help: "how many of the matching running containers, chosen at random, or all"},
	}, extra...)
}

func stopTimeout(what string) Param {
	return Param{Name: "timeout", Type: TypeDuration, Default: "5s", Min: 0, Max: int64(maxContainerStopTimeout),
		Help: "grace after SIGTERM before the engine sends SIGKILL when it " + what + " (whole seconds, at most 8s)"}
}

func init() {
	register(
		Kind{
			Name:    "container.kill",
			Check:   checkContainerSelection,
			Summary: "send a signal to containers; revert starts the ones it left stopped",
			Params: containerParams(Param{Name: "signal", Type: TypeString, Default: "KILL", Check: checkContainerSignal,
				Help: "signal name or number, e.g. KILL, TERM, HUP"}),
		},
		Kind{
			Name:    "container.stop",
			Check:   checkContainerSelection,
			Summary: "stop containers; revert starts them again",
			Params:  containerParams(stopTimeout("stops")),
		},
		Kind{
			Name:    "container.pause",
			Check:   checkContainerSelection,
			Summary: "freeze every process of containers (cgroup freezer); revert unpauses them",
			Params:  containerParams(),
		},
		Kind{
			Name:    "container.restart",
			Check:   checkContainerSelection,
			Instant: true,
			Summary: "restart containers once; instantaneous, revert does nothing",
			Params:  containerParams(stopTimeout("restarts")),
		},
	)
}
