// Command murphy is Murphy's single binary: coordinator, worker, and the operator CLI.
// It only parses flags and calls the packages that do the work.
package main

import (
	"errors"
	"fmt"
	"os"

	// Schedules name IANA time zones; hosts without zoneinfo still need them.
	_ "time/tzdata"

	"github.com/murphy-chaos/murphy/worker/fault/stress"
)

func main() {
	// A stress burner the worker started in a container's cgroups runs this binary.
	stress.RunChild()
	if err := newRootCmd().Execute(); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "murphy:", err)
		os.Exit(1)
	}
}
