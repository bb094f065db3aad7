//go:build !unix

package probe

import "os/exec"

// ownGroup leaves the default: cancellation kills the command itself only.
func ownGroup(*exec.Cmd) {}
