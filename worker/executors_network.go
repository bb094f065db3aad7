package worker

import (
	"context"
	"net/netip"
	"slices"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
	"github.com/murphy-chaos/murphy/worker/fault/container"
	"github.com/murphy-chaos/murphy/worker/fault/network"
)

func init() {
	registerFamily("network", func(a *Agent) ([]fault.Executor, error) {
		// The agent's configured coordinators are protected on top of the policy's own
		// list (which also learns every leader the agent follows): a partition must never
		// cut the control channel, or the dead-man's switch becomes the only way back.
		pol := a.cfg.Policy
		pol.Coordinators = append(slices.Clone(pol.Coordinators), a.cfg.Coordinators...)
		fam := network.New(network.Config{
			Protected:  func() ([]netip.Prefix, error) { return pol.ProtectedCIDRs() },
			Containers: a.containerNetns,
		})
		if p := fam.Probe(); p.Err != nil {
			a.log.Info("network faults not offered", "reason", p.Err.Error())
			return nil, nil
		}
		a.log.Info("network fault mechanisms", "mechanisms", fam.Mechanisms(), "probe_notes", fam.Probe().Notes)
		return fam.Executors(), nil
	})
}

// containerNetns finds the network namespaces of a container, through the worker's
// Docker engine, or of a pod, through the node's CRI runtime; each is dialled for each
// question: a fault in a container is rare next to the engine's restarts, and an idle
// worker keeps no connection to it.
func (a *Agent) containerNetns(ctx context.Context, place catalogue.Place, revert bool) ([]string, error) {
	if place.Pod != "" {
		return container.PodNamespaces(ctx, a.cfg.CRISocket, place.Pod, revert)
	}
	cli, err := container.Dial(ctx, a.cfg.DockerHost)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	sel := container.Selector{Name: place.Container, Labels: place.ContainerLabels}
	if revert {
		return container.NetNSToRevert(ctx, cli, sel)
	}
	path, err := container.NetNS(ctx, cli, sel)
	if err != nil {
		return nil, err
	}
	return []string{path}, nil
}

// containerInit finds the init process of a container, or of the named container of a
// pod, for process and stress faults inside it.
func (a *Agent) containerInit(ctx context.Context, place catalogue.Place) (int, error) {
	if place.Pod != "" {
		return container.PodProcess(ctx, a.cfg.CRISocket, place.Pod, place.Container)
	}
	cli, err := container.Dial(ctx, a.cfg.DockerHost)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	return container.InitPID(ctx, cli, container.Selector{Name: place.Container, Labels: place.ContainerLabels})
}
