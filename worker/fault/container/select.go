package container

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Selector picks containers on this worker's Docker engine: by Name (a container name or
// ID, as `docker inspect` resolves it) or by Labels ("key" or "key=value" terms,
// comma-separated, all of which a container must carry). Exactly one of the two is set.
type Selector struct {
	Name   string
	Labels string
}

func (s Selector) String() string {
	if s.Name != "" {
		return fmt.Sprintf("container %q", s.Name)
	}
	return fmt.Sprintf("containers with labels %q", s.Labels)
}

func (s Selector) check() error {
	name, labels := strings.TrimSpace(s.Name), strings.TrimSpace(s.Labels)
	switch {
	case name == "" && labels == "":
		return fmt.Errorf("no container selected: give params.name (a container name or ID) or params.labels (e.g. app=web)")
	case name != "" && labels != "":
		return fmt.Errorf("give params.name or params.labels, not both")
	}
	return nil
}

// labelFilters turns "a=b, c" into the engine's label filter terms.
func (s Selector) labelFilters() []string {
	var terms []string
	for t := range strings.SplitSeq(s.Labels, ",") {
		k, v, hasValue := strings.Cut(strings.TrimSpace(t), "=")
		k = strings.TrimSpace(k)
		if hasValue {
			k += "=" + strings.TrimSpace(v)
		}
		terms = append(terms, k)
	}
	return terms
}

// running resolves sel to the running, unpaused containers it matches, sorted by name,
// leaving out the container this worker itself runs in. An empty result is an error that
// says why.
func running(ctx context.Context, api API, sel Selector) ([]dcontainer.InspectResponse, error) {
	if err := sel.check(); err != nil {
		return nil, err
	}
	var found []dcontainer.InspectResponse
	if sel.Name != "" {
		c, err := inspect(ctx, api, strings.TrimSpace(sel.Name))
		if err != nil {
			return nil, err
		}
		if st := c.State; st == nil || !st.Running || st.Paused || st.Restarting {
			return nil, fmt.Errorf("%s is %s, not running", sel, state(c))
		}
		found = append(found, c)
	} else {
		f := client.Filters{}.Add("label", sel.labelFilters()...)
		list, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", sel, err)
		}
		if len(list.Items) == 0 {
			return nil, fmt.Errorf("no container on this host has labels %q", sel.Labels)
		}
		for _, s := range list.Items {
			if s.State != dcontainer.StateRunning {
				continue
			}
			c, err := inspect(ctx, api, s.ID)
			if err != nil {
				return nil, err
			}
			if c.State != nil && c.State.Running && !c.State.Paused && !c.State.Restarting {
				found = append(found, c)
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%d container(s) have labels %q but none is running", len(list.Items), sel.Labels)
		}
	}
	own := slices.IndexFunc(found, func(c dcontainer.InspectResponse) bool { return isAncestor(c.State.Pid) })
	if own >= 0 {
		if len(found) == 1 {
			return nil, fmt.Errorf("%s is the container this worker runs in; refusing to fault it", name(found[own]))
		}
		found = slices.Delete(found, own, own+1)
	}
	slices.SortFunc(found, func(a, b dcontainer.InspectResponse) int { return strings.Compare(a.Name, b.Name) })
	return found, nil
}

func inspect(ctx context.Context, api API, id string) (dcontainer.InspectResponse, error) {
	r, err := api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return r.Container, fmt.Errorf("no container with name or ID %q on this host", id)
	}
	if err != nil {
		return r.Container, fmt.Errorf("inspect container %q: %w", id, err)
	}
	return r.Container, nil
}

// pick returns n of the containers (0 for all), chosen at random and sorted by name.
func pick(found []dcontainer.InspectResponse, n int, sel Selector) ([]dcontainer.InspectResponse, error) {
	if n == 0 {
		return found, nil
	}
	if n > len(found) {
		return nil, fmt.Errorf("params.count is %d but only %d running container(s) match: %s", n, len(found), sel)
	}
	chosen := slices.Clone(found)
	rand.Shuffle(len(chosen), func(i, j int) { chosen[i], chosen[j] = chosen[j], chosen[i] })
	chosen = chosen[:n]
	slices.SortFunc(chosen, func(a, b dcontainer.InspectResponse) int { return strings.Compare(a.Name, b.Name) })
	return chosen, nil
}

func name(c dcontainer.InspectResponse) string {
	return strings.TrimPrefix(c.Name, "/")
}

func state(c dcontainer.InspectResponse) string {
	if c.State == nil {
		return "in an unknown state"
	}
	return string(c.State.Status)
}

// isAncestor reports whether pid is this process or one of its ancestors, i.e. whether a
// container whose init process is pid contains this worker. It sees the truth only when
// the worker shares the host's PID namespace (as NetNS needs anyway); in a private PID
// namespace host PIDs mean nothing here and it reports false.
func isAncestor(pid int) bool {
	if pid <= 1 {
		return false
	}
	for p, hops := os.Getpid(), 0; p > 1 && hops < 64; hops++ {
		if p == pid {
			return true
		}
		p = parentPid(p)
	}
	return false
}

func parentPid(pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// InitPID resolves sel to exactly one running container and returns its init process's
// ID (State.Pid) in the host's PID namespace. It fails when sel matches no running
// container or more than one: a fault meant for one container must not pick one
// silently.
func InitPID(ctx context.Context, api API, sel Selector) (int, error) {
	found, err := running(ctx, api, sel)
	if err != nil {
		return 0, err
	}
	defer Release(api)
	if len(found) > 1 {
		names := make([]string, len(found))
		for i, c := range found {
			names[i] = name(c)
		}
		return 0, fmt.Errorf("%s match %d running containers (%s); the fault needs exactly one",
			sel, len(found), strings.Join(names, ", "))
	}
	pid := found[0].State.Pid
	if pid <= 0 {
		return 0, fmt.Errorf("%s reports no process ID", sel)
	}
	return pid, nil
}

// NetNS resolves sel to exactly one running container (InitPID) and returns the path of
// its network namespace, /proc/<pid>/ns/net of the container's init process, for tools
// that enter a namespace by path or file descriptor (netlink, nftables WithNetNSFd).
//
// The path must exist here, which needs the worker to share the host's PID namespace
// (run it on the host, or in a container with --pid=host). It is valid only while that
// process lives: a container restarted afterwards gets a new namespace.
func NetNS(ctx context.Context, api API, sel Selector) (string, error) {
	pid, err := InitPID(ctx, api, sel)
	if err != nil {
		return "", err
	}
	path := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s: network namespace %s: %w (does the worker share the host's PID namespace?)", sel, path, err)
	}
	return path, nil
}

// NetNSToRevert resolves sel, for a revert, to the network namespace of every container
// it matches whose process is alive: running, paused (its namespace and any rule in it
// live on, to come back when it is unpaused) or restarting with a process. None is no
// error: a container's namespace, and every rule in it, goes with its process, and one
// started again in its place gets a new, clean namespace.
func NetNSToRevert(ctx context.Context, api API, sel Selector) ([]string, error) {
	if err := sel.check(); err != nil {
		return nil, err
	}
	defer Release(api)
	var ids []string
	if sel.Name != "" {
		ids = []string{strings.TrimSpace(sel.Name)}
	} else {
		f := client.Filters{}.Add("label", sel.labelFilters()...)
		list, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", sel, err)
		}
		for _, s := range list.Items {
			ids = append(ids, s.ID)
		}
	}
	var paths []string
	for _, id := range ids {
		r, err := api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("inspect container %q: %w", id, err)
		}
		if st := r.Container.State; st != nil && st.Pid > 0 && !isAncestor(st.Pid) {
			path := "/proc/" + strconv.Itoa(st.Pid) + "/ns/net"
			if _, err := os.Stat(path); err == nil {
				paths = append(paths, path)
			}
		}
	}
	return paths, nil
}
