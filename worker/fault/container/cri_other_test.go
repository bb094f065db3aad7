//go:build !linux

package container

// stopCRI has nothing to stop: the pod tests run on Linux only.
func stopCRI() {}
