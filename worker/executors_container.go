package worker

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/murphy-chaos/murphy/worker/fault"
	"github.com/murphy-chaos/murphy/worker/fault/container"
)

// containerDialTimeout bounds how long a starting worker waits for the Docker engine.
const containerDialTimeout = 5 * time.Second

func init() {
	registerFamily("container", func(a *Agent) ([]fault.Executor, error) {
		host := a.cfg.DockerHost
		if host == "" {
			host = container.DefaultHost
		}
		ctx, cancel := context.WithTimeout(context.Background(), containerDialTimeout)
		defer cancel()
		cli, err := container.Dial(ctx, host)
		if errors.Is(err, container.ErrNoEngine) {
			a.log.Info("container faults not offered: no Docker engine answers (set --docker-host)",
				"docker_host", host, "reason", err.Error())
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		// The state directory sits beside the journal: it must survive the worker, so a
		// restarted worker reverts exactly the containers a fault touched.
		fam := container.New(cli, filepath.Join(a.cfg.DataDir, "container"), a.log.With("family", "container"))
		return fam.Executors(), nil
	})
}
