package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultCRISocket is containerd's CRI socket, where a Kubernetes node's kubelet finds its
// runtime (CRI-O listens at /var/run/crio/crio.sock).
const DefaultCRISocket = "unix:///run/containerd/containerd.sock"

// ErrNoCRI means no CRI runtime answers at the configured socket.
var ErrNoCRI = errors.New("container: no CRI runtime")

// CRI is a node's container runtime as the kubelet sees it, through the Container Runtime
// Interface: each pod is a sandbox (holding the pod's network namespace) and its
// containers. Faults in a pod find it here by its name or UID at every inject and revert,
// so nothing is ever keyed to a sandbox or container ID that a restart replaces.
type CRI struct {
	conn *grpc.ClientConn
	rt   criv1.RuntimeServiceClient
	name string // runtime and version, for messages
}

// DialCRI connects to the CRI runtime at endpoint ("" for DefaultCRISocket; a bare path
// means a unix socket) and checks that it answers.
func DialCRI(ctx context.Context, endpoint string) (*CRI, error) {
	if endpoint == "" {
		endpoint = DefaultCRISocket
	}
	if strings.HasPrefix(endpoint, "/") {
		endpoint = "unix://" + endpoint
	}
	path, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok {
		return nil, fmt.Errorf("CRI socket %q: want unix:///PATH or an absolute path", endpoint)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrNoCRI, endpoint, err)
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI socket %q: %w", endpoint, err)
	}
	c := &CRI{conn: conn, rt: criv1.NewRuntimeServiceClient(conn)}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.rt.Version(vctx, &criv1.VersionRequest{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w at %s: %v", ErrNoCRI, endpoint, err)
	}
	c.name = v.RuntimeName + " " + v.RuntimeVersion
	return c, nil
}

// Close releases the connection.
func (c *CRI) Close() error { return c.conn.Close() }

// Runtime names the runtime and its version ("containerd 1.7.2").
func (c *CRI) Runtime() string { return c.name }

// verboseInfo is the part of a runtime's verbose status Murphy reads: containerd (and
// CRI-O) report the sandbox's or container's process and the OCI spec it runs with.
type verboseInfo struct {
	PID         int `json:"pid"`
	RuntimeSpec struct {
		Linux struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	} `json:"runtimeSpec"`
}

func parseVerbose(info map[string]string) (verboseInfo, error) {
	var v verboseInfo
	raw, ok := info["info"]
	if !ok {
		return v, errors.New("the runtime's verbose status has no info (is it containerd or CRI-O?)")
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("the runtime's verbose status: %w", err)
	}
	return v, nil
}

// netnsPath is the sandbox's network namespace: the path its OCI spec names (containerd
// pins it under /var/run/netns, where it outlives a dead sandbox process until the
// sandbox is stopped), else its process's.
func (v verboseInfo) netnsPath() string {
	for _, ns := range v.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			if _, err := os.Stat(ns.Path); err == nil {
				return ns.Path
			}
		}
	}
	if v.PID > 0 && !isAncestor(v.PID) {
		p := "/proc/" + strconv.Itoa(v.PID) + "/ns/net"
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// matchesPod reports whether a sandbox is the pod named by pod: its UID, or
// "namespace/name".
func matchesPod(md *criv1.PodSandboxMetadata, pod string) bool {
	if md == nil {
		return false
	}
	return md.Uid == pod || md.Namespace+"/"+md.Name == pod
}

// sandboxes lists the sandboxes of pod, ready ones only if ready.
func (c *CRI) sandboxes(ctx context.Context, pod string, ready bool) ([]*criv1.PodSandbox, error) {
	var filter *criv1.PodSandboxFilter
	if ready {
		filter = &criv1.PodSandboxFilter{State: &criv1.PodSandboxStateValue{State: criv1.PodSandboxState_SANDBOX_READY}}
	}
	list, err := c.rt.ListPodSandbox(ctx, &criv1.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("list the pods on %s: %w", c.name, err)
	}
	var out []*criv1.PodSandbox
	for _, s := range list.Items {
		if matchesPod(s.Metadata, pod) {
			out = append(out, s)
		}
	}
	return out, nil
}

// readySandbox is the pod's one ready sandbox.
func (c *CRI) readySandbox(ctx context.Context, pod string) (*criv1.PodSandbox, error) {
	found, err := c.sandboxes(ctx, pod, true)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no running pod %q on this node (%s)", pod, c.name)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("pod %q has %d ready sandboxes on this node; the fault needs exactly one", pod, len(found))
}

// PodNetNS returns the network namespace of pod's ready sandbox, shared by every container
// of the pod. A pod on the host's network is refused: a fault there would hit the whole
// node, worker and coordinators' links included.
func (c *CRI) PodNetNS(ctx context.Context, pod string) (string, error) {
	sb, err := c.readySandbox(ctx, pod)
	if err != nil {
		return "", err
	}
	st, err := c.rt.PodSandboxStatus(ctx, &criv1.PodSandboxStatusRequest{PodSandboxId: sb.Id, Verbose: true})
	if err != nil {
		return "", fmt.Errorf("pod %q: status: %w", pod, err)
	}
	if st.GetStatus().GetLinux().GetNamespaces().GetOptions().GetNetwork() == criv1.NamespaceMode_NODE {
		return "", fmt.Errorf("pod %q uses the node's network (hostNetwork); a network fault in it would act on the whole node", pod)
	}
	v, err := parseVerbose(st.Info)
	if err != nil {
		return "", fmt.Errorf("pod %q: %w", pod, err)
	}
	path := v.netnsPath()
	if path == "" {
		return "", fmt.Errorf("pod %q: its network namespace is not visible here (does the worker share the host's PID namespace and /var/run/netns?)", pod)
	}
	if sameFile(path, "/proc/self/ns/net") {
		return "", fmt.Errorf("pod %q shares the worker's network namespace; a network fault in it would act on the worker", pod)
	}
	return path, nil
}

// PodNetNSToRevert returns, for a revert, the network namespace of every sandbox of pod
// that still has one, ready or not. None is no error: a sandbox's namespace, and every
// rule in it, goes with the sandbox, and one started again in its place (a restarted or
// replaced pod) gets a new, clean namespace.
func (c *CRI) PodNetNSToRevert(ctx context.Context, pod string) ([]string, error) {
	found, err := c.sandboxes(ctx, pod, false)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, sb := range found {
		st, err := c.rt.PodSandboxStatus(ctx, &criv1.PodSandboxStatusRequest{PodSandboxId: sb.Id, Verbose: true})
		if err != nil {
			continue // removed since the list: its namespace went with it
		}
		if st.GetStatus().GetLinux().GetNamespaces().GetOptions().GetNetwork() == criv1.NamespaceMode_NODE {
			continue
		}
		v, err := parseVerbose(st.Info)
		if err != nil {
			return nil, fmt.Errorf("pod %q: %w", pod, err)
		}
		if p := v.netnsPath(); p != "" {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// ContainerPID returns the process of the running container named container in pod's
// ready sandbox ("" when the pod runs exactly one container), in the host's PID namespace.
func (c *CRI) ContainerPID(ctx context.Context, pod, container string) (int, error) {
	sb, err := c.readySandbox(ctx, pod)
	if err != nil {
		return 0, err
	}
	list, err := c.rt.ListContainers(ctx, &criv1.ListContainersRequest{Filter: &criv1.ContainerFilter{
		PodSandboxId: sb.Id, State: &criv1.ContainerStateValue{State: criv1.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return 0, fmt.Errorf("pod %q: list its containers: %w", pod, err)
	}
	var names []string
	var pick *criv1.Container
	for _, ct := range list.Containers {
		names = append(names, ct.GetMetadata().GetName())
		if container == "" || ct.GetMetadata().GetName() == container {
			if pick != nil {
				return 0, fmt.Errorf("pod %q runs %d containers (%s); name one with params.container", pod, len(list.Containers), strings.Join(names, ", "))
			}
			pick = ct
		}
	}
	if pick == nil {
		if container == "" {
			return 0, fmt.Errorf("pod %q runs no container", pod)
		}
		return 0, fmt.Errorf("pod %q runs no container %q (running: %s)", pod, container, strings.Join(names, ", "))
	}
	st, err := c.rt.ContainerStatus(ctx, &criv1.ContainerStatusRequest{ContainerId: pick.Id, Verbose: true})
	if err != nil {
		return 0, fmt.Errorf("pod %q: container %q: %w", pod, pick.GetMetadata().GetName(), err)
	}
	v, err := parseVerbose(st.Info)
	if err != nil {
		return 0, fmt.Errorf("pod %q: container %q: %w", pod, pick.GetMetadata().GetName(), err)
	}
	if v.PID <= 0 {
		return 0, fmt.Errorf("pod %q: container %q reports no process", pod, pick.GetMetadata().GetName())
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(v.PID)); err != nil {
		return 0, fmt.Errorf("pod %q: container %q: process %d is not visible here (does the worker share the host's PID namespace?)", pod, pick.GetMetadata().GetName(), v.PID)
	}
	return v.PID, nil
}

// sameFile reports whether two namespace files are the same namespace (device and inode).
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// PodNamespaces dials the runtime at endpoint and resolves pod's network namespaces: at
// inject the one of its ready sandbox, at revert every one its sandboxes still have.
func PodNamespaces(ctx context.Context, endpoint, pod string, revert bool) ([]string, error) {
	c, err := DialCRI(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if revert {
		return c.PodNetNSToRevert(ctx, pod)
	}
	path, err := c.PodNetNS(ctx, pod)
	if err != nil {
		return nil, err
	}
	return []string{path}, nil
}

// PodProcess dials the runtime at endpoint and returns the process of pod's container
// (ContainerPID).
func PodProcess(ctx context.Context, endpoint, pod, container string) (int, error) {
	c, err := DialCRI(ctx, endpoint)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.ContainerPID(ctx, pod, container)
}

// SandboxPID returns the process of pod's ready sandbox (its pause process), in the
// host's PID namespace.
func (c *CRI) SandboxPID(ctx context.Context, pod string) (int, error) {
	sb, err := c.readySandbox(ctx, pod)
	if err != nil {
		return 0, err
	}
	st, err := c.rt.PodSandboxStatus(ctx, &criv1.PodSandboxStatusRequest{PodSandboxId: sb.Id, Verbose: true})
	if err != nil {
		return 0, fmt.Errorf("pod %q: status: %w", pod, err)
	}
	v, err := parseVerbose(st.Info)
	if err != nil {
		return 0, fmt.Errorf("pod %q: %w", pod, err)
	}
	return v.PID, nil
}

// ContainerPIDsToRevert returns, for a revert, the process of every container named
// container ("" for any) in every sandbox of pod, ready or not, that the runtime still
// counts as running (a frozen container does not exit, whatever was signalled to it).
// None is no error: a pod that is gone, or whose container exited, holds nothing to undo.
// A container started in the old one's place is found here as well: it is asked the
// same question as any other, so the answer never depends on a container ID.
func (c *CRI) ContainerPIDsToRevert(ctx context.Context, pod, container string) ([]int, error) {
	sbs, err := c.sandboxes(ctx, pod, false)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, sb := range sbs {
		list, err := c.rt.ListContainers(ctx, &criv1.ListContainersRequest{Filter: &criv1.ContainerFilter{PodSandboxId: sb.Id}})
		if err != nil {
			return nil, fmt.Errorf("pod %q: list its containers: %w", pod, err)
		}
		for _, ct := range list.Containers {
			if container != "" && ct.GetMetadata().GetName() != container {
				continue
			}
			if s := ct.GetState(); s != criv1.ContainerState_CONTAINER_RUNNING && s != criv1.ContainerState_CONTAINER_UNKNOWN {
				continue
			}
			st, err := c.rt.ContainerStatus(ctx, &criv1.ContainerStatusRequest{ContainerId: ct.Id, Verbose: true})
			if err != nil {
				continue // removed since the list: its processes went with it
			}
			v, err := parseVerbose(st.Info)
			if err != nil {
				return nil, fmt.Errorf("pod %q: container %q: %w", pod, ct.GetMetadata().GetName(), err)
			}
			if v.PID > 0 {
				pids = append(pids, v.PID)
			}
		}
	}
	return pids, nil
}
