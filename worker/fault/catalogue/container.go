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
// that pairing, the catalogue checks each value. container.kill and container.pause also
// take a pod (and the name of one of its containers) instead, found through the node's
// CRI runtime at every inject and revert.

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
	// Pod ("namespace/name" or a UID) puts container.kill or container.pause on one
	// container of a pod, found through the CRI runtime instead of the Docker engine;
	// PodContainer names it ("" when the pod runs one container). Name and Labels are
	// then empty.
	Pod, PodContainer string
}

func (p Container) String() string {
	if p.Pod != "" {
		return p.podString()
	}
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

// podString says, for a pod's container, who brings it back: for a kill the kubelet
// (the revert starts nothing, unlike the Docker form's), for a pause the revert.
func (p Container) podString() string {
	what := fmt.Sprintf("the container of pod %q", p.Pod)
	if p.PodContainer != "" {
		what = fmt.Sprintf("container %q of pod %q", p.PodContainer, p.Pod)
	}
	if p.Kind == "container.kill" {
		return fmt.Sprintf("send %s to the main process of %s; revert does nothing: recovery is the orchestrator's job (the kubelet restarts it per the pod's restartPolicy)", p.Signal, what)
	}
	return fmt.Sprintf("pause %s (freeze its cgroup); revert thaws it, found again by pod and container name", what)
}

// maxContainerStopTimeout keeps a stop or restart inside the worker's 10 s bound on one
// executor call, so the engine never finishes a stop after the worker gave up on it.
const maxContainerStopTimeout = 8 * time.Second

// decodeContainer wants exactly one of name and labels.
func decodeContainer(kind string) func(v values) (Params, error) {
	return func(v values) (Params, error) {
		p := Container{Kind: kind, Name: strings.TrimSpace(v.str("name")), Labels: strings.TrimSpace(v.str("labels")),
			Count: value[int](v, "count"), Timeout: v.dur("timeout"),
			Pod: strings.TrimSpace(v.str("pod")), PodContainer: strings.TrimSpace(v.str("container"))}
		if s := v.str("signal"); s != "" {
			p.Signal = engineSignal(s)
		}
		if p.Pod != "" {
			switch {
			case p.Name != "" || p.Labels != "":
				return nil, fmt.Errorf("give params.pod (with params.container), or params.name or params.labels, not both")
			case p.Count > 1:
				return nil, fmt.Errorf("params.count picks among Docker containers; with params.pod the fault acts on one container of the pod")
			}
			return p, nil
		}
		if p.PodContainer != "" {
			return nil, fmt.Errorf("params.container names a container of params.pod; for a Docker container use params.name")
		}
		switch {
		case p.Name == "" && p.Labels == "":
			return nil, fmt.Errorf("no container selected: give params.name (a container name or ID) or params.labels (e.g. app=web)")
		case p.Name != "" && p.Labels != "":
			return nil, fmt.Errorf("give params.name or params.labels, not both")
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

// podParams put container.kill and container.pause on a pod's container.
func podParams(act string) []Param {
	return []Param{
		{Name: "pod", Type: TypeString, Parse: check(checkPod),
			Help: act + " a container of this pod (namespace/name, or its UID) on the worker's node instead, found through the CRI runtime (--cri-socket) at every inject and revert; give pod, or name or labels"},
		{Name: "container", Type: TypeString,
			Help: "with pod, the name of the pod's container (as in the pod's spec); default: the pod's only running container"},
	}
}

func stopTimeout(what string) Param {
	return Param{Name: "timeout", Type: TypeDuration, Default: "5s", Min: 0, Max: int64(maxContainerStopTimeout),
		Help: "grace after SIGTERM before the engine sends SIGKILL when it " + what + " (whole seconds, at most 8s)"}
}

const (
	containerNeeds   = "a Docker engine the worker can reach (--docker-host)"
	podNeeds         = containerNeeds + "; with pod, the node's CRI runtime (--cri-socket), the host's PID namespace"
	containerReverts = "the worker, through the engine, from the container IDs it recorded; at its start-up after a crash, or the guardian"
	containerInstant = "nothing: the engine started it again"
)

func init() {
	register(
		Kind{
			Name:    "container.kill",
			Needs:   podNeeds,
			Reverts: containerReverts + "; with pod nothing: the kubelet restarts the container per the pod's restartPolicy",
			decode:  decodeContainer("container.kill"),
			Summary: "send a signal to containers, or to a pod container's main process; revert starts the Docker containers it left stopped",
			Params: containerParams(append([]Param{{Name: "signal", Type: TypeString, Default: "KILL", Parse: check(checkContainerSignal),
				Help: "signal name or number, e.g. KILL, TERM, HUP"}}, podParams("signal")...)...),
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
			Needs:   podNeeds + " and write access to the cgroup filesystem",
			Reverts: containerReverts + "; with pod, the worker or the guardian thaws the cgroup of the pod's container, found again from the params alone",
			decode:  decodeContainer("container.pause"),
			Summary: "freeze every process of containers, or of a pod's container (cgroup freezer); revert unpauses them",
			Params:  containerParams(podParams("pause")...),
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
