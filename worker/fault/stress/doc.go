// Package stress implements the stress fault family, in the worker's own process unless
// a stress.cpu names a container: then a burner process of the worker's own binary
// (RunChild) is placed in the container's cgroups, so the container's limits and
// accounting carry the load; it dies with the worker and at the fault's deadline.
// In the worker's process:
// stress.cpu keeps goroutines locked to OS threads busy for a share of every 100 ms
// period; stress.memory maps anonymous memory and writes to every page so the kernel
// really backs it; stress.disk preallocates (fallocate, or writes where that is not
// supported) a file in a directory and removes it on revert.
//
// CPU and memory load die with the worker, so a crash reverts them by itself. The disk
// file outlives a crash; its name is derived from the assignment id
// (murphy-stress-disk-<hash>.fill), so the worker finds it again from its journal alone
// and never removes a file it did not create.
package stress
