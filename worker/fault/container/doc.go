// Package container owns Murphy's container faults: the executors of container.kill,
// container.stop, container.pause and container.restart, which act on Docker containers
// through the Docker Engine API (github.com/moby/moby/client over the engine's socket), and
// NetNS, which resolves a container to its network namespace for the network family.
//
// Every executor writes the exact container IDs it is about to touch to a small state file
// in the worker's data directory before it touches them, so a worker restarted after a
// crash reverts precisely those containers, not whatever its selector matches by then.
// Reverts undo only what the fault did: pause is undone by unpause, stop and kill by
// starting the container again if it is still stopped from the fault's own stop, and
// restart needs no revert.
//
// container.kill and container.pause also act on a pod's container, named by pod and
// container name and found through the node's CRI runtime (CRI) at inject and again at
// revert, never by container ID: kill signals its main process and leaves recovery to the
// kubelet, pause freezes its cgroup and the revert thaws whichever container of that name
// the pod runs then. See worker/DESIGN.md, "Container faults".
package container
