//go:build linux

package worker

import (
	"path/filepath"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/command"
	"github.com/murphy-chaos/murphy/worker/fault/process"
	"github.com/murphy-chaos/murphy/worker/fault/stress"
)

// The process, stress and exec families keep their records under the data dir, next
// to the journal, so a worker restarted on the same data dir can revert what they did.
func init() {
	registerFamily("process", func(a *Agent) ([]fault.Executor, error) {
		return process.Executors(process.Config{Policy: a.cfg.Policy, Logger: a.log,
			RecordDir: filepath.Join(a.cfg.DataDir, "process"), Containers: a.containerInit})
	})
	registerFamily("stress", func(a *Agent) ([]fault.Executor, error) {
		return stress.Executors(stress.Config{Policy: a.cfg.Policy, Logger: a.log, Containers: a.containerInit}), nil
	})
	registerFamily("exec", func(a *Agent) ([]fault.Executor, error) {
		e, err := command.New(command.Config{Logger: a.log, RecordDir: filepath.Join(a.cfg.DataDir, "exec")})
		if err != nil {
			return nil, err
		}
		return []fault.Executor{e}, nil
	})
}
