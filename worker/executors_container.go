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
		// The state directory sits beside the journal: it must survive the worker, so a
		// restarted worker reverts exactly the containers a fault touched.
		dir, log := filepath.Join(a.cfg.DataDir, "container"), a.log.With("family", "container")
		cli, err := container.Dial(ctx, host)
		if errors.Is(err, container.ErrNoEngine) {
			// A Kubernetes node runs containerd or CRI-O, not Docker: container.kill and
			// container.pause still act on its pods' containers through CRI.
			cri, cerr := container.DialCRI(ctx, a.cfg.CRISocket)
			if cerr != nil {
				a.log.Info("container faults not offered: no Docker engine answers (set --docker-host), nor a CRI runtime (set --cri-socket)",
					"docker_host", host, "reason", err.Error(), "cri_reason", cerr.Error())
				return nil, nil
			}
			a.log.Info("container faults offered on pods only: no Docker engine answers (set --docker-host)",
				"docker_host", host, "reason", err.Error(), "cri", cri.Runtime())
			cri.Close()
			return container.New(nil, dir, log).WithCRI(a.cfg.CRISocket).Executors(), nil
		}
		if err != nil {
			return nil, err
		}
		return container.New(cli, dir, log).WithCRI(a.cfg.CRISocket).Executors(), nil
	})
}
