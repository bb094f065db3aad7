package catalogue

import (
	"errors"
	"fmt"
	"strings"
)

// Place is where a host-level fault (network, process, stress) acts instead of the
// worker's own host: one running Docker container, named or picked by labels, or one pod
// found through the node's CRI runtime (containerd, CRI-O), with Container then naming the
// container inside the pod. It is resolved again at every inject and revert, never
// remembered by container or sandbox ID, so a fault follows its target's life: a container
// or pod started again in its place comes back clean.
type Place struct {
	// Container is a Docker container's name or ID, or, with Pod, the name of a container
	// of that pod.
	Container string
	// ContainerLabels picks the one running Docker container with these labels.
	ContainerLabels string
	// Pod is "namespace/name" or the pod's UID.
	Pod string
}

// Set reports whether the fault acts somewhere other than the worker's own host.
func (p Place) Set() bool { return p.Container != "" || p.ContainerLabels != "" || p.Pod != "" }

// String says where, for messages: ` in pod "shop/checkout-1"`, or "" for the worker's host.
func (p Place) String() string {
	switch {
	case p.Pod != "" && p.Container != "":
		return fmt.Sprintf(" in container %q of pod %q", p.Container, p.Pod)
	case p.Pod != "":
		return fmt.Sprintf(" in pod %q", p.Pod)
	case p.Container != "":
		return fmt.Sprintf(" in container %q", p.Container)
	case p.ContainerLabels != "":
		return fmt.Sprintf(" in the container with labels %q", p.ContainerLabels)
	}
	return ""
}

// placeParams are the params that choose a Place; act says what the fault does there
// ("act in the network namespace of", "only processes of", "charge the load to").
func placeParams(act, kept string) []Param {
	return []Param{
		{Name: "container", Type: TypeString,
			Help: act + " this running container (a name or ID on the worker's Docker engine; with pod, the name of a container of that pod), found again at every inject and revert" + kept},
		{Name: "containerLabels", Type: TypeString, Parse: check(checkContainerLabels),
			Help: act + " the one running Docker container with these labels (key or key=value terms, comma-separated)"},
		{Name: "pod", Type: TypeString, Parse: check(checkPod),
			Help: act + " this pod (namespace/name, or its UID) on the worker's node, found through the CRI runtime (--cri-socket) at every inject and revert, so a pod restarted or replaced is never left with anything"},
	}
}

// checkPod accepts "namespace/name" with DNS-label parts, or a pod UID.
func checkPod(v string) error {
	v = strings.TrimSpace(v)
	ns, name, ok := strings.Cut(v, "/")
	if !ok {
		if isUID(v) {
			return nil
		}
		return fmt.Errorf("%q is neither namespace/name nor a pod UID", v)
	}
	for _, part := range []string{ns, name} {
		if part == "" || len(part) > 253 || strings.Trim(part, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
			return fmt.Errorf("%q is not namespace/name (lower-case letters, digits, '-' and '.')", v)
		}
	}
	return nil
}

// isUID reports whether v looks like a Kubernetes UID (a UUID, 8-4-4-4-12 hex digits).
func isUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i, r := range v {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", r) {
				return false
			}
		}
	}
	return true
}

// decodePlace reads the place params; a pod picks its container by name, never by
// Docker labels.
func decodePlace(v values) (Place, error) {
	p := Place{Container: strings.TrimSpace(v.str("container")), ContainerLabels: strings.TrimSpace(v.str("containerLabels")),
		Pod: strings.TrimSpace(v.str("pod"))}
	switch {
	case p.Container != "" && p.ContainerLabels != "":
		return p, errors.New("params: give container or containerLabels, not both")
	case p.Pod != "" && p.ContainerLabels != "":
		return p, errors.New("params: containerLabels picks a Docker container; in a pod, name the container with params.container")
	}
	return p, nil
}
