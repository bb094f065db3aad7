package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// A pod's container is acted on through the node's CRI runtime, the one the kubelet
// drives, never through the Docker engine, and is found from the params (pod and
// container name) at inject and again at revert:
//
//   - container.kill signals the container's main process (its init, as `docker kill`
//     does: a PID 1 ignores a signal it has no handler for, except KILL and STOP). The
//     revert starts nothing: the kubelet owns the container's life and restarts it per
//     the pod's restartPolicy, or leaves it down under Never, which is what the fault
//     is there to show. The Docker form's revert starts the container again instead,
//     because there nothing else would.
//   - container.pause freezes the container's cgroup (freezerOf). The revert thaws every
//     frozen cgroup of a container of that name in any sandbox of the pod, so a container
//     replaced meanwhile (a new ID, a new cgroup, never frozen) or a pod that is gone
//     needs nothing, and a revert run from the journal alone, by a restarted worker or
//     the guardian, finds what to thaw.
//
// The record written before acting makes Inject idempotent (a resent Assign must not kill
// the restarted container again); the revert does not depend on it.

// podCRI dials the runtime for one pod fault.
func (e *executor) podCRI(ctx context.Context) (*CRI, error) {
	c, err := DialCRI(ctx, e.fam.cri)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (set --cri-socket)", e.kind, err)
	}
	return c, nil
}

func (e *executor) injectPod(ctx context.Context, id string, p catalogue.Container) error {
	fam := e.fam
	c, err := e.podCRI(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	what := podTarget(p.Pod, p.PodContainer)
	pid, err := c.ContainerPID(ctx, p.Pod, p.PodContainer)
	if err != nil {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	if isAncestor(pid) {
		return fmt.Errorf("%s: %s is the container this worker runs in; refusing to fault it", e.kind, what)
	}
	rec := touched{AssignmentID: id, Kind: e.kind, Pod: p.Pod, Container: p.PodContainer}
	switch e.kind {
	case KindKill:
		if err := fam.store.put(rec); err != nil {
			return fmt.Errorf("%s: %w (nothing was signalled)", e.kind, err)
		}
		if err := signalProcess(pid, p.Signal); err != nil {
			return errors.Join(fmt.Errorf("%s: %s: %w", e.kind, what, err), fam.store.del(id))
		}
		fam.log.Info("pod container signalled; the kubelet restarts it per the pod's restartPolicy", "kind", e.kind,
			"assignment_id", id, "pod", p.Pod, "container", p.PodContainer, "pid", pid, "signal", p.Signal)
		return nil
	case KindPause:
		fr, err := freezerOf(pid)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", e.kind, what, err)
		}
		rec.Cgroup = fr.dir
		if err := fam.store.put(rec); err != nil {
			return fmt.Errorf("%s: %w (nothing was frozen)", e.kind, err)
		}
		if err := fr.freeze(ctx); err != nil {
			if _, terr := fr.thaw(); terr != nil {
				return errors.Join(fmt.Errorf("%s: %s: %w", e.kind, what, err), fmt.Errorf("undo (kept for the next revert): %w", terr))
			}
			return errors.Join(fmt.Errorf("%s: %s: %w (thawed again)", e.kind, what, err), fam.store.del(id))
		}
		fam.log.Info("pod container frozen", "kind", e.kind, "assignment_id", id, "pod", p.Pod,
			"container", p.PodContainer, "cgroup", fr.String())
		return nil
	}
	return fmt.Errorf("%s: params.pod is not supported", e.kind)
}

// revertPod undoes a pod fault from its pod and container name alone; see the comment
// at the top of this file.
func (e *executor) revertPod(ctx context.Context, id, pod, container string) error {
	fam := e.fam
	if e.kind == KindPause {
		if err := e.thawPod(ctx, id, pod, container); err != nil {
			return fmt.Errorf("%s: revert: %w", e.kind, err)
		}
	} else {
		fam.log.Info("nothing to revert: the kubelet brings a killed pod container back per its restartPolicy",
			"kind", e.kind, "assignment_id", id, "pod", pod, "container", container)
	}
	return fam.store.del(id)
}

// thawPod thaws the cgroup of every running container of pod named container, and the
// cgroup the inject froze if its record is here and the cgroup outlived its container.
func (e *executor) thawPod(ctx context.Context, id, pod, container string) error {
	fam := e.fam
	var dirs []freezer
	var errs []error
	if rec, ok, err := fam.store.get(id); err == nil && ok && rec.Cgroup != "" {
		// Thawed first, so a runtime that does not answer delays only the rest.
		fr := freezer{dir: rec.Cgroup, v2: !isV1Freezer(rec.Cgroup)}
		if thawed, err := fr.thaw(); err != nil {
			errs = append(errs, err)
		} else if thawed {
			fam.log.Info("pod container thawed", "kind", e.kind, "assignment_id", id, "pod", pod,
				"container", container, "cgroup", fr.String())
		}
	}
	c, err := e.podCRI(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer c.Close()
	pids, err := c.ContainerPIDsToRevert(ctx, pod, container)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil || isAncestor(pid) {
			continue // exited: its cgroup holds nothing frozen
		}
		fr, err := freezerOf(pid)
		if err != nil {
			// The inject refused such a cgroup too (or the process exited meanwhile):
			// nothing of this fault is frozen there.
			fam.log.Warn("pod container's cgroup not thawed", "kind", e.kind, "assignment_id", id, "pod", pod,
				"container", container, "pid", pid, "reason", err.Error())
			continue
		}
		dirs = append(dirs, fr)
	}
	for _, fr := range dirs {
		thawed, err := fr.thaw()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if thawed {
			fam.log.Info("pod container thawed", "kind", e.kind, "assignment_id", id, "pod", pod,
				"container", container, "cgroup", fr.String())
		}
	}
	return errors.Join(errs...)
}

// isV1Freezer tells a recorded v1 freezer directory from a v2 one by its control file.
func isV1Freezer(dir string) bool {
	_, err := os.Stat(dir + "/freezer.state")
	return err == nil
}

func podTarget(pod, container string) string {
	if container == "" {
		return fmt.Sprintf("the container of pod %q", pod)
	}
	return fmt.Sprintf("container %q of pod %q", container, pod)
}
