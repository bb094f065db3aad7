//go:build linux

package stress

import (
	"context"
	"log/slog"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/catalogue"
)

// Config configures the stress family.
type Config struct {
	Policy fault.Policy
	Logger *slog.Logger
	// Containers finds the init process of the one running container a stress.cpu or
	// stress.memory fault names; nil refuses such faults.
	Containers func(ctx context.Context, place catalogue.Place) (pid int, err error)
}

// Executors returns the stress.cpu, stress.memory and stress.disk executors.
func Executors(cfg Config) []fault.Executor {
	return []fault.Executor{
		newCPU(cfg.Logger, cfg.Containers),
		newMemory(cfg.Logger, cfg.Containers),
		newDisk(cfg.Policy, cfg.Logger),
	}
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
