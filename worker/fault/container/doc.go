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
// restart needs no revert. See worker/DESIGN.md, "Container faults".
package container
