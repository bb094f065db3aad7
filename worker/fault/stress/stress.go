//go:build linux

package stress

import (
	"log/slog"

	"github.com/murphy-chaos/murphy/worker/fault"
)

// Config configures the stress family.
type Config struct {
	Policy fault.Policy
	Logger *slog.Logger
}

// Executors returns the stress.cpu, stress.memory and stress.disk executors.
func Executors(cfg Config) []fault.Executor {
	return []fault.Executor{
		newCPU(cfg.Logger),
		newMemory(cfg.Logger),
		newDisk(cfg.Policy, cfg.Logger),
	}
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
