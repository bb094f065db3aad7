//go:build !linux

package stress

// RunChild does nothing off Linux: burners in a container's cgroups need Linux.
func RunChild() {}
